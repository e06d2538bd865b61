"""Allure: labels and evidence for the suite's tests, and the Allure HTML report built from them.

With ``--alluredir`` (``conformance run`` always passes it), every suite test is labelled so the report
groups by endpoint, field and requirement: epic the operation (``POST /v1/assistants``, ``GET
/v1/assistants``, ...), feature the probed field path (or the property the test checks), story the
requirement IDs it is about, severity from those requirements.
Each failing example attaches its request, response, curl line and, for the echo and default checks, a diff
of expected against actual; every test records how many examples it ran. Without ``--alluredir`` nothing
here is registered, so it costs nothing.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure
import allure_commons
import pytest
from allure_commons.logger import AllureFileLogger
from allure_commons.types import AttachmentType

from conformance.checks.core import findings_of, severity_of
from conformance.endpoints import RESOURCES, SUITES
from conformance.results.ledger import Finding
from conformance.results.reports import headline, request_text, response_text
from conformance.transport.secrets import mask

if TYPE_CHECKING:
    from conformance.contract.requirements import Requirement
    from conformance.contract.schemas import Schemas
    from conformance.runner.state import RunState

__all__ = ["EPIC", "ReportToolError", "active", "build_html", "find_allure", "install", "severity"]

EPIC = RESOURCES[0].op(SUITES[0]).label  # the epic of a test of the default selection (create)
ALLURE_INSTALL = ("the Allure command line is not installed; install it with 'npm install allure-commandline' "
                  "(or 'bash scripts/install-report-tools.sh'); it needs Java")
_LEVELS = {"critical": allure.severity_level.CRITICAL, "normal": allure.severity_level.NORMAL,
           "minor": allure.severity_level.MINOR}
_RANK = {allure.severity_level.MINOR: 0, allure.severity_level.NORMAL: 1, allure.severity_level.CRITICAL: 2}
_ATTACHMENT_LIMIT = 64_000
_dynamic: Any = allure.dynamic  # allure-python's decorators are untyped


def active(config: pytest.Config) -> bool:
    """Whether allure-pytest writes results in this session."""
    return bool(getattr(config.option, "allure_report_dir", None))


def install(config: pytest.Config, run_state: Callable[[], RunState | None]) -> None:
    """Register the labeller when Allure is active; ``run_state`` returns the run, once the suite has one."""
    if active(config) and not config.pluginmanager.has_plugin("conformance-allure"):
        config.pluginmanager.register(_Labeller(run_state), "conformance-allure")


def severity(requirement: Requirement, checks: Iterable[str] = ()) -> Any:
    """Allure's severity for a requirement: that the checks which judged it declare (``checks.core.check``)."""
    return _LEVELS[severity_of(requirement.keywords, checks)]


@dataclass(frozen=True)
class _Before:
    examples: Counter[str]
    failure_counts: Counter[str]
    requests: int


class _Labeller:
    """A pytest plugin object: labels and attachments around each suite test's call."""

    def __init__(self, run_state: Callable[[], RunState | None]) -> None:
        self.run_state = run_state

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        run = self.run_state() if "conformance" in getattr(item, "fixturenames", ()) else None
        if run is None:
            return (yield)
        ledger = run.ledger
        before = _Before(Counter(ledger.examples), Counter(ledger.failure_counts), run.api.requests if run.api else 0)
        try:
            result = yield
        except BaseException as exc:
            self._record(item, run, before, exc)
            raise
        self._record(item, run, before, None)
        return result

    def _record(self, item: pytest.Item, run: RunState, before: _Before, exc: BaseException | None) -> None:
        try:
            _label(item, run, before, exc)
        except Exception as err:  # a report that cannot be labelled must not change the verdict
            item.warn(pytest.PytestWarning(f"conformance: could not label the Allure result: {err!r}"))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        _skip_own_fixtures(session.config)

    @pytest.hookimpl(trylast=True)  # after the plugin's own, which decides the run's verdict
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = self.run_state()
        directory = getattr(session.config.option, "allure_report_dir", None)
        if run is None or not directory:
            return
        no_verdict, incomplete = run.verdict
        cfg = run.config
        summary = run.ledger.report(cfg.target_name, incomplete=tuple(incomplete), no_verdict=no_verdict)["summary"]
        lines = {
            "Target": cfg.target_url or "embedded reference server", "Target.name": cfg.target_name,
            "Verdict": f"{headline({'summary': summary})}; {summary['failed']} failed, "
                       f"{summary['not_exercised']} not exercised",
            "Seed": str(cfg.seed), "Max.examples": str(cfg.max_examples), "Schemas.sha256": run.schemas.digest,
        }
        text = "".join(f"{key}={_property(value)}\n" for key, value in lines.items())
        path = Path(directory) / "environment.properties"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(mask(text, cfg.api_key), encoding="utf-8")


# The suite's own fixtures: Allure would write a container file for each, per test (four files in five of a
# run's), recording only that 'conformance' was set up.
_OWN_FIXTURES = frozenset({"conformance", "conformance_run", "conformance_cassette", "vcr_config", "probe", "key",
                           "kind", "encoding"})


class _WithoutOwnFixtures:
    """Allure's file writer, minus the containers that record nothing but the suite's own fixtures."""

    def __init__(self, writer: AllureFileLogger) -> None:
        self.writer: Any = writer  # allure-python is untyped

    @allure_commons.hookimpl
    def report_result(self, result: Any) -> None:
        self.writer.report_result(result)

    @allure_commons.hookimpl
    def report_container(self, container: Any) -> None:
        names = {str(step.name).split("::")[0] for step in [*container.befores, *container.afters]}
        if not names <= _OWN_FIXTURES:
            self.writer.report_container(container)

    @allure_commons.hookimpl
    def report_attached_file(self, source: Any, file_name: Any) -> None:
        self.writer.report_attached_file(source, file_name)

    @allure_commons.hookimpl
    def report_attached_data(self, body: Any, file_name: Any) -> None:
        self.writer.report_attached_data(body, file_name)

    @allure_commons.hookimpl
    def report_globals(self, globals_item: Any) -> None:
        self.writer.report_globals(globals_item)


def _skip_own_fixtures(config: pytest.Config) -> None:
    """Put ``_WithoutOwnFixtures`` in place of allure-pytest's file writer for the session; the writer is put
    back before allure-pytest's own clean-up unregisters it."""
    manager = allure_commons.plugin_manager
    for writer in manager.get_plugins():
        if not isinstance(writer, AllureFileLogger):
            continue
        name = manager.get_name(writer)
        manager.unregister(writer)
        wrapper = _WithoutOwnFixtures(writer)
        manager.register(wrapper)

        def restore(writer: AllureFileLogger = writer, wrapper: _WithoutOwnFixtures = wrapper,
                    name: str | None = name) -> None:
            manager.unregister(wrapper)
            manager.register(writer, name)

        config.add_cleanup(restore)


def _property(value: str) -> str:
    """A value for a Java properties file: one line, backslashes and non-Latin-1 characters escaped."""
    out = value.replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")
    return "".join(c if ord(c) < 0x7F else f"\\u{ord(c):04x}" for c in out)


def _final_findings(exc: BaseException | None) -> list[Finding]:
    return [finding for failure in findings_of(exc) for finding in failure.findings]


def _label(item: pytest.Item, run: RunState, before: _Before, exc: BaseException | None) -> None:
    ledger = run.ledger
    catalog = ledger.requirements
    findings = _final_findings(exc)
    failed = [f.requirement for f in findings]
    failed += [r for r in catalog if ledger.failure_counts[r] > before.failure_counts[r]]
    exercised = [r for r in catalog if ledger.examples[r] > before.examples[r]]
    callspec = getattr(item, "callspec", None)
    probe = callspec.params.get("probe") if callspec is not None else None
    if probe is not None:
        stories = [probe.requirement, *failed]
        feature = probe.path
        _dynamic.parameter("probe", probe.id)
    else:
        stories = failed or exercised
        feature = getattr(item, "originalname", item.name).removeprefix("test_").replace("_", " ")
    stories = [r for r in dict.fromkeys(stories) if r in catalog]
    endpoint = item.get_closest_marker("endpoint")
    _dynamic.epic(RESOURCES[0].op(str(endpoint.args[0])).label if endpoint is not None else EPIC)
    _dynamic.feature(feature)
    if stories:
        _dynamic.story(*stories)
        _dynamic.severity(max((severity(catalog[r], ledger.checks.get(r, ())) for r in stories),
                               key=_RANK.__getitem__))
        _dynamic.description("\n\n".join(f"**{r}**: {catalog[r].doc}" for r in stories))
    _dynamic.parameter("examples", run.examples, excluded=True)
    requests = (run.api.requests if run.api else 0) - before.requests
    _dynamic.parameter("requests", requests, excluded=True)
    secret = run.config.api_key
    for index, finding in enumerate(findings, 1):
        _attach_finding(finding, index if len(findings) > 1 else 0, run.schemas, secret)


def _attach(text: str, name: str, secret: str | None, kind: Any = AttachmentType.TEXT) -> None:
    if len(text) > _ATTACHMENT_LIMIT:
        text = text[:_ATTACHMENT_LIMIT] + "…(truncated)"
    allure.attach(mask(text, secret), name=name, attachment_type=kind)


def _attach_finding(finding: Finding, index: int, schemas: Schemas, secret: str | None) -> None:
    prefix = f"{finding.requirement}" + (f" #{index}" if index else "")
    _attach(f"{finding.title}\nExpected: {finding.expected}\nReceived: {finding.received}\nCheck: {finding.check}",
            f"{prefix}: finding", secret)
    if finding.exchange is None:
        return
    evidence = finding.to_json()
    _attach(request_text(evidence), f"{prefix}: request", secret)
    _attach(response_text(evidence), f"{prefix}: response", secret)
    diff = expected_vs_actual(finding, schemas)
    if diff:
        _attach(diff, f"{prefix}: expected vs actual", secret)
    _attach(finding.exchange.curl(), f"{prefix}: curl", secret)


_DIFF_FIELD = 4_000  # characters of one field's JSON a diff shows


def _json_lines(value: dict[str, Any]) -> list[str]:
    """The fields' JSON, a line per value; a field whose JSON is longer than ``_DIFF_FIELD`` is shown as its first
    characters. Diffing the whole of a hostile answer's field (``"name": [[],[],...]``, 7.9 MiB, 2.6 million
    lines once indented) took difflib more than 11 minutes and 2 GB; clipped, the diff costs what it shows."""
    shown = {}
    for key, field in value.items():
        text = json.dumps(field, sort_keys=True, ensure_ascii=False, allow_nan=True)
        shown[key] = field if len(text) <= _DIFF_FIELD else f"{text[:_DIFF_FIELD]}…({len(text)} characters)"
    return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=True).splitlines()


def expected_vs_actual(finding: Finding, schemas: Schemas) -> str | None:
    """A unified diff for the echo and default checks: the fields as sent (or documented) against the answer."""
    if finding.check not in ("echoed", "defaults_applied") or finding.exchange is None:
        return None
    payload = finding.exchange.sent.payload
    body = finding.exchange.received.json_or_none()
    if not isinstance(payload, dict) or not isinstance(body, dict):
        return None
    fields = schemas.request.get("properties", {})
    absent = "(absent)"
    if finding.check == "echoed":
        expected = {k: v for k, v in payload.items() if "x-echo" in fields.get(k, {}).get("x-req", {})}
        source = "expected (as sent)"
    else:
        expected = {k: n["default"] for k, n in fields.items() if "default" in n and k not in payload and k in body}
        source = "expected (documented defaults)"
    actual = {k: body.get(k, absent) for k in expected}
    lines = difflib.unified_diff(_json_lines(expected), _json_lines(actual), source, "actual (response)", lineterm="", n=2)
    return "\n".join(lines) or None


# --- the Allure HTML report (conformance report --html DIR) -----------------------------------------------


class ReportToolError(Exception):
    """The Allure HTML report could not be built; the message says why and what to do."""


def find_allure(start: Path | None = None) -> Path | None:
    """The Allure command line: on PATH, else in node_modules/.bin of the working directory or a parent
    (where 'npm install allure-commandline' puts it)."""
    found = shutil.which("allure")
    if found:
        return Path(found)
    here = (start or Path.cwd()).resolve()
    for base in (here, *here.parents):
        candidate = base / "node_modules" / ".bin" / "allure"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def build_html(report_dir: Path, allure_cli: Path | None = None, timeout: float = 300) -> Path:
    """Build ``REPORT_DIR/allure-report/index.html`` (one file, opens without a server) from
    ``REPORT_DIR/allure-results``; returns its path."""
    results = report_dir / "allure-results"
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportToolError(f"no Allure results in {results}: run 'conformance run --report-dir {report_dir}' first")
    tool = allure_cli or find_allure()
    if tool is None:
        raise ReportToolError(ALLURE_INSTALL)
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise ReportToolError("the Allure command line needs Java, which is not installed "
                              "(e.g. 'apt-get install openjdk-17-jre-headless')")
    out = report_dir / "allure-report"
    try:
        done = subprocess.run([str(tool), "generate", "--clean", "--single-file", "-o", str(out), str(results)],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReportToolError(f"{tool} could not run: {exc}") from None
    index = out / "index.html"
    if done.returncode != 0 or not index.is_file():
        last = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise ReportToolError(f"{tool} generate failed: {last}")
    return index

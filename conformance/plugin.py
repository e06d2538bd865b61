"""The pytest plugin: options, the run's shared state, probe parametrization, and the compliance report.

It is the one runner: ``pytest --pyargs conformance`` and ``conformance run`` (which wraps pytest) go
through the same fixtures and hooks, so selection, reports and cassettes behave the same both ways.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import _allure
from ._checks import Context, NonConformance
from ._client import Api, Target, TargetError, mask, open_client
from ._generate import Pools
from ._ledger import Ledger, visible
from ._probes import Probe, probes
from ._reference import DEFAULT_API_KEY, ReferenceServer, create_app, documented_models
from ._reports import REPORT_VERSION, write_reports
from ._requirements import catalog
from ._schemas import SchemaError, Schemas, load_schemas
from ._server import ServerThread

__all__ = ["RunConfig", "RunState"]

EMBEDDED = "embedded reference server"
_STATE = pytest.StashKey["RunState"]()


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, read once from the command line and the environment."""

    target_url: str | None
    api_key: str | None
    timeout: float
    seed: int
    max_examples: int
    pools: Pools
    clock_skew: float
    report_dir: Path | None
    target_name: str

    @property
    def embedded(self) -> bool:
        return self.target_url is None


@dataclass
class RunState:
    config: RunConfig
    schemas: Schemas
    ledger: Ledger
    context: Context
    api: Api | None = None
    server: ServerThread | None = None
    client: httpx.Client | None = None
    consecutive_target_errors: int = 0
    remote_requests: int = 0
    examples: int = 0  # examples the current test ran (reports show it)
    cleanup_failed: list[str] = field(default_factory=list)

    def open(self) -> Api:
        if self.api is not None:
            return self.api
        cfg = self.config
        if cfg.embedded:
            self.server = ServerThread(create_app(ReferenceServer()))
            base = self.server.start() + "/v1"
            target = Target(base, cfg.api_key or DEFAULT_API_KEY, cfg.timeout, cfg.target_name)
        else:
            assert cfg.target_url is not None
            target = Target(cfg.target_url, cfg.api_key, cfg.timeout, cfg.target_name)
        self.client = open_client(target)
        self.api = Api(self.client, target)
        try:
            self.api.send("GET", "/assistants/conformance-reachability-check")
        except TargetError as exc:
            self.ledger.target_errors.append(str(exc))
            pytest.exit(f"conformance: the target cannot be reached: {exc}", returncode=2)
        return self.api

    def close(self) -> None:
        if self.api is not None:
            self.cleanup_failed = self.api.cleanup()
        if self.client is not None:
            self.client.close()
        if self.server is not None:
            self.server.stop()


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance: POST /v1/assistants")
    group.addoption("--target-url", default=None,
                    help="base URL of the API under test, like the OpenAI SDK's base_url "
                         "(e.g. http://127.0.0.1:8000/v1). Default: $CONFORMANCE_TARGET_URL, else the embedded "
                         "reference server.")
    group.addoption("--api-key", default=None, help="API key sent as 'Authorization: Bearer'. Default: $OPENAI_API_KEY.")
    group.addoption("--target-name", default=None, help="a name for the target in reports (default: its host)")
    group.addoption("--request-timeout", type=float, default=30.0, help="seconds to wait for each answer (default 30)")
    group.addoption("--seed", type=int, default=0, help="generation seed; the same seed sends the same requests (default 0)")
    group.addoption("--max-examples", type=int, default=25,
                    help="examples per property; probes use a few each (default 25)")
    group.addoption("--model", action="append", default=None,
                    help="a model the target serves (repeatable). Default: the documented list.")
    group.addoption("--unknown-model", default="conformance-unknown-model",
                    help="a model name the target must not know (default conformance-unknown-model)")
    group.addoption("--file-id", action="append", default=None,
                    help="a file ID the target knows (repeatable). Default: synthetic IDs.")
    group.addoption("--vector-store-id", action="append", default=None,
                    help="a vector store ID the target knows (repeatable). Default: synthetic IDs.")
    group.addoption("--no-files", action="store_true", help="the target has no files: send no file IDs")
    group.addoption("--clock-skew", type=float, default=60.0,
                    help="seconds created_at may differ from this machine's clock (default 60)")
    group.addoption("--report-dir", default=None,
                    help="write compliance.json, compliance.md and compliance.html here")


def _config(config: pytest.Config) -> RunConfig:
    opt = config.getoption
    url = opt("--target-url") or _env("CONFORMANCE_TARGET_URL")
    if url is not None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise pytest.UsageError(f"--target-url {url!r} is not an http(s) URL with a host, "
                                    "e.g. http://127.0.0.1:8000/v1")
    max_examples = opt("--max-examples")
    if max_examples < 1:
        raise pytest.UsageError("--max-examples must be at least 1")
    timeout = opt("--request-timeout")
    if timeout <= 0:
        raise pytest.UsageError("--request-timeout must be positive")
    no_files = opt("--no-files")
    files = () if no_files else (tuple(opt("--file-id")) if opt("--file-id") else None)
    stores = () if no_files else (tuple(opt("--vector-store-id")) if opt("--vector-store-id") else None)
    pools = Pools(
        models=tuple(opt("--model") or documented_models()),
        file_ids=files,
        vector_store_ids=stores,
        unknown_model=opt("--unknown-model"),
    )
    report_dir = opt("--report-dir")
    name = opt("--target-name") or (EMBEDDED if url is None else (httpx.URL(url).host or "target"))
    return RunConfig(
        target_url=url, api_key=opt("--api-key") or _env("OPENAI_API_KEY"), timeout=timeout,
        seed=opt("--seed"), max_examples=max_examples, pools=pools, clock_skew=opt("--clock-skew"),
        report_dir=Path(report_dir) if report_dir else None, target_name=name,
    )


def _suite_collected(config: pytest.Config) -> bool:
    return _STATE in config.stash


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "probes(*expect): parametrize 'probe' with the probes that expect these outcomes")
    _allure.install(config, lambda: config.stash.get(_STATE, None))


def state(config: pytest.Config) -> RunState:
    """The run's state, created on first use (only runs that collect the suite pay for it)."""
    if _STATE not in config.stash:
        try:
            schemas = load_schemas()
        except SchemaError as exc:
            raise pytest.UsageError(str(exc)) from None
        run_config = _config(config)
        ledger = Ledger(catalog(schemas))
        config.stash[_STATE] = RunState(run_config, schemas, ledger,
                                        Context(schemas, ledger, clock_skew=run_config.clock_skew,
                                                secret=run_config.api_key))
    return config.stash[_STATE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("probes")
    if marker is None or "probe" not in metafunc.fixturenames:
        return
    run = state(metafunc.config)
    wanted = set(marker.args)
    chosen: list[Probe] = [p for p in probes(run.config.pools, run.schemas) if p.expect in wanted]
    metafunc.parametrize("probe", chosen, ids=[p.id for p in chosen])


@pytest.fixture(scope="session")
def conformance_run(request: pytest.FixtureRequest) -> Iterator[RunState]:
    run = state(request.config)
    run.open()
    yield run
    run.close()


@pytest.fixture
def conformance(conformance_run: RunState, request: pytest.FixtureRequest) -> RunState:
    conformance_run.context.test = request.node.nodeid
    conformance_run.examples = 0
    return conformance_run


def _findings(exc: BaseException | None) -> Iterator[NonConformance]:
    if exc is None:
        return
    if isinstance(exc, NonConformance):
        yield exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _findings(inner)
    yield from _findings(exc.__cause__) if exc.__cause__ is not exc else iter(())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if call.when == "call" and call.excinfo is not None and _suite_collected(item.config):
        run = item.config.stash[_STATE]
        for failure in _findings(call.excinfo.value):
            for finding in failure.findings:
                run.ledger.failed(finding, final=True)
    return report


# --- pytest-xdist: workers send their ledgers home; the controller merges and reports ------------------


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: merge what a worker found into the run's ledger."""
    wire = getattr(node, "workeroutput", {}).get("conformance")
    if wire is None:
        return
    run = state(node.config)
    unique = run.schemas.assistant["properties"]["id"]["x-req"]["x-unique"]["id"]
    run.ledger.merge_wire(wire["ledger"], unique)
    run.remote_requests += wire["requests"]
    run.cleanup_failed.extend(wire["cleanup_failed"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _suite_collected(session.config):
        return
    run = session.config.stash[_STATE]
    cfg = run.config
    if _is_worker(session.config):
        session.config.workeroutput["conformance"] = {  # type: ignore[attr-defined]
            "ledger": run.ledger.to_wire(), "requests": run.api.requests if run.api else 0,
            "cleanup_failed": run.cleanup_failed,
        }
        return
    if run.ledger.failures and session.exitstatus == pytest.ExitCode.OK:
        # Only merging the workers' ledgers showed it (e.g. an id two workers were both given).
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if cfg.report_dir is None:
        return
    report = run.ledger.report(
        cfg.target_url or EMBEDDED,
        {
            "version": REPORT_VERSION,
            "run": {
                "seed": cfg.seed, "max_examples": cfg.max_examples, "schemas_sha256": run.schemas.digest,
                "requests": (run.api.requests if run.api else 0) + run.remote_requests,
                "cleanup_failed": run.cleanup_failed,
                "target_name": cfg.target_name,
            }
        },
    )
    write_reports(report, cfg.report_dir, cfg.api_key)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _suite_collected(config) or _is_worker(config):
        return
    run = config.stash[_STATE]
    ledger = run.ledger
    total = len(ledger.requirements)
    verdicts = [ledger.verdict(r) for r in ledger.requirements]
    passed = verdicts.count("passed")
    failed = [r for r in ledger.requirements if ledger.verdict(r) == "failed"]
    terminalreporter.section("conformance")
    terminalreporter.write_line(
        f"{passed} of {total} requirements conform; {len(failed)} failed, "
        f"{verdicts.count('not_exercised')} not exercised ({run.config.target_name})"
    )
    for rid in failed:
        finding = ledger.failures[rid]
        terminalreporter.write_line(f"  FAILED {rid}: {finding.title} (received {visible(finding.received[:160])})")
    for message in ledger.target_errors:
        terminalreporter.write_line(f"  TARGET ERROR: {mask(message, run.config.api_key)}")
    if run.config.report_dir is not None:
        terminalreporter.write_line(f"reports: {run.config.report_dir / 'compliance.json'} (and .md, .html)")

"""The reports of a run: compliance.json against its schema, compliance.md and compliance.html, JUnit XML,
Allure results and the Allure HTML report, ``conformance diff``, and the HTML seen in headless Chromium.

Every run here is a real ``conformance run`` (or ``pytest``) in a subprocess against real servers on
loopback: the catalog's broken servers, the reference, and a hostile server written below.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance.contract.requirements import catalog
from conformance.runner.allure import find_allure
from conformance.transport.server import ServerThread, free_port, server_process

from .conftest import ROOT, run_cli

N = len(catalog(None, frozenset({"create"})))  # the requirements of the create endpoint (the broken run's)

SECRET = "sk-conformance-report-secret-7f3a9"
BROKEN = "name-max-257"
SCHEMA = json.loads((ROOT / "schemas" / "compliance.schema.json").read_text())
SCREENSHOTS = ROOT / "reports"


# --- servers and runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_url() -> Iterator[str]:
    """``conformance serve --catalog`` accepting only SECRET; yields ``http://127.0.0.1:PORT``."""
    port = free_port()
    with server_process([sys.executable, "-m", "conformance", "serve", "--catalog", "--port", str(port),
                         "--api-key", SECRET], port, cwd=ROOT) as root:
        yield root


def _run(target: str, report_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("run", "--target", target, "--api-key", SECRET, "--report-dir", str(report_dir), *extra)


@pytest.fixture(scope="module")
def broken_dir(catalog_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run against the server whose name limit is off by one (257 accepted)."""
    directory = tmp_path_factory.mktemp("broken")
    result = _run(f"{catalog_url}/broken/{BROKEN}/v1", directory, "--max-examples", "3", "--endpoint", "create")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    return directory


@pytest.fixture(scope="module")
def reference_dir(catalog_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reference")
    result = _run(f"{catalog_url}/v1", directory, "--max-examples", "2", "--endpoint", "create")
    assert result.returncode == 0, result.stdout[-3000:]
    return directory


def _report(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "compliance.json").read_text(encoding="utf-8"))


HOSTILE = "</pre></td><script>alert(1)</script><img src=x onerror=alert(2)> ```` | *bold* [link](http://x) \u202eevil"


def _hostile_app() -> Starlette:
    """Answers every request 200 with markup, fences, a bidi override and the caller's Authorization header."""

    async def anything(request: Request) -> Response:
        body = json.dumps({"note": HOSTILE, "auth": request.headers.get("authorization", "")}, ensure_ascii=False)
        return Response(body, 200, media_type="application/json", headers={"x-note": "<b>header</b>"})

    return Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "DELETE"])])


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("hostile")
    with ServerThread(_hostile_app()) as url:
        result = _run(url + "/v1", directory, "--max-examples", "2", "-k", "unauthorized or valid_requests")
    assert result.returncode == 1, result.stdout[-3000:]
    (directory / "run.log").write_text(result.stdout + result.stderr, encoding="utf-8")  # checked like any file
    yield directory


# --- compliance.json and its schema ---------------------------------------------------------------------


def test_the_compliance_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("which", ["broken", "reference", "hostile", "unreachable"])
def test_every_report_the_suite_writes_validates(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if which == "unreachable":
        directory = tmp_path
        result = _run(f"http://127.0.0.1:{free_port()}/v1", directory, "--timeout", "2")
        assert result.returncode == 2
    else:
        directory = request.getfixturevalue(f"{which}_dir")
    report = _report(directory)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft202012Validator(SCHEMA).iter_errors(report)]
    assert errors == []
    summary = report["summary"]
    assert summary["passed"] + summary["failed"] + summary["not_exercised"] == summary["requirements"] == len(
        report["requirements"])
    if which == "unreachable":
        assert summary["conforms"] is False and summary["target_errors"]


def test_the_schema_refuses_what_the_format_forbids(broken_dir: Path) -> None:
    """Not a schema that accepts anything: each break of the format is caught."""
    validator = Draft202012Validator(SCHEMA)
    good = _report(broken_dir)
    assert validator.is_valid(good)
    failed = next(i for i, r in enumerate(good["requirements"]) if r["verdict"] == "failed")
    passed = next(i for i, r in enumerate(good["requirements"]) if r["verdict"] == "passed")

    def broken(edit: Any) -> dict[str, Any]:
        copy = json.loads(json.dumps(good))
        edit(copy)
        return copy

    cases = {
        "unknown verdict": lambda r: r["requirements"][passed].update(verdict="maybe"),
        "failed without evidence": lambda r: r["requirements"][failed].pop("failure"),
        "passed with evidence": lambda r: r["requirements"][passed].update(failures=1),
        "a key in the headers": lambda r: r["requirements"][failed]["failure"]["request"]["headers"].update(
            Authorization=f"Bearer {SECRET}"),
        "no summary": lambda r: r.pop("summary"),
        "an unknown top-level key": lambda r: r.update(extra=1),
        "another version": lambda r: r.update(version=2),
    }
    for name, edit in cases.items():
        assert not validator.is_valid(broken(edit)), name


# --- compliance.md and compliance.html ------------------------------------------------------------------


def test_run_writes_every_report(broken_dir: Path) -> None:
    for name in ("compliance.json", "compliance.md", "compliance.html", "junit.xml"):
        assert (broken_dir / name).is_file(), name
    assert list((broken_dir / "allure-results").glob("*-result.json"))


def test_junit_xml_names_the_failing_test(broken_dir: Path) -> None:
    suite = ET.parse(broken_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "1"
    failing = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("name") for case in failing] == ["test_refused[name:maxLength:past-limit]"]
    failure = failing[0].find("failure")
    message = failure.get("message", "") if failure is not None else ""
    assert "REQ-NAME-MAXLEN" in message


def _table(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_markdown_puts_the_failure_first_with_its_curl(broken_dir: Path) -> None:
    markdown = (broken_dir / "compliance.md").read_text(encoding="utf-8")
    assert markdown.splitlines()[0] == f"## ❌ POST /v1/assistants: {N - 1} of {N} requirements conform"
    table = _table(markdown)
    assert table[0] == ["requirement", "verdict", "examples", "documentation"]
    assert len(table) == 2 + N
    first = table[2]
    assert first[0] == "REQ-NAME-MAXLEN" and first[1] == "❌ failed"
    assert first[3] == "The name of the assistant. The maximum length is 256 characters."
    assert all(row[1] == "✅ passed" for row in table[3:])
    failures = markdown.split("## Failures", 1)[1]
    assert "### REQ-NAME-MAXLEN: A request that breaks the requirement was not refused" in failures
    assert f"curl -sS -X POST {_report(broken_dir)['target']}/assistants" in failures
    assert "$OPENAI_API_KEY" in failures


def _outside_fences(markdown: str) -> list[str]:
    """The lines of ``markdown`` outside fenced code blocks (a fence closes only with as many backticks)."""
    out, fence = [], ""
    for line in markdown.splitlines():
        ticks = re.match(r"^(`{3,})", line)
        if fence:
            if ticks and line.strip() == ticks.group(1) and len(ticks.group(1)) >= len(fence):
                fence = ""
        elif ticks:
            fence = ticks.group(1)
        else:
            out.append(line)
    return out


def test_hostile_responses_are_escaped_everywhere(hostile_dir: Path) -> None:
    html_text = (hostile_dir / "compliance.html").read_text(encoding="utf-8")
    assert "<script" not in html_text and "<img" not in html_text and "<b>" not in html_text
    assert "&lt;/pre&gt;&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "\u202e" not in html_text and "\\u{202e}evil" in html_text
    assert "\u202e" not in (hostile_dir / "run.log").read_text(encoding="utf-8")
    markdown = (hostile_dir / "compliance.md").read_text(encoding="utf-8")
    assert "alert(1)" in markdown
    outside = "\n".join(_outside_fences(markdown))
    assert "<script" not in outside and "<img" not in outside and "\u202e" not in markdown
    assert _report(hostile_dir)["summary"]["failed"] > 0


def test_the_curl_line_of_a_wrong_key_sends_that_key(hostile_dir: Path) -> None:
    """The key the auth test sends on purpose is no secret: its curl line must reproduce the request."""
    auth = next(r for r in _report(hostile_dir)["requirements"] if r["id"] == "AUTH-401")
    assert auth["verdict"] == "failed"
    curl = auth["failure"]["curl"]
    assert "$OPENAI_API_KEY" not in curl
    assert "Authorization: Bearer conformance-wrong-key-0000" in curl or "Authorization" not in curl


def test_no_file_of_a_run_holds_the_key(hostile_dir: Path) -> None:
    """The hostile server echoes the Authorization header back; no report, nor the run's output, keeps it."""
    files = [p for p in hostile_dir.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert "Bearer ***" in (hostile_dir / "compliance.json").read_text(encoding="utf-8")
    leaks = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaks == []


# --- Allure results ---------------------------------------------------------------------------------------


def _results(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in (directory / "allure-results").glob("*-result.json")]


def _labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def _attachment(directory: Path, result: dict[str, Any], suffix: str) -> str:
    found = [a for a in result.get("attachments", []) if a["name"].endswith(suffix)]
    assert found, [a["name"] for a in result.get("attachments", [])]
    return (directory / "allure-results" / found[0]["source"]).read_text(encoding="utf-8")


def test_allure_groups_by_endpoint_field_and_requirement(broken_dir: Path) -> None:
    results = _results(broken_dir)
    assert len(results) > 100
    assert all(_labels(r, "epic") == ["POST /v1/assistants"] for r in results)
    failing = [r for r in results if r["status"] == "failed"]
    assert len(failing) == 1
    result = failing[0]
    assert _labels(result, "feature") == ["name"]
    assert _labels(result, "story") == ["REQ-NAME-MAXLEN"]
    assert _labels(result, "severity") == ["normal"]
    assert "curl -sS -X POST" in _attachment(broken_dir, result, ": curl")
    assert _attachment(broken_dir, result, ": request").startswith("POST ")
    assert _attachment(broken_dir, result, ": response").startswith("HTTP 200")
    auth = [r for r in results if r["name"].startswith("test_unauthorized")]
    assert auth and all(_labels(r, "severity") == ["critical"] and "AUTH-401" in _labels(r, "story") for r in auth)
    for r in results:
        examples = {p["name"]: p["value"] for p in r["parameters"]}.get("examples")
        assert examples is not None and int(examples) >= 1, r["name"]
    environment = (broken_dir / "allure-results" / "environment.properties").read_text()
    assert f"Verdict={N - 1} of {N} requirements conform" in environment
    # No container files for the suite's own fixtures (allure-pytest writes one per fixture and test).
    assert not list((broken_dir / "allure-results").glob("*-container.json"))


@pytest.mark.parametrize(("server", "story", "minus", "plus"), [
    ("name-not-echoed", "ECHO-NAME", '-  "name": "', '+  "name": null'),
    ("default-temperature-0.7", "DEFAULT-TEMPERATURE", '-  "temperature": 1', '+  "temperature": 0.7'),
])
def test_allure_diffs_expected_against_actual(server: str, story: str, minus: str, plus: str, catalog_url: str,
                                              tmp_path: Path) -> None:
    result = _run(f"{catalog_url}/broken/{server}/v1", tmp_path, "--max-examples", "10", "-k", "valid_requests")
    assert result.returncode == 1, result.stdout[-3000:]
    failing = [r for r in _results(tmp_path) if r["status"] == "failed"]
    assert len(failing) == 1
    assert story in _labels(failing[0], "story")
    assert _labels(failing[0], "severity") == ["minor"]
    diff = _attachment(tmp_path, failing[0], ": expected vs actual")
    assert diff.startswith("--- expected")
    assert minus in diff and plus in diff


PROBE_PLUGIN = '''
import json, os
def pytest_sessionfinish(session):
    with open(os.environ["PROBE_OUT"], "w") as out:
        json.dump({"labeller": session.config.pluginmanager.has_plugin("conformance-allure")}, out)
'''


@pytest.mark.parametrize("allure", [False, True])
def test_plain_pytest_writes_the_same_reports_and_allure_only_on_request(allure: bool, catalog_url: str,
                                                                         tmp_path: Path) -> None:
    (tmp_path / "probe_plugin.py").write_text(PROBE_PLUGIN)
    out = tmp_path / "probe.json"
    args = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "-p", "probe_plugin",
            "--target-url", f"{catalog_url}/broken/{BROKEN}/v1", "--api-key", SECRET, "--max-examples", "2",
            "--report-dir", str(tmp_path / "r"), "-k", "maxLength or unauthorized"]
    if allure:
        args += ["--alluredir", str(tmp_path / "r" / "allure-results")]
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PROBE_OUT": str(out)}
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path,
                            env=env)
    assert result.returncode == 1, result.stdout[-3000:]
    assert sorted(p.name for p in (tmp_path / "r").glob("compliance.*")) == [
        "compliance.html", "compliance.json", "compliance.md"]
    assert "REQ-NAME-MAXLEN" in (tmp_path / "r" / "compliance.md").read_text(encoding="utf-8")
    assert json.loads(out.read_text()) == {"labeller": allure}
    assert (tmp_path / "r" / "allure-results").is_dir() is allure


# --- conformance report --html ------------------------------------------------------------------------------


def test_report_html_without_the_allure_cli_says_how_to_install_it(broken_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run([sys.executable, "-m", "conformance", "report", "--html", str(broken_dir)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path,
                            env={**os.environ, "PATH": str(empty)})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "npm install allure-commandline" in lines[0], result.stderr


def test_report_html_without_results_exits_2(tmp_path: Path) -> None:
    result = run_cli("report", "--html", str(tmp_path))
    assert result.returncode == 2
    assert "no Allure results" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="session")
def report_tools() -> None:
    """Chromium and the Allure CLI, installed by scripts/install-report-tools.sh when missing."""
    if shutil.which("chromium") and find_allure(ROOT):
        return
    subprocess.run(["bash", str(ROOT / "scripts" / "install-report-tools.sh")], check=True, timeout=900,
                   stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="session")
def chromium(report_tools: None) -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed and this machine cannot install it (scripts/install-report-tools.sh "
                    "needs root and apt-get)")
    return path


@pytest.fixture(scope="session")
def allure_cli(report_tools: None) -> Path:
    path = find_allure(ROOT)
    if path is None:
        pytest.skip("the Allure CLI is not installed and this machine cannot install it (needs npm)")
    return path


def _browser(chromium: str, url: str, *args: str, budget_ms: int = 0) -> str:
    """Headless Chromium on ``url``: returns the DOM after load (and ``budget_ms`` of virtual time)."""
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--hide-scrollbars"]
        if budget_ms:
            flags.append(f"--virtual-time-budget={budget_ms}")
        done = subprocess.run([chromium, *flags, *args, url], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _screenshot(chromium: str, url: str, name: str, size: str = "1280,900", budget_ms: int = 0) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    path.unlink(missing_ok=True)
    _browser(chromium, url, f"--screenshot={path}", f"--window-size={size}", budget_ms=budget_ms)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    return path


def test_compliance_html_renders_in_chromium(chromium: str, broken_dir: Path) -> None:
    url = (broken_dir / "compliance.html").as_uri()
    dom = _browser(chromium, url, "--dump-dom")
    assert f'<p class="headline bad" id="headline">{N - 1} of {N} requirements conform</p>' in dom
    assert dom.count('<tr class="passed"') == N - 1
    row = re.search(r'<tr class="failed" id="REQ-NAME-MAXLEN">(.*?)</tr>', dom)
    assert row is not None and "The maximum length is 256 characters." in row.group(1)
    evidence = dom.split('<tr class="failed evidence">', 1)[1].split("</tr>", 1)[0]
    assert '<pre class="request">POST ' in evidence and '<pre class="response">HTTP 200' in evidence
    assert "curl -sS -X POST" in evidence and "$OPENAI_API_KEY" in evidence
    _screenshot(chromium, url, "compliance-html.png")


def test_hostile_html_runs_nothing_in_chromium(chromium: str, hostile_dir: Path) -> None:
    dom = _browser(chromium, (hostile_dir / "compliance.html").as_uri(), "--dump-dom")
    assert "<script" not in dom and "<img" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def _failed_test_uid(index_html: str) -> tuple[str, dict[str, Any]]:
    """The uid of the failing test case, from the data a single-file Allure report embeds (base64 JSON)."""
    for match in re.finditer(r"d\('data/test-cases/([0-9a-f]+)\.json',\s*'([^']*)'\)", index_html):
        case = json.loads(base64.b64decode(match.group(2)))
        if case.get("status") == "failed":
            return match.group(1), case
    raise AssertionError("no failed test case in the Allure report")


def test_report_html_builds_an_allure_report_chromium_shows(allure_cli: Path, chromium: str, broken_dir: Path) -> None:
    result = run_cli("report", "--html", str(broken_dir))
    assert result.returncode == 0, result.stderr
    index = broken_dir / "allure-report" / "index.html"
    assert result.stdout.strip() == f"Allure report: {index}"
    uid, case = _failed_test_uid(index.read_text(encoding="utf-8"))
    assert case["name"] == "test_refused[name:maxLength:past-limit]"
    url = f"{index.as_uri()}#testresult/{uid}"
    dom = _browser(chromium, url, "--dump-dom", budget_ms=8_000)
    assert "test_refused[name:maxLength:past-limit]" in dom
    assert "REQ-NAME-MAXLEN: curl" in dom and "REQ-NAME-MAXLEN: response" in dom
    _screenshot(chromium, url, "allure-report.png", "1400,1000", budget_ms=8_000)


# --- conformance diff ----------------------------------------------------------------------------------------


def test_diff_reports_a_regression_and_exits_1(reference_dir: Path, broken_dir: Path) -> None:
    result = run_cli("diff", str(reference_dir / "compliance.json"), str(broken_dir / "compliance.json"))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "REQ-NAME-MAXLEN: passed -> failed  (regressed)",
        "1 requirement changed verdict; 1 regressed (passed -> failed)",
    ]


def test_diff_of_a_fix_or_of_no_change_exits_0(reference_dir: Path, broken_dir: Path) -> None:
    fixed = run_cli("diff", str(broken_dir / "compliance.json"), str(reference_dir / "compliance.json"))
    assert fixed.returncode == 0
    assert fixed.stdout.splitlines()[0] == "REQ-NAME-MAXLEN: failed -> passed"
    same = run_cli("diff", str(broken_dir / "compliance.json"), str(broken_dir / "compliance.json"))
    assert (same.returncode, same.stdout) == (0, "no requirement changed verdict\n")


def test_diff_counts_only_passed_to_failed_as_a_regression(tmp_path: Path, broken_dir: Path) -> None:
    report = _report(broken_dir)
    for row in report["requirements"]:
        if row["id"] == "REQ-NAME-MAXLEN":
            row["verdict"] = "not_exercised"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(report))
    result = run_cli("diff", str(old), str(broken_dir / "compliance.json"))
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "REQ-NAME-MAXLEN: not_exercised -> failed")


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read"), ("{not json", "is not JSON"), ('{"summary": {}}', "not a compliance report"),
    ('{"requirements": [{"id": "X"}]}', "requirements[0]"), (b"\xff\xfe", "is not JSON"),
])
def test_diff_of_unreadable_input_exits_2_in_one_line(content: str | bytes | None, says: str, tmp_path: Path,
                                                      broken_dir: Path) -> None:
    bad = tmp_path / "bad.json"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    args = [str(bad), str(broken_dir / "compliance.json")]
    result = run_cli("diff", *(args if says != "requirements[0]" else reversed(args)))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and str(bad) in lines[0], result.stderr

"""Faulty and hostile targets: whatever the target does, a verdict, in bounded time and memory, no traceback.

Each test points ``conformance run`` (a real child process) at a fault server from ``faults.py`` and checks
the verdict (the failed requirement, or a target error that names what happened), the exit code, that the
run ended within a bound derived from ``--timeout``, that the child's peak RSS stayed under a generous bound,
and that nothing printed a traceback or the API key. ``docs/faults.md`` has the table of outcomes.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.selftest.reference import ReferenceServer, create_app
from conformance.selftest.rehearsal import Rehearsal
from conformance.transport.client import EVIDENCE_BODY, MAX_BODY, Api, Target, TargetError, open_client
from conformance.transport.server import ServerThread, free_port

from .conftest import ROOT
from .faults import FAULTS, FaultServer, Run, gzip_bomb, run_suite

KEY = "sk-hostile-5d1c0ffee0ddba11-do-not-print"
TIMEOUT = 1.0
STARTUP = 60.0  # seconds: start Python, import, collect 293 tests, on a shared 2-core machine
MEMORY_MB = 1024  # a bound, not a target: the suite reads at most MAX_BODY of an answer


def time_bound(stalls: int) -> float:
    """How long a run may take when ``stalls`` requests wait out the timeout (tripled, for a busy machine)."""
    return STARTUP + 3 * stalls * TIMEOUT


def suite(url: str, tmp_path: Path, *extra: str) -> Run:
    return run_suite("run", "--target", url, "--api-key", KEY, "--timeout", f"{TIMEOUT:g}", "--max-examples", "2",
                     "--report-dir", str(tmp_path / "reports"), *extra, cwd=tmp_path)


def assert_clean(run: Run, stalls: int) -> None:
    """The bounds and hygiene every run keeps, whatever the target did."""
    evidence = run.evidence()
    assert run.seconds < time_bound(stalls), f"took longer than {time_bound(stalls):.0f} s: {evidence}"
    assert run.peak_mb < MEMORY_MB, f"peak RSS above {MEMORY_MB} MB: {evidence}"
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, evidence
    assert KEY not in run.output, f"the API key was printed: {evidence}"
    if run.report_dir is not None and run.report_dir.exists():
        for path in run.report_dir.rglob("*"):
            if path.is_file():
                assert KEY not in path.read_text(errors="replace"), f"the API key reached {path}"


@dataclass(frozen=True)
class Case:
    fault: str
    select: str  # the -k expression: a few tests, as every request fails the same way
    exit: int
    failed: frozenset[str] = frozenset()  # requirements the verdict must name
    says: str = ""  # what the output must say (the target error, or the evidence)
    stalls: int = 0  # requests that wait out the timeout
    only_create: bool = True  # misbehave on POST /assistants only, answer GET and DELETE sanely

    @property
    def id(self) -> str:
        return self.fault


CASES = [
    # The target never answers, or answers too slowly: a target error, after about one timeout each.
    Case("silent", "", 2, says="no answer within 1 s", stalls=1, only_create=False),
    Case("trickle-headers", "valid_requests", 2, says="no answer within 1 s", stalls=1),
    Case("trickle-body", "valid_requests", 2, says="the answer (200) did not complete within 1 s", stalls=1),
    Case("length-too-long", "unauthorized", 2, says="the answer (400) did not complete within 1 s", stalls=2),
    # The answer breaks off or cannot be read: a target error that says how.
    Case("cut", "valid_requests", 2, says="broke off: peer closed connection without sending complete message body"),
    Case("gzip-broken", "unauthorized", 2, says="body claims gzip encoding but does not decode"),
    Case("length-too-short", "valid_requests", 1, frozenset({"HTTP-CREATE-200"}), says="illegal status line"),
    # The answer is complete but wrong: the requirement it breaks.
    Case("status-500", "valid_requests", 1, frozenset({"HTTP-NO-5XX"}), says="500"),
    # A web server's page where the API should be: nothing to judge, one line saying so.
    Case("html-200", "valid_requests", 2, says="NO VERDICT: the target does not serve the Assistants API"),
    Case("text-400", "test_refused and name:maxLength", 1, frozenset({"HTTP-JSON", "ERROR-ENVELOPE"}),
         says="text/plain"),
    Case("invalid-utf8-200", "valid_requests", 1, frozenset({"RESP-OBJECT-SHAPE"}), says="can't decode"),
    Case("invalid-utf8-400", "test_refused and name:maxLength", 1, frozenset({"ERROR-ENVELOPE"}),
         says="can't decode"),
    Case("redirect-loop", "valid_requests", 1, frozenset({"HTTP-CREATE-200"}), says="307", only_create=False),
    # Answers without end: read up to the cap, judged as what they are, memory bounded.
    Case("huge", "valid_requests", 1, frozenset({"RESP-OBJECT-SHAPE"}), says=f"body exceeds {MAX_BODY} bytes"),
    Case("endless-chunked", "valid_requests", 1, frozenset({"RESP-OBJECT-SHAPE"}), says=f"body exceeds {MAX_BODY} bytes"),
    Case("gzip-bomb-200", "valid_requests", 1, frozenset({"RESP-OBJECT-SHAPE"}), says=f"body exceeds {MAX_BODY} bytes"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_faulty_target_gets_a_verdict(case: Case, tmp_path: Path) -> None:
    if case.fault == "gzip-bomb-200":
        gzip_bomb()  # built before the server starts, so the answer itself is not slow
    with FaultServer(FAULTS[case.fault], only_create=case.only_create) as server:
        run = suite(server.base_url, tmp_path, *(["-k", case.select] if case.select else []))
    evidence = run.evidence()
    assert run.returncode == case.exit, evidence
    assert case.says in run.output, evidence
    assert_clean(run, case.stalls)
    report = run.report
    if case.exit == 2:
        assert not run.failed(), evidence  # no verdict on any requirement: the target could not be judged
        assert report["summary"]["target_errors"] or report["summary"]["no_verdict"], evidence
        assert report["summary"]["conforms"] is False
    else:
        assert case.failed <= run.failed(), evidence
        for rid in case.failed:
            assert rid in run.stdout, f"{rid} is not in the terminal summary: {evidence}"


def test_a_refused_connection_exits_2_at_once(tmp_path: Path) -> None:
    run = suite(f"http://127.0.0.1:{free_port()}/v1", tmp_path)
    assert run.returncode == 2, run.evidence()
    assert "cannot be reached" in run.output and "Connection refused" in run.output, run.evidence()
    assert_clean(run, stalls=0)


def test_a_target_that_hangs_on_every_create_stops_at_the_first_request(tmp_path: Path) -> None:
    """Not 296 tests x the timeout: a target that does not answer the run's first request (a create) cannot be
    reached; the run ends there, exit 2, nothing judged."""
    with FaultServer(FAULTS["silent"], only_create=True) as server:
        run = suite(server.base_url, tmp_path)
    assert run.returncode == 2, run.evidence()
    assert "cannot be reached (the first request failed)" in run.output, run.evidence()
    assert len(server.requests) == 1, [r.path for r in server.requests]
    assert_clean(run, stalls=1)


def test_a_target_that_dies_mid_run_is_judged_and_stopped(tmp_path: Path) -> None:
    """Answers a few creates correctly, then none: the answers count (not "no verdict", exit 2), and the run
    stops, incomplete (exit 3: nothing failed in what ran, but it did not finish)."""
    with FaultServer(FAULTS["fine-then-silent"], only_create=True, budget=4) as server:
        run = suite(server.base_url, tmp_path, "-k", "test_refused")
    assert run.returncode == 3, run.evidence()
    assert run.report["summary"]["outcome"] == "incomplete", run.evidence()
    assert "the target failed 3 tests in a row" in run.output, run.evidence()
    verdicts = run.verdicts()
    assert "passed" in verdicts.values() and "failed" not in verdicts.values(), run.evidence()
    assert run.report["summary"]["conforms"] is False and len(run.report["summary"]["target_errors"]) == 3
    assert_clean(run, stalls=3)


def test_a_redirect_elsewhere_is_a_verdict_and_the_key_stays_home(tmp_path: Path) -> None:
    """A 307 to another host is not followed: HTTP-CREATE-200 fails and the other host hears nothing."""
    with FaultServer(FAULTS["silent"], host="127.0.0.2") as elsewhere, \
            FaultServer(FAULTS["redirect-away"], redirect_to=elsewhere.url) as server:
        run = suite(server.base_url, tmp_path, "-k", "valid_requests")
    assert run.returncode == 1, run.evidence()
    assert "HTTP-CREATE-200" in run.failed(), run.evidence()
    assert elsewhere.url in run.output, run.evidence()  # the Location is in the evidence
    assert elsewhere.requests == [], "the redirect was followed"
    assert server.requests and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)
    assert_clean(run, stalls=0)


def test_a_target_that_reflects_the_key_does_not_get_it_printed(tmp_path: Path) -> None:
    """The key the target repeats (in its body and a header) is masked in the output and every report. (It
    refuses every key, so the run ends with no verdict; the failures printed on the way show the answers.)"""
    with FaultServer(FAULTS["reflect-key"]) as server:
        run = suite(server.base_url, tmp_path, "-k", "valid_requests or unauthorized", "-vv")
    assert any(KEY in r.headers.get("authorization", "") for r in server.requests), "the key was not sent"
    assert run.returncode == 2, run.evidence()
    assert "NO VERDICT: the target refused the API key" in run.output, run.evidence()
    assert "Incorrect API key provided: Bearer ***" in run.output, run.evidence()
    assert_clean(run, stalls=0)


# --- the client layer, in process: the same bounds, one request at a time ------------------------------


def _api(url: str, timeout: float = TIMEOUT) -> Api:
    target = Target(url, KEY, timeout)
    return Api(open_client(target), target)


@pytest.mark.parametrize("fault", ["trickle-headers", "trickle-body", "length-too-long"])
def test_one_deadline_bounds_the_whole_exchange(fault: str) -> None:
    with FaultServer(FAULTS[fault]) as server:
        api = _api(server.base_url, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TargetError, match=r"within 0\.5 s") as caught:
            api.create({"model": "gpt-4o"})
        took = time.monotonic() - started
        api.client.close()
    assert took < 0.5 + 2.0, f"{fault}: the request took {took:.2f} s against a 0.5 s deadline ({caught.value})"


@pytest.mark.parametrize("fault", ["huge", "endless-chunked", "gzip-bomb-200"])
def test_an_oversized_answer_is_cut_at_the_cap_and_kept_small(fault: str) -> None:
    gzip_bomb()
    with FaultServer(FAULTS[fault]) as server:
        api = _api(server.base_url, timeout=10)
        received = api.create({"model": "gpt-4o"}).received
        api.client.close()
    assert received.truncated and len(received.body) <= EVIDENCE_BODY, (received.truncated, len(received.body))
    with pytest.raises(ValueError, match=f"exceeds {MAX_BODY} bytes"):
        received.json()


def test_a_reflected_key_is_masked_as_it_is_received() -> None:
    with FaultServer(FAULTS["reflect-key"]) as server:
        api = _api(server.base_url)
        received = api.create({"model": "gpt-4o"}).received
        api.client.close()
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in received.body and b"Bearer ***" in received.body
    assert received.headers["x-seen-authorization"] == "Bearer ***"


# --- bad input to the suite itself ------------------------------------------------------------------


def assert_one_line_error(run: Run, *expected: str) -> None:
    errors = [line for line in run.output.splitlines() if line.startswith(("ERROR:", "conformance:"))]
    assert run.returncode == 2, run.evidence()
    assert len(errors) == 1, run.evidence()
    for text in expected:
        assert text in errors[0], run.evidence()
    assert_clean(run, stalls=0)


@pytest.mark.parametrize(("args", "expected"), [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--timeout", "soon"], "invalid float value: 'soon'"),
    (["--timeout", "0"], "argument --timeout: must be a number of seconds > 0"),
    (["--timeout", "nan"], "argument --timeout: must be a number of seconds > 0"),
    (["--clock-skew=-inf"], "argument --clock-skew: must be a number of seconds >= 0"),
    (["--max-examples", "0"], "argument --max-examples: must be at least 1"),
    (["--target", ""], "the target URL is empty"),
    (["--target", "127.0.0.1:8000/v1"], "is not an http(s) URL with a host"),
    (["--target", "ftp://127.0.0.1/v1"], "is not an http(s) URL with a host"),
    (["--target", "http:///v1"], "is not an http(s) URL with a host"),
    (["--target", "http://[::1/v1"], "is not a valid URL"),
    (["--target", "http://127.0.0.1:99999/v1"], "outside 1-65535"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_options_get_one_line_and_exit_2(args: list[str], expected: str, tmp_path: Path) -> None:
    run = run_suite("run", "--api-key", KEY, "--report-dir", str(tmp_path / "reports"), *args, cwd=tmp_path)
    assert_one_line_error(run, expected)


def test_an_unwritable_report_dir_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    run = run_suite("run", "--api-key", KEY, "--report-dir", str(tmp_path / "taken"), cwd=tmp_path)
    assert_one_line_error(run, "report directory", "taken")


def _break(directory: Path, name: str, how: str) -> None:
    path = directory / name
    if how == "missing":
        path.unlink()
    elif how == "a directory":
        path.unlink()
        path.mkdir()
    elif how == "not UTF-8":
        path.write_bytes(b'{"title": "\xff"}')
    elif how == "not JSON":
        path.write_text('{"type": "object",')
    elif how == "not an object":
        path.write_text("[]")
    elif how == "not a schema":
        path.write_text('{"type": 12}')
    elif how == "not the suite's schema":
        path.write_text('{"type": "object"}')
    elif how == "a dangling $ref":
        path.write_text('{"$ref": "#/$defs/nowhere"}')


SCHEMA_BREAKS = [
    ("create-assistant-request.schema.json", "missing", "No such file"),
    ("error.schema.json", "a directory", "Is a directory"),
    ("error.schema.json", "not UTF-8", "not UTF-8"),
    ("assistant.schema.json", "not JSON", "not valid JSON"),
    ("delete-assistant-response.schema.json", "not an object", "not a JSON object"),
    ("error.schema.json", "not a schema", "not a valid Draft 2020-12 schema"),
    ("error.schema.json", "not the suite's schema", "not the suite's schemas"),
    ("assistant.schema.json", "a dangling $ref", "not the suite's schemas"),
]


@pytest.mark.parametrize(("name", "how", "expected"), SCHEMA_BREAKS, ids=[f"{n}:{h}" for n, h, _ in SCHEMA_BREAKS])
@pytest.mark.parametrize("command", ["run", "requirements"])
def test_broken_schemas_get_one_line_and_exit_2(command: str, name: str, how: str, expected: str, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", schemas)
    _break(schemas, name, how)
    args = ["run", "--api-key", KEY, "--report-dir", str(tmp_path / "reports")] if command == "run" else [command]
    run = run_suite(*args, cwd=tmp_path, env={"CONFORMANCE_SCHEMA_DIR": str(schemas)})
    assert_one_line_error(run, expected)


class _CutCreatesAfter:
    """ASGI middleware: passes the first ``creates`` POST /assistants through, then breaks every later one off
    mid-answer (the connection closes after the status line), like a server that starts resetting connections.
    Everything else (GET, DELETE) is still answered, so the run's cleanup can delete what it created."""

    def __init__(self, app: Any, creates: int) -> None:
        self.app, self.creates = app, creates

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/assistants"):
            if self.creates <= 0:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
                raise ConnectionResetError("cut off on purpose")  # uvicorn closes the connection
            self.creates -= 1
        await self.app(scope, receive, send)


def test_a_run_stopped_by_target_errors_reports_after_its_cleanup(tmp_path: Path) -> None:
    """--max-target-errors stops the run with pytest.exit; the cleanup still runs before compliance.json is
    written, so the report counts every request the server received, deletes included, and nothing is left."""
    reference = ReferenceServer(api_keys=frozenset({KEY}))
    counted = Rehearsal(_CutCreatesAfter(create_app(reference), creates=12), reference)
    with ServerThread(counted) as root:
        run = suite(root + "/v1", tmp_path)
    assert run.returncode == 3, run.evidence()  # incomplete: nothing failed, but the run stopped
    assert "the target failed 3 tests in a row" in run.output, run.evidence()
    log = [(entry["method"], entry.get("status")) for entry in counted.log]
    last_create = max(i for i, (method, _) in enumerate(log) if method == "POST")
    assert ("DELETE", 200) in log[last_create:], f"no cleanup after the stop, so nothing to test: {log}"
    assert reference.store == {}, f"left behind: {sorted(reference.store)}"
    assert run.report["run"]["cleanup_failed"] == []
    assert run.report["run"]["requests"] == counted.requests, run.evidence()

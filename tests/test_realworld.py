"""Safe against a paid API: the request budget, 429s, cleanup on Ctrl-C, dry runs, pools files, in-process
targets; every claim counted on the server's side (``conformance serve --inspect``)."""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from conformance.transport.limits import BudgetExhausted, Limits, retry_wait

from .serving import KEY, ROOT, report, run, serve, verdicts

# --- the request budget --------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [2, 3, 9, 60])
def test_a_run_never_sends_more_than_its_budget(budget: int, tmp_path: Path) -> None:
    with serve() as server:
        result = run("--target", server.base, "--api-key", KEY, "--max-requests", str(budget),
                     "--max-examples", "5", "--report-dir", str(tmp_path))
        seen = server.inspect()
    assert result.returncode == 3, result.stdout[-2000:]  # incomplete: nothing failed, but the run did not finish
    assert 0 < seen["requests"] <= budget
    assert seen["assistants"] == []  # the cleanup fitted in the budget: the deletes were held back for it
    data = report(tmp_path)
    jsonschema.validate(data, json.loads((ROOT / "schemas" / "compliance.schema.json").read_text()))
    assert data["run"]["requests"] == seen["requests"]
    assert data["run"]["budget"]["exhausted"].startswith(f"the request budget of {budget} is spent")
    assert f"the request budget of {budget} is spent" in result.stdout
    assert data["summary"]["not_exercised"] > 0
    for row in data["requirements"]:  # nothing unexercised is called passed
        assert (row["verdict"] == "passed") == (row["examples"] > 0 and row["verdict"] != "failed")


def test_a_budget_of_one_exercises_nothing(tmp_path: Path) -> None:
    with serve() as server:
        result = run("--target", server.base, "--api-key", KEY, "--max-requests", "1", "--report-dir", str(tmp_path))
        assert server.inspect()["requests"] == 0  # a create needs a request held back for its delete
    assert set(verdicts(tmp_path).values()) == {"not_exercised"}
    assert result.returncode == 3
    assert "Incomplete run, no verdict (the request budget of 1 is spent" in result.stdout
    assert "requirements conform" not in result.stdout


def test_the_budget_holds_while_shrinking_a_failure(tmp_path: Path) -> None:
    """Against a broken server, shrinking wants many requests; the budget still caps them, and the failure
    found stays a failure (exit 1)."""
    with serve("--catalog") as server:
        result = run("--target", server.root + "/broken/name-max-257/v1", "--api-key", KEY, "--max-requests", "25",
                     "-k", "name", "--report-dir", str(tmp_path))
        seen = server.inspect()
    assert seen["requests"] <= 25
    assert all(ids == [] for ids in seen["mounted"].values())
    assert result.returncode == 1, result.stdout[-2000:]
    assert verdicts(tmp_path)["REQ-NAME-MAXLEN"] == "failed"


def test_limits_hold_back_one_delete_per_assistant_to_delete() -> None:
    limits = Limits(max_requests=10)
    limits.admit(spent=9, reserved=0)
    with pytest.raises(BudgetExhausted):
        limits.admit(spent=8, reserved=2)
    with pytest.raises(ValueError):
        Limits(max_requests=0)


# --- 429 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "wait"), [("retry-after", 1.0), ("retry-after-ms", 0.3),
                                              ("x-ratelimit-reset-requests", 0.3)])
def test_429_is_waited_out_as_the_headers_say(header: str, wait: float, tmp_path: Path) -> None:
    with serve("--throttle", "4", "--throttle-wait", str(wait), "--throttle-header", header) as server:
        result = run("--target", server.base, "--api-key", KEY, "--max-examples", "3", "-k",
                     "unauthorized or retrieved", "--report-dir", str(tmp_path))
        seen = server.inspect()
    assert result.returncode == 0, result.stdout[-2000:]
    assert seen["throttled"] >= 2
    assert report(tmp_path)["run"]["rate_limited_retries"] == seen["throttled"]
    log = seen["log"]
    for before, after in itertools.pairwise(log):
        if before["status"] == 429:  # the next request is the retry, sent no sooner than asked
            assert after["time"] - before["time"] >= wait - 0.05
            assert (after["method"], after["path"]) == (before["method"], before["path"])


def test_429_retries_are_bounded(tmp_path: Path) -> None:
    with serve("--throttle", "1", "--throttle-wait", "0.1", "--throttle-header", "retry-after-ms") as server:
        result = run("--target", server.base, "--api-key", KEY, "--max-retries", "2", "--report-dir", str(tmp_path))
        assert server.inspect()["requests"] == 3  # the first try and two retries, then the run gives up
    assert result.returncode == 2
    assert "still 429 Too Many Requests after 2 retries" in result.stdout + result.stderr


def test_a_429_asking_for_too_long_a_wait_is_not_waited(tmp_path: Path) -> None:
    with serve("--throttle", "1", "--throttle-wait", "30") as server:
        started = time.monotonic()
        result = run("--target", server.base, "--api-key", KEY, "--max-wait", "2", "--report-dir", str(tmp_path))
        assert server.inspect()["requests"] == 1
    assert time.monotonic() - started < 25
    assert result.returncode == 2
    assert "asks to wait 30.0 s, more than --max-wait 2 s" in result.stdout + result.stderr


@pytest.mark.parametrize(("headers", "attempt", "expected"), [
    ({"retry-after": "3"}, 0, 3.0),
    ({"retry-after-ms": "250", "retry-after": "3"}, 0, 0.25),
    ({"retry-after": "Wed, 25 Nov 2026 16:00:10 GMT"}, 0, 10.0),
    ({"x-ratelimit-reset-requests": "6m0s"}, 0, 360.0),
    ({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "1.5s"}, 0, 1.5),
    ({"x-ratelimit-reset-requests": "1h2m3s"}, 0, 3723.0),
    ({"retry-after": "soon"}, 2, 2.0),
    ({}, 0, 0.5),
    ({}, 3, 4.0),
])
def test_retry_wait_reads_the_rate_limit_headers(headers: dict[str, str], attempt: int, expected: float) -> None:
    now = 1795622400.0  # Wed, 25 Nov 2026 16:00:00 GMT
    assert retry_wait(headers, attempt, now=now) == pytest.approx(expected)


# --- cleanup, also on Ctrl-C -------------------------------------------------------------------


def _interrupt_mid_run(server_args: tuple[str, ...], run_args: tuple[str, ...], tmp_path: Path) -> None:
    with serve(*server_args) as server:
        proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--target", server.base, "--api-key", KEY,
                                 "--report-dir", str(tmp_path), *run_args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while len(server.inspect()["assistants"]) < 3:
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it was interrupted"
                time.sleep(0.02)
            count = len(server.inspect()["assistants"])
            while len(server.inspect()["assistants"]) == count:  # a create just landed in the store; with
                time.sleep(0.005)                                # --latency its answer is still on its way
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        seen = server.inspect()
    assert proc.returncode in (1, 3), out[-2000:]  # 3: incomplete; 1: a failure found before the interrupt
    assert report(tmp_path)["summary"]["incomplete"][0].startswith("interrupted after"), out[-2000:]
    assert seen["assistants"] == [], f"left behind: {seen['assistants']}"
    assert report(tmp_path)["run"]["cleanup_failed"] == []


def test_an_interrupted_run_deletes_every_assistant_it_created(tmp_path: Path) -> None:
    _interrupt_mid_run((), (), tmp_path)


def test_an_interrupt_while_a_create_is_in_flight_leaks_nothing(tmp_path: Path) -> None:
    """The server stores the assistant, then answers 0.3 s later; Ctrl-C lands in between."""
    _interrupt_mid_run(("--latency", "0.3"), (), tmp_path)


def test_an_interrupted_failing_run_deletes_what_it_created(tmp_path: Path) -> None:
    """A default-profile server fails the latest profile: tests fail, are interrupted, cleanup still runs."""
    _interrupt_mid_run(("--latency", "0.05"), ("--profile", "latest", "--model", "gpt-4o"), tmp_path)


@pytest.mark.parametrize("second", [0.3, 1.5])
def test_a_second_interrupt_abandons_the_cleanup_in_one_line(second: float, tmp_path: Path) -> None:
    """Ctrl-C, then Ctrl-C again (before the cleanup started, or during it): no traceback (it was 198 lines of
    'SystemError: AST constructor recursion depth mismatch'), one line saying what was left, listed in the report."""
    with serve("--latency", "0.2") as server:
        proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--target", server.base, "--api-key", KEY,
                                 "--report-dir", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while len(server.inspect()["assistants"]) < 8:
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it was interrupted"
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            time.sleep(second)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        left = server.inspect()["assistants"]
    assert "Traceback" not in out and "SystemError" not in out, out[-3000:]
    abandoned = [line for line in out.splitlines() if "cleanup abandoned" in line]
    assert len(abandoned) == 1, out[-3000:]
    reported = report(tmp_path)["run"]["cleanup_failed"]
    assert f"{len(reported)} assistant(s) this run created left undeleted" in abandoned[0]
    assert proc.returncode in (1, 3), out[-2000:]
    # Every one left is listed; a DELETE in flight when the cleanup was abandoned may have landed all the same.
    assert left and set(left) <= set(reported) and len(reported) <= len(left) + 1
    assert len(out.splitlines()) < 30, out


def test_failing_tests_still_delete_what_they_created(tmp_path: Path) -> None:
    with serve() as server:
        result = run("--target", server.base, "--api-key", KEY, "--profile", "latest", "--model", "gpt-4o",
                     "--max-examples", "3", "-k", "valid_requests or response_format", "--report-dir", str(tmp_path))
        seen = server.inspect()
    assert result.returncode == 1
    assert seen["requests"] > 10
    assert seen["assistants"] == []


# --- dry run -------------------------------------------------------------------------------------


def test_a_dry_run_sends_nothing_and_counts_what_a_real_run_sends(tmp_path: Path) -> None:
    with serve() as server:
        dry = run("--target", server.base, "--api-key", KEY, "--dry-run", "--seed", "3", "--max-examples", "4",
                  "--report-dir", str(tmp_path / "dry"))
        assert server.inspect()["requests"] == 0
        real = run("--target", server.base, "--api-key", KEY, "--seed", "3", "--max-examples", "4",
                   "--report-dir", str(tmp_path / "real"))
        sent = server.inspect()["requests"]
    assert dry.returncode == 0 and real.returncode == 0, dry.stdout[-2000:]
    assert f"nothing was sent to {server.base}" in dry.stdout
    assert f"would send {sent} requests" in dry.stdout
    lines = (tmp_path / "dry" / "dry-run.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == sent
    assert lines[1].startswith(f"POST {server.base}/assistants {{")
    assert not (tmp_path / "dry" / "compliance.json").exists()  # no verdicts about a target never asked


def test_a_dry_run_respects_the_budget_and_never_needs_the_key(tmp_path: Path) -> None:
    result = run("--target", "https://api.openai.com/v1", "--dry-run", "--max-requests", "40",
                 "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout[-2000:]
    lines = (tmp_path / "dry-run.txt").read_text(encoding="utf-8").splitlines()
    assert 0 < len(lines) <= 40
    assert "nothing was sent to https://api.openai.com/v1" in result.stdout


# --- pools from a file ---------------------------------------------------------------------------


def test_pools_come_from_a_file_and_options_win(tmp_path: Path) -> None:
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps({"models": ["gpt-4o-mini", "gpt-4"], "file_ids": ["file-mine"],
                                 "vector_store_ids": ["vs_mine"], "unknown_model": "no-such-model"}))
    result = run("--dry-run", "--pools", str(pools), "--max-examples", "6", "--report-dir", str(tmp_path / "a"))
    assert result.returncode == 0, result.stdout[-2000:]
    text = (tmp_path / "a" / "dry-run.txt").read_text()
    models = set(re.findall(r'"model":"([^"]*)"', text))
    assert {"gpt-4o-mini", "no-such-model"} <= models <= {"gpt-4o-mini", "gpt-4", "no-such-model"}
    assert set(re.findall(r'"(file-[\w-]*)"', text)) == {"file-mine"}  # no synthetic file IDs
    assert set(re.findall(r'"(vs_[\w-]*)"', text)) == {"vs_mine"}
    override = run("--dry-run", "--pools", str(pools), "--model", "gpt-3.5-turbo", "--no-files", "--max-examples", "3",
                   "--report-dir", str(tmp_path / "b"))
    assert override.returncode == 0
    text = (tmp_path / "b" / "dry-run.txt").read_text()
    assert '"model":"gpt-3.5-turbo"' in text and '"model":"gpt-4o-mini"' not in text
    assert "file-mine" not in text


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not JSON"),
    ('{"modles": ["gpt-4o"]}', "unknown keys ['modles']"),
    ('{"models": []}', "at least one model"),
    ('{"file_ids": "file-1"}', "'file_ids' must be a list of non-empty strings"),
])
def test_a_bad_pools_file_is_a_usage_error(content: str, message: str, tmp_path: Path) -> None:
    pools = tmp_path / "pools.json"
    pools.write_text(content)
    result = run("--dry-run", "--pools", str(pools), "--report-dir", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# --- in-process targets --------------------------------------------------------------------------


def test_an_in_process_asgi_reference_conforms(tmp_path: Path) -> None:
    result = run("--transport", "tests/inprocess_targets.py:reference", "--max-examples", "5",
                 "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout[-2000:]
    assert set(verdicts(tmp_path).values()) == {"passed"}
    assert report(tmp_path)["run"]["in_process"] == "tests/inprocess_targets.py:reference"


def test_an_in_process_target_that_raises_is_a_server_error(tmp_path: Path) -> None:
    result = run("--transport", "tests/inprocess_targets.py:crashes_on_long_names", "--max-examples", "3",
                 "-k", "name", "--report-dir", str(tmp_path))
    assert result.returncode == 1
    data = report(tmp_path)
    row = next(r for r in data["requirements"] if r["id"] == "HTTP-NO-5XX")
    assert row["verdict"] == "failed"
    assert "the in-process target raised RuntimeError: names longer than 100" in row["failure"]["received"]


@pytest.mark.parametrize(("spec", "message"), [
    ("nocolon", "is not 'package.module:factory'"),
    ("tests/missing.py:x", "no file tests/missing.py"),
    ("tests/inprocess_targets.py:nothing_here", "has no 'nothing_here'"),
    ("tests/inprocess_targets.py:not_a_transport", "not an httpx transport"),
])
def test_a_bad_transport_is_refused_clearly(spec: str, message: str, tmp_path: Path) -> None:
    result = run("--transport", spec, "--report-dir", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stdout + result.stderr


def test_an_in_process_target_has_a_random_state_of_its_own() -> None:
    """Hypothesis seeds the global random module per example; an in-process mock must not see it."""
    import random

    import httpx

    from conformance.transport.inprocess import InProcessTarget

    target = InProcessTarget(httpx.MockTransport(lambda request: httpx.Response(200, text=str(random.random()))))
    answers = []
    for _ in range(3):
        random.seed(0)  # as Hypothesis does before each example
        answers.append(target.handle_request(httpx.Request("GET", "http://x.invalid/")).read())
    assert len(set(answers)) == 3
    random.seed(0)
    assert random.random() == 0.8444218515250481  # the caller's state is left as it was


def test_a_dry_run_records_no_cassettes(tmp_path: Path) -> None:
    result = run("--dry-run", "--record-mode", "once", "--cassette-dir", str(tmp_path / "c"), "--report-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--dry-run sends nothing: it cannot record cassettes" in result.stdout + result.stderr
    assert not (tmp_path / "c").exists()

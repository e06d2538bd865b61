"""Verdicts you can trust: no requirement passes without an answer that showed it, a run that did not finish
never says it conforms, and a target with nothing to judge gets one line and exit 2, no partial score.

Every test runs the real command line against a real server on loopback (``conformance serve``, its catalog
of broken servers, or the embedded reference).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.results.ledger import merge_reports
from conformance.results.reports import headline
from conformance.selftest.catalog import EVERY

from .serving import KEY, ROOT, report, run, serve

SCHEMA = json.loads((ROOT / "schemas" / "compliance.schema.json").read_text(encoding="utf-8"))


def _no_pass(data: dict[str, Any]) -> None:
    jsonschema.validate(data, SCHEMA)
    assert {row["verdict"] for row in data["requirements"]} == {"not_exercised"}
    assert data["summary"]["conforms"] is False and data["summary"]["outcome"] == "no_verdict"


def _conclusion(stdout: str) -> list[str]:
    """The lines of the suite's own summary section."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "= conformance =" in line)
    return [line for line in lines[start + 1:] if not line.startswith(("reports:", "!", "no tests ran", "="))]


@pytest.mark.parametrize("name", ["not-served-404", "not-served-html"])
def test_a_target_that_does_not_serve_the_endpoint_gets_no_verdict(catalog_url: str, name: str, tmp_path: Path) -> None:
    result = run("--target", f"{catalog_url}/broken/{name}/v1", "--api-key", KEY, "--report-dir", str(tmp_path))
    assert result.returncode == 2, result.stdout[-2000:]
    (line,) = _conclusion(result.stdout)
    assert line.startswith("NO VERDICT: the target does not serve the Assistants API there"), line
    assert "requirements conform" not in result.stdout
    _no_pass(report(tmp_path))
    assert report(tmp_path)["run"]["requests"] == 1  # the smallest valid request said it all


def test_a_refused_key_gets_no_verdict(tmp_path: Path) -> None:
    with serve() as server:
        result = run("--target", server.base, "--api-key", "sk-not-the-key-0000", "--report-dir", str(tmp_path))
        assert server.inspect()["requests"] == 1
    assert result.returncode == 2, result.stdout[-2000:]
    (line,) = _conclusion(result.stdout)
    assert line.startswith("NO VERDICT: the target refused the API key: 401") and "conformance-test-key" in line
    _no_pass(report(tmp_path))
    assert "sk-not-the-key-0000" not in result.stdout + (tmp_path / "compliance.json").read_text()


def test_a_selection_without_the_smallest_request_still_gets_no_verdict(catalog_url: str, tmp_path: Path) -> None:
    """``-k`` leaves out the run's first request: the verdict falls back on every answer of the run."""
    result = run("--target", f"{catalog_url}/broken/not-served-404/v1", "--api-key", KEY, "-k", "name and refused",
                 "--max-target-errors", "0", "--report-dir", str(tmp_path))
    assert result.returncode == 2, result.stdout[-2000:]
    assert "NO VERDICT: the target does not serve the Assistants API at" in result.stdout
    _no_pass(report(tmp_path))


def test_an_empty_answer_fails_every_required_field(catalog_url: str, tmp_path: Path) -> None:
    result = run("--target", f"{catalog_url}/broken/create-answers-empty-object/v1", "--api-key", KEY,
                 "--report-dir", str(tmp_path))
    assert result.returncode == 1
    rows = {row["id"]: row for row in report(tmp_path)["requirements"]}
    assert EVERY["create-answers-empty-object"] >= {"RESP-ID", "RESP-MODEL", "RESP-CREATED-AT"}
    for rid in EVERY["create-answers-empty-object"]:
        assert rows[rid]["verdict"] == "failed", rid
        assert "missing from the answer" in rows[rid]["failure"]["received"]
    # and what the empty answer cannot show stays unjudged, not passed
    assert rows["RESP-CREATED-AT-NOW"]["verdict"] == "not_exercised"
    assert rows["RESP-ID-UNIQUE"]["verdict"] == "not_exercised"


def test_a_run_interrupted_after_5_s_does_not_claim_conformance(tmp_path: Path) -> None:
    with serve("--latency", "0.03") as server:
        proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--target", server.base, "--api-key", KEY,
                                 "--report-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, stdin=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        assert server.inspect()["assistants"] == []
    assert proc.returncode == 3, out[-2000:]
    data = report(tmp_path)
    jsonschema.validate(data, SCHEMA)
    summary = data["summary"]
    assert summary["conforms"] is False and summary["outcome"] == "incomplete" and not summary["complete"]
    assert summary["incomplete"][0].startswith("interrupted after ")
    for text in (out, (tmp_path / "compliance.md").read_text(), (tmp_path / "compliance.html").read_text()):
        assert "requirements conform" not in text
        assert "Incomplete run" in text


def test_a_run_cut_by_its_budget_is_incomplete(tmp_path: Path) -> None:
    result = run("--max-requests", "40", "--report-dir", str(tmp_path))
    assert result.returncode == 3, result.stdout[-2000:]
    summary = report(tmp_path)["summary"]
    assert summary["outcome"] == "incomplete" and summary["incomplete"][0].startswith("the request budget of 40")
    assert "requirements conform" not in result.stdout


def test_a_failure_found_before_the_budget_ran_out_is_still_a_failure(catalog_url: str, tmp_path: Path) -> None:
    result = run("--target", f"{catalog_url}/broken/name-max-257/v1", "--api-key", KEY, "--max-requests", "60",
                 "--report-dir", str(tmp_path))
    assert result.returncode == 1, result.stdout[-2000:]
    summary = report(tmp_path)["summary"]
    assert summary["outcome"] == "failed" and summary["incomplete"]
    assert "(incomplete run: the request budget of 60" in headline(report(tmp_path))


def test_cleanup_answers_are_judged(catalog_url: str, tmp_path: Path) -> None:
    """A DELETE at the end of the run of an id the target returned, answered 404, is evidence, not a note."""
    # without the state tests, which read back and delete what the run created: only the cleanup can show it
    result = run("--target", f"{catalog_url}/broken/store-forgets-assistants/v1", "--api-key", KEY,
                 "-k", "not test_state_and_access", "--report-dir", str(tmp_path))
    assert result.returncode == 1
    failure = next(r for r in report(tmp_path)["requirements"] if r["id"] == "DELETE-RESPONSE")["failure"]
    assert failure["test"] == "cleanup (end of run)" and failure["response"]["status"] == 404


def _shard(tmp: Path, name: str, *args: str) -> Path:
    out = tmp / name
    result = run("--report-dir", str(out), "--max-examples", "2", *args)
    assert result.returncode == 0, result.stdout[-2000:]
    return out / "compliance.json"


def test_merge_refuses_reports_of_different_profiles(tmp_path: Path) -> None:
    a = _shard(tmp_path, "a", "-k", "refused", "--model", "gpt-4o")
    b = _shard(tmp_path, "b", "-k", "not refused", "--profile", "latest", "--model", "gpt-4o")
    result = subprocess.run([sys.executable, "-m", "conformance", "merge", str(a), str(b), "-o", str(tmp_path / "m.json")],
                            capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "different profiles" in result.stderr and "2024-05-13" in result.stderr and "latest" in result.stderr
    assert not (tmp_path / "m.json").exists()


def test_merge_refuses_other_schemas_and_names_its_targets(tmp_path: Path) -> None:
    a = _shard(tmp_path, "a", "-k", "refused")
    b = _shard(tmp_path, "b", "-k", "not refused")
    data = [json.loads(p.read_text()) for p in (a, b)]
    merged = merge_reports(data)
    assert merged["summary"]["outcome"] == "conforms" and merged["run"]["merged_targets"] == ["embedded reference server"]
    data[1]["run"]["schemas_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="different schemas"):
        merge_reports(data)
    result = subprocess.run([sys.executable, "-m", "conformance", "merge", str(a), str(b), "-o", str(tmp_path / "m.json")],
                            capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and "merged 2 reports of embedded reference server" in result.stdout


def test_an_incomplete_shard_makes_the_merge_incomplete(tmp_path: Path) -> None:
    a = _shard(tmp_path, "a", "-k", "refused")
    data = json.loads(a.read_text())
    cut = json.loads(a.read_text())
    cut["summary"]["incomplete"] = ["interrupted after 3 of 9 tests"]
    merged = merge_reports([data, cut])
    assert merged["summary"]["outcome"] == "incomplete" and not merged["summary"]["conforms"]
    assert "interrupted after 3 of 9 tests" in headline(merged)


def test_a_target_without_a_retrieve_route_is_not_blamed_for_what_only_a_retrieve_could_show(
        catalog_url: str, tmp_path: Path) -> None:
    """A gateway with no GET /assistants/{id} (405, as LiteLLM's proxy) fails RESP-ID-RETRIEVABLE; that a
    DELETE removed the assistant, or that a refused DELETE left it, is then unknown: not failed."""
    result = run("--target", f"{catalog_url}/broken/gateway-no-retrieve-drops-nulls/v1", "--api-key", KEY,
                 "--report-dir", str(tmp_path))
    assert result.returncode == 1
    verdict = {row["id"]: row["verdict"] for row in report(tmp_path)["requirements"]}
    assert verdict["RESP-ID-RETRIEVABLE"] == "failed"
    assert verdict["DELETE-REMOVES"] == "not_exercised" and verdict["AUTH-REFUSED-NO-EFFECT"] == "not_exercised"


def test_a_target_that_does_not_know_the_model_gets_no_verdict(tmp_path: Path) -> None:
    """The smallest valid request refused 404 model_not_found (the reference's answer to a model it does not
    serve): nothing can be judged with that model; one line says to name another."""
    with serve() as server:
        result = run("--target", server.base, "--api-key", KEY, "--model", "conformance-no-such-model",
                     "--report-dir", str(tmp_path))
    assert result.returncode == 2, result.stdout[-2000:]
    (line,) = _conclusion(result.stdout)
    assert line.startswith("NO VERDICT: the target does not know the model 'conformance-no-such-model'"), line
    _no_pass(report(tmp_path))


def test_a_server_that_stamps_every_assistant_in_one_second_passes_no_order(tmp_path: Path) -> None:
    """Sorted by created_at is shown only by two assistants created a second apart: a server whose clock stands
    still (every created_at the same second) leaves LIST-ORDER and LIST-ORDER-DEFAULT not exercised, not passed;
    the rest of the list is judged as usual."""
    from conformance.selftest.reference import ReferenceServer, create_app
    from conformance.transport.server import ServerThread

    class StoppedClock(ReferenceServer):
        def now(self) -> int:
            return self.__dict__.setdefault("_started", super().now())

    with ServerThread(create_app(StoppedClock())) as root:
        result = run("--target", root + "/v1", "--api-key", KEY, "--endpoint", "list", "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout[-2000:]
    verdict = {row["id"]: row["verdict"] for row in report(tmp_path)["requirements"]}
    assert verdict.pop("LIST-ORDER") == verdict.pop("LIST-ORDER-DEFAULT") == "not_exercised"
    assert set(verdict.values()) == {"passed"}

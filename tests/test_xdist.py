"""pytest-xdist: a run spread over workers reports like one run (ids, cleanup, the compliance report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator


def _xdist(target: str, report_dir: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--pyargs", "conformance.suite", "-q", "-p", "no:cacheprovider",
         "--target-url", target, "--api-key", "conformance-test-key", "--max-examples", "5",
         "--report-dir", str(report_dir), *extra],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=report_dir,
    )
    return result.returncode, json.loads((report_dir / "compliance.json").read_text()), result.stdout


def _valid_report(report: dict[str, Any]) -> None:
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "compliance.schema.json").read_text())
    Draft202012Validator(schema).validate(report)


def _failed(report: dict[str, Any]) -> set[str]:
    return {r["id"] for r in report["requirements"] if r["verdict"] == "failed"}


def test_two_workers_on_the_reference_report_one_conforming_run(reference_url: str, tmp_path: Path) -> None:
    code, report, out = _xdist(reference_url, tmp_path)
    assert code == 0, out[-2000:]
    _valid_report(report)
    assert report["summary"]["conforms"] is True
    assert report["summary"]["not_exercised"] == 0
    assert report["run"]["requests"] > 250  # both workers' requests are counted
    assert report["run"]["cleanup_failed"] == []


def test_two_workers_on_a_broken_server_name_its_requirement(catalog_url: str, tmp_path: Path) -> None:
    code, report, _ = _xdist(f"{catalog_url}/broken/name-max-257/v1", tmp_path, "--endpoint", "create")
    assert code == 1
    assert _failed(report) == {"REQ-NAME-MAXLEN"}
    failure = next(r for r in report["requirements"] if r["id"] == "REQ-NAME-MAXLEN")["failure"]
    assert failure["response"]["status"] == 200 and failure["curl"].startswith("curl")


def test_an_id_reused_across_workers_is_caught(catalog_url: str, tmp_path: Path) -> None:
    # Each worker creates exactly one assistant (--dist each, one example), so the reused id can only be
    # seen by merging the workers' ledgers.
    code, report, _ = _xdist(f"{catalog_url}/broken/id-reused/v1", tmp_path, "--dist", "each", "-k",
                               "valid_requests", "--max-examples", "1")
    assert code == 1
    assert "RESP-ID-UNIQUE" in _failed(report)
    _valid_report(report)


def test_shards_on_several_machines_merge_into_one_report(reference_url: str, catalog_url: str, tmp_path: Path) -> None:
    """Two shards (as two machines would run them) merged: a failure in either shard fails the merge."""
    from .conftest import run_cli

    good, bad = tmp_path / "a", tmp_path / "b"
    run_cli("run", "--target", reference_url, "--api-key", "conformance-test-key", "--max-examples", "2",
            "--report-dir", str(good), "-k", "not refused")
    run_cli("run", "--target", f"{catalog_url}/broken/name-max-257/v1", "--api-key", "conformance-test-key",
            "--max-examples", "2", "--report-dir", str(bad), "-k", "refused")
    result = run_cli("merge", str(good / "compliance.json"), str(bad / "compliance.json"), "-o",
                     str(tmp_path / "merged.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    merged = json.loads((tmp_path / "merged.json").read_text())
    _valid_report(merged)
    assert _failed(merged) == {"REQ-NAME-MAXLEN"}
    assert merged["summary"]["not_exercised"] == 0


def test_a_budget_spent_under_workers_is_reported_for_the_whole_run(tmp_path: Path) -> None:
    """``conformance run --max-requests N -- -n 2``: the budget, the skips and the BUDGET line speak for the run
    (the controller's own state said the budget was never spent and nothing was skipped)."""
    result = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--max-requests", "60", "--report-dir", str(tmp_path), "--", "-n", "2"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert result.returncode == 3, result.stdout[-3000:]
    report = json.loads((tmp_path / "compliance.json").read_text())
    _valid_report(report)
    budget = report["run"]["budget"]
    assert budget["max_requests"] == 60
    assert budget["exhausted"] is not None and "budget of 60 is spent" in budget["exhausted"], budget
    assert budget["tests_skipped"] > 0
    assert report["run"]["requests"] <= 60
    line = next(line for line in result.stdout.splitlines() if "BUDGET:" in line)
    assert f"{budget['tests_skipped']} test(s) skipped" in line, line

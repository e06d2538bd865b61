"""The command line: exit codes, one-line errors, and the default run against the embedded reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance._requirements import catalog
from conformance._server import free_port

from .conftest import run_cli


@pytest.mark.parametrize("seed", ["0", "1", "2"])
def test_the_reference_server_conforms(seed: str, tmp_path: Path) -> None:
    """No false alarm on the conforming reference, whatever the seed."""
    result = run_cli("run", "--seed", seed, "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads((tmp_path / "compliance.json").read_text())
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert set(verdicts.values()) == {"passed"}, {k: v for k, v in verdicts.items() if v != "passed"}
    assert report["summary"]["conforms"] is True
    assert report["run"]["seed"] == int(seed)
    assert report["run"]["cleanup_failed"] == []


def test_pytest_pyargs_against_a_served_reference(reference_url: str, tmp_path: Path) -> None:
    """The suite ships inside the package and runs with plain pytest against any base URL."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider",
         "--target-url", reference_url, "--api-key", "conformance-test-key", "--max-examples", "5",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    n = len(catalog())
    assert f"{n} of {n} requirements conform" in result.stdout


def test_a_wrong_key_is_no_verdict_not_a_failure(reference_url: str, tmp_path: Path) -> None:
    """Every valid request refused 401: the key is wrong, and nothing the target said can be judged."""
    result = run_cli("run", "--target", reference_url, "--api-key", "not-the-key", "--max-examples", "2",
                     "--report-dir", str(tmp_path), "-k", "valid_requests")
    assert result.returncode == 2
    assert "NO VERDICT: the target refused the API key: all " in result.stdout
    assert " valid requests were answered 401 or 403" in result.stdout
    assert "FAILED HTTP-CREATE-200" not in result.stdout  # the summary judges nothing


def test_unreachable_target_exits_2(tmp_path: Path) -> None:
    port = free_port()
    result = run_cli("run", "--target", f"http://127.0.0.1:{port}/v1", "--report-dir", str(tmp_path),
                     "--timeout", "2")
    assert result.returncode == 2
    assert "cannot be reached" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", [["run", "--bogus"], ["run", "--target", "not a url"], ["run", "--max-examples", "x"],
                                  ["frobnicate"]])
def test_bad_usage_exits_2_without_a_traceback(args: list[str], tmp_path: Path) -> None:
    result = run_cli(*args, "--report-dir", str(tmp_path)) if args[0] == "run" else run_cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_requirements_lists_the_catalog() -> None:
    result = run_cli("requirements")
    assert result.returncode == 0
    assert "REQ-NAME-MAXLEN" in result.stdout
    assert "The maximum length is 256 characters." in result.stdout

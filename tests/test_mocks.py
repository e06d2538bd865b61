"""Third-party mocks of the endpoint, installed from their registries and validated for real by the scripts
that produce docs/mocks/ (a short selection here, to stay quick; the scripts run everything).

Skipped only when the registry cannot deliver the package (the script's exit code 3, with a network error).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .serving import ROOT, failed, report, verdicts

_NETWORK = ("Could not find a version", "No matching distribution", "NewConnectionError", "Max retries exceeded",
            "ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "network", "Temporary failure in name resolution")


def _validate(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUT": str(tmp_path / "matrix"), "REPORT_DIR": str(tmp_path / "run")}
    result = subprocess.run(["bash", f"scripts/{script}", *args], capture_output=True, text=True, timeout=1500,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
    if result.returncode == 3 and any(word in result.stderr for word in _NETWORK):
        pytest.skip(f"{script}: the registry could not deliver the mock: {result.stderr.strip().splitlines()[-1]}")
    return result


def test_openai_responses_is_validated_in_process(tmp_path: Path) -> None:
    result = _validate("validate-openai-responses.sh", tmp_path, "--max-examples", "2", "-k",
                       "unauthorized or name or valid_requests or retrieved or malformed")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    matrix = tmp_path / "matrix"
    assert (matrix / "compliance.md").is_file()
    assert report(matrix)["run"]["in_process"] == "scripts/mocks/openai_responses_target.py:transport"
    assert report(matrix)["summary"]["target_errors"] == []
    got = failed(matrix)
    # It answers 201, checks no key, accepts what breaks a limit, and crashes on a body that is not JSON.
    assert {"HTTP-CREATE-200", "AUTH-401", "REQ-NAME-MAXLEN", "HTTP-NO-5XX"} <= got
    status = verdicts(matrix)
    # It echoes what it is given and gives each assistant an id of its own (random ids, isolated from
    # Hypothesis' seeding of the global random module).
    assert status["ECHO-NAME"] == status["RESP-ID-UNIQUE"] == "passed"
    rows = {r["id"]: r for r in report(matrix)["requirements"]}
    assert rows["HTTP-CREATE-200"]["failure"]["response"]["status"] == 201
    assert "the in-process target raised" in rows["HTTP-NO-5XX"]["failure"]["received"]


@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="node and npm are needed for Prism")
def test_prism_is_validated_against_the_spec(tmp_path: Path) -> None:
    spec = ROOT.parent / "shared" / "reference" / "openai-openapi-2024-05-13.yaml"
    if not spec.is_file():
        pytest.skip(f"the 2024-05-13 spec is not at {spec}")
    result = _validate("validate-prism.sh", tmp_path, "--max-examples", "2", "-k",
                       "unauthorized or name or retrieved or (refused and temperature)")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    matrix = tmp_path / "matrix"
    got = failed(matrix)
    # Static examples: the same id ("string") and created_at 0 every time, nothing echoed, any key accepted,
    # no body validated; NaN (not JSON) is never answered at all.
    assert {"RESP-ID-UNIQUE", "RESP-CREATED-AT-NOW", "ECHO-NAME", "AUTH-401", "REQ-NAME-MAXLEN"} <= got
    status = verdicts(matrix)
    assert status["RESP-OBJECT-SHAPE"] == status["HTTP-JSON"] == "passed"
    errors = report(matrix)["summary"]["target_errors"]
    assert errors and all("no answer within 5 s" in e for e in errors)

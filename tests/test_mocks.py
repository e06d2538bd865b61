"""Third-party mocks of the endpoint, installed from their registries and validated for real by the scripts
that produce docs/mocks/ (a short selection here, to stay quick; the scripts run everything).

Skipped only when the registry cannot deliver the package (the script's exit code 3, with a network error).
LiteLLM and myla (validate-litellm.sh, validate-myla.sh) are not installed here: their scripts are only parsed,
and their committed matrices checked.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
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
    result = _validate("validate-openai-responses.sh", tmp_path, "--max-examples", "2", "--endpoint", "create", "-k",
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
    # The project's install is left alone: reinstalling it would take its entry points from the runs beside this one.
    install = importlib.metadata.distribution("openai-assistants-conformance").locate_file("")
    entry_points = next(Path(str(install)).glob("openai_assistants_conformance-*.dist-info/entry_points.txt")).stat()
    result = _validate("validate-prism.sh", tmp_path, "--max-examples", "2", "--endpoint", "create", "-k",
                       "unauthorized or name or retrieved or (refused and temperature)")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    after = next(Path(str(install)).glob("openai_assistants_conformance-*.dist-info/entry_points.txt")).stat()
    assert (after.st_ino, after.st_mtime_ns) == (entry_points.st_ino, entry_points.st_mtime_ns)
    matrix = tmp_path / "matrix"
    got = failed(matrix)
    # Static examples: the same id ("string") and created_at 0 every time, nothing echoed, any key accepted,
    # no body validated; NaN (not JSON) is never answered at all.
    assert {"RESP-ID-UNIQUE", "RESP-CREATED-AT-NOW", "ECHO-NAME", "AUTH-401", "REQ-NAME-MAXLEN"} <= got
    status = verdicts(matrix)
    assert status["RESP-OBJECT-SHAPE"] == status["HTTP-JSON"] == "passed"
    errors = report(matrix)["summary"]["target_errors"]
    assert errors and all("no answer within 5 s" in e for e in errors)


MATRICES = sorted((ROOT / "docs" / "mocks").glob("*/compliance.json"))


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("validate-*.sh")))
def test_validate_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", f"scripts/{script}"], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", ["validate-litellm.sh", "validate-myla.sh"])
def test_install_failure_has_an_exit_code_of_its_own(script: str) -> None:
    # 'conformance run' uses 0-3 (3: incomplete run); "cannot install" must not be mistaken for any of them.
    text = (ROOT / "scripts" / script).read_text(encoding="utf-8")
    assert "4 if" in text.split("set -euo pipefail")[0]
    assert "exit 4" in text and "exit 3" not in text


@pytest.mark.parametrize("matrix", MATRICES, ids=lambda p: p.parent.name)
def test_committed_matrices_follow_the_report_schema(matrix: Path) -> None:
    schema = json.loads((ROOT / "schemas" / "compliance.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(matrix.read_text(encoding="utf-8")), schema)


@pytest.mark.parametrize("target", ["litellm", "myla"])
def test_every_failed_requirement_is_explained(target: str) -> None:
    # docs/mocks/README.md names, in the target's section, every requirement its committed matrix fails.
    readme = (ROOT / "docs" / "mocks" / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", readme, flags=re.MULTILINE)
    section = next(s for s in sections if s.lower().startswith(target))
    missing = sorted(rid for rid in failed(ROOT / "docs" / "mocks" / target) if f"`{rid}`" not in section)
    assert not missing, f"docs/mocks/README.md, section {target}: not explained: {missing}"

"""Targets that leak the key or hand out hostile ids: the key appears in no output and no file, in any spelling;
what a target chose reaches the terminal escaped; an id no URL can carry is reported, never a crash.

Each test runs ``conformance run`` (a child process) against a leak server of ``faults.py`` (``leaky_api``),
recording cassettes with ``--record-mode once`` into a temporary folder, and then searches stdout, stderr,
``compliance.*``, ``junit.xml``, ``allure-results/`` and the cassettes for the canary key, spelled plainly,
JSON-escaped, percent-encoded, HTML-escaped and base64-encoded (at the three byte offsets). The spellings are
computed here, independently of ``conformance._secrets``, so the test does not grade the code with itself.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from .faults import LEAKS, FaultServer, Run, leaky_api, run_suite

KEY = "sk-canary-7f3e9a1b2c4d5e6f-leak"
SELECT = "minimal or retrieved or unauthorized"
HOSTILE_CHARACTERS = ("\u202e", "\u009b", "\x1b")


def spellings(key: str) -> set[bytes]:
    """Every spelling of ``key`` the suite must never write (as bytes, lowercased where case does not matter)."""
    raw = key.encode()
    forms = {raw, quote(key, safe="").encode(), json.dumps(key, ensure_ascii=True)[1:-1].encode()}
    forms.add("".join(f"\\u{ord(c):04x}" for c in key).encode())
    forms.add(("\\u" + f"{ord(key[0]):04x}" + key[1:]).encode())
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0")
        run = encoded[-(-8 * offset // 6):8 * (offset + len(raw)) // 6]
        forms |= {run, run.replace(b"+", b"-").replace(b"/", b"_")}
    return forms


def leaks(data: bytes) -> list[str]:
    lowered = data.lower()
    found = [form.decode() for form in spellings(KEY) if form.lower() in lowered]
    # the key with any mix of \\u escapes and plain characters
    mixed = "".join(f"(?:{re.escape(c)}|\\\\u{ord(c):04x})" for c in KEY).encode()
    if re.search(mixed, data, re.IGNORECASE):
        found.append("(\\u-escaped in part)")
    return found


def outputs(run: Run, tmp_path: Path) -> dict[str, bytes]:
    """Everything the run printed or wrote."""
    out = {"stdout": run.stdout.encode(), "stderr": run.stderr.encode()}
    for folder in (tmp_path / "reports", tmp_path / "cassettes"):
        for path in sorted(folder.rglob("*")) if folder.exists() else ():
            if path.is_file():
                out[str(path.relative_to(tmp_path))] = path.read_bytes()
    return out


def leak_run(how: str, tmp_path: Path) -> tuple[Run, FaultServer]:
    with FaultServer(leaky_api(how), key=KEY) as server:
        run = run_suite("run", "--target", server.base_url, "--api-key", KEY, "--timeout", "1", "--max-examples", "2",
                        "--report-dir", str(tmp_path / "reports"), "--record-mode", "once",
                        "--cassette-dir", str(tmp_path / "cassettes"), "-k", SELECT, cwd=tmp_path)
    return run, server


@pytest.mark.parametrize("how", LEAKS)
def test_a_leaked_key_is_in_no_output_and_no_file(how: str, tmp_path: Path) -> None:
    run, server = leak_run(how, tmp_path)
    evidence = run.evidence()
    assert server.requests and server.answered, f"the leak server was not exercised: {evidence}"
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, evidence
    written = outputs(run, tmp_path)
    assert any(name.startswith("cassettes") for name in written), f"no cassette recorded: {evidence}"
    assert any("allure-results" in name for name in written), f"no Allure results: {evidence}"
    found = {name: leaks(data) for name, data in written.items() if leaks(data)}
    assert not found, f"the key leaked ({how}): {found}\n{evidence}"
    json.loads((tmp_path / "reports" / "compliance.json").read_text(encoding="utf-8"))  # still a report


@pytest.mark.parametrize("how", ["bidi-id", "control-id", "surrogate-id"])
def test_hostile_ids_reach_the_terminal_escaped(how: str, tmp_path: Path) -> None:
    run, _server = leak_run(how, tmp_path)
    evidence = run.evidence()
    terminal = {"stdout": run.stdout, "stderr": run.stderr,
                "junit.xml": (tmp_path / "reports" / "junit.xml").read_text(encoding="utf-8", errors="replace")}
    raw = {name: [c for c in HOSTILE_CHARACTERS if c in text] for name, text in terminal.items()}
    assert not any(raw.values()), f"raw control or bidi characters: {raw}\n{evidence}"
    if how == "bidi-id":  # the lines that showed them: the GET's target error, and the cleanup's 404s
        assert "TARGET ERROR:" in run.stdout and "target error:" in run.output, evidence
        assert "CLEANUP:" in run.stdout and "\\u{202e}" in run.stdout, evidence
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, evidence


def test_an_id_with_control_characters_is_deleted_percent_encoded(tmp_path: Path) -> None:
    """ESC and CR LF in an id used to make httpx refuse the URL: the cleanup stopped, the assistants stayed,
    and ``cleanup_failed`` was empty. Percent-encoded, the DELETE is sent and the server deletes them."""
    run, server = leak_run("control-id", tmp_path)
    evidence = run.evidence()
    assert server.answered >= 2, evidence
    assert server.store == set(), f"left behind: {server.store!r}\n{evidence}"
    assert run.report["run"]["cleanup_failed"] == [], evidence
    deletes = [r.path for r in server.requests if r.method == "DELETE"]
    assert any("%1B%5B31m%0D%0A" in p for p in deletes), deletes


def test_an_id_no_url_can_carry_is_reported_not_a_crash(tmp_path: Path) -> None:
    run, server = leak_run("surrogate-id", tmp_path)
    evidence = run.evidence()
    failed = run.report["run"]["cleanup_failed"]
    assert len(failed) == server.answered >= 1, evidence
    assert "CLEANUP:" in run.stdout and "\\u{d800}" in run.stdout, evidence

"""Targets that leak the key or hand out hostile ids: the key appears in no output and no file, in any spelling;
what a target chose reaches the terminal escaped; an id no URL can carry is reported, never a crash.

Each test runs ``conformance run`` (a child process) against a leak server of ``faults.py`` (``leaky_api``),
recording cassettes with ``--record-mode once`` into a temporary folder, and then searches stdout, stderr,
``compliance.*``, ``junit.xml``, ``allure-results/`` and the cassettes for the canary key, spelled plainly,
JSON-escaped, percent-encoded, HTML-escaped and base64-encoded (at the three byte offsets). The spellings are
computed here, independently of ``conformance.transport.secrets``, so the test does not grade the code with itself.
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


# --- answers too costly to judge (faults.costly) ---------------------------------------------------------

COSTLY_CASES = {  # kind: (the -k selection, the requirement that fails, what the output says)
    "tools-zeros": ("minimal", "RESP-OBJECT-SHAPE", "too costly to judge"),
    "nested-name": ("minimal", "RESP-OBJECT-SHAPE", "too costly to judge"),
    "long-string": ("minimal", "RESP-NAME", "RESP-NAME"),
    "deep-200": ("minimal", "RESP-OBJECT-SHAPE", "too deep to judge"),
    "deep-400": ("test_refused and name:maxLength", "ERROR-ENVELOPE", "too deep to judge"),
}
COSTLY_SECONDS = 45.0  # start-up included; before the bounds, tools-zeros took 33 s of checks, nested-name > 11 min
COSTLY_MB = 400.0  # before: nested-name 2 GB, long-string 573 MB


@pytest.mark.parametrize("kind", list(COSTLY_CASES))
def test_an_answer_too_costly_to_judge_fails_in_bounded_time(kind: str, tmp_path: Path) -> None:
    from .faults import costly

    select, requirement, says = COSTLY_CASES[kind]
    with FaultServer(costly(kind), only_create=True) as server:
        run = run_suite("run", "--target", server.base_url, "--api-key", KEY, "--timeout", "5", "--max-examples", "2",
                        "--report-dir", str(tmp_path / "reports"), "-k", select, cwd=tmp_path, hard_limit=120)
    evidence = run.evidence()
    print(f"{kind}: {run.seconds:.1f} s, peak RSS {run.peak_mb:.0f} MB")
    assert run.returncode == 1, evidence
    assert requirement in run.failed(), evidence
    assert says in run.output, evidence
    assert "Traceback" not in run.output and "RecursionError" not in run.output, evidence
    assert run.seconds < COSTLY_SECONDS and run.peak_mb < COSTLY_MB, evidence


def test_a_cassette_with_a_yaml_alias_bomb_is_refused_in_one_line(tmp_path: Path) -> None:
    """A 2 KB "billion laughs" in a header used to cost 5 GB and 2 minutes to load; refused at once now."""
    import time

    from conformance.transport.cassettes import CorruptCassette, _Persister, _Serializer

    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("version: 1\nbombs:\n" + "".join(f"  {line}\n" for line in levels) + "interactions: []\n")
    assert len(bomb.read_bytes()) < 2048
    started = time.monotonic()
    with pytest.raises(CorruptCassette) as caught:
        _Persister.load_cassette(str(bomb), _Serializer)
    assert time.monotonic() - started < 1.0
    message = str(caught.value)
    assert "\n" not in message and str(bomb) in message and "YAML alias" in message, message


def test_compliance_json_is_standard_json() -> None:
    """A probe value a lax target accepted (-Infinity) is evidence; it is written as a string, not a bare token."""
    from conformance.results.reports import standard

    text = json.dumps(standard({"json": {"top_p": float("-inf"), "t": [float("nan"), 1.0]}}), allow_nan=False)
    assert json.loads(text) == {"json": {"top_p": "-Infinity", "t": ["NaN", 1.0]}}

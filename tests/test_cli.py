"""The command line: exit codes, one-line errors, and the default run against the embedded reference."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conformance.contract.requirements import catalog
from conformance.transport.server import free_port

from .conftest import ROOT, run_cli


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
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider",
         "--target-url", reference_url, "--api-key", "conformance-test-key", "--max-examples", "5",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    n = len(catalog())
    assert f"{n} of {n} requirements conform" in result.stdout


def test_a_run_registers_its_plugins_when_pytest_does_not_autoload_them(tmp_path: Path) -> None:
    """PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 (common in CI) leaves the entry points alone: 'conformance run' then
    registers what it needs itself."""
    result = subprocess.run([sys.executable, "-m", "conformance", "run", "-k", "unauthorized", "--report-dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    verdicts = {r["id"]: r["verdict"] for r in json.loads((tmp_path / "compliance.json").read_text())["requirements"]}
    assert verdicts["AUTH-401"] == "passed"
    assert (tmp_path / "junit.xml").is_file()
    assert any((tmp_path / "allure-results").glob("*-result.json"))


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


# --- what a new user trips on (issue 16, item 11) ---------------------------------------------------------


def _one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """A usage error: exit 2, one line on stderr starting 'conformance: ', nothing on stdout, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("conformance: "), result.stderr
    for text in expected:
        assert text in lines[0], result.stderr


def test_version_is_the_installed_distributions() -> None:
    from importlib import metadata

    from conformance import DISTRIBUTION

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"conformance {metadata.version(DISTRIBUTION)} ({DISTRIBUTION})"


@pytest.mark.parametrize(("args", "expected"), [
    (["serve", "--port", "99999"], "--port"),
    (["serve", "--throttle", "-1"], "--throttle"),
    (["serve", "--latency", "-1"], "--latency"),
    (["serve", "--throttle-wait", "nan"], "--throttle-wait"),
    (["serve", "--list"], "--list"),
    (["run", "--max-target-errors", "-1"], "--max-target-errors"),
    (["run", "--max-retries", "-1"], "--max-retries"),
    (["run", "--max-wait", "-1"], "--max-wait"),
    (["run", "--max-requests", "0"], "--max-requests"),
    (["run", "--max-requests", "-5"], "--max-requests"),
    (["run", "--max-examples", "0"], "--max-examples"),
    (["run", "--timeout", "0"], "--timeout"),
    (["run", "--clock-skew", "-1"], "--clock-skew"),
    (["run", "--pools", "no-such-pools.json"], "pools file"),
    (["run", "--target", "ftp://example.com"], "not an http(s) URL"),
    (["run", "--transport", "nosuchmod:f"], "cannot import nosuchmod"),
])
def test_a_usage_error_is_one_line_naming_the_option(args: list[str], expected: str, tmp_path: Path) -> None:
    """Not wrapped in pytest's blank and 'no tests ran' lines, not naming internals (max_requests), no banner."""
    extra = ["--report-dir", str(tmp_path)] if args[0] == "run" else []
    result = run_cli(*args, *extra, timeout=120)
    _one_line(result, expected)
    assert "max_" not in result.stderr
    assert not (tmp_path / "compliance.json").exists()  # no report claiming a score, nor "0 of N"


def test_serve_on_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), timeout=60)
    _one_line(result, "port is in use", str(port))


def test_serve_prints_its_banner_once_it_listens_and_counts_the_catalog() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "serve", "--port", "0", "--catalog"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        banner = proc.stdout.readline() if proc.stdout else ""
        port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])
        assert httpx.get(f"http://127.0.0.1:{port}/v1/assistants/x", timeout=10).status_code == 401  # it listens
        catalog_line = proc.stdout.readline() if proc.stdout else ""
        assert "broken servers" in catalog_line and "--list" in catalog_line, catalog_line
    finally:
        proc.terminate()
        proc.wait(10)
    listed = run_cli("serve", "--catalog", "--list")
    assert listed.returncode == 0
    assert "/broken/name-max-257/v1" in listed.stdout.splitlines()


@pytest.mark.parametrize("command", ["requirements", "diff"])
def test_a_reader_that_stops_early_gets_no_broken_pipe(command: str, tmp_path: Path) -> None:
    """``conformance requirements | head``: the reader is gone before the output; exit 0, nothing on stderr."""
    args = [command]
    if command == "diff":
        ids = [f"REQ-{i}" for i in range(3000)]  # more than a pipe holds
        for name, verdict in (("old", "passed"), ("new", "not_exercised")):
            rows = [{"id": i, "verdict": verdict} for i in ids]
            (tmp_path / f"{name}.json").write_text(json.dumps({"requirements": rows}))
        args += [str(tmp_path / "old.json"), str(tmp_path / "new.json")]
    read, write = os.pipe()
    os.close(read)  # like 'head' that has exited
    try:
        result = subprocess.run([sys.executable, "-m", "conformance", *args], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=ROOT)
    finally:
        os.close(write)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_truncated_answers_are_cut_between_characters(catalog_url: str, tmp_path: Path) -> None:
    """An answer of astral characters (4 bytes each in UTF-8) cut for the summary and the evidence: never
    half a character (U+FFFD) in the terminal, compliance.json, .md or .html."""
    result = run_cli("run", "--target", f"{catalog_url}/broken/name-max-257/v1", "--api-key", "conformance-test-key",
                     "--report-dir", str(tmp_path), "-k", "name")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "FAILED REQ-NAME-MAXLEN" in result.stdout and "😀" in result.stdout
    assert "\ufffd" not in result.stdout + result.stderr
    for name in ("compliance.json", "compliance.md", "compliance.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "\ufffd" not in text and "\\ufffd" not in text.lower(), name


@pytest.mark.parametrize("how", ["conformance run", "pytest --pyargs conformance"])
def test_a_run_leaves_no_hypothesis_directory_behind(how: str, tmp_path: Path) -> None:
    """The suite keeps no example database; Hypothesis's own cache goes to the user's cache directory."""
    work = tmp_path / "work"
    work.mkdir()
    argv = ([sys.executable, "-m", "conformance", "run"] if how == "conformance run" else
            [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider"])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    result = subprocess.run([*argv, "--max-examples", "2", "--report-dir", str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=work, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert sorted(p.name for p in work.iterdir()) == []


_FAKE_VENV_PYTHON = """#!/usr/bin/env bash
# A stand-in for .venv/bin/python: pip installs by touching a marker; 'import conformance' works once installed.
here=$(dirname "$0")
case "$*" in
  "-m pip show"*) exit 1 ;;
  "-m pip install"*) touch "$here/installed" ;;
  "-c import conformance") [ -e "$here/installed" ] ;;
esac
"""


def test_bootstrap_says_what_it_does_a_line_a_step(tmp_path: Path) -> None:
    """The first 'scripts/run.sh' installs for about a minute: each step is announced, not done in silence."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "bootstrap.sh").write_text((ROOT / "scripts" / "bootstrap.sh").read_text())
    (tmp_path / "constraints.txt").write_text("")
    fake_python = tmp_path / "python3"
    fake_python.write_text(f"""#!/usr/bin/env bash
mkdir -p .venv/bin && cat > .venv/bin/python <<'STUB'
{_FAKE_VENV_PYTHON}STUB
chmod +x .venv/bin/python
""")
    fake_python.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake_python)}
    first = subprocess.run(["bash", "scripts/bootstrap.sh"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env=env, stdin=subprocess.DEVNULL)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        f"bootstrap: creating .venv with {fake_python}",
        "bootstrap: installing openai-assistants-conformance and its dependencies into .venv (pip; about a minute the "
        "first time)",
        "bootstrap: ready: .venv/bin/conformance",
    ]
    again = subprocess.run(["bash", "scripts/bootstrap.sh"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env=env, stdin=subprocess.DEVNULL)
    assert again.stderr.splitlines() == ["bootstrap: checking .venv against constraints.txt (pip)",
                                         "bootstrap: ready: .venv/bin/conformance"]


def test_the_self_test_prints_each_entry_as_it_finishes() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "conformance.runner.selftest", "name-max-257"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert proc.poll() is None, "nothing was printed before the end"
        assert first.startswith("self-test: 1 catalog entries"), first
        rest, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    line = rest.splitlines()[0]
    assert line.startswith("[1/1] ok   defect  name-max-257"), rest
    assert line.endswith("s  expected fail REQ-NAME-MAXLEN; got exit 1, failed REQ-NAME-MAXLEN"), rest

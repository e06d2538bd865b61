"""The option table (``conformance.runner.options.OPTIONS``): one declaration feeds pytest's options, the
command line's ``run``, the pytest arguments the command line passes on and the re-record command.

Configurations are read here as a run reads them: the command line's parser, its pytest arguments
(``_run_args``), pytest's own parsing of them (``pytester.parseconfig``) and ``read_config``.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.contract.profiles import load_profile
from conformance.runner import cli
from conformance.runner.config import RunConfig, read_config, record_command
from conformance.runner.options import OPTIONS, option

from .conftest import ROOT, run_cli

pytest_plugins = ("pytester",)

IN_PROCESS = f"{ROOT / 'tests' / 'inprocess_targets.py'}:reference"


def pytest_config(pytester: pytest.Pytester, *args: str) -> RunConfig:
    """The ``RunConfig`` of ``pytest ARGS``."""
    config = pytester.parseconfig(*args)
    return read_config(config, load_profile(config.getoption("--profile")))


def cli_config(pytester: pytest.Pytester, *args: str) -> RunConfig:
    """The ``RunConfig`` of ``conformance run ARGS``: parsed by the command line, handed to pytest."""
    return pytest_config(pytester, *cli._run_args(cli._parser().parse_args(["run", *args])))


def test_every_option_is_on_both_front_ends() -> None:
    pytest_help = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
                                 capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL)
    run_help = run_cli("run", "--help", timeout=120)
    assert pytest_help.returncode == 0 and run_help.returncode == 0, pytest_help.stderr + run_help.stderr
    for entry in OPTIONS:
        if not entry.cli_only:
            assert f"  {entry.name}" in pytest_help.stdout or f", {entry.name}" in pytest_help.stdout, entry.name
            for alias in entry.aliases:
                assert f", {alias}=" in pytest_help.stdout, alias
        if not entry.pytest_only:
            assert f"  {entry.name}" in run_help.stdout, entry.name
            for alias in entry.aliases:  # the older spellings are pytest's only: one name on the command line
                assert alias not in run_help.stdout, alias


def test_the_old_pytest_spellings_still_work(pytester: pytest.Pytester) -> None:
    old = pytest_config(pytester, "--target-url", "http://127.0.0.1:9/v1", "--request-timeout", "5")
    new = pytest_config(pytester, "--target", "http://127.0.0.1:9/v1", "--timeout", "5")
    assert old == new
    assert (old.target_url, old.timeout) == ("http://127.0.0.1:9/v1", 5.0)


def test_both_front_ends_have_the_same_defaults(pytester: pytest.Pytester) -> None:
    """The command line's only own default is its report directory."""
    assert dataclasses.replace(cli_config(pytester), report_dir=None) == pytest_config(pytester)


@pytest.mark.parametrize("entry", [e for e in OPTIONS if e.parse is not None], ids=lambda e: e.name)
@pytest.mark.parametrize("bad", ["x", "-1", "nan"])
def test_a_bad_value_is_refused_in_the_same_words_by_both(entry: object, bad: str, pytester: pytest.Pytester,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert entry in OPTIONS and entry.parse is not None  # type: ignore[attr-defined]
    name: str = entry.name  # type: ignore[attr-defined]
    try:
        entry.parse(bad)  # type: ignore[attr-defined]
    except ValueError as exc:
        message = str(exc)
    else:
        return  # a value this option takes (a seed may be negative)
    with pytest.raises(SystemExit) as exit_:
        cli._parser().parse_args(["run", f"{name}={bad}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"conformance: argument {name}: {message} (see 'conformance run --help')"]
    with pytest.raises(pytest.UsageError) as usage:
        pytester.parseconfig(f"{name}={bad}")
    spellings = "/".join([name, *option(name).aliases])
    assert str(usage.value) == f"argument {spellings}: {message}"  # one line, not pytest's usage text


def test_an_in_process_target_records_to_its_own_folder(pytester: pytest.Pytester) -> None:
    """cassettes/reference/ is the committed recording of the embedded reference server: a run with --transport
    (another server, in-process) must not record into it, nor replay it as its own."""
    assert pytest_config(pytester, "--transport", IN_PROCESS).cassette_dir == Path("cassettes/in-process-target")
    assert pytest_config(pytester).cassette_dir == Path("cassettes/reference")
    named = pytest_config(pytester, "--transport", IN_PROCESS, "--target-name", "my-mock")
    assert named.cassette_dir == Path("cassettes/my-mock")


def test_the_embedded_record_command_is_unchanged(pytester: pytest.Pytester) -> None:
    """The command recorded in cassettes/reference/ is still what a run of the embedded server prints."""
    assert record_command(cli_config(pytester), None) == (
        "conformance run --record-mode new_episodes --cassette-dir cassettes/reference --seed 0 --max-examples 25")


@pytest.mark.parametrize("args", [
    [],
    ["--seed", "7", "--max-examples", "3"],
    ["--target", "http://127.0.0.1:9/v1", "--target-name", "gw", "--model", "m1", "--model=-dash", "--file-id",
     "f1", "--vector-store-id", "vs1", "--unknown-model", "nope", "--profile", "latest"],
    ["--target", "https://gw.example/v1", "--no-files", "--cassette-dir", "elsewhere"],
    ["--transport", IN_PROCESS, "--seed", "-3"],
    ["--pools", "POOLS"],
], ids=lambda args: " ".join(args) or "defaults")
def test_the_record_command_parses_back_to_the_same_config(args: list[str], pytester: pytest.Pytester) -> None:
    if args == ["--pools", "POOLS"]:
        pools = pytester.path / "pools.json"
        pools.write_text(json.dumps({"models": ["a", "b"], "file_ids": ["file-1"], "vector_store_ids": ["vs-1"],
                                     "unknown_model": "zzz"}))
        args = ["--pools", str(pools)]
    cfg = cli_config(pytester, *args)
    command = shlex.split(record_command(cfg, None))
    assert command[:2] == ["conformance", "run"]
    again = cli_config(pytester, *command[2:])
    assert again.record_mode == "new_episodes"
    assert dataclasses.replace(again, record_mode=None) == cfg


def test_the_record_command_holds_no_credentials(pytester: pytest.Pytester) -> None:
    cfg = cli_config(pytester, "--target", "http://user:secret@127.0.0.1:9/v1?key=k", "--api-key", "sk-x")
    command = record_command(cfg, None)
    assert "secret" not in command and "sk-x" not in command and "key=k" not in command
    assert "--target http://127.0.0.1:9/v1" in command

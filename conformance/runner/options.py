"""The options of a run, declared once in ``OPTIONS``: pytest's options (``pytest_addoption``), the arguments of
``conformance run`` (``add_run_arguments``), the pytest arguments ``conformance run`` passes on
(``pytest_args``) and the command that re-records a cassette (``record_args``, used by
``runner.config.record_command``) are all derived from it.

Adding an option is one ``Option`` in the table (``runner.config.read_config`` reads its value). A value is
checked once, by the option's ``parse``: on the command line a bad value is argparse's one-line error
(``conformance: argument --max-examples: must be at least 1, not 0``); under pytest it is a
``pytest.UsageError`` with the same words, one line too. pytest is imported only where pytest runs, so the
command line's other commands do not pay for it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.contract.profiles import DEFAULT_PROFILE, PROFILES
from conformance.endpoints import RESOURCES, SUITES
from conformance.transport.cassettes import RECORD_MODES

if TYPE_CHECKING:
    import pytest

__all__ = ["OPTIONS", "Option", "add_run_arguments", "cli_type", "count", "option", "public_url", "pytest_addoption",
           "pytest_args", "record_args", "seconds", "whole"]

GROUP = ("conformance", f"conformance: {RESOURCES[0].title}")
UNKNOWN_MODEL = "conformance-unknown-model"


# --- values: one parser each, raising ValueError with the words both front ends show --------------------


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"invalid whole number: {text!r}") from None


def count(least: int) -> Callable[[str], int]:
    """A whole number, at least ``least``."""
    def parse(text: str) -> int:
        value = whole(text)
        if value < least:
            raise ValueError(f"must be at least {least}, not {value}")
        return value
    parse.__name__ = f"count_at_least_{least}"
    return parse


def seconds(positive: bool = False) -> Callable[[str], float]:
    """A finite number of seconds, >= 0 (> 0 when ``positive``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"invalid float value: {text!r}") from None
        if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
            raise ValueError(f"must be a number of seconds {'>' if positive else '>='} 0, not {text}")
        return value
    parse.__name__ = "positive_seconds" if positive else "seconds"
    return parse


def cli_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as an argparse type: its message becomes argparse's ``argument --x: message``."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


def _pytest_type(parse: Callable[[str], Any], spellings: Iterable[str]) -> Callable[[str], Any]:
    """``parse`` as a pytest option type: a bad value is a one-line ``pytest.UsageError`` (argparse would make
    it pytest's usage text plus a line), worded as the command line words it."""
    names = "/".join(spellings)

    def convert(text: str) -> Any:
        import pytest

        try:
            return parse(text)
        except ValueError as exc:
            raise pytest.UsageError(f"argument {names}: {exc}") from None
    convert.__name__ = parse.__name__
    return convert


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option of a run, as both pytest and ``conformance run`` take it.

    ``recorded`` reads, from a ``RunConfig``, the value the re-record command gives the option (``None``,
    ``False`` or empty: left out); only options that decide the requests sent have one. ``to_pytest`` maps a
    command-line-only option to pytest arguments (without it, it maps to none).
    """

    name: str  # the one spelling, on the command line and under pytest: "--max-examples"
    help: str
    parse: Callable[[str], Any] | None = None  # text -> value, ValueError(message) when it makes no sense
    default: Any = None
    cli_default: Any = None  # when the command line's default differs (see ``default_on_cli``)
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    repeat: bool = False  # may be given more than once; the value is a list
    flag: bool = False  # takes no value
    aliases: tuple[str, ...] = ()  # older pytest spellings, still accepted by pytest
    cli_only: bool = False
    pytest_only: bool = False
    recorded: Callable[[Any], Any] | None = None
    to_pytest: Callable[[Any], list[str]] | None = None

    @property
    def dest(self) -> str:
        """The attribute on the command line's namespace: ``max_examples``."""
        return self.name.lstrip("-").replace("-", "_")

    @property
    def pytest_dest(self) -> str:
        """The attribute on pytest's ``config.option``, prefixed: other plugins share that namespace."""
        return "conformance_" + self.dest

    @property
    def default_on_cli(self) -> Any:
        return self.default if self.cli_default is None else self.cli_default

    def as_pytest(self, value: Any) -> list[str]:
        """The pytest arguments that give ``value`` ("--x=v": a value may start with "-", or "@", which
        pytest would read as a file)."""
        if self.to_pytest is not None:
            return self.to_pytest(value)
        if self.cli_only:
            return []
        if self.flag:
            return [self.name] if value else []
        if self.repeat:
            return [f"{self.name}={item}" for item in value or ()]
        return [] if value is None else [f"{self.name}={value}"]

    def as_cli(self, value: Any) -> list[str]:
        """The command-line arguments that give ``value`` (for a command printed to be typed)."""
        if self.flag:
            return [self.name] if value else []
        values = list(value or ()) if self.repeat else ([] if value is None else [value])
        out: list[str] = []
        for item in values:
            text = str(item)
            out += [f"{self.name}={text}"] if text.startswith("-") else [self.name, text]
        return out


def public_url(url: str) -> str:
    """A URL without its credentials or query (the parts that may hold a key)."""
    import httpx

    return str(httpx.URL(url).copy_with(username=None, password=None, query=None))


def _models(cfg: Any) -> tuple[str, ...] | None:
    from conformance.contract.profiles import load_profile
    from conformance.contract.schemas import documented_models

    return None if cfg.pools.models == documented_models(load_profile(cfg.profile)) else cfg.pools.models


def _no_files(cfg: Any) -> bool:
    return bool(cfg.pools.file_ids == () and cfg.pools.vector_store_ids == ())


OPTIONS: tuple[Option, ...] = (
    Option("--target", aliases=("--target-url",), metavar="URL",
           help="base URL of the API under test, like the OpenAI SDK's base_url (e.g. http://127.0.0.1:8000/v1). "
                "Default: $CONFORMANCE_TARGET_URL, else the embedded reference server.",
           recorded=lambda cfg: public_url(cfg.target_url) if cfg.target_url else None),
    Option("--api-key", metavar="KEY", help="API key sent as 'Authorization: Bearer'. Default: $OPENAI_API_KEY."),
    Option("--target-name", metavar="NAME", help="a name for the target in reports (default: its host)",
           recorded=lambda cfg: None if cfg.target_name == cfg.default_target_name else cfg.target_name),
    Option("--record-mode", choices=RECORD_MODES,
           help="record and replay a cassette per test, with vcrpy's record modes: 'none' replays only and sends "
                "nothing, 'once' records the tests that have no cassette, 'new_episodes' records what the "
                "cassettes lack, 'all' re-records. Default: no cassettes (unless a 'vcr' marker or the "
                "'vcr_config' fixture sets record_mode).",
           recorded=lambda cfg: "new_episodes"),
    Option("--cassette-dir", metavar="DIR",
           help="where cassettes are (default: cassettes/<target name>/; cassettes/reference/ for the embedded "
                "reference server)",
           recorded=lambda cfg: str(cfg.cassette_dir)),
    Option("--replay", metavar="DIR", cli_only=True,
           help="replay the cassettes in DIR, offline: --record-mode none --cassette-dir DIR"),
    Option("--seed", parse=whole, default=0, metavar="N",
           help="generation seed; the same seed sends the same requests (default 0)",
           recorded=lambda cfg: cfg.seed),
    Option("--max-examples", parse=count(1), default=25, metavar="N",
           help="examples per property; probes use a few each (default 25)",
           recorded=lambda cfg: cfg.max_examples),
    Option("--timeout", parse=seconds(positive=True), default=30.0, metavar="S", aliases=("--request-timeout",),
           help="seconds per exchange, connect to last byte (default 30)"),
    Option("--report-dir", cli_default="reports", metavar="DIR",
           help="write compliance.json, compliance.md and compliance.html here (conformance run: default "
                "./reports; pytest: none)"),
    Option("--model", repeat=True, metavar="NAME", help="a model the target serves (repeatable). Default: the documented list.",
           recorded=_models),
    Option("--unknown-model", default=UNKNOWN_MODEL, metavar="NAME",
           help=f"a model name the target must not know (default {UNKNOWN_MODEL})",
           recorded=lambda cfg: None if cfg.pools.unknown_model == UNKNOWN_MODEL else cfg.pools.unknown_model),
    Option("--file-id", repeat=True, metavar="ID", help="a file ID the target knows (repeatable). Default: synthetic IDs.",
           recorded=lambda cfg: None if _no_files(cfg) else cfg.pools.file_ids),
    Option("--vector-store-id", repeat=True, metavar="ID",
           help="a vector store ID the target knows (repeatable). Default: synthetic IDs.",
           recorded=lambda cfg: None if _no_files(cfg) else cfg.pools.vector_store_ids),
    Option("--no-files", flag=True, help="the target has no files: send no file IDs", recorded=_no_files),
    Option("--clock-skew", parse=seconds(), default=60.0, metavar="S",
           help="seconds created_at may differ from this machine's clock (default 60)"),
    Option("--profile", default=DEFAULT_PROFILE, choices=PROFILES,
           help=f"the contract: {DEFAULT_PROFILE} (the documentation of May 2024, default) or latest (today's "
                "spec); see schemas/README.md",
           recorded=lambda cfg: None if cfg.profile == DEFAULT_PROFILE else cfg.profile),
    Option("--endpoint", repeat=True, choices=SUITES, metavar="NAME",
           help=f"only this selection's tests (repeatable): {RESOURCES[0].summary()}. Default: all",
           recorded=lambda cfg: None if cfg.endpoints == frozenset(SUITES) else sorted(cfg.endpoints)),
    Option("--pools", metavar="FILE",
           help='resource pools from a JSON file: {"models": [...], "file_ids": [...], "vector_store_ids": [...], '
                '"unknown_model": "...", "no_files": false}; options win'),
    Option("--max-requests", parse=count(1), metavar="N",
           help="never send more than N requests (cleanup included); tests past it are skipped"),
    Option("--max-retries", parse=count(0), default=3, metavar="N",
           help="retries of a request answered 429 (default 3); each counts against --max-requests"),
    Option("--max-wait", parse=seconds(), default=60.0, metavar="S",
           help="longest wait a 429 may ask for, in seconds (default 60); longer is a target error"),
    Option("--transport", metavar="MODULE:FACTORY",
           help="an in-process target: a callable (module:name or file.py:name) returning an httpx transport, "
                "called with base_url= if it takes it",
           recorded=lambda cfg: cfg.transport),
    Option("--max-target-errors", parse=count(0), default=3, metavar="N",
           help="stop after N tests in a row end in a target error (default 3; 0 never stops)"),
    Option("--concurrency", parse=count(1), default=1, metavar="N",
           help="up to N requests in flight: tests still run one at a time, in order, and the requests known "
                "beforehand are sent ahead (same requests, same verdicts). Default 1: one at a time, as a "
                "rate-limited target prefers"),
    Option("--dry-run", flag=True,
           help="send nothing: the reference answers in the target's place; print what would be sent"),
)


def option(name: str) -> Option:
    """The table's entry for ``name`` (any spelling pytest accepts)."""
    for entry in OPTIONS:
        if name == entry.name or name in entry.aliases:
            return entry
    raise KeyError(name)


# --- the three front ends -------------------------------------------------------------------------


def _pytest_spellings(entry: Option) -> list[str]:
    """The spellings pytest takes. ``--timeout`` is also pytest-timeout's option: where that plugin is
    installed, pytest keeps only the older ``--request-timeout`` (two plugins cannot own one flag)."""
    import importlib.util

    spellings = [entry.name, *entry.aliases]
    if entry.name == "--timeout" and importlib.util.find_spec("pytest_timeout") is not None:
        spellings.remove("--timeout")
    return spellings


def _argparse_keywords(entry: Option, dest: str, default: Any, parse: Callable[[str], Any] | None) -> dict[str, Any]:
    """An option's keywords for argparse (which pytest's ``addoption`` takes too), one front end's ``dest``,
    default and value parser given."""
    kwargs: dict[str, Any] = {"dest": dest, "help": entry.help}
    if entry.flag:
        kwargs["action"] = "store_true"
        return kwargs
    kwargs["default"] = default
    if entry.repeat:
        kwargs["action"] = "append"
    if parse is not None:
        kwargs["type"] = parse
    if entry.choices is not None:
        kwargs["choices"] = entry.choices
    if entry.metavar is not None:
        kwargs["metavar"] = entry.metavar
    return kwargs


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(*GROUP)
    for entry in OPTIONS:
        if entry.cli_only:
            continue
        spellings = _pytest_spellings(entry)
        parse = _pytest_type(entry.parse, spellings) if entry.parse is not None else None
        group.addoption(*spellings, **_argparse_keywords(entry, entry.pytest_dest, entry.default, parse))


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The table's options on ``conformance run``."""
    for entry in OPTIONS:
        if entry.pytest_only:
            continue
        parse = cli_type(entry.parse) if entry.parse is not None else None
        run.add_argument(entry.name, **_argparse_keywords(entry, entry.dest, entry.default_on_cli, parse))


def pytest_args(values: Mapping[str, Any]) -> list[str]:
    """The pytest arguments for the command line's values (by ``Option.dest``)."""
    return [arg for entry in OPTIONS if not entry.pytest_only for arg in entry.as_pytest(values.get(entry.dest))]


def record_args(cfg: Any) -> list[str]:
    """The options of the command that re-records what a run with ``cfg`` (a ``RunConfig``) recorded."""
    return [arg for entry in OPTIONS if entry.recorded is not None for arg in entry.as_cli(entry.recorded(cfg))]

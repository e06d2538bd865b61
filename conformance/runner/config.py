"""What a run is asked to do: ``RunConfig``, read once from the options and the environment and checked,
with one line of usage error for what does not fit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest

from conformance._meta import __version__
from conformance.contract.profiles import DEFAULT_PROFILE
from conformance.contract.schemas import Schemas, documented_models
from conformance.endpoints import SUITES
from conformance.generate.pools import PoolsFileError, read_pools
from conformance.generate.strategies import Pools
from conformance.runner.options import UNKNOWN_MODEL, public_url, record_args
from conformance.transport import cassettes as _cassettes
from conformance.transport.inprocess import transport_factory
from conformance.transport.limits import Limits

SHRINK_BUDGET = 12  # requests a failing test may spend on shrinking
EMBEDDED = "embedded reference server"
REPLAY_BASE = "http://replay.invalid/v1"  # the embedded target when replaying: nothing listens, nothing is sent
REPLAY_KEY = "conformance-replayed-key"  # the key of a replay given none: nothing is sent, so none is needed
IN_PROCESS_URL = "http://in-process.invalid/v1"
IN_PROCESS = "in-process target"
IN_PROCESS_DIR = "in-process-target"  # under cassettes/, for an in-process target given no --target-name
@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, read once from the command line and the environment."""

    target_url: str | None
    api_key: str | None
    timeout: float
    seed: int
    max_examples: int
    pools: Pools
    clock_skew: float
    report_dir: Path | None
    target_name: str
    record_mode: str | None = None  # from the command line; None: cassettes only where a marker or vcr_config asks
    cassette_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    dry_run: bool = False
    transport: str | None = None
    profile: str = DEFAULT_PROFILE
    endpoints: frozenset[str] = frozenset(SUITES)  # the selections run (--endpoint)
    max_target_errors: int = 3  # target errors in a row that stop the run (0: never stop)
    concurrency: int = 1  # requests in flight at most (``transport/concurrency.py``)

    @property
    def sends_ahead(self) -> bool:
        """Whether requests are sent ahead: N > 1 against a target over the network, and no cassette replays
        (a replay sends nothing; 'once' and 'new_episodes' replay part, so a request sent ahead may be wasted)."""
        return (self.concurrency > 1 and not self.dry_run and self.transport is None
                and self.record_mode in (None, "all"))

    @property
    def embedded(self) -> bool:
        return self.target_url is None

    @property
    def replay_only(self) -> bool:
        return self.record_mode == "none"

    @property
    def default_target_name(self) -> str:
        """The name the target has when --target-name gives none (the re-record command leaves it out then)."""
        return default_target_name(self.target_url, self.transport)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def _pools_file(config: pytest.Config) -> dict[str, Any]:
    path = config.getoption("--pools")
    if path is None:
        return {}
    try:
        return read_pools(path)
    except PoolsFileError as exc:
        raise pytest.UsageError(str(exc)) from None


def default_target_name(url: str | None, transport: str | None) -> str:
    """A target's name when --target-name gives none: its host, else what it is."""
    if url is not None:
        return httpx.URL(url).host or "target"
    return IN_PROCESS if transport else EMBEDDED


def default_cassette_dir(name: str, url: str | None, transport: str | None, named: bool) -> Path:
    """cassettes/<target name>/; cassettes/reference/ (the committed recording) for the embedded reference server
    only: an in-process target is not the reference, and its recordings must not land on the reference's."""
    if url is None and transport is None:
        return Path("cassettes") / _cassettes.directory_name(name, embedded=True)
    if url is None and not named:
        return Path("cassettes") / IN_PROCESS_DIR
    return Path("cassettes") / _cassettes.directory_name(name, embedded=False)


def read_config(config: pytest.Config, schemas: Schemas) -> RunConfig:
    """The run's configuration. The values were checked as pytest parsed them (``Option.parse``); what is
    checked here is what one value cannot say alone: a URL from the environment, the pools file, a budget
    split between workers, a transport that cannot be loaded, options that do not fit together."""
    opt = config.getoption
    url = opt("--target")
    if url is None:
        url = _env("CONFORMANCE_TARGET_URL")
    if url is not None:
        _check_url(url)
    from_file = _pools_file(config)
    no_files = opt("--no-files") or from_file.get("no_files", False)
    files = () if no_files else (tuple(opt("--file-id") or from_file.get("file_ids", ())) or
                                 (() if "file_ids" in from_file else None))
    stores = () if no_files else (tuple(opt("--vector-store-id") or from_file.get("vector_store_ids", ())) or
                                  (() if "vector_store_ids" in from_file else None))
    unknown = opt("--unknown-model")
    if unknown == UNKNOWN_MODEL:
        unknown = from_file.get("unknown_model", unknown)
    pools = Pools(
        models=tuple(opt("--model") or from_file.get("models") or documented_models(schemas)),
        file_ids=files,
        vector_store_ids=stores,
        unknown_model=unknown,
    )
    max_requests = opt("--max-requests")
    workers = getattr(config, "workerinput", {}).get("workercount")
    if max_requests is not None and workers:  # pytest-xdist: each worker spends its share of the budget
        if max_requests < workers:
            raise pytest.UsageError(f"--max-requests {max_requests} is less than one request per worker (-n {workers})")
        max_requests //= workers
    try:
        limits = Limits(max_requests, opt("--max-retries"), opt("--max-wait"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    transport = opt("--transport")
    if transport is not None and not opt("--dry-run"):
        try:  # a factory that cannot be had is bad usage: one line before any test, no report claiming a score
            transport_factory(transport)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        except Exception as exc:  # the file's own code raised while it was loaded
            raise pytest.UsageError(f"--transport {transport!r}: loading it raised "
                                    f"{type(exc).__name__}: {exc}") from None
    in_process = transport is not None or opt("--dry-run")
    if opt("--dry-run") and opt("--record-mode") not in (None, "none"):
        raise pytest.UsageError("--dry-run sends nothing: it cannot record cassettes (drop --record-mode)")
    report_dir = opt("--report-dir")
    if report_dir:
        _check_report_dir(Path(report_dir))
    name = opt("--target-name") or default_target_name(url, transport)
    cassette_dir = Path(opt("--cassette-dir") or default_cassette_dir(name, url, transport, bool(opt("--target-name"))))
    if opt("--record-mode") == "none" and not cassette_dir.is_dir():
        raise pytest.UsageError(f"--record-mode none replays cassettes, but {cassette_dir} is not a folder; record "
                                "them first with --record-mode once, or name the folder with --cassette-dir")
    # An in-process target or a dry run never gets the key from the environment: nothing needs it.
    key = opt("--api-key") or (None if in_process else _env("OPENAI_API_KEY"))
    return RunConfig(
        target_url=url, api_key=key, timeout=opt("--timeout"),
        seed=opt("--seed"), max_examples=opt("--max-examples"), pools=pools, clock_skew=opt("--clock-skew"),
        report_dir=Path(report_dir) if report_dir else None, target_name=name,
        record_mode=opt("--record-mode"), cassette_dir=cassette_dir,
        limits=limits, dry_run=opt("--dry-run"), transport=transport, profile=opt("--profile"),
        endpoints=frozenset(opt("--endpoint") or SUITES),
        max_target_errors=opt("--max-target-errors"), concurrency=opt("--concurrency"),
    )


def _check_url(url: str) -> None:
    """A base URL the suite can send to, or a usage error that says what is wrong with it."""
    example = "e.g. http://127.0.0.1:8000/v1"
    if not url.strip():
        raise pytest.UsageError(f"the target URL is empty: give the base URL of the API under test, {example}")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise pytest.UsageError(f"the target URL {url!r} is not a valid URL ({exc}), {example}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise pytest.UsageError(f"the target URL {url!r} is not an http(s) URL with a host, {example}")
    if port is not None and not 0 < port < 65536:
        raise pytest.UsageError(f"the target URL {url!r} has the port {port}, outside 1-65535")


def _check_report_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"the report directory {str(path)!r} cannot be created: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise pytest.UsageError(f"the report directory {str(path)!r} is not writable")


# --- what a cassette says about the run that made it ----------------------------------------------


def cassette_settings(cfg: RunConfig, schemas_digest: str, test: str) -> dict[str, Any]:
    """A cassette's top-level metadata: the settings that decide the requests (``SETTINGS``), and more."""
    pools = json.dumps(dataclasses.asdict(cfg.pools), sort_keys=True).encode()
    return {
        "conformance": __version__, "hypothesis": hypothesis.__version__, "seed": cfg.seed,
        "max_examples": cfg.max_examples, "schemas_sha256": schemas_digest,
        "pools_sha256": hashlib.sha256(pools).hexdigest(), "test": test, "target": cfg.target_name,
        "target_url": public_url(cfg.target_url) if cfg.target_url else None, "record_command": record_command(cfg, None),
    }


def record_command(cfg: RunConfig, test: str | None) -> str:
    """The command that records what the cassettes lack (only ``test``, when pytest's -k can name it): the
    options that decide the requests (``Option.recorded`` in ``runner.options``), never the key."""
    parts = ["conformance", "run", *record_args(cfg)]
    if test and re.fullmatch(r"[\w:+\-.\[\]\\/]+", test):  # the characters of a -k identifier
        parts += ["-k", test]
    return shlex.join(parts)

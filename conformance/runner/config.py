"""What a run is asked to do: ``RunConfig``, read once from the options and the environment and checked,
with one line of usage error for what does not fit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
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
from conformance.generate.pools import PoolsFileError, read_pools
from conformance.generate.strategies import Pools
from conformance.transport import cassettes as _cassettes
from conformance.transport.inprocess import transport_factory
from conformance.transport.limits import Limits

SHRINK_BUDGET = 12  # requests a failing test may spend on shrinking
EMBEDDED = "embedded reference server"
REPLAY_BASE = "http://replay.invalid/v1"  # the embedded target when replaying: nothing listens, nothing is sent
REPLAY_KEY = "conformance-replayed-key"  # the key of a replay given none: nothing is sent, so none is needed
IN_PROCESS_URL = "http://in-process.invalid/v1"
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


def read_config(config: pytest.Config, schemas: Schemas) -> RunConfig:
    opt = config.getoption
    url = opt("--target-url")
    if url is None:
        url = _env("CONFORMANCE_TARGET_URL")
    if url is not None:
        _check_url(url)
    max_examples = opt("--max-examples")
    if max_examples < 1:
        raise pytest.UsageError(f"--max-examples must be at least 1, not {max_examples}")
    timeout = opt("--request-timeout")
    if not (0 < timeout < math.inf):
        raise pytest.UsageError(f"the timeout must be a positive number of seconds, not {timeout!r}")
    if not (0 <= opt("--clock-skew") < math.inf):
        raise pytest.UsageError(f"the clock skew must be a number of seconds >= 0, not {opt('--clock-skew')!r}")
    from_file = _pools_file(config)
    no_files = opt("--no-files") or from_file.get("no_files", False)
    files = () if no_files else (tuple(opt("--file-id") or from_file.get("file_ids", ())) or
                                 (() if "file_ids" in from_file else None))
    stores = () if no_files else (tuple(opt("--vector-store-id") or from_file.get("vector_store_ids", ())) or
                                  (() if "vector_store_ids" in from_file else None))
    unknown = opt("--unknown-model")
    if unknown == "conformance-unknown-model":
        unknown = from_file.get("unknown_model", unknown)
    pools = Pools(
        models=tuple(opt("--model") or from_file.get("models") or documented_models(schemas)),
        file_ids=files,
        vector_store_ids=stores,
        unknown_model=unknown,
    )
    max_requests = opt("--max-requests")
    _check_counts(opt)
    workers = getattr(config, "workerinput", {}).get("workercount")
    if max_requests is not None and workers:  # pytest-xdist: each worker spends its share of the budget
        if max_requests < workers:
            raise pytest.UsageError(f"--max-requests {max_requests} is less than one request per worker (-n {workers})")
        max_requests //= workers
    try:
        limits = Limits(max_requests, opt("--max-retries"), opt("--max-wait"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if opt("--transport") is not None and not opt("--dry-run"):
        try:  # a factory that cannot be had is bad usage: one line before any test, no report claiming a score
            transport_factory(opt("--transport"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        except Exception as exc:  # the file's own code raised while it was loaded
            raise pytest.UsageError(f"--transport {opt('--transport')!r}: loading it raised "
                                    f"{type(exc).__name__}: {exc}") from None
    in_process = opt("--transport") is not None or opt("--dry-run")
    if opt("--dry-run") and opt("--record-mode") not in (None, "none"):
        raise pytest.UsageError("--dry-run sends nothing: it cannot record cassettes (drop --record-mode)")
    report_dir = opt("--report-dir")
    if report_dir:
        _check_report_dir(Path(report_dir))
    name = opt("--target-name") or (EMBEDDED if url is None else (httpx.URL(url).host or "target"))
    cassette_dir = Path(opt("--cassette-dir") or Path("cassettes") / _cassettes.directory_name(name, url is None))
    if opt("--record-mode") == "none" and not cassette_dir.is_dir():
        raise pytest.UsageError(f"--record-mode none replays cassettes, but {cassette_dir} is not a folder; record "
                                "them first with --record-mode once, or name the folder with --cassette-dir")
    if opt("--target-name"):
        name = opt("--target-name")
    elif url is None:
        name = "in-process target" if opt("--transport") else EMBEDDED
    else:
        name = httpx.URL(url).host or "target"
    # An in-process target or a dry run never gets the key from the environment: nothing needs it.
    key = opt("--api-key") or (None if in_process else _env("OPENAI_API_KEY"))
    return RunConfig(
        target_url=url, api_key=key, timeout=timeout,
        seed=opt("--seed"), max_examples=max_examples, pools=pools, clock_skew=opt("--clock-skew"),
        report_dir=Path(report_dir) if report_dir else None, target_name=name,
        record_mode=opt("--record-mode"), cassette_dir=cassette_dir,
        limits=limits, dry_run=opt("--dry-run"), transport=opt("--transport"), profile=opt("--profile"),
        max_target_errors=opt("--max-target-errors"), concurrency=opt("--concurrency"),
    )


def _check_counts(opt: Any) -> None:
    """Counts and durations that make no sense are refused, named as the user typed them."""
    for flag, least in (("--max-requests", 1), ("--max-retries", 0), ("--max-target-errors", 0), ("--concurrency", 1)):
        value = opt(flag)
        if value is not None and value < least:
            raise pytest.UsageError(f"{flag} must be at least {least}, not {value}")
    wait = opt("--max-wait")
    if not (0 <= wait < math.inf):
        raise pytest.UsageError(f"--max-wait must be a number of seconds >= 0, not {wait!r}")


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


def _public(url: str) -> str:
    return str(httpx.URL(url).copy_with(username=None, password=None, query=None))


def cassette_settings(cfg: RunConfig, schemas_digest: str, test: str) -> dict[str, Any]:
    """A cassette's top-level metadata: the settings that decide the requests (``SETTINGS``), and more."""
    pools = json.dumps(dataclasses.asdict(cfg.pools), sort_keys=True).encode()
    return {
        "conformance": __version__, "hypothesis": hypothesis.__version__, "seed": cfg.seed,
        "max_examples": cfg.max_examples, "schemas_sha256": schemas_digest,
        "pools_sha256": hashlib.sha256(pools).hexdigest(), "test": test, "target": cfg.target_name,
        "target_url": _public(cfg.target_url) if cfg.target_url else None, "record_command": record_command(cfg, None),
    }


def record_command(cfg: RunConfig, test: str | None) -> str:
    """The command that records what the cassettes lack (only ``test``, when pytest's -k can name it)."""
    parts = ["conformance", "run"]
    if cfg.target_url:
        parts += ["--target", _public(cfg.target_url)]
        if cfg.target_name != (httpx.URL(cfg.target_url).host or "target"):
            parts += ["--target-name", cfg.target_name]
    parts += ["--record-mode", "new_episodes", "--cassette-dir", str(cfg.cassette_dir),
              "--seed", str(cfg.seed), "--max-examples", str(cfg.max_examples)]
    pools = cfg.pools
    if pools.models != documented_models():
        parts += [arg for model in pools.models for arg in ("--model", model)]
    if pools.file_ids == () and pools.vector_store_ids == ():
        parts.append("--no-files")
    else:
        parts += [arg for file_id in pools.file_ids or () for arg in ("--file-id", file_id)]
        parts += [arg for store in pools.vector_store_ids or () for arg in ("--vector-store-id", store)]
    if test and re.fullmatch(r"[\w:+\-.\[\]\\/]+", test):  # the characters of a -k identifier
        parts += ["-k", test]
    return shlex.join(parts)

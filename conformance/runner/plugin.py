"""The pytest plugin: options, the run's shared state, probe parametrization, and the compliance report.

It is the one runner: ``pytest --pyargs conformance`` and ``conformance run`` (which wraps pytest) go
through the same fixtures and hooks, so selection, reports and cassettes behave the same both ways.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from conformance.checks.core import Context, NonConformance, deleted, preflight
from conformance.contract.profiles import DEFAULT_PROFILE, PROFILES, load_profile, profile_dir
from conformance.contract.requirements import catalog
from conformance.contract.schemas import SchemaError, Schemas
from conformance.generate.pools import PoolsFileError, read_pools
from conformance.generate.probes import Probe, probes, valid_requests
from conformance.generate.strategies import Pools
from conformance.results.ledger import Ledger
from conformance.results.reports import REPORT_VERSION, headline, write_reports
from conformance.runner import allure as _allure
from conformance.selftest.reference import DEFAULT_API_KEY, ReferenceServer, create_app, documented_models
from conformance.transport import cassettes as _cassettes
from conformance.transport.client import Api, Exchange, NotRecorded, Target, open_client
from conformance.transport.inprocess import DryRunTransport, load_transport, transport_factory
from conformance.transport.interrupts import INTERRUPTS
from conformance.transport.limits import BudgetExhausted, Limits
from conformance.transport.secrets import register, shown
from conformance.transport.server import ServerThread

__all__ = ["RunConfig", "RunState", "suite_schemas"]

EMBEDDED = "embedded reference server"
REPLAY_BASE = "http://replay.invalid/v1"  # the embedded target when replaying: nothing listens, nothing is sent
REPLAY_KEY = "conformance-replayed-key"  # the key of a replay given none: nothing is sent, so none is needed
IN_PROCESS_URL = "http://in-process.invalid/v1"
_STATE = pytest.StashKey["RunState"]()
_NOT_ERRORS = (pytest.fail.Exception, pytest.skip.Exception, pytest.exit.Exception, NotRecorded, BudgetExhausted)
_SETUP_ERROR = pytest.StashKey[pytest.UsageError]()
EXIT_INCOMPLETE = 3  # nothing failed in what ran, but the run did not finish (also the CLI's code)


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

    @property
    def embedded(self) -> bool:
        return self.target_url is None

    @property
    def replay_only(self) -> bool:
        return self.record_mode == "none"


@dataclass
class RunState:
    config: RunConfig
    schemas: Schemas
    ledger: Ledger
    context: Context
    api: Api | None = None
    server: ServerThread | None = None
    client: httpx.Client | None = None
    transport: _cassettes.CassetteTransport | None = None
    consecutive_target_errors: int = 0
    remote_requests: int = 0
    examples: int = 0  # examples the current test ran (reports show it)
    cleanup_failed: list[str] = field(default_factory=list)
    not_recorded: list[str] = field(default_factory=list)
    dry_run: DryRunTransport | None = None
    budget_exhausted: str | None = None
    budget_skipped: int = 0
    workers: int = 0  # pytest-xdist workers that reported to this controller
    workers_out_of_budget: int = 0  # of those, the ones that spent their share of --max-requests
    closed: bool = False
    # What the verdict rests on (see ``_outcome``): how much of the run ran, and why it stopped.
    suite_tests: set[str] = field(default_factory=set)  # node ids of the suite's tests selected for this run
    finished: int = 0  # of those, tests that ran to their end (passed, failed or skipped)
    errored: int = 0  # tests that failed without a finding or a target error (the suite could not judge)
    interrupted: bool = False
    stopped: str | None = None  # why the run stopped before its end (target errors in a row)
    no_verdict: str | None = None  # why nothing the target answered can be judged
    valid_answers: int = 0  # answers to valid requests
    valid_refused: int = 0  # of those, 401/403: the key given is refused
    worker: bool = False  # a pytest-xdist worker: the controller reports
    remote: dict[str, int] = field(default_factory=dict)  # the workers' counts, summed (``_WIRE_COUNTS``)
    verdict: tuple[str | None, list[str]] = (None, [])  # (no verdict, incomplete reasons), decided at the end

    def _judge_cleanup(self, answers: list[tuple[str, Exchange]]) -> None:
        """Each DELETE of the cleanup is judged like any other: the target returned these ids and never saw
        them deleted, so a 404 means it lost or mixed up an assistant (DELETE-RESPONSE fails)."""
        # Only what breaks counts: a replay has no cleanup (a replayed assistant exists nowhere), so passes
        # counted here would make a live run's matrix differ from its replay's; what holds here, the
        # lifecycle test has shown already.
        ctx = self.context
        ctx.test = "cleanup (end of run)"
        scratch = Context(self.schemas, Ledger(self.ledger.requirements), secret=ctx.secret)
        for assistant_id, exchange in answers:
            deleted(scratch, exchange, assistant_id)
            if scratch.take():
                deleted(ctx, exchange, assistant_id)
        ctx.take()

    def reference(self, api_key: str = DEFAULT_API_KEY, extra_models: tuple[str, ...] = ()) -> ReferenceServer:
        """A reference server of the run's profile."""
        models = (set(documented_models(self.schemas)) | set(extra_models)) - {self.config.pools.unknown_model}
        return ReferenceServer(api_keys=frozenset({api_key}), schemas=self.schemas, models=frozenset(models))

    def open(self) -> Api:
        if self.api is not None:
            return self.api
        cfg = self.config
        transport: httpx.BaseTransport | None = None  # an in-process target (or the dry run's), under the cassettes
        if cfg.dry_run:  # the reference answers in the target's place; nothing is sent
            base = cfg.target_url or "http://embedded.invalid/v1"
            key = cfg.api_key or DEFAULT_API_KEY
            self.dry_run = DryRunTransport(create_app(self.reference(key, cfg.pools.models)), base)
            transport = self.dry_run
            target = Target(base, key, cfg.timeout, cfg.target_name)
        elif cfg.transport:
            base = cfg.target_url or IN_PROCESS_URL
            try:
                transport = load_transport(cfg.transport, base)
            except ValueError as exc:
                self.no_verdict = f"the run could not be made: {exc}"
                pytest.exit(f"conformance: {exc}", returncode=2)
            target = Target(base, cfg.api_key or DEFAULT_API_KEY, cfg.timeout, cfg.target_name)
        elif cfg.embedded:
            if cfg.replay_only:
                base = REPLAY_BASE
            else:
                self.server = ServerThread(create_app(self.reference()))
                base = self.server.start() + "/v1"
            target = Target(base, cfg.api_key or DEFAULT_API_KEY, cfg.timeout, cfg.target_name)
        else:
            assert cfg.target_url is not None
            # A replay sends nothing and its cassettes hold no key (nor match on headers): a stand-in key lets the
            # tests that derive credentials from the key make the same requests as the recording run did.
            target = Target(cfg.target_url, cfg.api_key or (REPLAY_KEY if cfg.replay_only else None), cfg.timeout,
                            cfg.target_name)
        live = None if cfg.replay_only else (lambda: open_client(target, transport))
        self.transport = _cassettes.CassetteTransport(live, _cassettes.Scrubber([target.api_key]))
        self.client = open_client(target, self.transport)
        self.api = Api(self.client, target, cfg.limits)
        INTERRUPTS.install()
        # No request of its own to see whether the target is there: the run's first request tells (a target
        # that does not answer it ends the run, exit 2: see the suite's target_down).
        return self.api

    def observe_valid(self, ex: Exchange) -> None:
        """Count an answer to a valid request (a run whose every one was 401/403 has a refused key)."""
        self.valid_answers += 1
        self.valid_refused += ex.received.status in (401, 403)

    def gate(self, ex: Exchange) -> None:
        """The run's first request, the smallest valid one, says whether there is anything to judge: a target
        that refuses the key, or does not serve the endpoint, gets one line and exit 2, no partial score."""
        if self.worker:  # a worker cannot end the whole run; the controller's fallback decides (``_outcome``)
            return
        reason = nothing_to_judge(ex, self.config)
        if reason is not None:
            self.give_up(reason)

    def give_up(self, reason: str) -> NoReturn:
        """End the run with no verdict: every requirement stays not exercised (exit 2)."""
        self.no_verdict = reason
        self.ledger.reset()
        pytest.exit("conformance: no verdict (the reason is above)", returncode=2)

    def close(self) -> None:
        """Delete what the run created, then release everything; safe to call twice (fixture, sessionfinish)."""
        if self.closed:
            return
        self.closed = True
        if self.api is not None:
            self.cleanup_failed, answers = self.api.cleanup()
            if self.no_verdict is None:
                self._judge_cleanup(answers)
        if self.client is not None:
            self.client.close()
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.stop()
        INTERRUPTS.uninstall()


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance: POST /v1/assistants")
    group.addoption("--target-url", default=None,
                    help="base URL of the API under test, like the OpenAI SDK's base_url "
                         "(e.g. http://127.0.0.1:8000/v1). Default: $CONFORMANCE_TARGET_URL, else the embedded "
                         "reference server.")
    group.addoption("--api-key", default=None, help="API key sent as 'Authorization: Bearer'. Default: $OPENAI_API_KEY.")
    group.addoption("--target-name", default=None, help="a name for the target in reports (default: its host)")
    group.addoption("--request-timeout", type=float, default=30.0, help="seconds per exchange, connect to last byte (default 30)")
    group.addoption("--seed", type=int, default=0, help="generation seed; the same seed sends the same requests (default 0)")
    group.addoption("--max-examples", type=int, default=25,
                    help="examples per property; probes use a few each (default 25)")
    group.addoption("--model", action="append", default=None,
                    help="a model the target serves (repeatable). Default: the documented list.")
    group.addoption("--unknown-model", default="conformance-unknown-model",
                    help="a model name the target must not know (default conformance-unknown-model)")
    group.addoption("--file-id", action="append", default=None,
                    help="a file ID the target knows (repeatable). Default: synthetic IDs.")
    group.addoption("--vector-store-id", action="append", default=None,
                    help="a vector store ID the target knows (repeatable). Default: synthetic IDs.")
    group.addoption("--no-files", action="store_true", help="the target has no files: send no file IDs")
    group.addoption("--clock-skew", type=float, default=60.0,
                    help="seconds created_at may differ from this machine's clock (default 60)")
    group.addoption("--report-dir", default=None,
                    help="write compliance.json, compliance.md and compliance.html here")
    # cassettes (conformance/transport/cassettes.py)
    group.addoption("--record-mode", default=None, choices=_cassettes.RECORD_MODES,
                    help="record and replay a cassette per test, with vcrpy's record modes: 'none' replays only "
                         "and sends nothing, 'once' records the tests that have no cassette, 'new_episodes' "
                         "records what the cassettes lack, 'all' re-records. Default: no cassettes (unless a "
                         "'vcr' marker or the 'vcr_config' fixture sets record_mode).")
    group.addoption("--cassette-dir", default=None,
                    help="where cassettes are (default: cassettes/<target name>/, cassettes/reference/ for the "
                         "embedded reference server)")
    _addoption_realworld(group)


def _addoption_realworld(group: Any) -> None:
    """Options for real-world targets: profile, pools file, request budget, 429 handling, in-process, dry run."""
    group.addoption("--profile", default=DEFAULT_PROFILE, choices=PROFILES,
                    help=f"the contract: {DEFAULT_PROFILE} (the documentation of May 2024, default) or latest "
                         "(today's spec); see schemas/README.md")
    group.addoption("--pools", default=None, metavar="FILE",
                    help='resource pools from a JSON file: {"models": [...], "file_ids": [...], '
                         '"vector_store_ids": [...], "unknown_model": "...", "no_files": false}; options win')
    group.addoption("--max-requests", type=int, default=None, metavar="N",
                    help="never send more than N requests (cleanup included); tests past it are skipped")
    group.addoption("--max-retries", type=int, default=3, metavar="N",
                    help="retries of a request answered 429 (default 3); each counts against --max-requests")
    group.addoption("--max-wait", type=float, default=60.0, metavar="S",
                    help="longest wait a 429 may ask for, in seconds (default 60); longer is a target error")
    group.addoption("--transport", default=None, metavar="MODULE:FACTORY",
                    help="an in-process target: a callable (module:name or file.py:name) returning an httpx "
                         "transport, called with base_url= if it takes it")
    group.addoption("--max-target-errors", type=int, default=3, metavar="N",
                    help="stop after N tests in a row end in a target error (default 3; 0 never stops)")
    group.addoption("--dry-run", action="store_true",
                    help="send nothing: the reference answers in the target's place; print what would be sent")


def _pools_file(config: pytest.Config) -> dict[str, Any]:
    path = config.getoption("--pools")
    if path is None:
        return {}
    try:
        return read_pools(path)
    except PoolsFileError as exc:
        raise pytest.UsageError(str(exc)) from None


def _config(config: pytest.Config, schemas: Schemas) -> RunConfig:
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
        max_target_errors=opt("--max-target-errors"),
    )


def _check_counts(opt: Any) -> None:
    """Counts and durations that make no sense are refused, named as the user typed them."""
    for flag, least in (("--max-requests", 1), ("--max-retries", 0), ("--max-target-errors", 0)):
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


def _suite_collected(config: pytest.Config) -> bool:
    return _STATE in config.stash


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "probes(*expect): parametrize 'probe' with the probes that expect these outcomes")
    config.addinivalue_line("markers", "phase(first, rest=first): run this test in that phase of the run (lower "
                                       "first); a probe that leads its requirement in 'first', the others in 'rest'")
    _allure.install(config, lambda: config.stash.get(_STATE, None))
    config.addinivalue_line("markers", "vcr(**options): vcrpy options for this test's cassette (record_mode, "
                                       "filter_headers, ...); --record-mode on the command line wins")


def suite_schemas(profile: str = DEFAULT_PROFILE) -> Schemas:
    """The schemas of a profile, with everything the suite derives from them derived once; ``SchemaError`` if
    they cannot serve (unreadable, invalid, or valid JSON Schema without the annotations and shapes the suite
    reads)."""
    try:
        schemas = load_profile(profile)
        catalog(schemas)
        preflight(schemas)
        pools = Pools(models=documented_models(schemas))
        probes(pools, schemas)
        valid_requests(pools, schemas)
    except SchemaError:
        raise
    except Exception as exc:
        raise SchemaError(f"the schemas in {profile_dir(profile)} are not the suite's schemas "
                          f"({type(exc).__name__}: {exc})") from None
    return schemas


def _hypothesis_home() -> None:
    """Keep Hypothesis's storage out of the working directory: the suite has no example database
    (``database=None``), but Hypothesis still caches its Unicode tables under ``./.hypothesis/``. They go to
    the user's cache directory instead, unless $HYPOTHESIS_STORAGE_DIRECTORY says where."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory
        cache = Path(tempfile.gettempdir())
    set_hypothesis_home_dir(cache / "conformance" / "hypothesis")


def state(config: pytest.Config) -> RunState:
    """The run's state, created on first use (only runs that collect the suite pay for it)."""
    if _STATE not in config.stash:
        _hypothesis_home()
        try:
            schemas = suite_schemas(config.getoption("--profile"))
        except SchemaError as exc:
            raise pytest.UsageError(str(exc)) from None
        run_config = _config(config, schemas)
        register(run_config.api_key)  # masked in everything the run writes or prints, in any spelling
        ledger = Ledger(catalog(schemas))
        config.stash[_STATE] = RunState(run_config, schemas, ledger,
                                        Context(schemas, ledger, clock_skew=run_config.clock_skew,
                                                secret=run_config.api_key),
                                        worker=_is_worker(config))
    return config.stash[_STATE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("probes")
    if "probe" not in metafunc.fixturenames or marker is None:  # only tests that ask for probes get them
        return
    try:
        run = state(metafunc.config)
    except pytest.UsageError as exc:  # raised again, as one line, once collection is over
        metafunc.config.stash[_SETUP_ERROR] = exc
        return
    wanted = set(marker.args) if marker.args else {"accept", "reject", "reject-4xx"}
    chosen: list[Probe] = [p for p in probes(run.config.pools, run.schemas) if p.expect in wanted]
    metafunc.parametrize("probe", chosen, ids=[p.id for p in chosen])


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Bad options or schemas stop the run here, before any test: pytest prints a usage error as one line
    (raised while collecting a module, it would be a collection error with a traceback instead)."""
    if _SETUP_ERROR in config.stash:
        raise config.stash[_SETUP_ERROR]
    if any("conformance_run" in getattr(item, "fixturenames", ()) for item in items):
        state(config)
    _schedule(items)


def _schedule(items: list[pytest.Item]) -> None:
    """Put the tests marked with a phase in run order, in the places they hold in ``items`` (other tests keep
    theirs): by phase, then probes breadth-first over requirements (``Probe.schedule``). A defect then shows
    within the first requests that can show it, which matters when a budget or ``-x`` cuts a run short."""
    slots = [i for i, item in enumerate(items) if item.get_closest_marker("phase") is not None]

    def key(item: pytest.Item) -> tuple[int, tuple[Any, ...]]:
        marker = item.get_closest_marker("phase")
        assert marker is not None
        first = int(marker.args[0])
        rest = int(marker.args[1]) if len(marker.args) > 1 else first
        callspec = getattr(item, "callspec", None)
        probe = callspec.params.get("probe") if callspec is not None else None
        if isinstance(probe, Probe):
            return (first if probe.rank == 0 else rest, probe.schedule)
        return (first, ())

    ordered = sorted((items[i] for i in slots), key=key)
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item


def pytest_collection_finish(session: pytest.Session) -> None:
    """The suite's tests this run selected: a run that ends before all of them is incomplete."""
    if _suite_collected(session.config):
        run = session.config.stash[_STATE]
        run.suite_tests = {item.nodeid for item in session.items if "conformance" in getattr(item, "fixturenames", ())}


@pytest.fixture(scope="session")
def conformance_run(request: pytest.FixtureRequest) -> Iterator[RunState]:
    run = state(request.config)
    run.open()
    yield run
    run.close()


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """vcrpy options for every test's cassette (override to add filters); markers and --record-mode win."""
    return {}


@pytest.fixture
def conformance_cassette(conformance_run: RunState, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's cassette while it runs (None without one): replayed from, recorded into, saved at the end."""
    cfg = conformance_run.config
    markers = [m.kwargs for m in reversed(list(request.node.iter_markers("vcr")))]
    try:
        mode, options = _cassettes.resolve(cfg.record_mode, request.getfixturevalue("vcr_config"), markers)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if mode is None or conformance_run.transport is None:
        yield None
        return
    assert cfg.cassette_dir is not None
    module = getattr(request.node.module, "__name__", "tests").rpartition(".")[2]
    path = _cassettes.cassette_path(cfg.cassette_dir, module, request.node.name)
    try:
        cassette = conformance_run.transport.load(path, mode, options)
    except _cassettes.CorruptCassette as exc:
        message = f"unreadable cassette {exc}; delete it, or re-record it with --record-mode all"
        conformance_run.not_recorded.append(request.node.nodeid)
        conformance_run.ledger.target_errors.append(message)
        pytest.fail(message, pytrace=False)
    settings = _cassettes.settings(cfg, conformance_run.schemas.digest, request.node.nodeid)
    with conformance_run.transport.serve(cassette, settings):
        yield cassette


@pytest.fixture
def conformance(conformance_run: RunState, conformance_cassette: Any, request: pytest.FixtureRequest) -> RunState:
    conformance_run.context.test = request.node.nodeid
    conformance_run.examples = 0
    return conformance_run


def _findings(exc: BaseException | None) -> Iterator[NonConformance]:
    if exc is None:
        return
    if isinstance(exc, NonConformance):
        yield exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _findings(inner)
    yield from _findings(exc.__cause__) if exc.__cause__ is not exc else iter(())


def _budget_skip(item: pytest.Item) -> RunState | None:
    if not _suite_collected(item.config) or "conformance" not in getattr(item, "fixturenames", ()):
        return None
    return item.config.stash[_STATE]


def pytest_runtest_setup(item: pytest.Item) -> None:
    run = _budget_skip(item)
    if run is not None and run.budget_exhausted:
        run.budget_skipped += 1
        pytest.skip(f"conformance: {run.budget_exhausted}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that meets the end of the request budget is skipped, not failed (unless it had found a failure)."""
    run = _budget_skip(item)
    before = set(run.ledger.failures) if run is not None else set()
    try:
        return (yield)
    except BudgetExhausted as exc:
        if run is None:
            raise
        run.budget_exhausted = str(exc)
        run.budget_skipped += 1
        found = sorted(set(run.ledger.failures) - before)
        if found:
            pytest.fail(f"conformance: {exc}, while confirming failures of {', '.join(found)}", pytrace=False)
        pytest.skip(f"conformance: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "teardown" and _suite_collected(item.config):
        run = item.config.stash[_STATE]
        run.finished += item.nodeid in run.suite_tests
    if call.when == "call" and call.excinfo is not None and _suite_collected(item.config):
        run = item.config.stash[_STATE]
        # A test that failed with no finding, no target error (``pytest.fail``) and no budget or cassette stop
        # judged nothing: what it would have exercised is not known, so the run is incomplete.
        if not any(_findings(call.excinfo.value)) and not isinstance(call.excinfo.value, _NOT_ERRORS):
            run.errored += 1
        if isinstance(call.excinfo.value, NotRecorded):
            message = _not_recorded(run, item, call.excinfo.value)
            report.longrepr = message
            run.not_recorded.append(item.nodeid)
            run.ledger.target_errors.append(message.splitlines()[0])
        for failure in _findings(call.excinfo.value):
            for finding in failure.findings:
                run.ledger.failed(finding, final=True)
        _show_failure(report, call.excinfo.value)
    return report


def _show_failure(report: pytest.TestReport, exc: BaseException) -> None:
    """What pytest prints (and junit.xml keeps) for a failed suite test: its findings, each once, rather than
    Hypothesis' "Exception Group Traceback" of the same findings (one per requirement it broke); any other
    failure message masked and escaped too, since it may quote what the target sent (``_secrets.shown``)."""
    rendered = list(dict.fromkeys(finding.render() for failure in _findings(exc) for finding in failure.findings))
    if rendered and not isinstance(exc, NotRecorded):
        report.longrepr = "\n\n".join(rendered)
    elif report.longrepr is not None and not report.skipped:  # a skip's longrepr is pytest's (path, line, reason)
        report.longrepr = shown(str(report.longrepr))


# --- pytest-xdist: workers send their ledgers home; the controller merges and reports ------------------


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist installed, it must not be required
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: merge what a worker found into the run's ledger."""
    wire = getattr(node, "workeroutput", {}).get("conformance")
    if wire is None:
        return
    run = state(node.config)
    unique = run.schemas.assistant["properties"]["id"]["x-req"]["x-unique"]["id"]
    run.ledger.merge_wire(wire["ledger"], unique)
    run.remote_requests += wire["requests"]
    run.cleanup_failed.extend(wire["cleanup_failed"])
    for key in _WIRE_COUNTS:
        run.remote[key] = run.remote.get(key, 0) + int(wire["counts"].get(key, 0))
    run.remote["collected"] = max(run.remote.get("collected", 0), int(wire["counts"].get("collected", 0)))
    run.budget_exhausted = run.budget_exhausted or wire.get("budget_exhausted")
    run.workers += 1
    run.workers_out_of_budget += bool(wire.get("budget_exhausted"))
    run.stopped = run.stopped or wire.get("stopped")
    run.interrupted = run.interrupted or bool(wire.get("interrupted"))
    run.no_verdict = run.no_verdict or wire.get("no_verdict")


_WIRE_COUNTS = ("answered", "unserved", "valid_answers", "valid_refused", "finished", "errored", "budget_skipped")


def _counts(run: RunState) -> dict[str, int]:
    """This process's counts that the verdict rests on, plus those the workers sent (under pytest-xdist)."""
    own = {"answered": run.api.answered if run.api else 0, "unserved": run.api.unserved if run.api else 0,
           "valid_answers": run.valid_answers, "valid_refused": run.valid_refused, "finished": run.finished,
           "errored": run.errored, "budget_skipped": run.budget_skipped, "collected": len(run.suite_tests)}
    merged = {key: own[key] + run.remote.get(key, 0) for key in _WIRE_COUNTS}
    merged["collected"] = max(own["collected"], run.remote.get("collected", 0))
    return merged


def nothing_to_judge(ex: Exchange, cfg: RunConfig) -> str | None:
    """Why the answer to the run's smallest valid request leaves nothing to judge, or None: the key is
    refused (401/403), the model is unknown, or the endpoint is not served there (``Received.unserved``)."""
    got = ex.received
    where = f"POST {ex.sent.url}"
    if got.status in (401, 403):
        return (f"the target refused the API key: {got.status} to the smallest valid request ({where}). Give the "
                f"key it accepts with --api-key or $OPENAI_API_KEY ('conformance serve' accepts {DEFAULT_API_KEY!r}).")
    body = got.json_or_none()
    error = body.get("error") if isinstance(body, dict) else None
    model = cfg.pools.models[0]
    if got.status in (400, 404) and isinstance(error, dict) and (
            error.get("param") == "model" or error.get("code") == "model_not_found"):
        return (f"the target does not know the model {model!r} ({got.status} to the smallest valid request, {where}). "
                "Name one it serves with --model, or in a --pools file.")
    if not got.unserved():
        return None
    page = " with an HTML page" if got.status not in (404, 405, 501) else ""
    return (f"the target does not serve the Assistants API there: {where} answered {got.status}{page}. Check the base "
            "URL (most servers serve it under /v1). OpenAI's own API answers 404 there: it shut the Assistants API "
            "down on 2026-08-26.")


def _fallback_no_verdict(run: RunState, counts: dict[str, int]) -> str | None:
    """For a run whose first request was not the smallest valid one (``-k``, or under pytest-xdist): nothing
    to judge when every answer said the endpoint is not there, or every valid request was refused 401/403."""
    if counts["answered"] and counts["unserved"] == counts["answered"]:
        return (f"the target does not serve the Assistants API at {run.config.target_url or 'the embedded server'}: "
                f"all {counts['answered']} answers were 404, 405, 501 or an HTML page. Check the base URL (and the "
                "model: --model).")
    if counts["valid_answers"] and counts["valid_refused"] == counts["valid_answers"]:
        return (f"the target refused the API key: all {counts['valid_answers']} valid requests were answered 401 or "
                "403. Give the key it accepts with --api-key or $OPENAI_API_KEY.")
    return None


def _incomplete(run: RunState, counts: dict[str, int]) -> list[str]:
    """Why the run did not finish; empty when it did. Such a run never says it conforms."""
    reasons = []
    ran = f"{counts['finished']} of {counts['collected']} tests"
    if run.interrupted:
        reasons.append(f"interrupted after {ran}")
    if run.stopped:
        reasons.append(run.stopped)
    if run.budget_exhausted:
        reasons.append(f"{_budget_spent(run)}; {counts['budget_skipped']} test(s) skipped")
    if run.not_recorded:
        reasons.append(f"the cassettes lack requests of {len(run.not_recorded)} test(s): re-record them")
    if counts["errored"]:
        reasons.append(f"{counts['errored']} test(s) failed without a verdict (see the output)")
    if not reasons and counts["finished"] < counts["collected"]:
        reasons.append(f"only {ran} ran")
    return reasons


def _budget_spent(run: RunState) -> str | None:
    """Why the budget stopped the run: a worker's own words are about its share, so the controller speaks
    for the whole run."""
    if not run.budget_exhausted or not run.workers:
        return run.budget_exhausted
    limit = run.config.limits.max_requests
    sent = (run.api.requests if run.api else 0) + run.remote_requests
    return (f"the request budget of {limit} is spent ({sent} sent by {run.workers} workers, each with a share of "
            f"{(limit or 0) // run.workers}; {run.workers_out_of_budget} spent theirs)")


def _outcome(run: RunState, session: pytest.Session) -> tuple[str | None, list[str]]:
    """Decide the run's verdict and exit code: no verdict (2), a failure (1), incomplete (3), conforms."""
    if run.dry_run is not None or session.config.option.collectonly:  # nothing was asked of the target
        return None, []
    counts = _counts(run)
    if run.no_verdict is None:  # failures against a target that never served the endpoint mean nothing
        reason = _fallback_no_verdict(run, counts)
        if reason is not None:
            run.no_verdict = reason
            run.ledger.reset()
    incomplete = [] if run.no_verdict else _incomplete(run, counts)
    status = session.exitstatus
    if run.no_verdict is not None or run.not_recorded or (run.ledger.target_errors and not run.ledger.judged()):
        status = 2
    elif run.ledger.failures:
        status = pytest.ExitCode.TESTS_FAILED
    elif incomplete or run.ledger.target_errors:
        status = EXIT_INCOMPLETE
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED):
        session.exitstatus = status
    return run.no_verdict, incomplete


def _not_recorded(run: RunState, item: pytest.Item, exc: NotRecorded) -> str:
    callspec = getattr(item, "callspec", None)
    probe = callspec.params.get("probe") if callspec is not None else None
    return _cassettes.explain_missing(
        exc.sent, exc.error, test=item.nodeid, requirement=probe.requirement if isinstance(probe, Probe) else None,
        settings=_cassettes.settings(run.config, run.schemas.digest, item.nodeid),
        command=_cassettes.record_command(run.config, item.name),
    )


def _cassette_summary(run: RunState) -> dict[str, Any] | None:
    transport = run.transport
    if transport is None or not (transport.replayed or transport.recorded or run.config.record_mode):
        return None
    return {"record_mode": run.config.record_mode, "dir": str(run.config.cassette_dir),
            "replayed": transport.replayed, "recorded": transport.recorded, "not_recorded": list(run.not_recorded)}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _suite_collected(session.config):
        return
    run = session.config.stash[_STATE]
    # Ctrl-C or SIGTERM: pytest ends the session as interrupted; a stop of the suite's own says why it stopped.
    run.interrupted = run.interrupted or (session.exitstatus == pytest.ExitCode.INTERRUPTED
                                          and run.stopped is None and run.no_verdict is None)
    run.close()  # also after Ctrl-C: pytest calls this hook on an interrupted session too
    cfg = run.config
    if _is_worker(session.config):
        session.config.workeroutput["conformance"] = {  # type: ignore[attr-defined]
            "ledger": run.ledger.to_wire(), "requests": run.api.requests if run.api else 0,
            "cleanup_failed": run.cleanup_failed, "counts": _counts(run), "budget_exhausted": run.budget_exhausted,
            "stopped": run.stopped, "interrupted": run.interrupted, "no_verdict": run.no_verdict,
        }
        return
    # Failures only the merge of the workers' ledgers showed (e.g. an id two workers were both given) and the
    # cleanup's verdicts count too: the exit code follows the ledger, not pytest's own outcome.
    run.verdict = _outcome(run, session)
    if cfg.report_dir is None:
        return
    try:
        _write_report(run)
    except OSError as exc:
        print(f"conformance: cannot write {cfg.report_dir / 'compliance.json'}: {exc.strerror or exc}", file=sys.stderr)
        session.exitstatus = 2


def _write_report(run: RunState) -> None:
    cfg = run.config
    assert cfg.report_dir is not None
    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    if run.dry_run is not None:  # a dry run says what would be sent; it has no verdicts to report
        (cfg.report_dir / "dry-run.txt").write_text("".join(_dry_line(r) + "\n" for r in run.dry_run.requests),
                                                   encoding="utf-8")
        return
    no_verdict, incomplete = run.verdict
    report = run.ledger.report(
        cfg.target_url or EMBEDDED, incomplete=tuple(incomplete), no_verdict=no_verdict, extra=
        {
            "version": REPORT_VERSION,
            "run": {
                "seed": cfg.seed, "max_examples": cfg.max_examples, "schemas_sha256": run.schemas.digest,
                "requests": (run.api.requests if run.api else 0) + run.remote_requests,
                "cleanup_failed": run.cleanup_failed,
                "target_name": cfg.target_name, "cassettes": _cassette_summary(run), **_run_extra(run),
            }
        },
    )
    write_reports(report, cfg.report_dir, cfg.api_key)


def _run_extra(run: RunState) -> dict[str, Any]:
    limits = run.config.limits
    return {
        "profile": run.config.profile,
        "budget": {"max_requests": limits.max_requests, "exhausted": _budget_spent(run),
                   "tests_skipped": _counts(run)["budget_skipped"]},
        "rate_limited_retries": run.api.rate_limited if run.api else 0,
        "in_process": run.config.transport,
    }


def _dry_line(recorded: Any) -> str:
    body = recorded.body.decode("utf-8", errors="replace")
    body = body if len(body) <= 300 else body[:300] + f"…({len(recorded.body)} bytes)"
    return f"{recorded.method} {recorded.url}" + (f" {body}" if body else "")


def _dry_run_summary(terminalreporter: Any, run: RunState) -> None:
    recorded = run.dry_run.requests if run.dry_run else []
    by_method: dict[str, int] = {}
    for r in recorded:
        by_method[r.method] = by_method.get(r.method, 0) + 1
    terminalreporter.section("conformance dry run")
    terminalreporter.write_line(f"nothing was sent to {run.config.target_url or 'any target'}; profile {run.config.profile}")
    if terminalreporter.config.getoption("verbose") > 0:
        for r in recorded:
            terminalreporter.write_line("  " + _dry_line(r))
    split = ", ".join(f"{m} {n}" for m, n in sorted(by_method.items()))
    terminalreporter.write_line(f"would send {len(recorded)} requests ({split}), cleanup included, to a target that "
                                "answers as the reference does")
    from conformance.suite.test_create_assistant import SHRINK_BUDGET

    terminalreporter.write_line(f"  a target that fails a test costs up to {SHRINK_BUDGET} more requests per failing "
                                f"test (shrinking), and each 429 one more (up to --max-retries "
                                f"{run.config.limits.max_retries})")
    if run.config.limits.max_requests is not None:
        terminalreporter.write_line(f"  --max-requests {run.config.limits.max_requests} caps it in any case")
    if run.config.report_dir is not None:
        terminalreporter.write_line(f"requests: {run.config.report_dir / 'dry-run.txt'}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _suite_collected(config) or _is_worker(config) or config.option.collectonly:
        return
    run = config.stash[_STATE]
    if run.dry_run is not None:
        _dry_run_summary(terminalreporter, run)
        return
    ledger = run.ledger
    no_verdict, incomplete = run.verdict
    terminalreporter.section("conformance")
    if no_verdict is not None:  # one line: what to fix, not a score
        terminalreporter.write_line(shown(f"NO VERDICT: {no_verdict}"))
        if run.config.report_dir is not None:
            terminalreporter.write_line(f"reports: {run.config.report_dir / 'compliance.json'} (and .md, .html)")
        return
    report = ledger.report(run.config.target_name, incomplete=tuple(incomplete))
    summary = report["summary"]
    failed = [r for r in ledger.requirements if ledger.verdict(r) == "failed"]
    terminalreporter.write_line(
        f"{headline(report)}; {summary['failed']} failed, {summary['not_exercised']} not exercised "
        f"({run.config.target_name})"
    )
    for rid in failed:
        finding = ledger.failures[rid]
        terminalreporter.write_line(shown(f"  FAILED {rid}: {finding.title} (received {finding.received[:160]})"))
    for message in ledger.target_errors:
        terminalreporter.write_line(shown(f"  TARGET ERROR: {message}"))
    if ledger.target_errors and not ledger.judged():
        terminalreporter.write_line("no verdict: the target failed every request, so no requirement could be judged")
    elif incomplete and not failed:
        terminalreporter.write_line("INCOMPLETE: the run did not finish; nothing it ran failed, but that is no verdict "
                                    "of conformance")
    cassettes = _cassette_summary(run)
    if cassettes:
        terminalreporter.write_line(
            f"cassettes: {cassettes['dir']} ({cassettes['record_mode'] or 'per test'}): {cassettes['replayed']} answers "
            f"replayed, {cassettes['recorded']} recorded, {len(run.not_recorded)} tests not recorded")
    if run.budget_exhausted:
        terminalreporter.write_line(f"  BUDGET: {_budget_spent(run)}; {_counts(run)['budget_skipped']} test(s) skipped, their "
                                    "requirements left not exercised")
    if run.cleanup_failed:
        terminalreporter.write_line(shown(f"  CLEANUP: {len(run.cleanup_failed)} assistant(s) could not be deleted: "
                                          + ", ".join(run.cleanup_failed[:20])))
    if run.config.report_dir is not None:
        terminalreporter.write_line(f"reports: {run.config.report_dir / 'compliance.json'} (and .md, .html)")

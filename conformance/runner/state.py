"""The run's shared state: the configuration, the schemas, the ledger, the client, and what the verdict
rests on (how much ran, and why it stopped).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from conformance.checks.core import Context, deleted, preflight
from conformance.contract.profiles import DEFAULT_PROFILE, load_profile, profile_dir
from conformance.contract.requirements import catalog
from conformance.contract.schemas import SchemaError, Schemas, documented_models
from conformance.endpoints import RESOURCES
from conformance.generate.hypothesis_seam import set_storage_home
from conformance.generate.probes import probes, valid_requests
from conformance.generate.strategies import Pools
from conformance.results.ledger import Ledger
from conformance.runner.config import IN_PROCESS_URL, REPLAY_BASE, REPLAY_KEY, RunConfig, read_config
from conformance.selftest.reference import DEFAULT_API_KEY, ReferenceServer, create_app
from conformance.transport import cassettes as _cassettes
from conformance.transport.client import MAX_BODY, Api, Exchange, Target, open_client
from conformance.transport.concurrency import Ahead, Chain
from conformance.transport.deadline import DeadlineTransport
from conformance.transport.inprocess import DryRunTransport, load_transport
from conformance.transport.interrupts import INTERRUPTS
from conformance.transport.limits import retry_wait
from conformance.transport.secrets import register
from conformance.transport.server import ServerThread

STATE = pytest.StashKey["RunState"]()
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
    # What the verdict rests on (see ``outcome``): how much of the run ran, and why it stopped.
    suite_tests: set[str] = field(default_factory=set)  # node ids of the suite's tests selected for this run
    finished: int = 0  # of those, tests that ran to their end (passed, failed or skipped)
    errored: int = 0  # tests that failed without a finding or a target error (the suite could not judge)
    interrupted: bool = False
    stopped: str | None = None  # why the run stopped before its end (target errors in a row)
    no_verdict: str | None = None  # why nothing the target answered can be judged
    valid_answers: int = 0  # answers to valid requests
    valid_refused: int = 0  # of those, 401/403: the key given is refused
    worker: bool = False  # a pytest-xdist worker: the controller reports
    remote: dict[str, int] = field(default_factory=dict)  # the workers' counts, summed (``WIRE_COUNTS``)
    verdict: tuple[str | None, list[str]] = (None, [])  # (no verdict, incomplete reasons), decided at the end
    shared: dict[str, Any] = field(default_factory=dict)  # what tests of one kind share (modify's target)
    # --concurrency: the requests known before the run (order of the test, segment, its chains of steps), and
    # each test's place (order, segment; None for a test with no plan), from the plugin's collection (``_plan``)
    plan: list[tuple[int, int, list[Chain]]] = field(default_factory=list)
    places: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    def _judge_cleanup(self, answers: list[tuple[str, Exchange]]) -> None:
        """Each DELETE of the cleanup is judged like any other: the target returned these ids and never saw
        them deleted, so a 404 means it lost or mixed up an assistant (DELETE-RESPONSE fails)."""
        # Only what breaks counts: a replay has no cleanup (a replayed assistant exists nowhere), so passes
        # counted here would make a live run's matrix differ from its replay's; what holds here, the
        # lifecycle test has shown already.
        ctx = self.context
        ctx.test = "cleanup (end of run)"
        scratch = Context(self.schemas, Ledger(self.ledger.requirements), secret=ctx.secret)
        for resource_id, exchange in answers:
            deleted(scratch, exchange, resource_id)
            if scratch.take():
                deleted(ctx, exchange, resource_id)
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
        ahead = self._ahead() if cfg.sends_ahead and not self.worker and not cfg.replay_only else None
        live = None if cfg.replay_only else (lambda: open_client(target, ahead or transport))
        self.transport = _cassettes.CassetteTransport(live, _cassettes.Scrubber([target.api_key]))
        self.client = open_client(target, self.transport)
        self.api = Api(self.client, target, cfg.limits)
        if ahead is not None:
            self.api.attach(ahead)
            ahead.plan(slot for order, segment, chains in self.plan for chain in chains
                       for slot in self.api.chain(chain, order, segment))
        INTERRUPTS.install()
        # No request of its own to see whether the target is there: the run's first request tells (a target
        # that does not answer it ends the run, exit 2: see the suite's target_down).
        return self.api

    def _ahead(self) -> Ahead:
        """The senders of ``--concurrency N`` (``transport/concurrency.py``), over a pool of N + 2 connections."""
        cfg = self.config

        def build(planned: Any) -> httpx.Request:
            assert self.client is not None
            return self.client.build_request(planned.method, planned.url, content=planned.body,
                                             headers=dict(planned.headers))

        return Ahead(DeadlineTransport(cfg.timeout, cfg.concurrency + 2), cfg.concurrency, build, max_body=MAX_BODY,
                     wait_of=lambda headers: min(retry_wait(headers, 0), cfg.limits.max_wait))

    def reach(self, nodeid: str) -> None:
        """A test begins: the requests sent ahead may now include its segment's (``Ahead.reach``)."""
        if self.api is not None and self.api.ahead is not None and nodeid in self.places:
            self.api.ahead.reach(*self.places[nodeid])

    def observe_valid(self, ex: Exchange) -> None:
        """Count an answer to a valid request (a run whose every one was 401/403 has a refused key)."""
        self.valid_answers += 1
        self.valid_refused += ex.received.status in (401, 403)

    def gate(self, ex: Exchange) -> None:
        """The run's first request, the smallest valid one, says whether there is anything to judge: a target
        that refuses the key, or does not serve the endpoint, gets one line and exit 2, no partial score."""
        if self.worker:  # a worker cannot end the whole run; the controller's fallback decides (``outcome``)
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
            if self.api.ahead is not None:
                self.api.ahead.close()
        if self.client is not None:
            self.client.close()
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.stop()
        INTERRUPTS.uninstall()


def suite_collected(config: pytest.Config) -> bool:
    return STATE in config.stash


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


def hypothesis_home() -> None:
    """Keep Hypothesis's storage out of the working directory: the suite has no example database
    (``database=None``), but Hypothesis still caches its Unicode tables under ``./.hypothesis/``. They go to
    the user's cache directory instead, unless $HYPOTHESIS_STORAGE_DIRECTORY says where."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory
        cache = Path(tempfile.gettempdir())
    set_storage_home(cache / "conformance" / "hypothesis")


def state(config: pytest.Config) -> RunState:
    """The run's state, created on first use (only runs that collect the suite pay for it)."""
    if STATE not in config.stash:
        hypothesis_home()
        try:
            schemas = suite_schemas(config.getoption("--profile"))
        except SchemaError as exc:
            raise pytest.UsageError(str(exc)) from None
        run_config = read_config(config, schemas)
        register(run_config.api_key)  # masked in everything the run writes or prints, in any spelling
        ledger = Ledger(catalog(schemas, run_config.endpoints))
        config.stash[STATE] = RunState(run_config, schemas, ledger,
                                        Context(schemas, ledger, clock_skew=run_config.clock_skew,
                                                secret=run_config.api_key),
                                        worker=is_worker(config))
    return config.stash[STATE]


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


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
    resource = RESOURCES[0]
    return (f"the target does not serve {resource.title} there: {where} answered {got.status}{page}. Check the base "
            f"URL (most servers serve it under /v1). {resource.gone}".rstrip())



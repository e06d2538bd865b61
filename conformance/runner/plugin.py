"""The pytest plugin: options, the run's shared state, probe parametrization, and the compliance report.

It is the one runner: ``pytest --pyargs conformance`` and ``conformance run`` (which wraps pytest) go
through the same fixtures and hooks, so selection, reports and cassettes behave the same both ways.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from conformance.checks.core import findings_of
from conformance.endpoints import RESOURCES, SUITES
from conformance.generate.draws import draws
from conformance.generate.probes import Probe, probes
from conformance.runner import allure as _allure
from conformance.runner.config import RunConfig, cassette_settings
from conformance.runner.options import pytest_addoption  # noqa: F401  (a hook)
from conformance.runner.state import STATE, RunState, is_worker, state, suite_collected, suite_schemas
from conformance.runner.summary import (
    not_recorded_message,
    pytest_terminal_summary,  # noqa: F401  (a hook)
    write_report,
)
from conformance.runner.verdict import NOT_ERRORS, WIRE_COUNTS, outcome, tally
from conformance.transport import cassettes as _cassettes
from conformance.transport.client import NotRecorded
from conformance.transport.concurrency import Chain, creates
from conformance.transport.limits import BudgetExhausted
from conformance.transport.secrets import shown

__all__ = ["RunConfig", "RunState", "state", "suite_schemas"]

_SETUP_ERROR = pytest.StashKey[pytest.UsageError]()
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "endpoint(name): the selection (--endpoint) this suite test belongs to; "
                                       "without it, the first (create)")
    config.addinivalue_line("markers", "probes(*expect, operation='create'): parametrize 'probe' with the probes of "
                                       "that operation's request that expect these outcomes; for create, the test "
                                       f"sends {RESOURCES[0].op('create').label} with each of the probe's fixed "
                                       "values, in order, "
                                       "with the run's key (so --concurrency may send them ahead)")
    config.addinivalue_line("markers", "ahead(chains=...): with --concurrency, what a probe test of an operation other "
                                       "than create sends: chains(run, examples) gives its chains of Steps "
                                       "(conformance.transport.concurrency)")
    config.addinivalue_line("markers", "phase(first, rest=first): run this test in that phase of the run (lower "
                                       "first); a probe that leads its requirement in 'first', the others in 'rest'")
    _allure.install(config, lambda: config.stash.get(STATE, None))
    config.addinivalue_line("markers", "vcr(**options): vcrpy options for this test's cassette (record_mode, "
                                       "filter_headers, ...); --record-mode on the command line wins")


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
    operation = str(marker.kwargs.get("operation", "create"))
    chosen: list[Probe] = [p for p in probes(run.config.pools, run.schemas, operation) if p.expect in wanted]
    metafunc.parametrize("probe", chosen, ids=[p.id for p in chosen])


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Bad options or schemas stop the run here, before any test: pytest prints a usage error as one line
    (raised while collecting a module, it would be a collection error with a traceback instead)."""
    if _SETUP_ERROR in config.stash:
        raise config.stash[_SETUP_ERROR]
    if any("conformance_run" in getattr(item, "fixturenames", ()) for item in items):
        state(config)
    _select_endpoints(config, items)
    _schedule(items)


def _select_endpoints(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the suite's tests of the selections not asked for (``--endpoint``); a test without an
    ``endpoint`` marker belongs to the first selection (create)."""
    wanted = set(config.getoption("--endpoint") or SUITES)
    if wanted == set(SUITES):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("endpoint")
        name = str(marker.args[0]) if marker is not None else SUITES[0]
        suite_test = "conformance" in getattr(item, "fixturenames", ())
        (drop if suite_test and name not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _schedule(items: list[pytest.Item]) -> None:
    """Put the tests marked with a phase in run order, in the places they hold in ``items`` (other tests keep
    theirs): by phase, then probes breadth-first over requirements (``Probe.schedule``). A defect then shows
    within the first requests that can show it, which matters when a budget or ``-x`` cuts a run short.
    Within a phase, the selections in their order (create, the default focus, first: ``SUITES``)."""
    slots = [i for i, item in enumerate(items) if item.get_closest_marker("phase") is not None]

    def key(item: pytest.Item) -> tuple[int, int, tuple[Any, ...]]:
        marker = item.get_closest_marker("phase")
        assert marker is not None
        first = int(marker.args[0])
        rest = int(marker.args[1]) if len(marker.args) > 1 else first
        endpoint = item.get_closest_marker("endpoint")
        rank = SUITES.index(str(endpoint.args[0])) if endpoint is not None else 0
        callspec = getattr(item, "callspec", None)
        probe = callspec.params.get("probe") if callspec is not None else None
        if isinstance(probe, Probe):
            return (first if probe.rank == 0 else rest, rank, probe.schedule)
        return (first, rank, ())

    ordered = sorted((items[i] for i in slots), key=key)
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item


def pytest_collection_finish(session: pytest.Session) -> None:
    """The suite's tests this run selected: a run that ends before all of them is incomplete."""
    if suite_collected(session.config):
        run = session.config.stash[STATE]
        run.suite_tests = {item.nodeid for item in session.items if "conformance" in getattr(item, "fixturenames", ())}
        if run.config.concurrency > 1:
            _plan(run, [item for item in session.items if item.nodeid in run.suite_tests])


def _plan(run: RunState, items: list[pytest.Item]) -> None:
    """The requests known before the run, for ``--concurrency`` (``transport/concurrency.py``): a probe test
    sends its probe's examples, in order (its fixed values, or the ones Hypothesis draws for the run's seed,
    drawn here beforehand: ``draws``), and stops at the first failure (then the rest, if sent ahead, go unused
    and the cleanup deletes what they created). A create probe test sends ``POST /assistants`` with each
    example, each a chain of its own; a probe test of another operation says what it sends with its ``ahead``
    marker (a function of the run and the examples, giving the test's chains of steps, ``Step``). Every other
    test is a barrier: no request planned after it leaves before it begins. The planned tests between two
    barriers make a segment."""
    segment, previous = 0, False
    for order, item in enumerate(items):
        callspec = getattr(item, "callspec", None)
        probe = callspec.params.get("probe") if callspec is not None else None
        chains: list[Chain] | None = None
        marker, ahead = item.get_closest_marker("probes"), item.get_closest_marker("ahead")
        operation = marker.kwargs.get("operation", "create") if marker is not None else None
        if isinstance(probe, Probe) and (operation == "create" or ahead is not None):
            limit = max(1, min(probe.max_examples, run.config.max_examples))
            values = list(probe.values[:limit]) if probe.values is not None else \
                draws(probe.strategy, run.config.seed, limit, shrink=False)
            chains = ahead.kwargs["chains"](run, values) if ahead is not None else [creates(v) for v in values]
        segment += chains is not None and not previous
        run.places[item.nodeid] = (order, segment if chains is not None else None)
        if chains:
            run.plan.append((order, segment, chains))
        previous = chains is not None


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
    settings = cassette_settings(cfg, conformance_run.schemas.digest, request.node.nodeid)
    with conformance_run.transport.serve(cassette, settings):
        yield cassette


@pytest.fixture
def conformance(conformance_run: RunState, conformance_cassette: Any, request: pytest.FixtureRequest) -> RunState:
    conformance_run.context.test = request.node.nodeid
    conformance_run.reach(request.node.nodeid)
    conformance_run.examples = 0
    return conformance_run


def _budget_skip(item: pytest.Item) -> RunState | None:
    if not suite_collected(item.config) or "conformance" not in getattr(item, "fixturenames", ()):
        return None
    return item.config.stash[STATE]


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
    if call.when == "teardown" and suite_collected(item.config):
        run = item.config.stash[STATE]
        run.finished += item.nodeid in run.suite_tests
    if call.when == "call" and call.excinfo is not None and suite_collected(item.config):
        run = item.config.stash[STATE]
        # A test that failed with no finding, no target error (``pytest.fail``) and no budget or cassette stop
        # judged nothing: what it would have exercised is not known, so the run is incomplete.
        if not any(findings_of(call.excinfo.value)) and not isinstance(call.excinfo.value, NOT_ERRORS):
            run.errored += 1
        if isinstance(call.excinfo.value, NotRecorded):
            message = not_recorded_message(run, item, call.excinfo.value)
            report.longrepr = message
            run.not_recorded.append(item.nodeid)
            run.ledger.target_errors.append(message.splitlines()[0])
        for failure in findings_of(call.excinfo.value):
            for finding in failure.findings:
                run.ledger.failed(finding, final=True)
        _show_failure(report, call.excinfo.value)
    return report


def _show_failure(report: pytest.TestReport, exc: BaseException) -> None:
    """What pytest prints (and junit.xml keeps) for a failed suite test: its findings, each once, rather than
    Hypothesis' "Exception Group Traceback" of the same findings (one per requirement it broke); any other
    failure message masked and escaped too, since it may quote what the target sent (``secrets.shown``)."""
    rendered = list(dict.fromkeys(finding.render() for failure in findings_of(exc) for finding in failure.findings))
    if rendered and not isinstance(exc, NotRecorded):
        report.longrepr = "\n\n".join(rendered)
    elif report.longrepr is not None and not report.skipped:  # a skip's longrepr is pytest's (path, line, reason)
        report.longrepr = shown(str(report.longrepr))


# --- pytest-xdist: workers send their ledgers home; the controller merges and reports ------------------


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist installed, it must not be required
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: merge what a worker found into the run's ledger."""
    wire = getattr(node, "workeroutput", {}).get("conformance")
    if wire is None:
        return
    run = state(node.config)
    unique = run.schemas.object_schema["properties"]["id"]["x-req"]["x-unique"]["id"]
    run.ledger.merge_wire(wire["ledger"], unique)
    run.remote_requests += wire["requests"]
    run.cleanup_failed.extend(wire["cleanup_failed"])
    for key in WIRE_COUNTS:
        run.remote[key] = run.remote.get(key, 0) + int(wire["counts"].get(key, 0))
    run.remote["collected"] = max(run.remote.get("collected", 0), int(wire["counts"].get("collected", 0)))
    run.budget_exhausted = run.budget_exhausted or wire.get("budget_exhausted")
    run.workers += 1
    run.workers_out_of_budget += bool(wire.get("budget_exhausted"))
    run.stopped = run.stopped or wire.get("stopped")
    run.interrupted = run.interrupted or bool(wire.get("interrupted"))
    run.no_verdict = run.no_verdict or wire.get("no_verdict")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not suite_collected(session.config):
        return
    run = session.config.stash[STATE]
    # Ctrl-C or SIGTERM: pytest ends the session as interrupted; a stop of the suite's own says why it stopped.
    run.interrupted = run.interrupted or (session.exitstatus == pytest.ExitCode.INTERRUPTED
                                          and run.stopped is None and run.no_verdict is None)
    run.close()  # also after Ctrl-C: pytest calls this hook on an interrupted session too
    cfg = run.config
    if is_worker(session.config):
        session.config.workeroutput["conformance"] = {  # type: ignore[attr-defined]
            "ledger": run.ledger.to_wire(), "requests": run.api.requests if run.api else 0,
            "cleanup_failed": run.cleanup_failed, "counts": tally(run), "budget_exhausted": run.budget_exhausted,
            "stopped": run.stopped, "interrupted": run.interrupted, "no_verdict": run.no_verdict,
        }
        return
    # Failures only the merge of the workers' ledgers showed (e.g. an id two workers were both given) and the
    # cleanup's verdicts count too: the exit code follows the ledger, not pytest's own outcome.
    run.verdict = outcome(run, session)
    if cfg.report_dir is None:
        return
    try:
        write_report(run)
    except OSError as exc:
        print(f"conformance: cannot write {cfg.report_dir / 'compliance.json'}: {exc.strerror or exc}", file=sys.stderr)
        session.exitstatus = 2



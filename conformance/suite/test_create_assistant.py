"""Conformance of POST /v1/assistants (and the GET and DELETE its ids promise) against the schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from conformance.checks.core import (
    NonConformance,
    accepted,
    created_now,
    defaults_applied,
    deleted,
    echoed,
    error_envelope,
    gone,
    no_server_error,
    object_shape,
    raise_findings,
    rejected,
    retrieved_same,
    unauthorized,
    unique_id,
)
from conformance.generate.draws import draws, seeded
from conformance.generate.hypothesis_seam import source_independent
from conformance.generate.probes import Probe, valid_requests
from conformance.runner.config import SHRINK_BUDGET
from conformance.runner.state import RunState
from conformance.transport.client import Exchange, TargetError, encode
from conformance.transport.concurrency import MADE, Chain, Step, creates
from conformance.transport.secrets import shown


class _TargetDown(BaseException):
    """Stops Hypothesis at once: a target error is not a bug to shrink."""


class _Found(BaseException):
    """Stops Hypothesis at a probe's first failing example, which is reported as it is."""

    def __init__(self, finding: NonConformance) -> None:
        super().__init__(str(finding))
        self.finding = finding


def explore(run: RunState, strategy: st.SearchStrategy[Any], body: Callable[[Any], None], max_examples: int,
            *, shrink: bool = True, ahead: Callable[[Any], Chain] | None = None) -> None:
    """Run ``body`` on examples of ``strategy``, seeded by the run, without a database. A failure is shrunk
    (within ``SHRINK_BUDGET`` requests); with ``shrink=False`` the first failing example ends the test as it
    is, with no request after it. ``ahead``: what ``body`` sends for an example, as a chain of steps; with
    ``--concurrency`` the examples are drawn beforehand and their chains may leave ahead (``draws``)."""

    failing: set[bytes] = set()
    spent = 0

    def guarded(value: Any) -> None:
        # Shrinking re-sends a request per step; past a budget, only examples that already failed are
        # sent again (so the reported example is one that truly failed, and replays the same way).
        nonlocal spent
        key = encode(value)
        if failing:
            spent += 1
            if spent > SHRINK_BUDGET and key not in failing:
                return
        run.examples += 1
        try:
            body(value)
        except TargetError as exc:
            raise _TargetDown(str(exc)) from None
        except NonConformance as exc:
            if not shrink:
                raise _Found(exc) from None
            failing.add(key)
            if run.api is not None:  # what it sends while shrinking was not planned (--concurrency)
                run.api.derail()
            raise

    test = seeded(guarded, strategy, run.config.seed, max_examples, shrink)
    error: str | None = None
    if ahead is not None and run.api is not None and run.api.ahead is not None:
        run.api.chains_ahead(ahead(example) for example in draws(strategy, run.config.seed, max_examples, shrink))
    try:
        with source_independent():
            test()
    except _TargetDown as exc:
        error = str(exc)
    except _Found as found:
        raise found.finding from None
    finally:
        settle(run, error)


def check_each(run: RunState, values: tuple[Any, ...], body: Callable[[Any], None], *,
               ahead: Callable[[Any], Chain] | None = None) -> None:
    """Run ``body`` on each of ``values`` in turn, without Hypothesis; stops at the first failure. ``ahead``:
    what ``body`` sends for a value, as a chain of steps, which ``--concurrency`` may send ahead."""
    if ahead is not None and run.api is not None:
        run.api.chains_ahead(ahead(value) for value in values)
    error: str | None = None
    try:
        for value in values:
            run.examples += 1
            try:
                body(value)
            except TargetError as exc:
                error = str(exc)
                break
    finally:
        settle(run, error)


def settle(run: RunState, error: str | None) -> None:
    """After a test's requests: answered (conforming or not) resets the count of target errors in a row; a
    target error fails the test (``target_down``)."""
    if error is None:
        run.consecutive_target_errors = 0
    else:
        target_down(run, error)


def run_probe(run: RunState, probe: Probe, body: Callable[[Any], None]) -> None:
    """A probe's examples: its fixed values as they are, or drawn ones. Either way the first failing example
    is the evidence: a probe is minimal by construction (the simplest request reaching the probed value), so
    shrinking would spend requests to change little."""
    limit = max(1, min(probe.max_examples, run.config.max_examples))
    if probe.values is not None:  # with --concurrency, planned at collection, drawn ones too (``plugin._plan``)
        check_each(run, probe.values[:limit], body)
    else:
        explore(run, probe.strategy, body, limit, shrink=False)


def target_down(run: RunState, error: str) -> None:
    """Fail the test with a target error; after a few in a row, stop the run (exit 2 if nothing was judged).
    A target that has not answered a single request, the run's first, cannot be reached: exit 2 at once."""
    run.ledger.target_errors.append(error)
    if run.api is not None and run.api.answered == 0:
        run.give_up(f"the target cannot be reached (the first request failed): {error}")
    run.consecutive_target_errors += 1
    limit = run.config.max_target_errors  # 0: never stop
    if limit and run.consecutive_target_errors >= limit:
        judged = run.ledger.judged()
        run.stopped = (f"stopped: the target failed {limit} tests in a row"
                       f"{'' if judged else ' and has not answered one request the suite could judge'}")
        pytest.exit(shown(f"conformance: {run.stopped}: {error}"), returncode=1 if judged else 2)
    pytest.fail(shown(f"target error: {error}"), pytrace=False)


def judge_created(run: RunState, ex: Exchange, payload: dict[str, Any], requirement: str | None) -> dict[str, Any] | None:
    """All checks of an answer to a valid request, findings kept on the context; the assistant the target
    says it created (a 2xx whose body is an object with a string id), whatever else that answer got wrong."""
    ctx = run.context
    run.observe_valid(ex)
    if accepted(ctx, ex, requirement) and 200 <= ex.received.status < 300:
        body = object_shape(ctx, ex)
        if body is not None:
            echoed(ctx, ex, payload, body)
            defaults_applied(ctx, ex, payload, body)
            created_now(ctx, ex, body)
            unique_id(ctx, ex, body)
            return body if isinstance(body.get("id"), str) else None
    return None


def judge_refusal(run: RunState, probe: Probe, ex: Exchange) -> None:
    """An answer to a request that breaks the probe's requirement, of any operation: refused (400, or any 4xx
    where the probe says so) with the error envelope; the findings raised."""
    ctx = run.context
    if rejected(ctx, ex, probe.requirement, strict=probe.expect == "reject"):
        error_envelope(ctx, ex)
    raise_findings(ctx.take())


def verify_created(run: RunState, ex: Exchange, payload: dict[str, Any], requirement: str | None) -> dict[str, Any] | None:
    """All checks of an answer to a valid request, raised; returns the assistant when it was created."""
    body = judge_created(run, ex, payload, requirement)
    raise_findings(run.context.take())
    return body


# The run's order (the plugin sorts by phase): the smallest valid request (it decides whether there is anything
# to judge: a refused key or an endpoint not served ends the run there); the key checks; one refused probe
# per requirement; the id's lifecycle; valid requests; accepted probes; the other refused probes. Most
# defects then show within the first hundred requests, which matters when a budget or -x cuts a run short.
@pytest.mark.phase(1)
@pytest.mark.parametrize("key", [None, "conformance-wrong-key-0000"], ids=["missing-key", "wrong-key"])
def test_unauthorized(conformance: RunState, key: str | None) -> None:
    """A valid request without a valid API key: 401 with the error envelope."""
    api = conformance.open()
    ctx = conformance.context
    payload = {"model": conformance.config.pools.models[0]}

    def body(key: str | None) -> None:
        unauthorized(ctx, api.create(payload, api_key=key))
        raise_findings(ctx.take())

    check_each(conformance, (key,), body)


@pytest.mark.phase(0)
def test_minimal_request_is_accepted(conformance: RunState) -> None:
    """The smallest valid request, only a model: 200, an assistant object, every documented default."""
    api = conformance.open()

    def body(payload: dict[str, Any]) -> None:
        ex = api.create(payload)
        conformance.gate(ex)  # the run's first request: a refused key or an endpoint not served ends it here
        verify_created(conformance, ex, payload, None)

    check_each(conformance, ({"model": conformance.config.pools.models[0]},), body)


@pytest.mark.phase(3)
def test_created_assistant_can_be_retrieved_and_deleted(conformance: RunState) -> None:
    """The id can be referenced: GET returns the same assistant, DELETE removes it, GET then answers 404.

    It runs on any assistant the target created (a 2xx with an id), whatever else its create answer got
    wrong: a missing field must not hide a retrieve that fails or a DELETE that removes nothing."""
    api = conformance.open()
    ctx = conformance.context

    def body(payload: dict[str, Any]) -> None:
        created = judge_created(conformance, api.create(payload), payload, None)
        if created is not None:
            assistant_id = created["id"]
            retrieved_same(ctx, api.retrieve(assistant_id), created)
            if deleted(ctx, api.delete(assistant_id), assistant_id):
                gone(ctx, api.retrieve(assistant_id))
                # Deleting it again: nothing is there; whatever the answer, it is not a server error.
                no_server_error(ctx, api.delete(assistant_id))
        raise_findings(ctx.take())

    def lifecycle(payload: dict[str, Any]) -> Chain:
        # what follows a DELETE leaves only after a 200, when the id is no longer the run's to read back
        return (Step("create", payload), Step("retrieve", on=MADE), Step("delete", on=MADE),
                Step("retrieve", on=MADE, if_ok=True), Step("delete", on=MADE))

    explore(conformance, valid_requests(conformance.config.pools, conformance.schemas), body,
            max(1, min(5, conformance.config.max_examples)), ahead=lifecycle)


@pytest.mark.phase(4)
def test_valid_requests_are_accepted_and_echoed(conformance: RunState) -> None:
    """Valid requests over every field and branch: 200, an assistant object, fields echoed, defaults set."""
    api = conformance.open()

    def body(payload: dict[str, Any]) -> None:
        verify_created(conformance, api.create(payload), payload, None)

    explore(conformance, valid_requests(conformance.config.pools, conformance.schemas), body,
            conformance.config.max_examples, ahead=creates)


@pytest.mark.phase(5)
@pytest.mark.probes("accept")
def test_accepted(conformance: RunState, probe: Probe) -> None:
    """Values exactly at a limit, null where allowed, every branch and enum value: accepted and echoed."""
    api = conformance.open()

    def body(payload: dict[str, Any]) -> None:
        verify_created(conformance, api.create(payload), payload, probe.requirement)

    run_probe(conformance, probe, body)


@pytest.mark.phase(2, 6)
@pytest.mark.probes("reject", "reject-4xx")
def test_refused(conformance: RunState, probe: Probe) -> None:
    """A request that breaks exactly one requirement: refused with 400 and the error envelope."""
    api = conformance.open()

    def body(payload: Any) -> None:
        judge_refusal(conformance, probe, api.create(payload))

    run_probe(conformance, probe, body)

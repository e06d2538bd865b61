"""Conformance of POST /v1/assistants/{id} (modify): the same limits as create, what is sent replaces, what
is not sent stays, a refusal changes nothing, an unknown id is refused."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checks.core import (
    accepted,
    echoed,
    error_envelope,
    no_server_error,
    object_shape,
    raise_findings,
    refused_key,
)
from conformance.checks.resource import kept, refused_modify_kept, replaced, unknown_id_refused
from conformance.generate.probes import Probe, valid_requests
from conformance.runner.state import RunState
from conformance.suite.test_create_assistant import check_each, explore, judge_created, judge_refusal, run_probe
from conformance.transport.concurrency import MADE, Chain, Step

pytestmark = pytest.mark.endpoint("modify")
REFUSED_TARGET = "modify-refused-target"  # the assistant every refused modify is sent to (``Step.on``)


def _target_payload(run: RunState) -> dict[str, Any]:
    return {"model": run.config.pools.models[0], "name": "conformance modify"}


def _target(run: RunState) -> dict[str, Any] | None:
    """A new assistant to modify (the smallest valid one), or None when the target made none."""
    payload = _target_payload(run)
    return judge_created(run, run.open().create(payload), payload, None)


def _refusals(run: RunState, examples: list[Any]) -> list[Chain]:
    """What ``test_modify_refused`` sends, for ``--concurrency``: each example to the one refused-to assistant
    (each a chain of its own: refused, they change nothing, so their order does not matter)."""
    return [(Step("modify", example, on=REFUSED_TARGET),) for example in examples]


def _modifies(run: RunState, examples: list[Any]) -> list[Chain]:
    """What ``test_modify_accepted`` sends, for ``--concurrency``: one chain, its assistant's create, then each
    example's modify and the GET after it."""
    return [(Step("create", _target_payload(run)),
             *(step for example in examples for step in (Step("modify", example, on=MADE), Step("retrieve", on=MADE))))]


def _modified(run: RunState, before: dict[str, Any], payload: dict[str, Any], requirement: str | None) -> None:
    """Modify ``before`` with ``payload`` and judge it all: the answer, the fields echoed and kept, then GET."""
    api, ctx = run.open(), run.context
    ex = api.modify(str(before["id"]), payload)
    if accepted(ctx, ex, requirement) and 200 <= ex.received.status < 300:
        after = object_shape(ctx, ex)
        if isinstance(after, dict):
            echoed(ctx, ex, payload, after)
            kept(ctx, ex, before, payload, after)
            replaced(ctx, ex, after, api.retrieve(str(before["id"])))


@pytest.mark.phase(2, 6)
@pytest.mark.probes("reject", "reject-4xx", operation="modify")
@pytest.mark.ahead(chains=_refusals)
def test_modify_refused(conformance: RunState, probe: Probe) -> None:
    """A modify that breaks exactly one requirement: refused with 400 and the error envelope."""
    api = conformance.open()
    ctx = conformance.context
    # One assistant for every refused modify: a refusal changes nothing (MODIFY-REFUSED-NO-EFFECT is judged
    # on assistants of its own), so each probe judges only the status and the envelope. What it holds at the
    # end is not read back: a target that applies refused modifies may apply them in any order (--concurrency).
    if REFUSED_TARGET not in conformance.shared:
        made = conformance.shared[REFUSED_TARGET] = _target(conformance)
        api.bind(REFUSED_TARGET, None if made is None else str(made["id"]))
        if made is not None:
            api.unsettled(str(made["id"]))
        raise_findings(ctx.take())
    before = conformance.shared[REFUSED_TARGET]
    if before is None:
        pytest.skip("the target created no assistant to modify")

    def body(payload: Any) -> None:
        with ctx.using(conformance.schemas.request_for("modify")):
            judge_refusal(conformance, probe, api.modify(str(before["id"]), payload))

    run_probe(conformance, probe, body)


@pytest.mark.phase(5)
@pytest.mark.probes("accept", operation="modify")
@pytest.mark.ahead(chains=_modifies)
def test_modify_accepted(conformance: RunState, probe: Probe) -> None:
    """Values exactly at a limit, null where allowed, every branch: the modify is accepted, echoed, kept."""
    ctx = conformance.context
    before = _target(conformance)
    raise_findings(ctx.take())
    if before is None:
        pytest.skip("the target created no assistant to modify")

    def body(payload: dict[str, Any]) -> None:
        with ctx.using(conformance.schemas.request_for("modify")):
            _modified(conformance, before, payload, probe.requirement)
        raise_findings(ctx.take())

    try:
        run_probe(conformance, probe, body)
    except BaseException:
        # It stops at its first failure; with --concurrency its later modifies may have left already: what the
        # assistant holds at the end is not read back, at every N alike.
        conformance.open().unsettled(str(before["id"]))
        raise


@pytest.mark.phase(4)
def test_modify_replaces_what_is_sent(conformance: RunState) -> None:
    """Valid modifies over every field: what is sent replaces, what is not sent stays, GET agrees."""
    ctx = conformance.context
    pools, schemas = conformance.config.pools, conformance.schemas

    def body(payload: dict[str, Any]) -> None:
        before = _target(conformance)
        if before is not None:
            with ctx.using(schemas.request_for("modify")):
                _modified(conformance, before, payload, None)
        raise_findings(ctx.take())

    def chain(payload: dict[str, Any]) -> Chain:
        return (Step("create", _target_payload(conformance)), Step("modify", payload, on=MADE), Step("retrieve", on=MADE))

    explore(conformance, valid_requests(pools, schemas, "modify"), body, max(1, min(10, conformance.config.max_examples)),
            ahead=chain)


@pytest.mark.phase(3)
def test_refused_modify_changes_nothing(conformance: RunState) -> None:
    """A modify refused for one bad field, sent with good ones, changes nothing at all."""
    api = conformance.open()
    ctx = conformance.context
    limit = conformance.schemas.request_for("modify")["properties"]["name"]["maxLength"]

    def body(bad: dict[str, Any]) -> None:
        before = _target(conformance)
        if before is not None:
            with ctx.using(conformance.schemas.request_for("modify")):
                ex = api.modify(str(before["id"]), {"description": "changed by a refused modify", **bad})
                if no_server_error(ctx, ex) and 400 <= ex.received.status < 500:
                    refused_modify_kept(ctx, ex, before, api.retrieve(str(before["id"])))
        raise_findings(ctx.take())

    check_each(conformance, ({"name": "x" * (limit + 1)}, {"conformance_unknown_field": 1}), body)


@pytest.mark.phase(3)
def test_modify_of_an_unknown_id(conformance: RunState) -> None:
    """A modify of an id that never existed, and of one deleted: a 4xx with the error envelope."""
    api = conformance.open()
    ctx = conformance.context

    def body(which: str) -> None:
        with ctx.using(conformance.schemas.request_for("modify")):
            target_id = "asst_conformance_never_created"
            if which == "deleted":
                made = _target(conformance)
                if made is None:
                    return
                target_id = str(made["id"])
                api.delete(target_id)
            ex = api.modify(target_id, {"name": "conformance"})
            if no_server_error(ctx, ex):
                unknown_id_refused(ctx, ex)
                if 400 <= ex.received.status < 500:
                    error_envelope(ctx, ex)
        raise_findings(ctx.take())

    check_each(conformance, ("never-created", "deleted"), body)


@pytest.mark.phase(3)  # with the key rule on GET and DELETE (create's key checks lead the run)
def test_modify_requires_a_key(conformance: RunState) -> None:
    """POST /assistants/{id} without a valid key: 401 with the error envelope (the spec's global security)."""
    api = conformance.open()
    ctx = conformance.context

    def body(key: str | None) -> None:
        refused_key(ctx, api.modify("asst_conformance_never_created", {"name": "x"}, api_key=key), "x-auth-everywhere")
        raise_findings(ctx.take())

    check_each(conformance, (None,), body)

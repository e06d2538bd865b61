"""What a schema alone does not say: what the server keeps (ids bound to their assistants through creates and
deletes), whom it lets in (the key rule on every endpoint, for credentials that look like the key), whether
text survives the round trip, and what breaks only in company (pairs of fields, every field at its limit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.checks.core import (
    deleted,
    gone,
    raise_findings,
    refusal_changed_nothing,
    refused_key,
    retrieved_same,
    utf8_answer,
)
from conformance.contract.schemas import OBJECT
from conformance.generate.combine import all_at_limits, escaped_json, pairwise_requests, text_requests
from conformance.generate.probes import RawBody
from conformance.runner.state import RunState
from conformance.transport.client import Credential
from conformance.transport.concurrency import creates

from .test_create_assistant import check_each, judge_created, verify_created

MASK = "<the key>"


def _key(run: RunState) -> str:
    api = run.open()
    if not api.target.api_key:
        pytest.skip("no API key: credentials that look like it cannot be made")
    return api.target.api_key


def lookalikes(key: str) -> dict[str, Credential]:
    """Credentials that are not the key but look like it, each shown without the key."""
    last = "x" if key[-1] != "x" else "y"
    return {
        "scheme-only": Credential("Bearer", "Bearer"),
        "prefix": Credential(f"Bearer {key[:-1]}", f"Bearer {MASK} without its last character"),
        "last-changed": Credential(f"Bearer {key[:-1]}{last}", f"Bearer {MASK} with its last character changed"),
        "longer": Credential(f"Bearer {key}0", f"Bearer {MASK} followed by 0"),
        "basic-scheme": Credential(f"Basic {key}", f"Basic {MASK}"),
        "no-scheme": Credential(key, f"{MASK} without a scheme"),
    }


def _rid(run: RunState, keyword: str) -> str:
    return str(run.schemas.request["x-req"][keyword]["id"])


# --- who gets in ---------------------------------------------------------------------------------------


@pytest.mark.phase(1)
@pytest.mark.parametrize("kind", list(lookalikes("k-0123")), ids=list(lookalikes("k-0123")))
def test_lookalike_credentials_are_refused(conformance: RunState, kind: str) -> None:
    """Credentials that look like the key (a prefix, one character changed, another scheme): 401."""
    key = _key(conformance)
    api = conformance.open()
    ctx = conformance.context
    payload = {"model": conformance.config.pools.models[0]}

    def body(credential: Credential) -> None:
        refused_key(ctx, api.create(payload, api_key=credential))
        raise_findings(ctx.take())

    check_each(conformance, (lookalikes(key)[kind],), body)


@pytest.mark.phase(1)
def test_scheme_is_case_insensitive(conformance: RunState) -> None:
    """The key under the scheme written 'bearer' (RFC 9110: the scheme is case-insensitive): accepted."""
    key = _key(conformance)
    api = conformance.open()
    payload = {"model": conformance.config.pools.models[0]}
    credential = Credential(f"bearer {key}", "bearer ***")

    def body(payload: dict[str, Any]) -> None:
        verify_created(conformance, api.create(payload, api_key=credential), payload,
                       _rid(conformance, "x-auth-scheme"))

    check_each(conformance, (payload,), body)


@pytest.mark.phase(3)
def test_key_rule_on_retrieve_and_delete(conformance: RunState) -> None:
    """GET and DELETE /assistants/{id} without the key: 401 each, and the refused DELETE removed nothing."""
    key = _key(conformance)
    api = conformance.open()
    ctx = conformance.context
    wrong = [None, Credential("Bearer conformance-wrong-key-0000", "Bearer conformance-wrong-key-0000"),
             lookalikes(key)["last-changed"], lookalikes(key)["prefix"]]

    def body(payload: dict[str, Any]) -> None:
        # Whatever else the create answer got wrong (kept, raised at the end), the key rule is still tried.
        created = judge_created(conformance, api.create(payload), payload, None)
        if created is None:
            raise_findings(ctx.take())
            return
        assistant_id = created["id"]
        for credential in wrong:
            refused_key(ctx, api.retrieve(assistant_id, api_key=credential), "x-auth-everywhere")
            refused_key(ctx, api.delete(assistant_id, api_key=credential), "x-auth-everywhere")
        refusal_changed_nothing(ctx, api.retrieve(assistant_id), created)
        deleted(ctx, api.delete(assistant_id), assistant_id)
        raise_findings(ctx.take())

    check_each(conformance, ({"model": conformance.config.pools.models[0], "name": "key rule"},), body)


# --- what the server keeps ----------------------------------------------------------------------------


def _state_count(run: RunState) -> int:
    return max(6, min(run.config.max_examples, 40))


@pytest.mark.phase(3)
def test_ids_stay_bound_through_creates_and_deletes(conformance: RunState) -> None:
    """Many creates, deletes among them, two equal requests: every id reads back as its create answer, a
    deleted one answers 404, and no id is given twice."""
    api = conformance.open()
    ctx = conformance.context
    model = conformance.config.pools.models[0]
    count = _state_count(conformance)

    def body(_: Any) -> None:
        alive: list[dict[str, Any]] = []
        removed: list[str] = []

        def create(payload: dict[str, Any]) -> None:
            # findings about the answer itself are kept for the end: they must not hide what the store does
            got = judge_created(conformance, api.create(payload), payload, None)
            if got is not None:
                alive.append(got)

        payloads = [{"model": model, "name": f"state {i}", "metadata": {"i": str(i)}} for i in range(count)]
        for i, payload in enumerate(payloads):
            if i % 3 == 0:
                # --concurrency: the creates up to the next DELETE may leave together (they touch no id; the
                # DELETEs stay between them: creates after a delete are what reuses an id)
                api.chains_ahead(creates(p) for p in payloads[i:i + 3])
            create(payload)
            if i % 3 == 2 and len(alive) >= 2:  # delete one that is not the newest
                victim = alive.pop(-2)
                if deleted(ctx, api.delete(victim["id"]), victim["id"]):
                    removed.append(victim["id"])
        twin = {"model": model, "name": "twin", "description": "two equal requests, two assistants"}
        api.chains_ahead(creates(p) for p in (twin, twin))
        create(dict(twin))
        create(dict(twin))
        # --concurrency: from here the requests are reads, then deletes, of known ids, none raising before the
        # end: they may leave ahead (the creates and deletes above stay in order: their order is the test)
        api.read_ahead([created["id"] for created in alive] + removed)
        for created in alive:
            retrieved_same(ctx, api.retrieve(created["id"]), created)
        for assistant_id in removed:
            gone(ctx, api.retrieve(assistant_id))
        api.delete_ahead([created["id"] for created in alive])
        for created in alive:
            deleted(ctx, api.delete(created["id"]), created["id"])
        raise_findings(ctx.take())

    check_each(conformance, (None,), body)


def _oldest_and_newest(answers: list[tuple[str, Any]], cap: int, valid: Callable[[Any], bool]) -> list[str]:
    """The ids of the valid answers, in order; when there are more than ``cap``, the ``cap // 2`` oldest and the
    rest newest. Only as many answers are validated as it takes (each validation costs a millisecond or two)."""
    oldest: list[str] = []
    newest: list[str] = []
    front, back = 0, len(answers)
    while front < back and len(oldest) < cap // 2:
        if valid(answers[front][1]):
            oldest.append(answers[front][0])
        front += 1
    while front < back and len(newest) < cap - cap // 2:
        back -= 1
        if valid(answers[back][1]):
            newest.append(answers[back][0])
    return oldest + newest[::-1]


@pytest.mark.phase(7)
def test_assistants_created_during_the_run_read_back(conformance: RunState) -> None:
    """At the end of the run, the assistants it created (oldest and newest first) still read back as created."""
    api = conformance.open()
    ctx = conformance.context
    # Only assistants whose create answer was itself a documented assistant object (one created by a refused
    # probe the target wrongly accepted may not be; that was judged where it was sent).
    shape = conformance.schemas.validator(OBJECT)
    # ``answers`` forgets an id once it is deleted, on a live run and a replay alike (``created`` is empty on a
    # replay: a replayed assistant exists nowhere), so both read back the same ids.
    cap = max(40, 2 * conformance.config.max_examples)
    ids = _oldest_and_newest(list(api.answers.items()), cap, shape.is_valid)
    if not ids:
        pytest.skip("the run created no assistant to read back")

    def body(assistant_id: str) -> None:
        retrieved_same(ctx, api.retrieve(assistant_id), api.answers[assistant_id])
        raise_findings(ctx.take())

    api.read_ahead(ids)  # --concurrency: reads of ids no later test changes may leave ahead
    check_each(conformance, tuple(ids), body)


# --- text ----------------------------------------------------------------------------------------------


@pytest.mark.phase(4)
@pytest.mark.parametrize("encoding", ["utf-8", "escaped"])
def test_text_survives_the_round_trip(conformance: RunState, encoding: str) -> None:
    """Text with edges, normal forms, joiners and astral characters, sent as raw UTF-8 or as \\u escapes
    (surrogate pairs included): echoed and read back code point for code point, in valid UTF-8."""
    api = conformance.open()
    ctx = conformance.context

    def body(payload: dict[str, Any]) -> None:
        ex = api.create(RawBody(escaped_json(payload)) if encoding == "escaped" else payload)
        utf8_answer(ctx, ex)
        raise_findings(ctx.take())
        created = judge_created(conformance, ex, payload, None)
        if created is None:
            raise_findings(ctx.take())
            return
        again = api.retrieve(created["id"])
        if utf8_answer(ctx, again):
            retrieved_same(ctx, again, created)
        raise_findings(ctx.take())

    check_each(conformance, text_requests(conformance.schemas, conformance.config.pools), body)


# --- in company --------------------------------------------------------------------------------------


@pytest.mark.phase(4)
def test_pairs_of_fields_are_accepted(conformance: RunState) -> None:
    """Every pair of optional fields and their branches (a pairwise covering set): accepted and echoed."""
    api = conformance.open()

    def body(payload: dict[str, Any]) -> None:
        verify_created(conformance, api.create(payload), payload, None)

    check_each(conformance, pairwise_requests(conformance.schemas, conformance.config.pools), body, ahead=creates)


@pytest.mark.phase(5)
def test_every_field_at_its_limit_at_once(conformance: RunState) -> None:
    """One request with every field present and at its limit: accepted, echoed and read back."""
    api = conformance.open()
    ctx = conformance.context

    def body(payload: dict[str, Any]) -> None:
        created = judge_created(conformance, api.create(payload), payload, None)
        if created is not None:
            retrieved_same(ctx, api.retrieve(created["id"]), created)
        raise_findings(ctx.take())

    check_each(conformance, (all_at_limits(conformance.schemas, conformance.config.pools),), body)

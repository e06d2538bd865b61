"""Conformance of GET /v1/assistants (list): query parameters, the page's shape, order, cursors and limits."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.checks.core import accepted, raise_findings, refused_key
from conformance.checks.resource import (
    cursor_respected,
    has_more_told,
    list_shape,
    page_limit,
    page_order,
    pages_complete,
)
from conformance.generate.probes import Probe
from conformance.runner.state import RunState
from conformance.suite.test_create_assistant import check_each, judge_created, judge_refusal, run_probe
from conformance.transport.concurrency import Chain, Step

pytestmark = pytest.mark.endpoint("list")
WALK_PAGES = 40  # pages of the smallest limit the walk follows at most before it finishes with the largest


def _limits(run: RunState) -> tuple[int, int, int]:
    """The smallest, largest and default ``limit`` of a page, from the list's query schema."""
    node = run.schemas.request_for("list")["properties"]["limit"]
    return int(node["minimum"]), int(node["maximum"]), int(node["default"])


def _orders(run: RunState) -> tuple[str, str]:
    """The default ``order`` and the other one (newest first, and oldest first), from the list's query schema."""
    node = run.schemas.request_for("list")["properties"]["order"]
    default = str(node["default"])
    return default, next(str(value) for value in node["enum"] if value != default)


def _page(run: RunState, query: dict[str, Any], *, more: bool = False,
          apart: tuple[str, str] | None = None) -> tuple[Any, dict[str, Any] | None]:
    """One page, judged: accepted, shaped, sorted, within its limit. ``more``: the suite knows more objects than
    the limit exist from where the page starts; ``apart``: two assistants it created a second apart, which the
    page should hold (the evidence a pass of the limit and of the order needs: ``checks.resource``)."""
    ctx = run.context
    ex = run.api.list_page(query) if run.api else None
    assert ex is not None
    body = None
    if accepted(ctx, ex, None) and ex.received.status == 200:
        body = list_shape(ctx, ex)
        if body is not None:
            page_order(ctx, ex, body, query.get("order"), apart)
            page_limit(ctx, ex, body, query.get("limit"), more)
    return ex, body


def _create_one(run: RunState, tag: str) -> tuple[str | None, float]:
    """A new assistant of this test (its id, if the answer was a 2xx with one) and when its answer arrived (the
    recorded time, in a replay)."""
    payload = {"model": run.config.pools.models[0], "name": f"conformance list {tag}"}
    ex = run.open().create(payload)
    body = judge_created(run, ex, payload, None)
    return (str(body["id"]) if body is not None else None), ex.ended


def _create(run: RunState, tag: str, count: int) -> list[str]:
    """``count`` new assistants of this test (a 2xx with an id), in order of creation."""
    made = (_create_one(run, f"{tag} {index}")[0] for index in range(count))
    return [assistant_id for assistant_id in made if assistant_id is not None]


def _refusals(run: RunState, examples: list[Any]) -> list[Chain]:
    """What ``test_list_refused`` sends, for ``--concurrency``: each example as a query of its own (refused,
    it reads nothing; the creates beside it in the run's order are refused probes too)."""
    return [(Step("list", query=example),) for example in examples]


@pytest.mark.phase(2, 6)
@pytest.mark.probes("reject", "reject-4xx", operation="list")
@pytest.mark.ahead(chains=_refusals)
def test_list_refused(conformance: RunState, probe: Probe) -> None:
    """A query parameter that breaks its constraint: refused with 400 and the error envelope."""
    api = conformance.open()
    ctx = conformance.context

    def body(query: dict[str, Any]) -> None:
        with ctx.using(conformance.schemas.request_for("list")):
            judge_refusal(conformance, probe, api.list_page(query))

    run_probe(conformance, probe, body)


@pytest.mark.phase(5)
@pytest.mark.probes("accept", operation="list")
def test_list_accepted(conformance: RunState, probe: Probe) -> None:
    """Each value a query parameter may take, at its limits: 200 and a list within the limit, in order."""
    conformance.open()
    ctx = conformance.context

    def body(query: dict[str, Any]) -> None:
        with ctx.using(conformance.schemas.request_for("list")):
            ex, _ = _page(conformance, query)
            if 200 <= ex.received.status < 300:
                ctx.ok(probe.requirement, "accepted")
        raise_findings(ctx.take())

    run_probe(conformance, probe, body)


@pytest.mark.phase(3)  # with the key rule on GET and DELETE (create's key checks lead the run)
def test_list_requires_a_key(conformance: RunState) -> None:
    """GET /assistants without a valid key: 401 with the error envelope (the spec's global security)."""
    api = conformance.open()
    ctx = conformance.context

    def body(key: str | None) -> None:
        if refused_key(ctx, api.list_page({"limit": _limits(conformance)[0]}, api_key=key), "x-auth-everywhere"):
            pass
        raise_findings(ctx.take())

    check_each(conformance, (None,), body)


@pytest.mark.phase(3)
def test_pages_follow_the_cursor(conformance: RunState) -> None:
    """Three new assistants, then the list page by page (after=last_id): none twice, none left out, in order,
    while another is created and one deleted between pages; after= and before= give what lies past them."""
    api = conformance.open()
    ctx = conformance.context

    least, most, _ = _limits(conformance)

    def body(_: None) -> None:
        with ctx.using(conformance.schemas.request_for("list")):
            ours = _create(conformance, "walk", 3)
            doomed = _create(conformance, "doomed", 1)
            seen: list[str] = []
            query: dict[str, Any] = {"limit": least}
            finished, pages, last = False, 0, None
            while pages < WALK_PAGES + 20:
                # The first page starts the list, which holds the four just made: it must be cut at its limit.
                ex, page = _page(conformance, query, more=pages == 0 and len(ours) + len(doomed) > least)
                pages += 1
                if page is None:
                    break
                if last is not None:
                    has_more_told(ctx, last[0], last[1], page)
                seen += [str(item.get("id")) for item in page.get("data") or [] if isinstance(item, dict)]
                last = (ex, page)
                # The list changes under the walk: one more at its front, then one gone from the part already
                # walked (each alone shifts every position by one: a page by offset repeats, then skips).
                if pages == 2:
                    _create(conformance, "during", 1)
                if pages == 3:
                    for assistant_id in doomed:
                        api.delete(assistant_id)
                if not page.get("data"):
                    finished = page.get("has_more") is not True
                    break
                query = {"limit": least if pages < WALK_PAGES else most, "after": page.get("last_id")}
                if page.get("has_more") is not True:  # the end, it says: the page after it shows whether it is
                    ex, after = _page(conformance, query)
                    pages += 1
                    if after is not None:
                        has_more_told(ctx, last[0], last[1], after)
                        if after.get("data"):  # it was not the end: walk on from there
                            last = (ex, after)
                            seen += [str(item.get("id")) for item in after["data"] if isinstance(item, dict)]
                            query = {"limit": most, "after": after.get("last_id")}
                            continue
                    finished = True
                    break
            if last is not None:
                pages_complete(ctx, last[0], seen, ours, finished)
            if len(ours) == 3 and all(i in seen for i in ours):
                # In the list's own order (created in one second, their order is the server's to choose).
                first, middle, end = sorted(ours, key=seen.index)
                ex, page = _page(conformance, {"after": first, "limit": most})
                if page is not None:
                    cursor_respected(ctx, ex, page, first, "after", [middle, end], [first])
                ex, page = _page(conformance, {"before": end, "limit": most})
                if page is not None:
                    cursor_respected(ctx, ex, page, end, "before", [first, middle], [end])
        raise_findings(ctx.take())

    check_each(conformance, (None,), body)


@pytest.mark.phase(6)  # when the run has created many (the read-back of phase 7 stays last)
def test_default_page(conformance: RunState) -> None:
    """Without limit and order: 20 objects when more exist, newest first; with order, sorted as asked. Judged on
    pages the suite makes hold the evidence: more than 20 assistants, two of them created a second apart."""
    conformance.open()
    ctx = conformance.context

    _, most, default = _limits(conformance)
    newest_first, oldest_first = _orders(conformance)

    def body(_: None) -> None:
        with ctx.using(conformance.schemas.request_for("list")):
            _, counted = _page(conformance, {"limit": default + 1})  # are there more than a default page holds?
            have = len(counted.get("data") or []) if counted is not None else None
            made = _create(conformance, "default", default + 1 - have) if have is not None else []
            more = have is not None and have + len(made) > default
            # Two assistants a second apart, whatever the run's speed and the server's clock offset: the newer is
            # sent a second after the older's answer arrived, so a server whose clock runs forward stamps it a
            # later second (a replay has its recorded times: no wait). The same requests on every run.
            anchor = _create(conformance, "anchor", 1)
            older, answered = _create_one(conformance, "older")
            time.sleep(max(0.0, answered + 1.05 - time.time()))
            newer = _create_one(conformance, "newer")[0]
            apart = (older, newer) if older is not None and newer is not None else None
            _page(conformance, {}, more=more, apart=apart)  # the newest default page: the two among them
            _page(conformance, {"limit": most}, apart=apart)
            _page(conformance, {"order": newest_first, "limit": most}, apart=apart)
            _page(conformance, {"order": oldest_first, "limit": most}, apart=apart)  # the two on it if it holds all
            for assistant_id in anchor:  # oldest first from the one made just before the two: they lead the page
                _page(conformance, {"order": oldest_first, "after": assistant_id}, apart=apart)
        raise_findings(ctx.take())

    check_each(conformance, (None,), body)

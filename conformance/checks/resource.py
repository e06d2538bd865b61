"""Checks of the rest of the resource: a list page (shape, order, cursors, limits) and a modify (what is sent
replaces, what is not sent stays). Each is judged the way ``core``'s checks are: a pass or a finding per
requirement, the requirement read from the schemas."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from conformance.checks.core import (
    LABEL,
    Context,
    _body,
    _req,
    _shape_failures,
    _show,
    _status_line,
    check,
    json_content_type,
    same,
)
from conformance.contract.schemas import Node, operation
from conformance.transport.client import Exchange

__all__ = ["cursor_respected", "has_more_told", "kept", "list_shape", "page_limit", "page_order", "pages_complete",
           "refused_modify_kept", "replaced", "unknown_id_refused"]

LIST_ANSWER = operation("list").answer
LIST_QUERY = str(operation("list").query)


def _answer(ctx: Context) -> Node:
    return ctx.schemas.resolved(LIST_ANSWER)


def _query(ctx: Context) -> Node:
    return ctx.schemas.resolved(LIST_QUERY)


@check("type", "required", "const", "x-first-last", severity="normal")
def list_shape(ctx: Context, ex: Exchange) -> dict[str, Any] | None:
    """The answer to a list request is the documented list object, first_id and last_id naming its ends."""
    json_content_type(ctx, ex)
    schema = _answer(ctx)
    body = _body(ctx, ex, _req(schema, "type"), "list_shape")
    if body is None:
        return None
    broken = _shape_failures(schema, body, ctx.schemas.validator(LIST_ANSWER).iter_errors(body))
    for rid, message in broken.items():
        ctx.fail(rid, "list_shape", ex, "The answer is not the documented list object",
                 "the list object of the spec (object, data, first_id, last_id, has_more)", message)
    ids = {_req(node, kw) for node in schema.get("properties", {}).values()
           for kw in node.get("x-req", {}) if not kw.startswith("x-")} | {_req(schema, "type")}
    for rid in sorted(ids - set(broken)):
        ctx.ok(rid, "list_shape")
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    data = [item for item in body["data"] if isinstance(item, dict)]
    ends = _req(schema, "x-first-last")
    if data and len(data) == len(body["data"]):
        want = (data[0].get("id"), data[-1].get("id"))
        got = (body.get("first_id"), body.get("last_id"))
        if got != want:
            ctx.fail(ends, "list_shape", ex, "first_id and last_id do not name the page's first and last objects",
                     f"first_id {want[0]!r}, last_id {want[1]!r}", f"first_id {got[0]!r}, last_id {got[1]!r}")
        else:
            ctx.ok(ends, "list_shape")
    return body


@check("minimum", "maximum", "default", severity="normal")
def page_limit(ctx: Context, ex: Exchange, body: dict[str, Any], limit: int | None, more: bool = False) -> None:
    """A page holds at most ``limit`` objects (20 when limit is not sent), and exactly that many when more follow.

    A pass is recorded only on a page cut at its limit: exactly ``limit`` objects where the caller knows that more
    than that exist from where the page starts (``more``: the suite made them). A shorter page, with has_more
    false, shows nothing about the limit being applied, so it records nothing; a page that holds more than its
    limit, or fewer while it says has_more, fails whoever made its objects. The suite makes sure of ``more`` for
    the smallest limit and the default (a second page's worth exists), never for the largest (it would take
    more than 100 assistants): LIST-LIMIT-MAX is judged by its probes alone, at and just past 100."""
    node = _query(ctx)["properties"]["limit"]
    size = limit if limit is not None else int(node["default"])
    keyword = {None: "default", node["minimum"]: "minimum", node["maximum"]: "maximum"}.get(limit)
    if keyword is None:
        return  # a limit between: no requirement of its own
    rid = _req(node, keyword)
    data = body.get("data")
    if not isinstance(data, list):
        return
    if len(data) > size or (body.get("has_more") is True and len(data) < size):
        ctx.fail(rid, "page_limit", ex, f"A page of limit {size} holds {len(data)} objects",
                 f"at most {size}, and {size} when has_more is true", f"{len(data)} objects, has_more {body.get('has_more')!r}")
    elif more and len(data) == size:
        ctx.ok(rid, "page_limit")


@check("x-order", "default", severity="normal")
def page_order(ctx: Context, ex: Exchange, body: dict[str, Any], order: str | None,
               apart: tuple[str, str] | None = None) -> None:
    """The page is sorted by created_at in the order asked (desc when order is not sent).

    Two objects created in the same second may come in any order, so a page shows the order only where its
    created_at differ. Any page sorted against the order asked fails; a pass is recorded only on a page that
    holds ``apart``, two objects the suite created a second apart (the second sent a second after the first's
    answer arrived: any server whose clock runs forward stamps it a later second), with their created_at
    differing. The suite asks for such pages with the same requests on every run, so the passes counted do not
    depend on how fast the run went; the other pages (every page of a run that created all within one second)
    can only fail."""
    query = _query(ctx)
    node = query["properties"]["order"]
    rid = _req(query, "x-order") if order is not None else _req(node, "default")
    direction = order or str(node["default"])
    items = [item for item in body.get("data") or [] if isinstance(item, dict)]
    raw = [item.get("created_at") for item in items]
    stamps = [float(s) for s in raw if isinstance(s, (int, float)) and not isinstance(s, bool)]
    if len(stamps) != len(raw):
        return  # a created_at that is no number: RESP-CREATED-AT says so
    pairs = list(itertools.pairwise(stamps))
    wrong = [(a, b) for a, b in pairs if (a > b if direction == "asc" else a < b)]
    if wrong:
        ctx.fail(rid, "page_order", ex, f"The page is not sorted by created_at, {direction}",
                 f"created_at {'ascending' if direction == 'asc' else 'descending'}", f"... {wrong[0][0]}, {wrong[0][1]} ...")
        return
    stamp_of = {item.get("id"): stamp for item, stamp in zip(items, stamps, strict=True)}
    if apart is not None and all(i in stamp_of for i in apart) and stamp_of[apart[0]] != stamp_of[apart[1]]:
        ctx.ok(rid, "page_order")


@check("x-no-repeat", severity="critical")
def pages_complete(ctx: Context, ex: Exchange, seen: list[str], expected: list[str], finished: bool) -> None:
    """Following after=last_id page by page shows no object twice and leaves out none that existed throughout.

    An object seen twice fails at once; a pass, and an object left out, need a finished walk (one that reached
    the list's end): a walk cut short, by a page that was no list or by the suite's cap on pages, shows neither."""
    rid = _req(_query(ctx), "x-no-repeat")
    repeated = sorted({i for i in seen if seen.count(i) > 1})
    missing = [i for i in expected if i not in seen] if finished else []
    if repeated:
        ctx.fail(rid, "pages_complete", ex, "Paging through the list showed an object twice",
                 "each object once", f"{repeated[0]!r} on two pages")
    elif missing:
        ctx.fail(rid, "pages_complete", ex, "Paging through the list skipped an object that existed throughout",
                 f"{missing[0]!r} on some page", f"{len(seen)} objects seen, not that one")
    elif finished:
        ctx.ok(rid, "pages_complete")


@check("x-has-more", severity="normal")
def has_more_told(ctx: Context, ex: Exchange, body: dict[str, Any], next_page: dict[str, Any] | None) -> None:
    """has_more is true exactly when objects follow the page (the next page, after=last_id, is not empty)."""
    rid = _req(_answer(ctx), "x-has-more")
    if next_page is None or not isinstance(next_page.get("data"), list):
        return
    more, follows = body.get("has_more"), bool(next_page["data"])
    if more is not follows:
        ctx.fail(rid, "has_more_told", ex, "has_more does not say whether objects follow",
                 f"has_more {str(follows).lower()} ({len(next_page['data'])} objects follow)", f"has_more {more!r}")
    else:
        ctx.ok(rid, "has_more_told")


@check("x-cursor", severity="normal")
def cursor_respected(ctx: Context, ex: Exchange, body: dict[str, Any], cursor: str, name: str,
                     must_include: list[str], must_exclude: list[str]) -> None:
    """A page asked with after= (before=) holds only objects after (before) the cursor in the list's order."""
    rid = _req(_query(ctx)["properties"][name], "x-cursor")
    ids = [item.get("id") for item in body.get("data") or [] if isinstance(item, dict)]
    wrong = [i for i in must_exclude if i in ids]
    lacking = [i for i in must_include if i not in ids]
    if wrong or lacking:
        ctx.fail(rid, "cursor_respected", ex, f"The page asked with {name}={cursor} does not follow the cursor",
                 f"{'objects ' + name + ' it, e.g. ' + repr(lacking[0]) if lacking else 'not ' + repr(wrong[0])}",
                 f"ids {_show(ids, 200)}")
    else:
        ctx.ok(rid, "cursor_respected")


def _changed(ctx: Context, before: dict[str, Any], after: dict[str, Any], skip: Iterable[str] = ()) -> str | None:
    """The first documented field of ``before`` (outside ``skip``) that ``after`` holds otherwise; a field absent
    from ``after`` reads as null, as in ``core.echoed``."""
    left_out = set(skip)
    for name in ctx.schemas.object_schema["properties"]:
        if name in before and name not in left_out and not same(before[name], after.get(name)):
            return str(name)
    return None


@check("x-replaces", "x-retrievable", severity="normal")
def replaced(ctx: Context, ex: Exchange, modified: dict[str, Any], retrieved: Exchange) -> None:
    """After a modify, GET returns the object as the modify answered it (what was sent replaced the old)."""
    rid = ctx.rid("x-replaces")
    retrievable = _req(ctx.schemas.object_schema, "x-retrievable")
    got = retrieved.received.json_or_none() if retrieved.received.status == 200 else None
    if not isinstance(got, dict):
        ctx.fail(retrievable, "replaced", retrieved, f"The modified {LABEL} cannot be retrieved by its id",
                 "200 and the object", _status_line(retrieved))
        return
    ctx.ok(retrievable, "replaced")
    name = _changed(ctx, modified, got)
    if name is not None:
        ctx.fail(rid, "replaced", retrieved, f"GET after a modify shows another {name!r} than the modify answered",
                 f"{name}: {_show(modified[name])}", f"{name}: {_show(got.get(name, '(absent)'))}")
        return
    ctx.ok(rid, "replaced")


@check("x-keeps", severity="normal")
def kept(ctx: Context, ex: Exchange, before: dict[str, Any], sent: dict[str, Any], after: dict[str, Any]) -> None:
    """A modify leaves every field it did not send as it was (id and created_at included)."""
    rid = ctx.rid("x-keeps")
    name = _changed(ctx, before, after, skip=sent)
    if name is not None:
        ctx.fail(rid, "kept", ex, f"A modify that did not send {name!r} changed it",
                 f"{name}: {_show(before[name])}", f"{name}: {_show(after.get(name, '(absent)'))}")
        return
    ctx.ok(rid, "kept")


@check("x-refused-no-effect", severity="critical")
def refused_modify_kept(ctx: Context, ex: Exchange, before: dict[str, Any], retrieved: Exchange) -> None:
    """A refused modify changes nothing: GET shows the object as it was."""
    rid = ctx.rid("x-refused-no-effect")
    got = retrieved.received.json_or_none() if retrieved.received.status == 200 else None
    if not isinstance(got, dict):
        return  # not retrievable: RESP-ID-RETRIEVABLE says so elsewhere; nothing shown here either way
    name = _changed(ctx, before, got)
    if name is not None:
        ctx.fail(rid, "refused_modify_kept", retrieved, f"A refused modify changed {name!r}",
                 f"{name}: {_show(before[name])}", f"{name}: {_show(got.get(name, '(absent)'))}")
        return
    ctx.ok(rid, "refused_modify_kept")


@check("x-unknown-id", severity="normal")
def unknown_id_refused(ctx: Context, ex: Exchange) -> None:
    """A modify of an id that does not exist is refused with a 4xx."""
    rid = ctx.rid("x-unknown-id")
    if 400 <= ex.received.status < 500:
        ctx.ok(rid, "unknown_id_refused")
    else:
        ctx.fail(rid, "unknown_id_refused", ex, "A modify of an id that does not exist was not refused",
                 "a 4xx status (the spec's error object)", _status_line(ex))

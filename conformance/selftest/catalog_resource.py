"""Broken servers of the rest of the resource: modify and list, each the reference with one honest mistake
(a modify that forgets, resets or half-applies; a list that pages by timestamp, ignores a parameter, or
mislabels its ends), and conforming variants that page or order ties their own way."""

from __future__ import annotations

import copy
import json
from typing import Any

from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conformance.contract.schemas import PatternValidator
from conformance.selftest.reference import LIST_QUERY, MODIFY, ReferenceServer
from conformance.selftest.registry import defect, variant

# --- modify --------------------------------------------------------------------------------------------


@defect("modify-changes-nothing", "MODIFY-ECHO-NAME", "MODIFY-ECHO-DESCRIPTION", "MODIFY-ECHO-INSTRUCTIONS",
        "MODIFY-ECHO-MODEL", "MODIFY-ECHO-METADATA", "MODIFY-ECHO-TOOLS", "MODIFY-ECHO-TEMPERATURE", endpoint="modify")
class _ModifyNoop(ReferenceServer):
    """Answers 200 with the assistant as it was: the handler validates, then forgets to apply."""

    def apply(self, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return dict(obj)


@defect("modify-answers-but-forgets", "MODIFY-REPLACES", endpoint="modify")
class _ModifyNotStored(ReferenceServer):
    """Answers the modified assistant but keeps the old one: the update is built on a copy never saved."""

    async def modify(self, request: Request) -> Response:
        assistant_id = request.path_params["assistant_id"]
        old = copy.deepcopy(self.store.get(assistant_id))
        response = await super().modify(request)
        if old is not None and response.status_code == 200:
            self.store[assistant_id] = old
        return response


@defect("modify-resets-unsent", "MODIFY-KEEPS", endpoint="modify")
class _ModifyResets(ReferenceServer):
    """Rebuilds the assistant from the modify body alone: fields not sent fall back to their defaults."""

    def apply(self, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        fresh = self.build({"model": obj["model"], **body})
        return {**fresh, "id": obj["id"], "created_at": obj["created_at"]}


@defect("modify-new-created-at", "MODIFY-KEEPS", endpoint="modify")
class _ModifyTouches(ReferenceServer):
    """Stamps created_at anew on every modify (an updated_at mistaken for it)."""

    def apply(self, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return {**super().apply(obj, body), "created_at": obj["created_at"] + 7}


@defect("modify-metadata-merged", "MODIFY-ECHO-METADATA", endpoint="modify")
class _ModifyMerges(ReferenceServer):
    """Merges the metadata sent into the stored one, where it replaces it."""

    def apply(self, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        out = super().apply(obj, body)
        if isinstance(body.get("metadata"), dict) and isinstance(obj.get("metadata"), dict):
            out["metadata"] = {**obj["metadata"], **body["metadata"]}
        return out


@defect("modify-name-unlimited", "MODIFY-REQ-NAME-MAXLEN", endpoint="modify")
class _ModifyNoNameLimit(ReferenceServer):
    """Validates modify with a schema whose name has no maxLength (create's limits copied by hand, one missed)."""

    def modify_validator(self) -> Draft202012Validator:
        if not hasattr(self, "_lax"):
            raw = copy.deepcopy(self.schemas.raw[MODIFY])
            raw["properties"]["name"] = {"type": ["string", "null"]}
            self._lax = PatternValidator(raw, registry=self.schemas.registry)
        return self._lax


@defect("modify-applies-before-validating", "MODIFY-REFUSED-NO-EFFECT", endpoint="modify")
class _ModifyHalfApplies(ReferenceServer):
    """Applies the fields it can before it validates the rest: a refused modify has changed the assistant."""

    async def modify(self, request: Request) -> Response:
        assistant_id = request.path_params["assistant_id"]
        obj = self.store.get(assistant_id)
        if obj is not None and self.authorized(request) is None:
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("description"), str):
                obj["description"] = body["description"]
        return await super().modify(request)


@defect("modify-unknown-id-creates", "MODIFY-UNKNOWN-ID", endpoint="modify")
class _ModifyUpserts(ReferenceServer):
    """A modify of an id it does not know creates the assistant (an upsert)."""

    async def modify(self, request: Request) -> Response:
        assistant_id = request.path_params["assistant_id"]
        if assistant_id not in self.store and self.authorized(request) is None:
            obj = self.build({"model": sorted(self.models)[0]})
            obj["id"] = assistant_id
            self.store[assistant_id] = obj
            self.places[assistant_id] = (obj["created_at"], len(self.places))
        return await super().modify(request)


@defect("modify-unknown-id-crashes", "MODIFY-UNKNOWN-ID", "HTTP-NO-5XX", endpoint="modify")
class _ModifyCrashes(ReferenceServer):
    """Looks the id up with store[id]: an unknown id is a KeyError, a 500."""

    async def modify(self, request: Request) -> Response:
        if request.path_params["assistant_id"] not in self.store and self.authorized(request) is None:
            return self.error(500, "The server had an error while processing your request.")
        return await super().modify(request)


@defect("modify-without-key", "AUTH-EVERY-ENDPOINT", endpoint="modify")
class _ModifyOpen(ReferenceServer):
    """Checks the key on create only: modify is open to anyone."""

    def authorized(self, request: Request) -> Response | None:
        if request.method == "POST" and request.url.path.rstrip("/").endswith("/assistants"):
            return super().authorized(request)
        if request.method == "POST":
            return None
        return super().authorized(request)


# --- list ----------------------------------------------------------------------------------------------


class _Listing(ReferenceServer):
    """The list with one piece of it done another way: ``differently`` gets the ids in order and the query, and
    answers the page and whether more follow, or None for the reference's way."""

    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        return None

    def page(self, ids: list[str], query: dict[str, Any], limit: int, order: str) -> tuple[list[str], bool] | Response:
        done = self.differently(ids, query, limit, order)
        return super().page(ids, query, limit, order) if done is None else done


@defect("list-after-by-timestamp", "LIST-NO-REPEAT-SKIP", endpoint="list")
class _AfterByTime(_Listing):
    """after= keeps what is strictly older (newer, asc) than the cursor's created_at: the cursor's own second is
    skipped, and several assistants are created in one second."""

    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        cursor = query.get("after")
        if cursor is None or cursor not in self.places or "before" in query:
            return None
        mark = self.places[cursor][0]
        rest = [i for i in ids if (self.places[i][0] > mark if order == "asc" else self.places[i][0] < mark)]
        return rest[:limit], len(rest) > limit


@defect("list-after-by-offset", "LIST-NO-REPEAT-SKIP", endpoint="list")
class _AfterByOffset(_Listing):
    """Pages by position: after= is read as 'the page after the one that ended at this id', remembered as an
    offset when that page was served, so what is created or deleted meanwhile shifts the pages."""

    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        offsets: dict[str, int] = self.__dict__.setdefault("_offsets", {})
        cursor = query.get("after")
        if "before" in query:
            return None
        start = offsets.get(str(cursor), 0) if cursor is not None else 0
        page = ids[start:start + limit]
        if page:
            offsets[page[-1]] = start + len(page)
        return page, len(ids) > start + limit


@defect("list-ignores-limit", "LIST-LIMIT-MIN", endpoint="list")
class _NoLimit(_Listing):
    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        if "after" in query or "before" in query:
            return None
        most = self.schemas.resolved(LIST_QUERY)["properties"]["limit"]["maximum"]  # the limit sent is ignored
        return ids[:most], len(ids) > most


@defect("list-default-limit-10", "LIST-LIMIT-DEFAULT", endpoint="list")
class _TenByDefault(_Listing):
    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        if "limit" in query or "after" in query or "before" in query:
            return None
        half = self.schemas.resolved(LIST_QUERY)["properties"]["limit"]["default"] // 2  # the default, halved
        return ids[:half], len(ids) > half


@defect("list-default-order-asc", "LIST-ORDER-DEFAULT", endpoint="list")
class _AscByDefault(_Listing):
    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        if "order" in query or "after" in query or "before" in query:
            return None
        ascending = self.ordered("asc")
        return ascending[:limit], len(ascending) > limit


@defect("list-has-more-always-false", "LIST-HAS-MORE-TRUE", endpoint="list")
class _NeverMore(_Listing):
    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        if "after" in query or "before" in query:
            return None
        return ids[:limit], False


@defect("list-ends-swapped", "LIST-FIRST-LAST-ID", endpoint="list")
class _EndsSwapped(ReferenceServer):
    async def list_all(self, request: Request) -> Response:
        response = await super().list_all(request)
        if response.status_code == 200:
            body = json.loads(bytes(response.body))
            body["first_id"], body["last_id"] = body["last_id"], body["first_id"]
            return JSONResponse(body)
        return response


@defect("list-object-assistants", "LIST-OBJECT", endpoint="list")
class _ListObject(ReferenceServer):
    async def list_all(self, request: Request) -> Response:
        response = await super().list_all(request)
        if response.status_code == 200:
            return JSONResponse({**json.loads(bytes(response.body)), "object": "assistants"})
        return response


class _CursorIgnored(_Listing):
    """Answers one cursor given alone (``ignored``) with the list's first page; the other it honours."""

    ignored, other = "before", "after"

    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        if self.ignored not in query or self.other in query:
            return None
        return ids[:limit], len(ids) > limit


@defect("list-before-ignored", "LIST-BEFORE", endpoint="list")
class _NoBefore(_CursorIgnored):
    """before= alone answered with the first page."""


@defect("list-after-ignored", "LIST-AFTER", endpoint="list")
class _NoAfter(_CursorIgnored):
    """after= alone answered with the first page (before= it honours): a walk page by page goes nowhere."""

    ignored, other = "after", "before"


@defect("list-order-asc-ignored", "LIST-ORDER", endpoint="list")
class _AlwaysNewestFirst(ReferenceServer):
    """Validates order, then never reads it: every page, its cursors included, is newest first."""

    def list_query(self, request: Request) -> dict[str, Any] | Response:
        query = super().list_query(request)
        if isinstance(query, dict):
            query.pop("order", None)
        return query


class _LaxQuery(ReferenceServer):
    """Reads the query by hand instead of through the schema, each subclass with its own slip."""

    low_shift = high_shift = 0  # how far the range of limit it accepts is off the schema's
    any_case = False  # order compared without case
    text_status = 400  # what a limit that is no integer gets

    def list_query(self, request: Request) -> dict[str, Any] | Response:
        props = self.schemas.resolved(LIST_QUERY)["properties"]
        lowest = props["limit"]["minimum"] + self.low_shift
        highest = props["limit"]["maximum"] + self.high_shift
        query: dict[str, Any] = dict(request.query_params)
        if "limit" in query:
            try:
                query["limit"] = int(query["limit"])
            except ValueError:
                return self.error(self.text_status, "limit must be an integer", param="limit")
            if not lowest <= query["limit"] <= highest:
                return self.error(400, f"limit must be between {lowest} and {highest}", param="limit")
        order = str(query.get("order", props["order"]["default"]))
        order = order.lower() if self.any_case else order
        if order not in props["order"]["enum"]:
            return self.error(400, f"order must be one of {props['order']['enum']}", param="order")
        query["order"] = order
        return query


@defect("list-limit-101-accepted", "LIST-LIMIT-MAX", endpoint="list")
class _Limit101(_LaxQuery):
    high_shift = 1


@defect("list-limit-0-accepted", "LIST-LIMIT-MIN", endpoint="list")
class _Limit0(_LaxQuery):
    low_shift = -1


@defect("list-order-any-case", "LIST-ORDER-ENUM", endpoint="list")
class _OrderCase(_LaxQuery):
    any_case = True


@defect("list-limit-text-crashes", "LIST-LIMIT-TYPE", "HTTP-NO-5XX", endpoint="list")
class _LimitCrash(_LaxQuery):
    text_status = 500


@defect("list-without-key", "AUTH-EVERY-ENDPOINT", endpoint="list")
class _ListOpen(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        if request.method == "GET" and request.url.path.rstrip("/").endswith("/assistants"):
            return None
        return super().authorized(request)


# --- conforming variants ---------------------------------------------------------------------------------


@variant("list-ties-by-id")
class _TiesById(ReferenceServer):
    """Orders assistants of one second by id rather than by creation: the spec sorts by created_at only."""

    def ordered(self, order: str) -> list[str]:
        ids = sorted(self.store, key=lambda i: (self.places[i][0], i))
        return ids if order == "asc" else ids[::-1]

    async def list_all(self, request: Request) -> Response:
        # Cursors follow the same order: a place is (created_at, id).
        saved = self.places
        self.places = {i: (place[0], i) for i, place in saved.items()}
        try:
            return await super().list_all(request)
        finally:
            self.places = saved


@variant("list-before-farthest-page")
class _BeforeFarthest(_Listing):
    """before= answers the page that starts the list's part before the cursor (the other reading of 'before')."""

    def differently(self, ids: list[str], query: dict[str, Any], limit: int,
                    order: str) -> tuple[list[str], bool] | None:
        cursor = query.get("before")
        if cursor is None or "after" in query or cursor not in self.places:
            return None
        mark = self.places[cursor]
        rest = [i for i in ids if (self.places[i] < mark if order == "asc" else self.places[i] > mark)]
        return rest[:limit], len(rest) > limit


@variant("modify-answers-extra-fields")
class _ModifyExtra(ReferenceServer):
    """Adds fields of its own to a modify's answer (an updated_at); extra fields are allowed."""

    async def modify(self, request: Request) -> Response:
        response = await super().modify(request)
        if response.status_code == 200:
            return JSONResponse({**json.loads(bytes(response.body)), "updated_at": self.now()})
        return response

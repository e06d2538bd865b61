"""The self-test catalog: servers with one deliberate defect each, and conforming variants that differ
from the reference in harmless ways. The suite must flag every defect, naming the requirement, and pass
every variant. Each entry is the reference server with one piece changed, the kind of honest mistake a
server author makes: a limit off by one, a lax type, a field not echoed, a wrong status, a crash.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.contract.schemas import load_schemas
from conformance.selftest.reference import ReferenceServer, error
from conformance.selftest.registry import (
    _DELETE,
    DEFECTS,
    EVERY,
    EXPECTED,
    EXPECTED_EXIT,
    VARIANTS,
    Factory,
    _Patched,
    _set,
    _shift,
    defect,
    variant,
)

__all__ = ["DEFECTS", "EVERY", "EXPECTED", "EXPECTED_EXIT", "VARIANTS"]

def _schema(name: str, patch: Callable[[dict[str, Any]], None], *requirements: str) -> None:
    cls = type(f"Patched_{name}", (_Patched,), {"patch": staticmethod(patch)})
    DEFECTS[name] = cls
    EXPECTED[name] = set(requirements)


def _props(s: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = s["properties"]
    return props


P = ["properties"]
FN_NAME = ["$defs", "function_tool", "properties", "function", "properties", "name"]
FS = [*P, "tool_resources", "properties", "file_search"]

_schema("name-max-257", _shift([*P, "name"], "maxLength", +1), "REQ-NAME-MAXLEN")
_schema("name-max-255", _shift([*P, "name"], "maxLength", -1), "REQ-NAME-MAXLEN")
_schema("description-max-513", _shift([*P, "description"], "maxLength", +1), "REQ-DESCRIPTION-MAXLEN")
_schema("instructions-max-unchecked", _set([*P, "instructions"], "maxLength", _DELETE), "REQ-INSTRUCTIONS-MAXLEN")
_schema("tools-max-129", _shift([*P, "tools"], "maxItems", +1), "REQ-TOOLS-MAXITEMS")
_schema("tools-max-127", _shift([*P, "tools"], "maxItems", -1), "REQ-TOOLS-MAXITEMS")
_schema("metadata-17-pairs", _shift(["$defs", "metadata"], "maxProperties", +1), "REQ-METADATA-MAXPAIRS")
_schema("metadata-key-65", _shift(["$defs", "metadata", "propertyNames"], "maxLength", +1), "REQ-METADATA-KEY-MAXLEN")
_schema("metadata-value-any-type", _set(["$defs", "metadata", "additionalProperties"], "type", _DELETE),
        "REQ-METADATA-VALUE-TYPE")
_schema("metadata-value-513", _shift(["$defs", "metadata", "additionalProperties"], "maxLength", +1),
        "REQ-METADATA-VALUE-MAXLEN")
_schema("temperature-max-exclusive", _set([*P, "temperature"], "maximum", 1.999999), "REQ-TEMPERATURE-MAX")
_schema("temperature-max-2.5", _set([*P, "temperature"], "maximum", 2.5), "REQ-TEMPERATURE-MAX")
_schema("temperature-min-unchecked", _set([*P, "temperature"], "minimum", _DELETE), "REQ-TEMPERATURE-MIN")
_schema("top-p-max-2", _set([*P, "top_p"], "maximum", 2), "REQ-TOP-P-MAX")
_schema("top-p-min-exclusive", _set([*P, "top_p"], "minimum", 1e-9), "REQ-TOP-P-MIN")
class _ModelOptional(_Patched):
    """Makes model optional, defaulting to a documented model."""

    @staticmethod
    def patch(s: dict[str, Any]) -> None:
        s["required"] = []

    def validate(self, body: Any) -> Response | None:
        if isinstance(body, dict) and "model" not in body:
            body["model"] = "gpt-4o"
        return super().validate(body)


class _ModelAnyType(_Patched):
    """Takes any JSON value for model and uses its text."""

    @staticmethod
    def patch(s: dict[str, Any]) -> None:
        s["properties"]["model"].pop("type")

    def validate(self, body: Any) -> Response | None:
        if isinstance(body, dict) and "model" in body and not isinstance(body["model"], str):
            body["model"] = json.dumps(body["model"])
            self.models = self.models | {body["model"]}
        return super().validate(body)


DEFECTS["model-optional"] = _ModelOptional
EXPECTED["model-optional"] = {"REQ-MODEL-REQUIRED"}
DEFECTS["model-any-type"] = _ModelAnyType
EXPECTED["model-any-type"] = {"REQ-MODEL-TYPE"}
_schema("unknown-fields-accepted", _set([], "additionalProperties", True), "REQ-UNKNOWN-FIELD")
_schema("function-name-any-chars", _set(FN_NAME, "pattern", _DELETE), "REQ-FUNCTION-NAME-PATTERN")
_schema("function-name-max-unchecked", _set(FN_NAME, "maxLength", _DELETE), "REQ-FUNCTION-NAME-MAXLEN")
_schema("function-tool-without-function", _set(["$defs", "function_tool"], "required", ["type"]),
        "REQ-FUNCTION-TOOL-FUNCTION")
_schema("file-search-both-accepted", lambda s: _props(s)["tool_resources"]["properties"]["file_search"].update(
    anyOf=_props(s)["tool_resources"]["properties"]["file_search"].pop("oneOf")), "REQ-FILE-SEARCH-ONEOF")
_schema("file-search-neither-accepted", _set(FS, "oneOf", _DELETE), "REQ-FILE-SEARCH-ONEOF")
_schema("code-interpreter-21-files",
        _shift([*P, "tool_resources", "properties", "code_interpreter", "properties", "file_ids"], "maxItems", +1),
        "REQ-CI-FILE-IDS-MAXITEMS")
_schema("vector-store-ids-2", _shift([*FS, "properties", "vector_store_ids"], "maxItems", +1),
        "REQ-VECTOR-STORE-IDS-MAXITEMS")
_schema("vector-store-files-10001",
        _shift([*FS, "properties", "vector_stores", "items", "properties", "file_ids"], "maxItems", +1),
        "REQ-VECTOR-STORE-FILE-IDS-MAXITEMS")
_schema("response-format-any-string",
        lambda s: _props(s)["response_format"]["oneOf"][0].pop("enum"), "REQ-RESPONSE-FORMAT-ONEOF")
_schema("response-format-no-none",
        lambda s: _props(s)["response_format"]["oneOf"][0].update(enum=["auto"]), "REQ-RESPONSE-FORMAT-ONEOF")
_schema("response-format-type-any",
        lambda s: _props(s)["response_format"]["oneOf"][1]["properties"]["type"].pop("enum"),
        "REQ-RESPONSE-FORMAT-TYPE-ENUM")
_schema("name-not-nullable", _set([*P, "name"], "type", "string"), "REQ-NAME-TYPE")
_schema("metadata-not-nullable", _set(["$defs", "metadata"], "type", "object"), "REQ-METADATA-TYPE")
_schema("tool-resources-not-nullable", _set([*P, "tool_resources"], "type", "object"), "REQ-TOOL-RESOURCES-TYPE")
_schema("tool-type-case-insensitive", lambda s: s["$defs"]["tool"]["oneOf"].append(
    {"type": "object", "properties": {"type": {"enum": ["CODE_INTERPRETER", "FILE_SEARCH", "FUNCTION"]}}}),
    "REQ-TOOL-KIND")
_schema("tools-any-object", lambda s: _props(s)["tools"].update(items={"type": "object"}), "REQ-TOOL-KIND")


# --- lax parsing and counting: code a server author writes by hand ---------------------------------


def _walk_values(value: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _walk_values(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_values(v, fn) for v in value]
    return fn(value)


class _Coercing(ReferenceServer):
    """Coerces values before validating, as a lax model layer does."""

    coerce: Callable[[Any], Any] = staticmethod(lambda v: v)

    def validate(self, body: Any) -> Response | None:
        if isinstance(body, dict):
            body.update({k: type(self).coerce(v) for k, v in body.items() if k in ("temperature", "top_p")})
        return super().validate(body)


@defect("temperature-accepts-booleans", "REQ-TEMPERATURE-TYPE", "REQ-TOP-P-TYPE")
class _Bools(_Coercing):
    coerce = staticmethod(lambda v: int(v) if isinstance(v, bool) else v)


@defect("temperature-accepts-numeric-strings", "REQ-TEMPERATURE-TYPE", "REQ-TOP-P-TYPE")
class _NumStrings(_Coercing):
    @staticmethod
    def coerce(v: Any) -> Any:
        try:
            return float(v) if isinstance(v, str) else v
        except ValueError:
            return v


@defect("nan-accepted", "REQ-TEMPERATURE-TYPE", "REQ-TOP-P-TYPE", "HTTP-NO-5XX")
class _NaN(ReferenceServer):
    def parse(self, raw: bytes) -> Any:
        return json.loads(raw.decode("utf-8"))

    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(obj, allow_nan=True), status, media_type="application/json")


class _Counting(ReferenceServer):
    """Counts string length its own (wrong) way for one field, after schema validation passes."""

    field_name = "instructions"

    @staticmethod
    def length(text: str) -> int:
        return len(text)

    @property
    def limit(self) -> int:
        """The field's maxLength, as the schema states it."""
        return int(self.schemas.request["properties"][self.field_name]["maxLength"])

    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        value = body.get(self.field_name) if problem is None else None
        if isinstance(value, str) and type(self).length(value) > self.limit:
            return self.error(400, f"{self.field_name} is too long", param=self.field_name)
        return problem


@defect("instructions-counts-utf16", "REQ-INSTRUCTIONS-MAXLEN")
class _Utf16(_Counting):
    @staticmethod
    def length(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2


@defect("name-counts-bytes", "REQ-NAME-MAXLEN")
class _Bytes(_Counting):
    field_name = "name"

    @staticmethod
    def length(text: str) -> int:
        return len(text.encode("utf-8"))


@defect("metadata-key-counts-utf16", "REQ-METADATA-KEY-MAXLEN")
class _KeyUtf16(ReferenceServer):
    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        meta = body.get("metadata") if problem is None else None
        limit = self.schemas.request["properties"]["metadata"]["propertyNames"]["maxLength"]
        if isinstance(meta, dict) and any(len(k.encode("utf-16-le")) // 2 > limit for k in meta):
            return self.error(400, "metadata key too long", param="metadata")
        return problem


@defect("unknown-model-accepted", "REQ-MODEL-KNOWN")
class _AnyModel(ReferenceServer):
    def validate(self, body: Any) -> Response | None:
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            self.models = self.models | {body["model"]}
        return super().validate(body)


# --- status codes, errors, crashes -------------------------------------------------------------------


@defect("create-answers-201", "HTTP-CREATE-200")
class _Created(ReferenceServer):
    async def create(self, request: Request) -> Response:
        response = await super().create(request)
        if response.status_code == 200:
            response.status_code = 201
        return response


@defect("invalid-answers-422", "HTTP-INVALID-400")
class _Unprocessable(ReferenceServer):
    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        if problem is not None and problem.status_code == 400:
            problem.status_code = 422
        return problem


@defect("bad-key-answers-403", "AUTH-401")
class _Forbidden(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        denied = super().authorized(request)
        if denied is not None:
            denied.status_code = 403
        return denied


@defect("any-key-accepted", "AUTH-401")
class _NoAuth(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        return None


@defect("missing-key-accepted", "AUTH-401")
class _NoKeyOk(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        if "authorization" not in request.headers:
            return None
        return super().authorized(request)


@defect("malformed-json-crashes", "HTTP-NO-5XX", "HTTP-MALFORMED-400")
class _CrashJson(ReferenceServer):
    def parse(self, raw: bytes) -> Any:
        try:
            return super().parse(raw)
        except ValueError as exc:
            raise RuntimeError("unhandled") from exc


@defect("array-body-crashes", "HTTP-NO-5XX", "REQ-BODY-OBJECT")
class _CrashArray(ReferenceServer):
    def validate(self, body: Any) -> Response | None:
        body.get("model")  # AttributeError on a list: a 500
        return super().validate(body)


@defect("astral-name-crashes", "HTTP-NO-5XX")
class _CrashAstral(ReferenceServer):
    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name") or ""
        if any(ord(c) > 0xFFFF for c in name):
            raise RuntimeError("cannot store astral characters")
        return super().build(body)


@defect("error-envelope-flat", "ERROR-ENVELOPE")
class _FlatError(ReferenceServer):
    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Response:
        return JSONResponse({"message": message, "type": "invalid_request_error"}, status_code=status)


@defect("error-without-param-and-code", "ERROR-ENVELOPE")
class _ThinError(ReferenceServer):
    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Response:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


@defect("errors-in-plain-text", "HTTP-JSON", "ERROR-ENVELOPE")
class _TextError(ReferenceServer):
    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Response:
        return Response(message, status, media_type="text/plain")


@defect("create-answers-text-html", "HTTP-JSON")
class _HtmlType(ReferenceServer):
    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(obj), status, media_type="text/html")


# --- the assistant object: echo, defaults, ids, timestamps ----------------------------------------------


class _Post(ReferenceServer):
    """Changes the answer of a create after the fact."""

    @staticmethod
    def change(obj: dict[str, Any], body: dict[str, Any]) -> None:
        return None

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        type(self).change(obj, body)
        return obj


def _post(name: str, change: Callable[[dict[str, Any], dict[str, Any]], None], *requirements: str) -> None:
    DEFECTS[name] = type(f"Post_{name}", (_Post,), {"change": staticmethod(change)})
    EXPECTED[name] = set(requirements)


def _when_sent(key: str, fn: Callable[[Any], Any]) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(obj: dict[str, Any], body: dict[str, Any]) -> None:
        if key in body and body[key] is not None:
            obj[key] = fn(obj[key])

    return change


_post("name-not-echoed", _when_sent("name", lambda v: None), "ECHO-NAME")
_post("description-trimmed", _when_sent("description", lambda v: v[:100]), "ECHO-DESCRIPTION")
_post("instructions-truncated", _when_sent("instructions", lambda v: v[:32768]), "ECHO-INSTRUCTIONS")
_post("model-normalised", _when_sent("model", lambda v: "gpt-4o"), "ECHO-MODEL")
_post("tools-dropped", _when_sent("tools", lambda v: []), "ECHO-TOOLS")
_post("function-parameters-dropped", _when_sent("tools", lambda v: [
    {**t, "function": {k: x for k, x in t["function"].items() if k != "parameters"}} if t.get("type") == "function"
    else t for t in v]), "ECHO-TOOLS")
_post("tool-resources-dropped", _when_sent("tool_resources", lambda v: {}), "ECHO-TOOL-RESOURCES")
_post("metadata-dropped", _when_sent("metadata", lambda v: {}), "ECHO-METADATA")
_post("temperature-rounded", _when_sent("temperature", lambda v: round(v, 2)), "ECHO-TEMPERATURE")
_post("top-p-as-float32", _when_sent("top_p", lambda v: float(f"{v:.7g}")), "ECHO-TOP-P")
_post("response-format-always-auto", _when_sent("response_format", lambda v: "auto"), "ECHO-RESPONSE-FORMAT")
_post("default-temperature-0.7", lambda o, b: o.update(temperature=0.7) if "temperature" not in b else None,
      "DEFAULT-TEMPERATURE")
_post("default-top-p-null", lambda o, b: o.update(top_p=None) if "top_p" not in b else None, "DEFAULT-TOP-P")
_post("default-tools-null", lambda o, b: o.update(tools=None) if "tools" not in b else None, "DEFAULT-TOOLS",
      "RESP-TOOLS")
_post("default-response-format-none", lambda o, b: o.update(response_format="none") if "response_format" not in b
      else None, "DEFAULT-RESPONSE-FORMAT")
_post("created-at-milliseconds", lambda o, b: o.update(created_at=o["created_at"] * 1000), "RESP-CREATED-AT-NOW")
_post("created-at-string", lambda o, b: o.update(created_at=str(o["created_at"])), "RESP-CREATED-AT")
_post("created-at-zero", lambda o, b: o.update(created_at=0), "RESP-CREATED-AT-NOW")
_post("object-assistants", lambda o, b: o.update(object="assistants"), "RESP-OBJECT")
_post("id-integer", lambda o, b: o.update(id=abs(hash(o["id"])) % 10**9), "RESP-ID")
def _drop_nulls(obj: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("name", "description", "instructions"):
        if obj[key] is None:
            del obj[key]


_post("null-fields-omitted", _drop_nulls, "RESP-NAME", "RESP-DESCRIPTION", "RESP-INSTRUCTIONS")
_post("metadata-omitted", lambda o, b: o.pop("metadata"), "RESP-METADATA")
_post("object-field-missing", lambda o, b: o.pop("object"), "RESP-OBJECT")


@defect("id-reused", "RESP-ID-UNIQUE")
class _SameId(ReferenceServer):
    def new_id(self) -> str:
        return "asst_conformance"


@defect("retrieve-missing", "RESP-ID-RETRIEVABLE")
class _NoRetrieve(ReferenceServer):
    async def retrieve(self, request: Request) -> Response:
        return self.error(404, "Not found")


@defect("retrieve-loses-metadata", "RESP-ID-RETRIEVABLE")
class _RetrieveDiffers(ReferenceServer):
    async def retrieve(self, request: Request) -> Response:
        response = await super().retrieve(request)
        if response.status_code == 200:
            obj = json.loads(bytes(response.body))
            obj["name"] = "renamed" if obj.get("name") != "renamed" else "renamed again"
            return JSONResponse(obj)
        return response


@defect("delete-keeps-assistant", "DELETE-REMOVES")
class _DeleteNoop(ReferenceServer):
    async def delete(self, request: Request) -> Response:
        assistant_id = request.path_params["assistant_id"]
        if assistant_id not in self.store:
            return self.error(404, "No such assistant")
        return JSONResponse({"id": assistant_id, "object": "assistant.deleted", "deleted": True})


@defect("delete-wrong-object", "DELETE-RESPONSE")
class _DeleteShape(ReferenceServer):
    async def delete(self, request: Request) -> Response:
        response = await super().delete(request)
        if response.status_code == 200:
            return JSONResponse({"id": request.path_params["assistant_id"], "object": "assistant", "deleted": True})
        return response


# --- false passes: answers that show nothing must not count as evidence ---------------------------------


def _required_field_requirements() -> set[str]:
    """The requirement of each required field of the assistant object (RESP-ID, RESP-MODEL, ...)."""
    assistant = load_schemas().object_schema
    return {assistant["properties"][k]["x-req"]["required"]["id"] for k in assistant["required"]}


@defect("create-answers-empty-object", every=_required_field_requirements())
class _EmptyAnswer(ReferenceServer):
    """Answers every create 200 {}: each required field it leaves out fails its own requirement."""

    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return JSONResponse({} if status == 200 and obj.get("object") == "assistant" else obj, status_code=status)


class _Everywhere(ReferenceServer):
    """Answers every request the same way, whatever the path and the key."""

    def answer(self) -> Response:
        return self.error(404, "Invalid URL (POST /v1/assistants)")

    async def everything(self, request: Request) -> Response:
        return self.answer()

    def routes(self) -> list[Route]:
        return [Route("/{path:path}", self.everything, methods=["GET", "POST", "DELETE"])]


@defect("not-served-404", exit=2)
class _NotServed(_Everywhere):
    """The endpoint is gone: 404 with the error envelope, as OpenAI's own API answers since 2026-08-26."""


@defect("not-served-html", exit=2)
class _CatchAll(_Everywhere):
    """A web app's catch-all route: 200 and an HTML page to every path."""

    def answer(self) -> Response:
        return Response("<!doctype html><title>App</title><div id=root></div>", 200, media_type="text/html")


@defect("refuses-every-key", exit=2)
class _NoKeyFits(ReferenceServer):
    """Its key is another than the run's: every request is answered 401, so nothing can be judged."""

    def authorized(self, request: Request) -> Response | None:
        return self.error(401, "Incorrect API key provided.", code="invalid_api_key")


# The id's lifecycle runs on any assistant the target created, whatever else its create answer got wrong.


@defect("gateway-no-retrieve-drops-nulls", "RESP-NAME", every={"RESP-ID-RETRIEVABLE"})
class _GatewayNoGet(ReferenceServer):
    """A gateway (as LiteLLM's proxy): no GET /assistants/{id} route (405), and fields that are null dropped."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in super().build(body).items() if v is not None}

    async def retrieve(self, request: Request) -> Response:
        return self.error(405, "Method Not Allowed")


@defect("delete-keeps-assistant-metadata-omitted", every={"DELETE-REMOVES", "RESP-METADATA"})
class _DeleteNoopNoMeta(ReferenceServer):
    """A mock whose DELETE answers as documented but removes nothing, and whose answers leave out metadata."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        obj.pop("metadata")
        return obj

    async def delete(self, request: Request) -> Response:
        assistant_id = request.path_params["assistant_id"]
        if assistant_id not in self.store:
            return self.error(404, "No such assistant")
        return JSONResponse({"id": assistant_id, "object": "assistant.deleted", "deleted": True})


@defect("second-delete-crashes-created-at-string", every={"HTTP-NO-5XX", "RESP-CREATED-AT"})
class _SecondDelete(ReferenceServer):
    """A DELETE of an assistant already deleted crashes (500, a tombstone looked up as a row), and created_at is
    a string."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        obj["created_at"] = str(obj["created_at"])
        return obj

    async def delete(self, request: Request) -> Response:
        if request.path_params["assistant_id"] in getattr(self, "_tombstones", set()):
            return Response("Internal Server Error", 500, media_type="text/plain")
        response = await super().delete(request)
        if response.status_code == 200:
            self._tombstones = getattr(self, "_tombstones", set()) | {request.path_params["assistant_id"]}
        return response


@defect("store-forgets-assistants", "DELETE-RESPONSE", "RESP-ID-RETRIEVABLE")
class _Forgetful(ReferenceServer):
    """Keeps only the 8 newest assistants (a cache taken for a store): the others vanish before the run ends,
    and deleting them at cleanup answers 404."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        while len(self.store) >= 8:
            self.store.pop(next(iter(self.store)))
        return obj


# --- conforming variants: differences the documentation allows ---------------------------------------


@variant("uuid-ids")
class _Uuid(ReferenceServer):
    def new_id(self) -> str:
        return str(uuid.uuid4())


@variant("extra-fields")
class _Extra(ReferenceServer):
    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        obj["reasoning_effort"] = None
        obj["x_server"] = {"region": "local"}
        for tool in obj["tools"] or []:
            if tool.get("type") == "function":
                tool["function"] = {**tool["function"], "strict": False}
            if tool.get("type") == "file_search":
                tool["file_search"] = {"ranking_options": {"ranker": "auto", "score_threshold": 0.0}}
        return obj


@variant("reversed-key-order")
class _Order(ReferenceServer):
    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return JSONResponse(dict(reversed(list(obj.items()))), status_code=status)


@variant("other-error-wording")
class _Wording(ReferenceServer):
    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Response:
        return JSONResponse({"error": {"message": "Something about your request is not right.", "type": "bad_request",
                                       "param": None, "code": "E" + str(status)}, "request_id": "req_1"},
                            status_code=status, headers={"x-request-id": "req_1"})


@variant("unknown-model-400")
class _Model400(ReferenceServer):
    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        if problem is not None and problem.status_code == 404:
            problem.status_code = 400
        return problem


@variant("json-charset")
class _Charset(ReferenceServer):
    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(obj, ensure_ascii=True, indent=2), status,
                        media_type="application/json; charset=utf-8")


@variant("nulls-kept-as-null")
class _Nulls(ReferenceServer):
    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        for key in ("temperature", "top_p", "response_format", "tool_resources", "metadata"):
            if key in body and body[key] is None:
                obj[key] = None
        return obj


@variant("null-metadata-as-empty")
class _EmptyMeta(ReferenceServer):
    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        if body.get("metadata", {}) is None:
            obj["metadata"] = {}
        if body.get("tool_resources", {}) is None:
            obj["tool_resources"] = {}
        return obj


@variant("optional-nulls-omitted")
class _OptionalNullsOmitted(ReferenceServer):
    """Leaves out of its answers the fields the assistant object does not require when they are null (a
    serializer set to skip nulls, as many are): temperature, top_p, response_format, tool_resources sent as null."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        required = set(self.schemas.object_schema["required"])
        for key in ("temperature", "top_p", "response_format", "tool_resources"):
            if key in body and body[key] is None:
                obj[key] = None
        return {k: v for k, v in obj.items() if v is not None or k in required}


@variant("created-at-behind")
class _Behind(ReferenceServer):
    def now(self) -> int:
        return super().now() - 3


@variant("float-temperatures")
class _Floats(ReferenceServer):
    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        for key in ("temperature", "top_p"):
            if isinstance(obj[key], int):
                obj[key] = float(obj[key])
        return obj


def all_servers() -> dict[str, Factory]:
    return {**DEFECTS, **VARIANTS}


_ = error  # re-exported helper used by subclasses' error bodies

# The other catalog modules register their servers here, on import (they import this module's helpers).
from conformance.selftest import catalog_real, catalog_resource, catalog_strict  # noqa: E402,F401

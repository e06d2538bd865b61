"""Broken servers of the kinds real OpenAI-compatible servers, gateways and mocks are (issue 13): what the
server keeps, whom it lets in, whether text survives the round trip, what breaks only in company, what a lax
parser lets through, the error envelope everywhere. Each defect is one cause, written as its author would
have; each variant differs from the reference harmlessly in the same territory. Registered into the
catalog (``catalog``), which imports this module last.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import re
import sqlite3
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from conformance.contract.schemas import REQUEST
from conformance.selftest.reference import ReferenceServer
from conformance.selftest.registry import defect, variant

__all__: list[str] = []


def _strings(value: Any, fn: Callable[[str], str], keys: bool = True) -> Any:
    """``value`` with ``fn`` applied to every string in it (object keys too, unless ``keys`` is off)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_strings(v, fn, keys) for v in value]
    if isinstance(value, dict):
        return {(fn(k) if keys else k): _strings(v, fn, keys) for k, v in value.items()}
    return value


# --- 1. state and identity ------------------------------------------------------------------------------


@defect("ids-from-store-size", "RESP-ID-UNIQUE")
class _StoreSize(ReferenceServer):
    """The id is the count of assistants plus one: after a delete, the next id is one already given."""

    def new_id(self) -> str:
        return f"asst_{len(self.store) + 1}"


@defect("ids-from-clock-seconds", "RESP-ID-UNIQUE")
class _ClockIds(ReferenceServer):
    def new_id(self) -> str:
        return f"asst_{int(time.time())}"


@defect("ids-two-random-hex-digits", "RESP-ID-UNIQUE")
class _ShortIds(ReferenceServer):
    """A short random suffix: 256 ids, so a run's creates collide."""

    def new_id(self) -> str:
        if not hasattr(self, "_random"):
            self._random = random.Random(13)
        return f"asst_{self._random.randrange(256):02x}"


@defect("store-keyed-by-body-hash", "RESP-ID-UNIQUE")
class _BodyHash(ReferenceServer):
    """Deduplicates by content: two equal requests get one assistant."""

    def parse(self, raw: bytes) -> Any:
        self._digest = hashlib.sha256(raw).hexdigest()[:24]
        return super().parse(raw)

    def new_id(self) -> str:
        return f"asst_{self._digest}"


@defect("lru-cache-of-8", "RESP-ID-RETRIEVABLE")
class _Lru(ReferenceServer):
    """The store is a cache of the 8 newest assistants; older ones are forgotten."""

    async def create(self, request: Request) -> Response:
        if not isinstance(self.store, OrderedDict):
            self.store = OrderedDict(self.store)
        response = await super().create(request)
        while len(self.store) > 8:
            self.store.popitem(last=False)
        return response


@defect("retrieve-returns-newest", "RESP-ID-RETRIEVABLE", "DELETE-REMOVES")
class _Newest(ReferenceServer):
    """GET answers the most recent assistant, whatever the id (a mock with one 'current' assistant)."""

    async def retrieve(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        if not self.store:
            return self.error(404, "No assistant found.")
        return self.respond(list(self.store.values())[-1])


@defect("delete-removes-newest", "DELETE-REMOVES", "RESP-ID-RETRIEVABLE")
class _DeleteNewest(ReferenceServer):
    """DELETE pops the newest assistant instead of the one named, and answers with the id named."""

    async def delete(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        assistant_id = request.path_params["assistant_id"]
        if assistant_id not in self.store:
            return self.error(404, "No assistant found.")
        self.store.pop(list(self.store)[-1])
        return JSONResponse({"id": assistant_id, "object": "assistant.deleted", "deleted": True})


class _Routed(ReferenceServer):
    """Ids like 'asst_20261129.17' (the day and a counter); the router takes '.17' for a format suffix
    ('/assistants/ID.json') and finds the first stored id that starts with what is left."""

    def new_id(self) -> str:
        if not hasattr(self, "_counter"):
            self._counter = itertools.count(1)
        return f"asst_{time.strftime('%Y%m%d')}.{next(self._counter)}"

    def resolve(self, request: Request) -> None:
        part = request.path_params["assistant_id"].split(".")[0]
        found = next((k for k in self.store if k.startswith(part)), None)
        if found is not None:
            request.path_params["assistant_id"] = found

    async def retrieve(self, request: Request) -> Response:
        self.resolve(request)
        return await super().retrieve(request)

    async def delete(self, request: Request) -> Response:
        self.resolve(request)
        return await super().delete(request)


@defect("router-cuts-id-at-dot", "RESP-ID-RETRIEVABLE", "DELETE-REMOVES")
class _CutDot(_Routed):
    pass


# --- 2. who gets in ---------------------------------------------------------------------------------------


class _Key(ReferenceServer):
    """The reference's header parsing, with the key compared its own (wrong) way."""

    matches: Callable[[str, str], bool] = staticmethod(lambda given, key: given == key)

    def authorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if header and scheme.lower() == "bearer" and any(type(self).matches(given.strip(), k) for k in self.api_keys):
            return None
        return super().authorized(request)


@defect("key-prefix-accepted", "AUTH-401")
class _KeyPrefix(_Key):
    matches = staticmethod(lambda given, key: bool(given) and key.startswith(given))


@defect("key-startswith", "AUTH-401")
class _KeyStartswith(_Key):
    matches = staticmethod(lambda given, key: given.startswith(key))


@defect("key-first-8-characters", "AUTH-401")
class _KeyFirst8(_Key):
    matches = staticmethod(lambda given, key: len(given) == len(key) and given[:8] == key[:8])


@defect("empty-token-accepted", "AUTH-401")
class _EmptyToken(ReferenceServer):
    """'Authorization: Bearer' with no token lets a request through (a development default left on)."""

    def authorized(self, request: Request) -> Response | None:
        if request.headers.get("authorization", "").strip().lower() == "bearer":
            return None
        return super().authorized(request)


@defect("any-scheme-accepted", "AUTH-401")
class _AnyScheme(ReferenceServer):
    """Takes the header's last word as the key, whatever the scheme (or none)."""

    def authorized(self, request: Request) -> Response | None:
        words = request.headers.get("authorization", "").split()
        if words and words[-1] in self.api_keys:
            return None
        return super().authorized(request)


@defect("scheme-case-sensitive", "AUTH-SCHEME-CASE")
class _SchemeCase(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        if request.headers.get("authorization", "").startswith("bearer "):
            return self.error(401, "Authorization must be 'Bearer KEY'.", code="invalid_api_key")
        return super().authorized(request)


@defect("auth-only-on-create", "AUTH-EVERY-ENDPOINT")
class _AuthCreateOnly(ReferenceServer):
    """Middleware on POST /assistants only: GET and DELETE let anyone in."""

    async def retrieve(self, request: Request) -> Response:
        self._skip = True
        try:
            return await super().retrieve(request)
        finally:
            self._skip = False

    async def delete(self, request: Request) -> Response:
        self._skip = True
        try:
            return await super().delete(request)
        finally:
            self._skip = False

    def authorized(self, request: Request) -> Response | None:
        return None if getattr(self, "_skip", False) else super().authorized(request)


@defect("refused-delete-still-deletes", "AUTH-REFUSED-NO-EFFECT")
class _DeleteThenAuth(ReferenceServer):
    """DELETE removes the assistant, then checks the key."""

    async def delete(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            self.store.pop(request.path_params["assistant_id"], None)
            return denied
        return await super().delete(request)


@defect("auth-401-detail-on-get-and-delete", "ERROR-ENVELOPE")
class _DetailOnGet(ReferenceServer):
    """A framework's own 401 on GET and DELETE ({"detail": ...}, FastAPI's HTTPException)."""

    async def retrieve(self, request: Request) -> Response:
        return self._framework(await super().retrieve(request))

    async def delete(self, request: Request) -> Response:
        return self._framework(await super().delete(request))

    @staticmethod
    def _framework(response: Response) -> Response:
        if response.status_code == 401:
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return response


# --- 3. text ------------------------------------------------------------------------------------------------


class _Text(ReferenceServer):
    """Changes every string of a valid request before it is stored (keys of metadata too)."""

    keys = True
    change: Callable[[str], str] = staticmethod(lambda s: s)

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        changed = {k: (_strings(v, type(self).change, type(self).keys) if k != "model" else v) for k, v in body.items()}
        return super().build(changed)


@defect("text-stripped", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA", "ECHO-TOOLS")
class _Strip(_Text):
    change = staticmethod(lambda s: s.strip())
    keys = False


@defect("text-nfc-normalised", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA",
        "ECHO-TOOLS")
class _Nfc(_Text):
    change = staticmethod(lambda s: unicodedata.normalize("NFC", s))


@defect("astral-replaced", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA", "ECHO-TOOLS")
class _NoAstral(_Text):
    """A store that holds the Basic Multilingual Plane only (MySQL's 3-byte 'utf8')."""

    change = staticmethod(lambda s: "".join(c if ord(c) <= 0xFFFF else "\ufffd" for c in s))


@defect("zero-width-removed", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA", "ECHO-TOOLS")
class _ZeroWidth(_Text):
    change = staticmethod(lambda s: re.sub("[\u200b-\u200d\u2060\ufeff]", "", s))


@defect("whitespace-collapsed", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA",
        "ECHO-TOOLS")
class _Collapse(_Text):
    """An HTML-minded sanitiser: every run of whitespace becomes one space."""

    change = staticmethod(lambda s: re.sub(r"\s+", " ", s))
    keys = False


@defect("text-nfkc-on-store", "RESP-ID-RETRIEVABLE")
class _NfkcStore(ReferenceServer):
    """The create answer is built from the request; the stored row went through NFKC (a search index)."""

    async def create(self, request: Request) -> Response:
        response = await super().create(request)
        if response.status_code == 200:
            obj = json.loads(bytes(response.body))
            self.store[obj["id"]] = _strings(obj, lambda s: unicodedata.normalize("NFKC", s))
        return response


@defect("surrogate-escapes-misread", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA",
        "ECHO-TOOLS")
class _Surrogates(ReferenceServer):
    """A hand-written parser decodes each \\uXXXX alone: an escaped surrogate pair becomes two U+FFFD."""

    def parse(self, raw: bytes) -> Any:
        pair = rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
        return super().parse(re.sub(pair, rb"\\ufffd\\ufffd", raw))


@defect("escaped-slash-kept", "ECHO-NAME", "ECHO-DESCRIPTION", "ECHO-INSTRUCTIONS", "ECHO-METADATA", "ECHO-TOOLS")
class _Slash(ReferenceServer):
    """A parser that does not know the \\/ escape keeps its backslash."""

    def parse(self, raw: bytes) -> Any:
        return super().parse(raw.replace(b"\\/", b"\\\\/"))


@defect("answers-in-latin-1", "HTTP-UTF8", "RESP-OBJECT-SHAPE")
class _Latin1(ReferenceServer):
    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        data = json.dumps(obj, ensure_ascii=False).encode("latin-1", errors="replace")
        return Response(data, status, media_type="application/json; charset=iso-8859-1")


@defect("answers-in-cesu-8", "HTTP-UTF8", "RESP-OBJECT-SHAPE")
class _Cesu(ReferenceServer):
    """Astral characters written as two 3-byte surrogates (Java's 'modified UTF-8', MySQL's 'utf8')."""

    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        text = json.dumps(obj, ensure_ascii=False)
        split = "".join(c if ord(c) <= 0xFFFF else
                        chr(0xD800 + ((ord(c) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(c) - 0x10000) & 0x3FF))
                        for c in text)
        return Response(split.encode("utf-8", "surrogatepass"), status, media_type="application/json")


# --- 4. in company ----------------------------------------------------------------------------------------


class _Crash(ReferenceServer):
    breaks: Callable[[dict[str, Any]], bool] = staticmethod(lambda body: False)

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        if type(self).breaks(body):
            raise RuntimeError("unexpected combination")
        return super().build(body)


def _has_tool(body: dict[str, Any], kind: str) -> bool:
    return any(isinstance(t, dict) and t.get("type") == kind for t in body.get("tools") or [])


@defect("function-with-json-object-crashes", "HTTP-NO-5XX")
class _FnJson(_Crash):
    breaks = staticmethod(lambda b: _has_tool(b, "function") and b.get("response_format") == {"type": "json_object"})


@defect("metadata-with-tool-resources-crashes", "HTTP-NO-5XX")
class _MetaResources(_Crash):
    breaks = staticmethod(lambda b: bool(b.get("metadata")) and bool(b.get("tool_resources")))


@defect("null-name-with-tools-crashes", "HTTP-NO-5XX")
class _NullNameTools(_Crash):
    """Names the tools after the assistant: ``body["name"].lower()`` when there are tools."""

    breaks = staticmethod(lambda b: "name" in b and b["name"] is None and bool(b.get("tools")))


class _Refusing(ReferenceServer):
    refuses: Callable[[dict[str, Any]], bool] = staticmethod(lambda body: False)

    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        if problem is None and type(self).refuses(body):
            return self.error(400, "This combination is not supported.")
        return problem


@defect("text-fields-share-one-limit", "HTTP-CREATE-200")
class _TotalText(ReferenceServer):
    """name, description and instructions are joined into one prompt, held to the instructions' limit."""

    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        limit = self.schemas.request["properties"]["instructions"]["maxLength"]
        if problem is None and sum(len(body.get(k) or "") for k in ("name", "description", "instructions")) > limit:
            return self.error(400, "This combination is not supported.")
        return problem


@defect("metadata-total-4-kib", "HTTP-CREATE-200", "REQ-METADATA-MAXPAIRS", "REQ-METADATA-VALUE-MAXLEN")
class _MetaTotal(_Refusing):
    """The metadata column holds 4 KiB of JSON; each limit alone fits, all of them at once do not."""

    refuses = staticmethod(lambda b: len(json.dumps(b.get("metadata") or {}, ensure_ascii=False).encode()) > 4096)


@defect("temperature-and-top-p-refused-together", "HTTP-CREATE-200", "REQ-TEMPERATURE-MIN", "REQ-TEMPERATURE-MAX",
        "REQ-TOP-P-MIN", "REQ-TOP-P-MAX")
class _NotBoth(_Refusing):
    """'We generally recommend altering this or temperature but not both' read as a rule."""

    refuses = staticmethod(lambda b: b.get("temperature") is not None and b.get("top_p") is not None)


@defect("tool-resources-need-their-tool", "HTTP-CREATE-200", "REQ-CI-FILE-IDS-MAXITEMS",
        "REQ-VECTOR-STORE-IDS-MAXITEMS", "REQ-FILE-SEARCH-ONEOF", "REQ-VECTOR-STORES-MAXITEMS",
        "REQ-CODE-INTERPRETER-TYPE", "REQ-FILE-SEARCH-TYPE", "REQ-VECTOR-STORE-FILE-IDS-MAXITEMS")
class _ResourcesNeedTool(_Refusing):
    @staticmethod
    def refuses(body: dict[str, Any]) -> bool:
        resources = body.get("tool_resources") or {}
        return any(kind in resources and not _has_tool(body, kind) for kind in ("code_interpreter", "file_search"))


# --- 5. what a lax parser lets through ----------------------------------------------------------------------


@defect("keys-case-insensitive", "REQ-UNKNOWN-FIELD", "REQ-MODEL-REQUIRED")
class _CaseKeys(ReferenceServer):
    """Go's encoding/json: a key matches a field whatever its case."""

    def parse(self, raw: bytes) -> Any:
        body = super().parse(raw)
        return {k.lower(): v for k, v in body.items()} if isinstance(body, dict) else body


@defect("v1-file-ids-accepted", "REQ-UNKNOWN-FIELD")
class _V1Fields(ReferenceServer):
    """Still takes the v1 API's top-level file_ids (and drops it)."""

    def validate(self, body: Any) -> Response | None:
        if isinstance(body, dict):
            body.pop("file_ids", None)
        return super().validate(body)


@defect("retrieval-tool-accepted", "REQ-TOOL-KIND")
class _Retrieval(ReferenceServer):
    """Maps the v1 tool 'retrieval' to file_search."""

    def validate(self, body: Any) -> Response | None:
        if isinstance(body, dict) and isinstance(body.get("tools"), list):
            body["tools"] = [{"type": "file_search"} if t == {"type": "retrieval"} else t for t in body["tools"]]
        return super().validate(body)


@defect("function-name-python-dollar", "REQ-FUNCTION-NAME-PATTERN")
class _PythonDollar(ReferenceServer):
    """Validates with Python's regular expressions, where '$' also matches before a final newline."""

    def request_validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schemas.raw[REQUEST], registry=self.schemas.registry)


def _parameters(body: Any) -> list[Any]:
    tools = body.get("tools") if isinstance(body, dict) else None
    return [t["function"].get("parameters") for t in tools or []
            if isinstance(t, dict) and isinstance(t.get("function"), dict)]


@defect("parameters-refs-refused", "REQ-FUNCTION-PARAMETERS-TYPE", "HTTP-CREATE-200")
class _NoRefs(ReferenceServer):
    """Refuses function parameters that use $ref (it cannot resolve them)."""

    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        if problem is None and any("$ref" in json.dumps(p) for p in _parameters(body)):
            return self.error(400, "parameters: $ref is not supported", param="tools")
        return problem


@defect("parameters-combinators-refused", "REQ-FUNCTION-PARAMETERS-TYPE", "HTTP-CREATE-200")
class _NoCombinators(ReferenceServer):
    """Validates parameters against a small meta-schema of its own: no anyOf, oneOf, allOf or not."""

    def validate(self, body: Any) -> Response | None:
        problem = super().validate(body)
        text = " ".join(json.dumps(p) for p in _parameters(body))
        if problem is None and any(f'"{k}"' in text for k in ("anyOf", "oneOf", "allOf", "not")):
            return self.error(400, "parameters: unsupported keyword", param="tools")
        return problem


_KEPT = {"type", "properties", "required", "description", "enum", "items"}


def _known_only(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k in _KEPT}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _known_only(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = _known_only(out["items"])
    return out


@defect("parameters-keywords-dropped", "ECHO-TOOLS")
class _Dropped(ReferenceServer):
    """Parses parameters into a struct of the keywords it knows, and writes back only those."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        for tool in obj.get("tools") or []:
            if tool.get("type") == "function" and "parameters" in tool["function"]:
                tool["function"] = {**tool["function"], "parameters": _known_only(tool["function"]["parameters"])}
        return obj


# --- 6. the error envelope everywhere ----------------------------------------------------------------------


class _NestedError(ReferenceServer):
    """Errors about a nested field (a param with a '.' or '[') written another way."""

    nested: Callable[[dict[str, Any]], Any] = staticmethod(lambda envelope: None)

    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Response:
        response = super().error(status, message, param=param, code=code)
        if param and ("." in param or "[" in param):
            envelope = json.loads(bytes(response.body))
            type(self).nested(envelope["error"])
            return JSONResponse(envelope, status_code=status)
        return response


@defect("error-param-as-path-list", "ERROR-ENVELOPE")
class _ParamList(_NestedError):
    nested = staticmethod(lambda e: e.update(param=[int(p) if p.isdigit() else p
                                                    for p in re.split(r"[.\[\]]+", e["param"]) if p]))


@defect("error-code-integer-when-nested", "ERROR-ENVELOPE")
class _CodeInt(_NestedError):
    nested = staticmethod(lambda e: e.update(code=1001))


@defect("error-type-null-when-nested", "ERROR-ENVELOPE")
class _TypeNull(_NestedError):
    nested = staticmethod(lambda e: e.update(type=None))


# --- conforming variants ---------------------------------------------------------------------------------


@variant("ids-sequential")
class _Sequential(ReferenceServer):
    """A counter that never goes back: short ids, never reused."""

    def new_id(self) -> str:
        if not hasattr(self, "_counter"):
            self._counter = itertools.count(1)
        return f"asst_{next(self._counter)}"


@variant("ids-with-dots-and-dashes")
class _Dotted(ReferenceServer):
    def new_id(self) -> str:
        return f"asst-{uuid.uuid4()}.v2"


@variant("ids-long-hex")
class _LongHex(ReferenceServer):
    def new_id(self) -> str:
        return uuid.uuid4().hex + uuid.uuid4().hex


@variant("store-in-sqlite")
class _Sqlite(ReferenceServer):
    """Assistants kept as JSON text in SQLite. A create, modify or list is handled whole before the next one
    starts: they pass rows through the reference's store, which requests handled side by side would share (a
    create inserting again the rows a list had loaded, a list clearing the row a modify had loaded)."""

    @property
    def _turn(self) -> asyncio.Lock:
        if not hasattr(self, "_lock"):
            self._lock = asyncio.Lock()
        return self._lock

    @property
    def db(self) -> sqlite3.Connection:
        if not hasattr(self, "_db"):
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            self._db.execute("create table assistants (id text primary key, body text not null)")
        return self._db

    async def create(self, request: Request) -> Response:
        async with self._turn:
            response = await super().create(request)
            for assistant_id, obj in list(self.store.items()):
                self.db.execute("insert into assistants values (?, ?)", (assistant_id, json.dumps(obj)))
                del self.store[assistant_id]
            return response

    async def retrieve(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        row = self.db.execute("select body from assistants where id = ?", (request.path_params["assistant_id"],)).fetchone()
        if row is None:
            return self.error(404, "No such assistant.")
        return self.respond(json.loads(row[0]))

    async def delete(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        assistant_id = request.path_params["assistant_id"]
        if self.db.execute("delete from assistants where id = ?", (assistant_id,)).rowcount == 0:
            return self.error(404, "No such assistant.")
        return JSONResponse({"id": assistant_id, "object": "assistant.deleted", "deleted": True})

    def _load(self, assistant_id: str | None = None) -> None:
        """Rows into the reference's store for its handlers: all of them, or only ``assistant_id``'s (a modify
        reads and writes back its one row, not every assistant the run keeps)."""
        if assistant_id is None:
            rows = self.db.execute("select id, body from assistants")
        else:
            rows = self.db.execute("select id, body from assistants where id = ?", (assistant_id,))
        self.store.update({i: json.loads(body) for i, body in rows})

    async def modify(self, request: Request) -> Response:
        async with self._turn:
            self._load(request.path_params["assistant_id"])
            try:
                return await super().modify(request)
            finally:
                for assistant_id, obj in list(self.store.items()):
                    self.db.execute("update assistants set body = ? where id = ?", (json.dumps(obj), assistant_id))
                self.store.clear()

    async def list_all(self, request: Request) -> Response:
        async with self._turn:
            self._load()
            try:
                return await super().list_all(request)
            finally:
                self.store.clear()


@variant("key-compared-in-constant-time")
class _ConstantTime(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and any(hmac.compare_digest(given.strip().encode(), k.encode())
                                               for k in self.api_keys)
        return None if ok else self.error(401, "Invalid authentication.", code="invalid_api_key")


@variant("auth-401-with-www-authenticate")
class _Challenge(ReferenceServer):
    def authorized(self, request: Request) -> Response | None:
        denied = super().authorized(request)
        if denied is not None:
            denied.headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
        return denied


@variant("json-escaped-capitals-and-slash")
class _Escaped(ReferenceServer):
    """Answers written with \\uXXXX escapes in capitals, surrogate pairs escaped, '/' as '\\/'."""

    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        from conformance.generate.combine import escaped_json

        return Response(escaped_json(obj), status, media_type="application/json")


@variant("json-raw-utf8-pretty")
class _Pretty(ReferenceServer):
    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(obj, ensure_ascii=False, indent=4).encode(), status,
                        media_type="application/json; charset=UTF-8")


@variant("chunked-answers")
class _Chunked(ReferenceServer):
    """Answers streamed in chunks of 1000 bytes (Transfer-Encoding: chunked, no Content-Length)."""

    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        data = json.dumps(obj, ensure_ascii=False).encode()
        return StreamingResponse(iter([data[i:i + 1000] for i in range(0, len(data), 1000)]), status,
                                 media_type="application/json")


@variant("nfc-names-kept-as-sent")
class _KeepsText(ReferenceServer):
    """Normalises a copy for its search index, and keeps and answers the text as sent."""

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = super().build(body)
        self._index = {obj["id"]: unicodedata.normalize("NFKC", obj.get("name") or "")}
        return obj

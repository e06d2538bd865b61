"""Checks: each a plain function with a one-line docstring (its report text), tied to requirement IDs.

A check records every requirement it confirmed on the ledger and collects what it found broken; the
caller raises one ``NonConformance`` for all findings of an exchange. Each requirement gets its own
exception subclass, so Hypothesis shrinks and reports every broken requirement separately.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from jsonschema import Draft202012Validator

from conformance.contract.schemas import DELETE, ERROR, OBJECT, Node, Schemas
from conformance.contract.walk import branch as seen_in
from conformance.endpoints import RESOURCES
from conformance.results.ledger import Finding, Ledger
from conformance.transport.client import MAX_DEPTH, MAX_VALUES, Exchange, Unjudgeable
from conformance.transport.secrets import mask

__all__ = ["CHECKS", "Check", "Context", "NonConformance", "check", "preflight", "raise_findings", "same",
           "severity_of"]

LABEL = RESOURCES[0].id_label  # what the resource's object is called in messages
CheckFn = TypeVar("CheckFn", bound=Callable[..., Any])
Severity = Literal["critical", "normal", "minor"]
SEVERITIES: tuple[Severity, ...] = ("minor", "normal", "critical")


@dataclass(frozen=True)
class Check:
    """A check as registered: its name, its report text (its docstring's first line), the schema annotations
    whose requirements it judges (``x-no-5xx``, ``maxLength`` through a probe, ...), and the severity of
    breaking them."""

    name: str
    description: str
    judges: tuple[str, ...]
    severity: Severity


CHECKS: dict[str, Check] = {}


def check(*judges: str, severity: Severity = "normal") -> Callable[[CheckFn], CheckFn]:
    """Register a check: a function ``(ctx: Context, ex: Exchange, ...)`` that records on ``ctx`` a pass or a
    finding for each requirement it judges, declared here with the severity of breaking them."""
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[fn.__name__] = Check(fn.__name__, (fn.__doc__ or fn.__name__).strip().splitlines()[0], judges,
                                    severity)
        return fn
    return register


def severity_of(keywords: tuple[str, ...], checks: Iterable[str]) -> Severity:
    """A requirement's severity: the highest of the checks that judged it, each counting where it judges the
    requirement's own annotation (``rejected`` judges ``x-reject`` as critical, not the limit a probe broke)."""
    found = [CHECKS[name].severity for name in checks
             if name in CHECKS and set(CHECKS[name].judges) & set(keywords)]
    return max(found, key=SEVERITIES.index, default="normal")


class NonConformance(AssertionError):
    """An exchange broke one or more requirements."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("\n\n".join(f.render() for f in findings))


_TYPES: dict[str, type[NonConformance]] = {}


def _error_type(requirement: str) -> type[NonConformance]:
    if requirement not in _TYPES:
        name = "NonConformance_" + requirement.replace("-", "_")
        _TYPES[requirement] = type(name, (NonConformance,), {"__module__": __name__})
    return _TYPES[requirement]


def raise_findings(findings: list[Finding]) -> None:
    if findings:
        raise _error_type(findings[0].requirement)(findings)


@dataclass
class Context:
    """What checks share across a run: schemas, the ledger, the IDs seen, the clock tolerance."""

    schemas: Schemas
    ledger: Ledger
    clock_skew: float = 60.0
    test: str = ""
    findings: list[Finding] = field(default_factory=list)
    secret: str | None = None  # the API key: masked in what a target sent back, so no report or log shows it
    operation_request: Node | None = None  # the request schema the checks read, when not create's (``using``)

    @property
    def request(self) -> Node:
        """The request schema of the operation under test (create's unless ``using`` says otherwise)."""
        return self.operation_request if self.operation_request is not None else self.schemas.request

    def rid(self, keyword: str) -> str:
        """The ID of a behavioural requirement of the operation under test (``x-accept``, ``x-reject``, ...); the
        create request's where the operation's schema does not state its own (``x-no-5xx``, ``x-json``)."""
        own = self.request.get("x-req", {}).get(keyword)
        return str(own["id"]) if own else _req(self.schemas.request, keyword)

    @contextmanager
    def using(self, request: Node) -> Iterator[None]:
        """Judge against another operation's request schema (modify's, list's query) for a while."""
        before, self.operation_request = self.operation_request, request
        try:
            yield
        finally:
            self.operation_request = before

    def ok(self, requirement: str, check_name: str) -> None:
        self.ledger.passed(requirement, check_name)

    def fail(self, requirement: str, check_name: str, exchange: Exchange | None, title: str,
             expected: str, received: str) -> None:
        finding = Finding(requirement, check_name, title, expected, mask(received, self.secret), self.test, exchange)
        self.ledger.failed(finding)
        self.findings.append(finding)

    def take(self) -> list[Finding]:
        out, self.findings = self.findings, []
        return out


def _req(node: Node, keyword: str) -> str:
    return str(node["x-req"][keyword]["id"])


def _show(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return text if len(text) <= limit else text[:limit] + "…"


def _status_line(ex: Exchange) -> str:
    location = ex.received.headers.get("location")
    moved = f" (Location: {location})" if location and 300 <= ex.received.status < 400 else ""
    return f"{ex.received.status}{moved} {ex.received.text(300)}"


def preflight(schemas: Schemas) -> None:
    """Read every annotation the checks rely on, so schemas without one fail before the run, not in a test."""
    request, obj, delete = schemas.request, schemas.object_schema, schemas.delete
    for node, keyword in ((request, "x-no-5xx"), (request, "x-accept"), (request, "x-reject"), (request, "x-json"),
                          (request, "x-auth"), (schemas.error, "type"), (obj, "type"),
                          (obj, "x-retrievable"), (obj["properties"]["id"], "x-unique"),
                          (obj["properties"]["created_at"], "x-timestamp"), (delete, "type"),
                          (delete, "x-removes")):
        _req(node, keyword)
    _shape_ids(obj)
    for name in (OBJECT, DELETE, ERROR):
        schemas.validator(name)


# --- status codes -----------------------------------------------------------------------------


@check("x-no-5xx", severity="critical")
def no_server_error(ctx: Context, ex: Exchange) -> bool:
    """The target never answers with a 5xx server error."""
    rid = ctx.rid("x-no-5xx")
    if ex.received.status >= 500:
        ctx.fail(rid, "no_server_error", ex, "The target answered with a server error",
                 "a status below 500", _status_line(ex))
        return False
    ctx.ok(rid, "no_server_error")
    return True


@check("x-accept", severity="critical")
def accepted(ctx: Context, ex: Exchange, requirement: str | None) -> bool:
    """A valid request is answered 200 OK."""
    if not no_server_error(ctx, ex):
        return False
    status = ex.received.status
    create = ctx.rid("x-accept")
    if 200 <= status < 300:
        if requirement:
            ctx.ok(requirement, "accepted")
        if status == 200:
            ctx.ok(create, "accepted")
            return True
        ctx.fail(create, "accepted", ex, "A valid request was not answered 200", "200", _status_line(ex))
        return True
    ctx.fail(requirement or create, "accepted", ex, "A valid request was refused", "200", _status_line(ex))
    return False


@check("x-reject", severity="critical")
def rejected(ctx: Context, ex: Exchange, requirement: str, strict: bool = True) -> bool:
    """A request that breaks a requirement is refused with 400 (any 4xx where ``strict`` is off)."""
    if not no_server_error(ctx, ex):
        return False
    status = ex.received.status
    reject = ctx.rid("x-reject")
    if 400 <= status < 500:
        ctx.ok(requirement, "rejected")
        if status == 400 or not strict:
            if strict:
                ctx.ok(reject, "rejected")
        else:
            ctx.fail(reject, "rejected", ex, "An invalid request was refused with the wrong status", "400",
                     _status_line(ex))
        return True
    ctx.fail(requirement, "rejected", ex, "A request that breaks the requirement was not refused",
             "400" if strict else "a 4xx status", _status_line(ex))
    return False


# --- response shape ---------------------------------------------------------------------------


@check("x-json", severity="critical")
def json_content_type(ctx: Context, ex: Exchange) -> bool:
    """Responses are application/json."""
    rid = ctx.rid("x-json")
    media = ex.received.content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        ctx.ok(rid, "json_content_type")
        return True
    ctx.fail(rid, "json_content_type", ex, "The response is not JSON", "Content-Type: application/json",
             f"Content-Type: {ex.received.content_type or '(none)'}")
    return False


def _body(ctx: Context, ex: Exchange, rid: str, check_name: str) -> Any:
    try:
        return ex.received.json()
    except Unjudgeable as exc:
        ctx.fail(rid, check_name, ex, "The answer is too costly to judge", f"a JSON object within {MAX_DEPTH} "
                 f"levels and {MAX_VALUES} values", f"{exc} ({len(ex.received.body)} bytes: {ex.received.text(120)!r})")
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        ctx.fail(rid, check_name, ex, "The response body is not JSON", "a JSON object",
                 f"{ex.received.text(300)!r} ({exc})")
        return None


@check("type", severity="normal")
def error_envelope(ctx: Context, ex: Exchange) -> None:
    """An error answer is the envelope {"error": {"message", "type", "param", "code"}}."""
    json_content_type(ctx, ex)
    rid = _req(ctx.schemas.error, "type")
    body = _body(ctx, ex, rid, "error_envelope")
    if body is None:
        return
    errors = sorted(ctx.schemas.validator(ERROR).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(body)"
        ctx.fail(rid, "error_envelope", ex, "The error answer is not the documented envelope",
                 '{"error": {"message": str, "type": str, "param": str|null, "code": str|null}}',
                 f"{_show(body)} ({where}: {errors[0].message})")
    else:
        ctx.ok(rid, "error_envelope")


def _response_requirement(schema: Node, error: Any) -> str:
    """The requirement a response-validation error breaks: the top-level field's, or the object's."""
    path = list(error.absolute_path)
    props = schema.get("properties", {})
    if path and path[0] in props and "x-req" in props[path[0]]:
        return _req(props[path[0]], "type")
    return _req(schema, "type")


def _shape_failures(schema: Node, body: Any, errors: Any) -> dict[str, str]:
    """Each requirement an answer breaks, with the first message for it. Every required field that is
    missing breaks its own requirement: an answer ``{}`` fails RESP-ID, RESP-MODEL, RESP-CREATED-AT and the
    rest, not only the first of them."""
    broken: dict[str, str] = {}
    props = schema.get("properties", {})
    for error in errors:
        if error.validator == "required" and not error.absolute_path and isinstance(body, dict):
            continue  # one entry per missing field, below
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        broken.setdefault(_response_requirement(schema, error), f"{where}: {error.message[:300]}")
    if isinstance(body, dict):
        for key in schema.get("required", []):
            if key not in body:
                node = props.get(key, {})
                rid = _req(node, "required") if "required" in node.get("x-req", {}) else _req(schema, "type")
                broken.setdefault(rid, f"{key!r} is a required property, missing from the answer")
    return broken


@check("type", "required", "const", severity="normal")
def object_shape(ctx: Context, ex: Exchange) -> Any:
    """The response is an assistant object as documented (extra fields allowed)."""
    json_content_type(ctx, ex)
    schema = ctx.schemas.object_schema
    body = _body(ctx, ex, _req(schema, "type"), "object_shape")
    if body is None:
        return None
    broken = _shape_failures(schema, body, ctx.schemas.validator(OBJECT).iter_errors(body))
    for rid, message in broken.items():
        ctx.fail(rid, "object_shape", ex, f"The response is not a documented {LABEL} object",
                 f"the {LABEL} object of the documentation", message)
    for rid in sorted(_shape_ids(schema) | {_req(schema, "type")}):
        if rid not in broken:
            ctx.ok(rid, "object_shape")
    return body if isinstance(body, dict) else None


def _shape_ids(schema: Node) -> set[str]:
    out = set()
    for node in schema.get("properties", {}).values():
        for keyword, spec in node.get("x-req", {}).items():
            if not keyword.startswith("x-"):
                out.add(spec["id"])
    return out


# --- semantics ----------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1 and NaN is nothing."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return not (isinstance(a, float) and math.isnan(a)) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _echo_diff(sent: Any, got: Any, node: Node, where: str) -> str | None:
    """Where ``got`` fails to echo ``sent``: documented keys compared, extra keys a server adds ignored."""
    branches = node.get("oneOf")
    if branches:
        for branch in branches:
            merged = seen_in(node, branch)
            if Draft202012Validator(merged).is_valid(sent):
                return _echo_diff(sent, got, merged, where)
    if isinstance(sent, dict) and node.get("properties"):
        if not isinstance(got, dict):
            return f"{where}: sent an object, received {_show(got)}"
        for key, value in sent.items():
            if key not in node["properties"]:
                continue
            if key not in got:
                return f"{where}.{key}: sent {_show(value)}, missing from the response"
            diff = _echo_diff(value, got[key], node["properties"][key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(sent, list) and isinstance(node.get("items"), dict):
        if not isinstance(got, list) or len(got) != len(sent):
            return f"{where}: sent {_show(sent)}, received {_show(got)}"
        for index, (a, b) in enumerate(zip(sent, got, strict=True)):
            diff = _echo_diff(a, b, node["items"], f"{where}[{index}]")
            if diff:
                return diff
        return None
    if not same(sent, got):
        return f"{where}: sent {_show(sent)}, received {_show(got)}"
    return None


def _empty_like(node: Node) -> list[Any]:
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    return [{}] if "object" in types else []


@check("x-echo", severity="minor")
def echoed(ctx: Context, ex: Exchange, payload: dict[str, Any], body: dict[str, Any]) -> None:
    """Every documented field sent is returned exactly as sent."""
    request = ctx.request
    response = ctx.schemas.object_schema
    for name, value in payload.items():
        req_node = request.get("properties", {}).get(name, {})
        spec = req_node.get("x-req", {}).get("x-echo")
        if not spec:
            continue
        rid = spec["id"]
        node = response["properties"].get(name, {})
        if name not in body:
            if value is None and name not in response.get("required", []):
                continue  # sent as null, and the answer need not carry the field: nothing to compare
            ctx.fail(rid, "echoed", ex, f"The field {name!r} was not returned", f"{name}: {_show(value)}",
                     "(absent)")
            continue
        got = body[name]
        if value is None:
            allowed = [None] + ([req_node["default"]] if "default" in req_node else []) + _empty_like(node)
            if any(same(got, a) for a in allowed):
                ctx.ok(rid, "echoed")
            else:
                ctx.fail(rid, "echoed", ex, f"The field {name!r} sent as null came back as something else",
                         " or ".join(_show(a) for a in allowed), _show(got))
            continue
        diff = _echo_diff(value, got, node, name)
        if diff:
            ctx.fail(rid, "echoed", ex, f"The field {name!r} was not echoed as sent", _show(value), diff)
        else:
            ctx.ok(rid, "echoed")


@check("default", severity="minor")
def defaults_applied(ctx: Context, ex: Exchange, payload: dict[str, Any], body: dict[str, Any]) -> None:
    """A field left out takes its documented default."""
    for name, node in ctx.schemas.request.get("properties", {}).items():
        if "default" not in node or name in payload or name not in body:
            continue
        rid = _req(node, "default")
        if same(body[name], node["default"]):
            ctx.ok(rid, "defaults_applied")
        else:
            ctx.fail(rid, "defaults_applied", ex, f"The omitted field {name!r} did not take its default",
                     f"{name}: {_show(node['default'])}", f"{name}: {_show(body[name])}")


@check("x-timestamp", severity="normal")
def created_now(ctx: Context, ex: Exchange, body: dict[str, Any]) -> None:
    """created_at is the creation time in whole Unix seconds."""
    node = ctx.schemas.object_schema["properties"]["created_at"]
    rid = _req(node, "x-timestamp")
    value = body.get("created_at")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    low = math.floor(ex.started) - ctx.clock_skew
    high = math.ceil(ex.ended) + ctx.clock_skew
    if low <= value <= high:
        ctx.ok(rid, "created_now")
    else:
        ctx.fail(rid, "created_now", ex, "created_at is not the time of creation in Unix seconds",
                 f"between {low:.0f} and {high:.0f} (request time ± {ctx.clock_skew:g} s)", str(value))


@check("x-unique", severity="critical")
def unique_id(ctx: Context, ex: Exchange, body: dict[str, Any]) -> None:
    """Every created assistant has an id of its own."""
    rid = _req(ctx.schemas.object_schema["properties"]["id"], "x-unique")
    value = body.get("id")
    if not isinstance(value, str):
        return
    seen = ctx.ledger.seen_ids
    if value in seen:
        ctx.fail(rid, "unique_id", ex, f"Two {LABEL}s were given the same id", "a new id",
                 f"{value!r}, already returned in {seen[value]}")
    else:
        seen[value] = ctx.test or "this run"
        ctx.ok(rid, "unique_id")


@check("x-retrievable", severity="normal")
def retrieved_same(ctx: Context, ex: Exchange, created: dict[str, Any]) -> None:
    """GET /assistants/{id} returns the assistant as created."""
    rid = _req(ctx.schemas.object_schema, "x-retrievable")
    if not no_server_error(ctx, ex):
        return
    if ex.received.status != 200:
        ctx.fail(rid, "retrieved_same", ex, f"The created {LABEL} cannot be retrieved by its id", "200",
                 _status_line(ex))
        return
    got = object_shape(ctx, ex)
    if got is None:
        return
    name = _differs(ctx, created, got)
    if name is not None:
        ctx.fail(rid, "retrieved_same", ex, f"The retrieved {LABEL} differs in {name!r}",
                 f"{name}: {_show(created[name])}", f"{name}: {_show(got.get(name, '(absent)'))}")
        return
    ctx.ok(rid, "retrieved_same")


def _differs(ctx: Context, created: dict[str, Any], got: dict[str, Any]) -> str | None:
    """The first documented field of ``created`` that ``got`` lacks or holds otherwise."""
    for name in ctx.schemas.object_schema["properties"]:
        if name in created and (name not in got or not same(created[name], got[name])):
            return str(name)
    return None


@check("type", severity="normal")
def deleted(ctx: Context, ex: Exchange, resource_id: str) -> bool:
    """DELETE /assistants/{id} answers the documented deletion object."""
    rid = _req(ctx.schemas.delete, "type")
    if not no_server_error(ctx, ex):
        return False
    if ex.received.status != 200:
        ctx.fail(rid, "deleted", ex, f"The {LABEL} could not be deleted", "200", _status_line(ex))
        return False
    json_content_type(ctx, ex)
    body = _body(ctx, ex, rid, "deleted")
    if body is None:
        return False
    errors = list(ctx.schemas.validator(DELETE).iter_errors(body))
    if errors or body.get("id") != resource_id:
        kind = ctx.schemas.delete["properties"]["object"]["const"]
        ctx.fail(rid, "deleted", ex, "The deletion answer is not as documented",
                 f'{{"id": {resource_id!r}, "object": "{kind}", "deleted": true}}', _show(body))
        return False
    ctx.ok(rid, "deleted")
    return True


@check("x-removes", severity="normal")
def gone(ctx: Context, ex: Exchange) -> None:
    """After DELETE, GET /assistants/{id} answers 404 with the error envelope."""
    rid = _req(ctx.schemas.delete, "x-removes")
    if not no_server_error(ctx, ex):
        return
    status = ex.received.status
    if status == 404:
        ctx.ok(rid, "gone")
        error_envelope(ctx, ex)
    elif status in (405, 501):  # GET is not served at all (RESP-ID-RETRIEVABLE says so): nothing shown either way
        return
    elif 200 <= status < 300:
        ctx.fail(rid, "gone", ex, f"A deleted {LABEL} can still be fetched", "404", _status_line(ex))
    else:
        ctx.fail(rid, "gone", ex, "After DELETE, GET of the id does not answer 404", "404", _status_line(ex))


@check("x-auth", severity="critical")
def unauthorized(ctx: Context, ex: Exchange) -> None:
    """A request without a valid API key is refused with 401 and the error envelope."""
    rid = ctx.rid("x-auth")
    if not no_server_error(ctx, ex):
        return
    if ex.received.status == 401:
        ctx.ok(rid, "unauthorized")
        error_envelope(ctx, ex)
    else:
        ctx.fail(rid, "unauthorized", ex, "A request without a valid API key was not refused with 401", "401",
                 _status_line(ex))


# --- state, credentials, text (issue 13) ----------------------------------------------------------


@check("x-utf8", severity="normal")
def utf8_answer(ctx: Context, ex: Exchange) -> bool:
    """An answer's body is valid UTF-8 (RFC 8259 8.1), whatever text it carries."""
    rid = _req(ctx.schemas.request, "x-utf8")
    if ex.received.truncated:
        return True
    try:
        ex.received.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        around = ex.received.body[max(0, exc.start - 20):exc.end + 20]
        ctx.fail(rid, "utf8_answer", ex, "The answer is not valid UTF-8", "a body encoded in UTF-8",
                 f"{exc.reason} at byte {exc.start}: {around!r} (Content-Type: {ex.received.content_type or '(none)'})")
        return False
    ctx.ok(rid, "utf8_answer")
    return True


@check("x-auth", "x-auth-everywhere", "x-auth-scheme", severity="critical")
def refused_key(ctx: Context, ex: Exchange, keyword: str = "x-auth") -> bool:
    """A request whose credentials are not the key is refused with 401 and the error envelope, on every endpoint."""
    rid = _req(ctx.schemas.request, keyword)
    if not no_server_error(ctx, ex):
        return False
    if ex.received.status == 401:
        ctx.ok(rid, "refused_key")
        error_envelope(ctx, ex)
        return True
    shown = ex.sent.headers.get("Authorization", "(no Authorization header)")
    ctx.fail(rid, "refused_key", ex, f"{ex.sent.method} with the credentials {shown!r} was not refused with 401",
             "401", _status_line(ex))
    return False


@check("x-auth-no-effect", severity="critical")
def refusal_changed_nothing(ctx: Context, ex: Exchange, created: dict[str, Any]) -> None:
    """A request refused for its credentials has no effect: the assistant is still there, as created."""
    rid = _req(ctx.schemas.request, "x-auth-no-effect")
    if not no_server_error(ctx, ex):
        return
    if ex.received.status == 404:
        ctx.fail(rid, "refusal_changed_nothing", ex, f"A DELETE refused for its key removed the {LABEL} anyway",
                 f"200 and the {LABEL}", _status_line(ex))
        return
    got = ex.received.json_or_none() if ex.received.status == 200 else None
    if not isinstance(got, dict):  # GET not served (405), or no assistant object: nothing shown either way
        return
    name = _differs(ctx, created, got)
    if name is not None:
        ctx.fail(rid, "refusal_changed_nothing", ex, f"A request refused for its key changed {name!r}",
                 f"{name}: {_show(created[name])}", f"{name}: {_show(got.get(name, '(absent)'))}")
        return
    ctx.ok(rid, "refusal_changed_nothing")


def findings_of(exc: BaseException | None) -> Iterator[NonConformance]:
    """The findings an exception carries: itself, the members of a group, its cause, recursively."""
    if exc is None:
        return
    if isinstance(exc, NonConformance):
        yield exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from findings_of(inner)
    yield from findings_of(exc.__cause__) if exc.__cause__ is not exc else iter(())

"""The reference server: a conforming, in-memory implementation of create, retrieve and delete.

Its validation reads the same request schema the suite generates from, so the two cannot drift apart;
only the behaviour around it (ids, timestamps, defaults, errors) is written here. It is the suite's
embedded default target and the base of the self-test catalog of broken servers.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from conformance.contract.schemas import REQUEST, Schemas, documented_models, load_schemas, operation

__all__ = ["DEFAULT_API_KEY", "ReferenceServer", "create_app", "documented_models"]

DEFAULT_API_KEY = "conformance-test-key"
MODIFY = str(operation("modify").request)
LIST_QUERY = str(operation("list").query)
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def error(status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
          code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _param(error: Any) -> str | None:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        parts += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        parts += [k for k in error.instance if k not in allowed][:1]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


@dataclass
class ReferenceServer:
    """State and behaviour of the reference implementation. Subclass hooks let the catalog break it."""

    api_keys: frozenset[str] = frozenset({DEFAULT_API_KEY})
    models: frozenset[str] = field(default_factory=lambda: frozenset(documented_models()))
    schemas: Schemas = field(default_factory=load_schemas)
    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Where each id ever created sits in the list's order (created_at, then creation): a cursor names a place
    # that stays put while others are created and deleted, also when the cursor's own object is gone.
    places: dict[str, tuple[int, Any]] = field(default_factory=dict)

    # -- pieces a broken variant overrides ----------------------------------------------------
    def error(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Response:
        return error(status, message, param=param, code=code)

    def request_validator(self) -> Draft202012Validator:
        return self.schemas.validator(REQUEST)

    def new_id(self) -> str:
        return "asst_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")

    def now(self) -> int:
        return int(time.time())

    def parse(self, raw: bytes) -> Any:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)

    def authorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header:
            return self.error(401, "You didn't provide an API key. Provide it in an Authorization header as 'Bearer KEY'.")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            return self.error(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        """The assistant object for a validated request."""
        props = self.schemas.request["properties"]

        def value(name: str) -> Any:
            if body.get(name) is None and "default" in props[name]:
                return props[name]["default"]
            return body.get(name)

        obj = {
            "id": self.new_id(),
            "object": "assistant",
            "created_at": self.now(),
            "name": body.get("name"),
            "description": body.get("description"),
            "model": body["model"],
            "instructions": body.get("instructions"),
            "tools": value("tools"),
            "tool_resources": self.resources(body.get("tool_resources", {})),
            "metadata": body.get("metadata", {}),
            "temperature": value("temperature"),
            "top_p": value("top_p"),
            "response_format": value("response_format"),
        }
        for name in props:  # fields of another profile (e.g. reasoning_effort): returned as sent
            if name not in obj and name in body:
                obj[name] = body[name]
        return obj

    def resources(self, given: dict[str, Any] | None) -> dict[str, Any] | None:
        if given is None:
            return None
        out: dict[str, Any] = {}
        if "code_interpreter" in given:
            out["code_interpreter"] = {"file_ids": given["code_interpreter"].get("file_ids", [])}
        if "file_search" in given:
            search = given["file_search"]
            if "vector_store_ids" in search:
                out["file_search"] = {"vector_store_ids": search["vector_store_ids"]}
            else:
                created = ["vs_" + secrets.token_hex(12) for _ in search.get("vector_stores", [])]
                out["file_search"] = {"vector_store_ids": created}
        return out

    def respond(self, obj: dict[str, Any], status: int = 200) -> Response:
        return JSONResponse(obj, status_code=status)

    # -- endpoints ----------------------------------------------------------------------------
    async def body_of(self, request: Request) -> Any:
        """The request's JSON body, or the error that refuses it (too large, not JSON) as a ``Response``."""
        raw = await request.body()
        if len(raw) > MAX_REQUEST_BYTES:
            return self.error(413, f"The request body exceeds {MAX_REQUEST_BYTES} bytes.")
        try:
            return self.parse(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return self.error(400, f"We could not parse the JSON body of your request. ({exc})")

    def refused(self, validator: Draft202012Validator, body: Any) -> Response | None:
        """The 400 for a body that breaks its schema, the 404 for a model the server does not serve, or None."""
        first = best_match(validator.iter_errors(body))
        if first is not None:
            return self.error(400, f"Invalid request: {first.message[:500]}", param=_param(first),
                              code="invalid_value" if first.validator != "required" else "missing_required_parameter")
        if "model" in body and body["model"] not in self.models:
            return self.error(404, f"The model '{body['model'][:200]}' does not exist", param="model",
                              code="model_not_found")
        return None

    async def create(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        body = await self.body_of(request)
        if isinstance(body, Response):
            return body
        problem = self.validate(body)
        if problem is not None:
            return problem
        obj = self.build(body)
        self.store[obj["id"]] = obj
        self.places[obj["id"]] = (obj["created_at"], len(self.places))
        return self.respond(obj)

    def validate(self, body: Any) -> Response | None:
        return self.refused(self.request_validator(), body)

    async def retrieve(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        obj = self.store.get(request.path_params["assistant_id"])
        if obj is None:
            return self.error(404, f"No assistant found with id '{request.path_params['assistant_id'][:200]}'.")
        return self.respond(obj)

    async def delete(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        assistant_id = request.path_params["assistant_id"]
        if self.store.pop(assistant_id, None) is None:
            return self.error(404, f"No assistant found with id '{assistant_id[:200]}'.")
        return JSONResponse({"id": assistant_id, "object": "assistant.deleted", "deleted": True})

    def modify_validator(self) -> Draft202012Validator:
        return self.schemas.validator(MODIFY)

    def apply(self, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """The object after a validated modify: each field sent replaces the stored one, the rest stays."""
        out = dict(obj)
        for name, value in body.items():
            out[name] = self.resources(value) if name == "tool_resources" else value
        return out

    async def modify(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        assistant_id = request.path_params["assistant_id"]
        obj = self.store.get(assistant_id)
        if obj is None:
            return self.error(404, f"No assistant found with id '{assistant_id[:200]}'.")
        body = await self.body_of(request)
        if isinstance(body, Response):
            return body
        problem = self.refused(self.modify_validator(), body)
        if problem is not None:
            return problem
        self.store[assistant_id] = self.apply(obj, body)
        return self.respond(self.store[assistant_id])

    def list_query(self, request: Request) -> dict[str, Any] | Response:
        """The query parameters as the list-query schema types them, or the 400 that refuses them."""
        query: dict[str, Any] = {}
        for name, value in request.query_params.multi_items():
            if name == "limit":
                try:
                    query[name] = int(value) if value.lstrip("-").isdigit() else float(value) if "." in value else value
                except ValueError:
                    query[name] = value
            else:
                query[name] = value
        first = best_match(self.schemas.validator(LIST_QUERY).iter_errors(query))
        if first is not None:
            return self.error(400, f"Invalid query parameter: {first.message[:500]}", param=_param(first),
                              code="invalid_value")
        return query

    def ordered(self, order: str) -> list[str]:
        """The ids of the list, in the order asked."""
        ids = sorted(self.store, key=lambda i: self.places[i])
        return ids if order == "asc" else ids[::-1]

    async def list_all(self, request: Request) -> Response:
        denied = self.authorized(request)
        if denied:
            return denied
        query = self.list_query(request)
        if isinstance(query, Response):
            return query
        props = self.schemas.resolved(LIST_QUERY)["properties"]
        limit = int(query.get("limit", props["limit"]["default"]))
        order = str(query.get("order", props["order"]["default"]))
        done = self.page(self.ordered(order), query, limit, order)
        if isinstance(done, Response):
            return done
        page, more = done
        data = [self.store[i] for i in page]
        return JSONResponse({"object": "list", "data": data, "first_id": page[0] if page else None,
                             "last_id": page[-1] if page else None, "has_more": more})

    def page(self, ids: list[str], query: dict[str, Any], limit: int, order: str) -> tuple[list[str], bool] | Response:
        """The page asked for: past the cursors, at most ``limit``, and whether more follow."""
        for name in ("after", "before"):
            cursor = query.get(name)
            if cursor is None:
                continue
            if cursor not in self.places:
                return self.error(400, f"No assistant found with id '{str(cursor)[:200]}'.", param=name)
            mark = self.places[cursor]
            follows = (name == "after") == (order == "asc")  # what comes after the cursor has a later place
            ids = [i for i in ids if (self.places[i] > mark if follows else self.places[i] < mark)]
        # before: the page that ends next to the cursor; otherwise the page that starts the (remaining) list
        page = ids[-limit:] if "before" in query and "after" not in query else ids[:limit]
        return page, len(ids) > limit

    def routes(self) -> list[Route]:
        return [
            Route("/assistants", self.create, methods=["POST"]),
            Route("/assistants", self.list_all, methods=["GET"]),
            Route("/assistants/{assistant_id}", self.retrieve, methods=["GET"]),
            Route("/assistants/{assistant_id}", self.modify, methods=["POST"]),
            Route("/assistants/{assistant_id}", self.delete, methods=["DELETE"]),
        ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error(status, f"{request.method} {request.url.path}: {getattr(exc, 'detail', 'error')}")


def create_app(server: ReferenceServer | None = None,
               mounts: Iterable[tuple[str, ReferenceServer]] = ()) -> Starlette:
    """The ASGI app: ``server`` under ``/v1``, and each extra server under ``{prefix}/v1``."""
    server = server or ReferenceServer()
    routes: list[Mount] = [Mount("/v1", routes=server.routes())]
    for prefix, extra in mounts:
        routes.append(Mount(f"{prefix.rstrip('/')}/v1", routes=extra.routes()))
    handlers: dict[Any, Callable[..., Any]] = {HTTPException: _http_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.server = server
    return app

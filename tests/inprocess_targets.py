"""Factories for ``conformance run --transport tests/inprocess_targets.py:NAME`` in the tests."""

from __future__ import annotations

import json

import httpx

from conformance.selftest.reference import ReferenceServer, create_app
from conformance.transport.inprocess import asgi_transport


def reference() -> httpx.BaseTransport:
    """The reference server, in-process through the ASGI bridge."""
    return asgi_transport(create_app(ReferenceServer()))


def crashes_on_long_names(base_url: str) -> httpx.BaseTransport:
    """The reference in-process, but a mock that raises on names longer than 100 characters."""
    inner = asgi_transport(create_app(ReferenceServer()))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.startswith(httpx.URL(base_url).path)
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("name"), str) and len(body["name"]) > 100:
            raise RuntimeError("names longer than 100 characters are not supported")
        return inner.handle_request(request)

    return httpx.MockTransport(handler)


def not_a_transport() -> object:
    return object()

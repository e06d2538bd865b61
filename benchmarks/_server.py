"""The reference server as ``conformance serve`` builds it, plus a count of the requests each mount received.

Run as ``python -m benchmarks._server --port P [--catalog]``: the same app (``create_app`` with the same
catalog mounts) under the same ``uvicorn.run`` call as ``conformance serve``, wrapped in an ASGI middleware
that counts requests per mount (``/v1`` counts under ``""``, ``/broken/NAME/v1`` under ``/broken/NAME``).
``GET /_bench/counts`` answers the counts as JSON, so both tools are counted the same way, server-side.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

import uvicorn

from conformance.selftest.reference import DEFAULT_API_KEY, ReferenceServer, create_app

COUNTS_PATH = "/_bench/counts"


class Counting:
    """ASGI middleware: one increment per HTTP request, keyed by the mount the path falls under."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == COUNTS_PATH:
                body = json.dumps(self.counts).encode()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
            self.counts[path.split("/v1", 1)[0] if "/v1" in path else path] += 1
        await self.app(scope, receive, send)


def build(catalog: bool) -> Counting:
    keys = frozenset({DEFAULT_API_KEY})
    mounts = []
    if catalog:
        from conformance.selftest.catalog import DEFECTS, VARIANTS

        for name, factory in {**DEFECTS, **VARIANTS}.items():
            server = factory()
            server.api_keys = keys
            mounts.append((f"/broken/{name}" if name in DEFECTS else f"/variant/{name}", server))
    return Counting(create_app(ReferenceServer(api_keys=keys), mounts))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--catalog", action="store_true")
    ns = parser.parse_args()
    uvicorn.run(build(ns.catalog), host="127.0.0.1", port=ns.port, log_level="warning")


if __name__ == "__main__":
    main()

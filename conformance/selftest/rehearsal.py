"""Rehearsing real-world conditions with the reference server (``conformance serve`` options).

A paid API is slow, pushes back with 429, and must be left clean; these let a run be rehearsed (and the
suite's own safety tested) against a server on loopback:

- ``--inspect``: ``GET /_inspect`` answers the number of API requests served, the 429s sent, the ids in
  the reference's store (and in each catalog server's, under ``mounted``), and a log of recent requests
  (method, path, status, time). Not part of the API.
- ``--latency S``: every answer leaves S seconds after it was decided (the store already changed), so an
  interrupt can land while a create is in flight.
- ``--throttle N``: every N-th API request is answered 429, asking to wait ``--throttle-wait`` seconds in
  the header ``--throttle-header`` (``retry-after``, ``retry-after-ms`` or ``x-ratelimit-reset-requests``).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from typing import Any

__all__ = ["THROTTLE_HEADERS", "Rehearsal"]

THROTTLE_HEADERS = ("retry-after", "retry-after-ms", "x-ratelimit-reset-requests")
_LOG = 10_000

Scope = dict[str, Any]


class Rehearsal:
    """ASGI middleware over the reference app; with no option set it passes everything through."""

    def __init__(self, app: Any, server: Any, *, others: dict[str, Any] | None = None, inspect: bool = False,
                 latency: float = 0.0, throttle: int = 0, throttle_wait: float = 1.0,
                 throttle_header: str = "retry-after") -> None:
        if throttle_header not in THROTTLE_HEADERS:
            raise ValueError(f"throttle_header must be one of {THROTTLE_HEADERS}")
        self.app, self.server, self.others = app, server, others or {}
        self.inspect, self.latency = inspect, max(0.0, latency)
        self.throttle, self.throttle_wait, self.throttle_header = max(0, throttle), throttle_wait, throttle_header
        self.requests = 0
        self.throttled = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=_LOG)

    def _wait_header(self) -> tuple[bytes, bytes]:
        wait = self.throttle_wait
        if self.throttle_header == "retry-after":
            return b"retry-after", str(math.ceil(wait)).encode()
        if self.throttle_header == "retry-after-ms":
            return b"retry-after-ms", str(round(wait * 1000)).encode()
        return b"x-ratelimit-reset-requests", f"{round(wait * 1000)}ms".encode()

    async def _json(self, send: Any, status: int, body: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                                *headers]})
        await send({"type": "http.response.body", "body": data})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.inspect and scope["path"] == "/_inspect":
            stores = {prefix: sorted(server.store) for prefix, server in self.others.items()}
            await self._json(send, 200, {"requests": self.requests, "throttled": self.throttled,
                                         "assistants": sorted(self.server.store), "mounted": stores,
                                         "log": list(self.log)})
            return
        self.requests += 1
        entry: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "time": time.time()}
        self.log.append(entry)
        if self.throttle and self.requests % self.throttle == 0:
            self.throttled += 1
            entry["status"] = 429
            error = {"error": {"message": "Rate limit reached for requests (rehearsal).", "type": "requests",
                               "param": None, "code": "rate_limit_exceeded"}}
            await self._json(send, 429, error, (self._wait_header(),))
            return

        async def late_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                if self.latency:
                    import anyio

                    await anyio.sleep(self.latency)
            await send(message)

        await self.app(scope, receive, late_send)

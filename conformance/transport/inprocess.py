"""In-process targets: the suite over an httpx transport instead of the network.

Part of the target seam (with ``client``). Three uses:

- a mock that lives in Python, given as a factory (``--transport module:factory``): openai-responses'
  respx router, an ``httpx.MockTransport``, anything with ``handle_request``;
- an ASGI app run in this process (``asgi_transport``; httpx's own ``ASGITransport`` is async-only and the
  suite, like Hypothesis, is synchronous);
- ``--dry-run``: the reference server answers in place of the target, every request is recorded, and
  nothing leaves the process.

An exception raised by an in-process target is answered as a server would answer a crash: 500.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import random
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx

__all__ = ["ASGIBridge", "DryRunTransport", "InProcessTarget", "Recorded", "asgi_transport", "load_transport",
           "transport_factory"]


class InProcessTarget(httpx.BaseTransport):
    """Wraps an in-process transport so it behaves like a server in a process of its own.

    What it raises (other than a transport error) is answered 500, as a server answers a crash. It gets
    a global ``random`` state of its own: Hypothesis seeds the global one for every example it runs, and a
    mock drawing its ids from ``random`` would otherwise hand out the same id again and again.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self._random_state = random.Random().getstate()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        outer = random.getstate()
        random.setstate(self._random_state)
        try:
            response = self.inner.handle_request(request)
            return _unread(response)
        except httpx.TransportError:
            raise
        except Exception as exc:
            text = f"the in-process target raised {type(exc).__name__}: {exc}"
            return _unread(httpx.Response(500, headers={"content-type": "text/plain; charset=utf-8"},
                                          content=text[:2000].encode("utf-8", errors="replace")))
        finally:
            self._random_state = random.getstate()
            random.setstate(outer)

    def close(self) -> None:
        self.inner.close()


def _unread(response: httpx.Response) -> httpx.Response:
    """The response with its body in a fresh stream (a ``Response(content=...)`` counts as already read,
    and the suite reads raw streams)."""
    headers = httpx.Headers(response.headers)
    if response.is_stream_consumed:
        raw = response.content  # already decoded, if it was encoded
        headers.pop("content-encoding", None)
    else:
        raw = b"".join(response.iter_raw())
        response.close()
    return httpx.Response(response.status_code, headers=headers, stream=httpx.ByteStream(raw))


class ASGIBridge(httpx.BaseTransport):
    """A synchronous transport into an ASGI app, whose event loop runs in a helper thread."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._portal_cm: AbstractContextManager[Any] | None = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(content))

        return self._portal.call(call)

    def close(self) -> None:
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None


def asgi_transport(app: Any) -> httpx.BaseTransport:
    """Serve an ASGI app in-process to the suite (its crashes answered 500)."""
    return InProcessTarget(ASGIBridge(app))


@dataclass(frozen=True)
class Recorded:
    method: str
    url: str
    body: bytes


class DryRunTransport(httpx.BaseTransport):
    """Records every request for the target and lets ``app`` (the reference server) answer it.

    The target's base path is swapped for the app's ``/v1``; no socket is ever opened.
    """

    def __init__(self, app: Any, base_url: str) -> None:
        self.bridge = ASGIBridge(app)
        self.base_path = httpx.URL(base_url).path.rstrip("/")
        self.requests: list[Recorded] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(Recorded(request.method, str(request.url), body))
        path = request.url.path
        rest = path[len(self.base_path):] if path.startswith(self.base_path) else path
        url = httpx.URL("http://dry-run.invalid/v1" + rest, query=request.url.query)
        return self.bridge.handle_request(httpx.Request(request.method, url, headers=request.headers, content=body))

    def close(self) -> None:
        self.bridge.close()


def _import(spec: str) -> Any:
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--transport {spec!r} is not 'package.module:factory' or 'path/to/file.py:factory'")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ValueError(f"--transport {spec!r}: no file {path}")
        name = f"conformance_transport_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"--transport {spec!r}: cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"--transport {spec!r}: cannot import {module_name} ({exc})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"--transport {spec!r}: {module_name} has no {attr!r}") from None


_FACTORIES: dict[str, Any] = {}


def transport_factory(spec: str) -> Any:
    """The callable ``spec`` names, imported once per process (a file is executed once), or ``ValueError``
    saying why it cannot be had: the run's options are checked with it before any test starts."""
    if spec not in _FACTORIES:
        factory = _import(spec)
        if not callable(factory):
            raise ValueError(f"--transport {spec!r} is not callable")
        _FACTORIES[spec] = factory
    return _FACTORIES[spec]


def load_transport(spec: str, base_url: str) -> httpx.BaseTransport:
    """The transport a factory named by ``spec`` builds; it is called with ``base_url=`` if it takes it."""
    factory = transport_factory(spec)
    try:
        takes_base = "base_url" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_base = False
    transport = factory(base_url=base_url) if takes_base else factory()
    if not hasattr(transport, "handle_request"):
        raise ValueError(f"--transport {spec!r} returned {type(transport).__name__}, not an httpx transport")
    return InProcessTarget(transport)

"""Serve an ASGI app with uvicorn on a free loopback port, in a background thread of this process; or run a
server command in a process of its own (``server_process``)."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from conformance.endpoints import RESOURCES

READY = RESOURCES[0].probe_path  # a path every server of the resource answers

__all__ = ["ServerThread", "answering", "free_port", "server_process", "started_process", "stop"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """``with ServerThread(app) as url:`` serves ``app`` at ``url`` (``http://127.0.0.1:PORT``) until exit."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@contextmanager
def started_process(argv: Sequence[str], port: int, timeout: float = 30.0, *, ready: str = READY,
                    cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv``, a server listening on loopback ``port``, in a process of its own until exit; yields the
    process once ``GET ready`` gets an answer. Its stderr is kept in a temporary file: the end of it is
    in the error when the server does not start."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; servers may log the crashes they are built to have
    proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=log, cwd=cwd,
                            env=None if env is None else dict(env))
    root = f"http://127.0.0.1:{port}"
    try:
        if not answering(root + ready, proc, time.monotonic() + timeout):
            log.seek(0)
            err = log.read().decode(errors="replace")[-800:]
            raise RuntimeError(f"the server {' '.join(argv[:4])}... did not start on {root}: {err}")
        yield proc
    finally:
        stop(proc)
        log.close()


def answering(url: str, proc: subprocess.Popen[Any], deadline: float) -> bool:
    """Poll ``url`` until it gets an answer (True), or ``proc`` exits or the deadline passes (False)."""
    while True:
        try:
            httpx.get(url, timeout=5)
            return True
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def stop(proc: subprocess.Popen[Any]) -> None:
    """End a server process: politely, then for good after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def server_process(argv: Sequence[str], port: int, timeout: float = 30.0, *, ready: str = READY,
                   cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``started_process``, yielding the server's root URL (``http://127.0.0.1:PORT``)."""
    with started_process(argv, port, timeout, ready=ready, cwd=cwd, env=env):
        yield f"http://127.0.0.1:{port}"

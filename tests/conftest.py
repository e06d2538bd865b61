"""Shared fixtures: real servers on free loopback ports, and a way to run the command line."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance._server import free_port

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``conformance ARGS`` in a subprocess, as a user types it."""
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="session")
def reference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``conformance serve`` in its own process on a free port; yields the base URL (``.../v1``)."""
    port = free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "serve", "--port", str(port)],
                            stdout=log, stderr=log, cwd=ROOT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/assistants/x", timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("conformance serve did not start")
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture(scope="session")
def catalog_url() -> Iterator[str]:
    """``conformance serve --catalog`` in its own process; yields its root URL (targets under /broken, /variant)."""
    from conformance._selftest import catalog_server

    with catalog_server() as root:
        yield root

"""Shared fixtures: real servers on free loopback ports, and a way to run the command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.transport.server import free_port, server_process

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``conformance ARGS`` in a subprocess, as a user types it."""
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="session")
def reference_url() -> Iterator[str]:
    """``conformance serve`` in its own process on a free port; yields the base URL (``.../v1``)."""
    port = free_port()
    with server_process([sys.executable, "-m", "conformance", "serve", "--port", str(port)], port, cwd=ROOT) as root:
        yield root + "/v1"


@pytest.fixture(scope="session")
def catalog_url() -> Iterator[str]:
    """``conformance serve --catalog`` in its own process; yields its root URL (targets under /broken, /variant)."""
    from conformance.selftest.run import catalog_server

    with catalog_server() as root:
        yield root

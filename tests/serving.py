"""Helpers for real-world tests: ``conformance serve`` in a subprocess, inspected through ``GET /_inspect``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "conformance-test-key"


@dataclass
class Served:
    """A running ``conformance serve --inspect``: its base URL and a view of what it saw.

    One client for every look: tests poll ``/_inspect`` every few milliseconds while a run goes on, and
    ``httpx.get`` builds a client (and its TLS context, ~25 ms of CPU) each time."""

    base: str
    root: str
    client: httpx.Client

    def inspect(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get(self.root + "/_inspect").json()
        return data


@contextmanager
def serve(*args: str) -> Iterator[Served]:
    """``conformance serve --inspect ARGS`` on a free port, stopped at the end."""
    from conformance.runner.selftest import serve as serve_process

    with serve_process("--inspect", *args, ready="/_inspect", cwd=ROOT) as root, \
            httpx.Client(timeout=10) as client:
        yield Served(root + "/v1", root, client)


def run(*args: str, timeout: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``conformance run ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "conformance", "run", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


def report(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "compliance.json").read_text(encoding="utf-8"))
    return data


def verdicts(directory: Path) -> dict[str, str]:
    return {row["id"]: row["verdict"] for row in report(directory)["requirements"]}


def failed(directory: Path) -> set[str]:
    return {rid for rid, verdict in verdicts(directory).items() if verdict == "failed"}


def non_finite(value: Any) -> bool:
    """Whether a payload holds NaN or an infinity anywhere (a string such as "Infinity" does not count)."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(non_finite(v) for v in value)
    return False

"""Shared fixtures: real servers on free loopback ports, and a way to run the command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class CatalogProgress:
    """A line on the terminal as each catalog entry finishes (tests/test_catalog.py), also under pytest-xdist:
    the workers' reports reach the controller, which prints ``catalog [ 37/185] ok   defect  NAME ...``
    (pytest alone would show the catalog's outcome only at the end of the run)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config, self.count = config, 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if report.when != "call" or "catalog" not in props:
            return
        self.count += 1
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        total = str(props.get("catalog_total", "?"))
        reporter.ensure_newline()
        reporter.write_line(f"catalog [{self.count:>{len(total)}}/{total}] {props['catalog']}")
        reporter.flush()  # CI's output is a pipe: show the line now


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The catalog's entries (185 short tests of about the same length) last: under xdist they fill the
    workers up evenly at the end, instead of a long test starting last while the other workers are idle."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_catalog.py::"))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or the only process), which has the terminal
        config.pluginmanager.register(CatalogProgress(config), "catalog-progress")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``conformance ARGS`` in a subprocess, as a user types it."""
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.fixture(scope="session")
def reference_url() -> Iterator[str]:
    """``conformance serve`` in its own process on a free port; yields the base URL (``.../v1``)."""
    from conformance.runner.selftest import serve

    with serve(cwd=ROOT) as root:
        yield root + "/v1"


@pytest.fixture(scope="session")
def catalog_url() -> Iterator[str]:
    """``conformance serve --catalog`` in its own process; yields its root URL (targets under /broken, /variant)."""
    from conformance.runner.selftest import catalog_server

    with catalog_server() as root:
        yield root

"""Resident memory of a run against a target whose every answer is oversized: prints figures, asserts nothing.

    .venv/bin/python scripts/bench_memory.py [FAULT] [-k EXPRESSION]

runs the suite in this process (so its RSS can be sampled) against a fault server of ``tests/faults.py``
(default ``endless-chunked``: an endless body on every create) and prints the RSS every 25 tests, the peak,
and the RSS after ``malloc_trim`` (what the allocator held but nothing used). Default selection:
``test_refused`` (246 tests, about 600 answers cut at the 8 MiB cap); it takes a minute or two.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import resource
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults import FAULTS, FaultServer


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler:
    def __init__(self) -> None:
        self.tests = 0

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.tests += 1
        if self.tests % 25 == 0:
            print(f"after {self.tests:4d} tests: RSS {rss_mb():6.0f} MB, peak {peak_mb():6.0f} MB", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fault", nargs="?", default="endless-chunked", choices=sorted(FAULTS))
    parser.add_argument("-k", dest="select", default="test_refused")
    ns = parser.parse_args()
    sampler = Sampler()
    started = time.monotonic()
    with FaultServer(FAULTS[ns.fault], only_create=True) as server:
        pytest.main(["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-q", "--tb=no", "--no-header",
                     "--target-url", server.base_url, "--request-timeout", "5", "--max-examples", "2",
                     "-k", ns.select], plugins=[sampler])
        requests = len(server.requests)
    gc.collect()
    print(f"\n{ns.fault}, -k {ns.select!r}: {sampler.tests} tests, {requests} requests, "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    print(f"peak RSS {peak_mb():.0f} MB; RSS at the end {rss_mb():.0f} MB", file=sys.stderr)
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"RSS after malloc_trim {rss_mb():.0f} MB (the rest was freed memory the allocator kept)", file=sys.stderr)


if __name__ == "__main__":
    main()

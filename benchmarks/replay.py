"""Replay against live: the full default suite (seed 0, 25 examples), timed in the same run.

Each run is ``conformance run`` in a process of its own, as a user types it:

- live, embedded: against the embedded reference server (a thread of the run), no cassettes: the default run;
- live, served: against ``conformance serve`` in another process, no cassettes;
- live, +N ms: the same served reference, answering each request N ms late (``--latency N``; a stand-in
  for a remote API, whose round trips the loopback runs above do not have);
- record: the embedded server, ``--record-mode once`` into a fresh folder;
- replay: ``--replay`` that folder, no server at all.

For each: wall-clock seconds of the process, CPU seconds it used (user + system; the served targets' own
CPU is not counted), and the session time pytest reports; the median of ``--repeat`` rounds. Then the
ratios live / replay. Figures only, no assertion: on a shared machine wall-clock time varies with the load,
CPU time much less.

    .venv/bin/python benchmarks/replay.py [--repeat 3] [--latency 100]
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conformance.transport.server import free_port, server_process

# The reference app, each answer delayed by argv[2] milliseconds, served by uvicorn on port argv[1].
_SLOW_SERVER = """
import asyncio, sys, uvicorn
from conformance.selftest.reference import create_app
app, delay = create_app(), float(sys.argv[2]) / 1000
async def slow(scope, receive, send):
    if scope["type"] == "http":
        await asyncio.sleep(delay)
    await app(scope, receive, send)
uvicorn.run(slow, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
"""


@contextmanager
def served(latency_ms: float = 0) -> Iterator[str]:
    """The reference server in a process of its own (answering ``latency_ms`` late); yields its base URL."""
    port = free_port()
    command = ([sys.executable, "-c", _SLOW_SERVER, str(port), str(latency_ms)] if latency_ms
               else [sys.executable, "-m", "conformance", "serve", "--port", str(port)])
    with server_process(command, port) as root:
        yield root + "/v1"


def timed(*args: str) -> tuple[float, float, float]:
    """(wall s, CPU s, pytest session s) of ``conformance run ARGS``."""
    with tempfile.TemporaryDirectory() as reports:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "conformance", "run", "--report-dir", reports, *args],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    found = re.search(r"(\d+) passed in ([\d.]+)s", result.stdout)
    if result.returncode != 0 or not found:
        raise SystemExit(f"conformance run {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}")
    return wall, cpu, float(found[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is printed (default 3)")
    parser.add_argument("--latency", type=float, default=0,
                        help="also run live against a served reference answering N ms late (default: not run)")
    ns = parser.parse_args()
    key = ("--api-key", "conformance-test-key")
    slow = f"live, +{ns.latency:g} ms"
    rows: dict[str, list[tuple[float, float, float]]] = {"live, embedded": [], "live, served": []}
    if ns.latency:
        rows[slow] = []
    rows.update({"record": [], "replay": []})
    with tempfile.TemporaryDirectory() as tmp, served() as base, served(ns.latency) as slow_base:
        for round_ in range(ns.repeat):
            cassettes = str(Path(tmp) / f"round{round_}")
            rows["live, embedded"].append(timed())
            rows["live, served"].append(timed("--target", base, *key))
            if ns.latency:
                rows[slow].append(timed("--target", slow_base, *key))
            rows["record"].append(timed("--record-mode", "once", "--cassette-dir", cassettes))
            rows["replay"].append(timed("--replay", cassettes))
        files = list((Path(tmp) / "round0").rglob("*.yaml"))
        size = sum(p.stat().st_size for p in files)
    median = {name: tuple(statistics.median(run[i] for run in runs) for i in range(3)) for name, runs in rows.items()}
    print(f"full default suite (seed 0, 25 examples), median of {ns.repeat} rounds; "
          f"cassettes: {len(files)} files, {size / 1e6:.1f} MB")
    print(f"{'run':16} {'wall s':>8} {'CPU s':>8} {'session s':>10}")
    for name, (wall, cpu, session) in median.items():
        print(f"{name:16} {wall:8.2f} {cpu:8.2f} {session:10.2f}")
    replay = median["replay"]
    for name in rows:
        if name.startswith("live"):
            wall, cpu, session = median[name]
            print(f"{name} / replay: {wall / replay[0]:.2f}x wall, {cpu / replay[1]:.2f}x CPU, "
                  f"{session / replay[2]:.2f}x session")
    return 0


if __name__ == "__main__":
    sys.exit(main())

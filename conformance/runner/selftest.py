"""Run the suite against every server of the self-test catalog and score it.

One uvicorn process serves the whole catalog (``conformance serve --catalog``) on loopback; each entry is
then a real run of ``conformance run`` through the CLI's own entry point, in a pool of forked worker
processes (``--workers``, no interpreter start-up per entry), several entries at a time. A line is printed as
each entry finishes: ``[37/185] ok   defect  NAME  expected ...  got ...  4.2s``.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from conformance.endpoints import RESOURCES
from conformance.selftest.catalog import DEFECTS, EVERY, EXPECTED, EXPECTED_EXIT, VARIANTS
from conformance.selftest.reference import DEFAULT_API_KEY
from conformance.selftest.registry import selection
from conformance.transport.server import answering, stop

READY = RESOURCES[0].probe_path  # a path every server of the resource answers

__all__ = ["Outcome", "catalog_server", "describe", "fork_pool", "progress_line", "run_entry", "run_target", "score", "serve"]


@dataclass(frozen=True)
class Outcome:
    name: str
    kind: str  # "defect" or "variant"
    exit_code: int
    failed: tuple[str, ...]
    expected: tuple[str, ...]
    seconds: float
    requests: int
    output: str
    every: tuple[str, ...] = ()  # each of these must be among the failed requirements
    expected_exit: int = 1  # 2: the run must end with no verdict
    passed: int = 0  # requirements the run reported passed

    @property
    def correct(self) -> bool:
        if self.kind == "variant":
            return self.exit_code == 0
        if self.expected_exit == 2:  # nothing to judge: said so, and no requirement passed or failed
            return self.exit_code == 2 and self.passed == 0 and not self.failed
        return (self.exit_code == 1 and bool(set(self.failed) & set(self.expected))
                and set(self.every) <= set(self.failed))

    @property
    def wanted(self) -> str:
        """What the suite must say of this entry."""
        if self.kind == "variant":
            return "pass (exit 0)"
        if self.expected_exit == 2:
            return "no verdict (exit 2)"
        want = "|".join(self.expected)
        if self.every:
            want += " incl. " + "+".join(self.every)
        return f"fail {want}"

    @property
    def obtained(self) -> str:
        """What the suite said of it."""
        return f"exit {self.exit_code}" + (f", failed {','.join(self.failed)}" if self.failed else "")


@contextmanager
def serve(*args: str, ready: str = READY, cwd: str | Path | None = None,
          timeout: float = 60.0) -> Iterator[str]:
    """``conformance serve --port 0 ARGS`` in a process of its own until exit; yields its root URL
    (``http://127.0.0.1:PORT``) once ``GET ready`` is answered.

    The server binds a free port itself and names it in its first line: no port is chosen beforehand that
    another process (a test's client, another run on the machine) could take in between, which made the
    readiness check be answered by someone else's server while this one failed to start."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "serve", "--port", "0", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None

    def failed(why: str) -> RuntimeError:
        log.seek(0)
        return RuntimeError(f"conformance serve {' '.join(args)}: {why}: {log.read().decode(errors='replace')[-800:]}")

    try:
        deadline = time.monotonic() + timeout
        if not select.select([proc.stdout], [], [], timeout)[0]:
            raise failed(f"no banner within {timeout:.0f} s")
        banner = proc.stdout.readline()  # printed in one flushed line, once the port is bound
        found = re.search(r"http://(\S+?):(\d+)/v1", banner)
        if found is None:
            raise failed(f"no address in its first line {banner!r}")
        root = f"http://{found[1]}:{found[2]}"
        if not answering(root + ready, proc, deadline):
            raise failed(f"not answering on {root}")
        yield root
    finally:
        stop(proc)
        proc.stdout.close()
        log.close()


@contextmanager
def catalog_server() -> Iterator[str]:
    """Start ``conformance serve --catalog`` on a free loopback port; yields its root URL."""
    with serve("--catalog") as root:
        yield root


def run_target(base_url: str, *, max_examples: int, seed: int, extra: Iterable[str] = ()) -> tuple[int, dict, str, float]:
    """``conformance run`` against ``base_url``; returns exit code, compliance report, output, seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "run", "--target", base_url, "--api-key", DEFAULT_API_KEY,
             "--max-examples", str(max_examples), "--seed", str(seed), "--report-dir", tmp, "--timeout", "20",
             *extra],
            capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.DEVNULL, timeout=300,
        )
        seconds = time.monotonic() - started
        path = Path(tmp) / "compliance.json"
        report = json.loads(path.read_text()) if path.exists() else {}
    return proc.returncode, report, proc.stdout[-4000:] + proc.stderr[-2000:], seconds


# What an entry is scored on is its compliance.json: the run's junit.xml and Allure results (a fifth of a catalog
# entry's CPU) are switched off, with the pytest options 'conformance run' passes on after '--' (an empty
# directory is none). tests/test_reports.py and tests/test_leaks.py check those reports on runs of their own.
# So are pytest's log capture, output capture and its hunt for unraisable exceptions (garbage collections
# at the end, in a worker forked from a large process): about an eighth of an entry's CPU, with the same
# requests and the same report (what a test prints goes to the entry's output instead).
_ONLY_COMPLIANCE = ("--alluredir=", "--junitxml=", "-p", "no:logging", "-p", "no:unraisableexception", "-s")


def run_entry(root: str, name: str, *, max_examples: int = 10, seed: int = 0) -> Outcome:
    """One catalog entry, served under ``root`` (a ``conformance serve --catalog``), run through the CLI's own
    entry point in this process: ``conformance run`` runs pytest in-process, so call this in a process of its
    own (a pool worker, as ``score`` does), not inside another pytest session."""
    from conformance.runner.cli import main as cli_main

    kind = "defect" if name in DEFECTS else "variant"
    prefix = "broken" if kind == "defect" else "variant"
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, redirect_stdout(out), redirect_stderr(out):
        started = time.monotonic()
        code = cli_main(["run", "--target", f"{root}/{prefix}/{name}/v1", "--api-key", DEFAULT_API_KEY,
                         "--max-examples", str(max_examples), "--seed", str(seed), "--report-dir", tmp,
                         "--timeout", "20", *selection(name), "--", *_ONLY_COMPLIANCE])
        seconds = time.monotonic() - started
        path = Path(tmp) / "compliance.json"
        report = json.loads(path.read_text()) if path.exists() else {}
    failed = tuple(r["id"] for r in report.get("requirements", []) if r["verdict"] == "failed")
    passed = sum(r["verdict"] == "passed" for r in report.get("requirements", []))
    requests = int(report.get("run", {}).get("requests", 0))
    return Outcome(name, kind, code, failed, tuple(sorted(EXPECTED.get(name, ()))), seconds, requests,
                   out.getvalue()[-4000:], tuple(sorted(EVERY.get(name, ()))), EXPECTED_EXIT.get(name, 1), passed)


def _one(job: tuple[str, str, int, int]) -> Outcome:
    root, name, max_examples, seed = job
    return run_entry(root, name, max_examples=max_examples, seed=seed)


def fork_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes forked from this one (its imports already done), each running many entries."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def score(names: Iterable[str] | None = None, *, max_examples: int = 10, seed: int = 0,
          workers: int = 2, progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every named catalog entry (default: all) and return the outcomes, in order; ``progress`` is
    called with each outcome as soon as it is known."""
    chosen = list(names) if names is not None else [*DEFECTS, *VARIANTS]
    with catalog_server() as root, fork_pool(workers) as pool:
        futures = {pool.submit(_one, (root, n, max_examples, seed)): n for n in chosen}
        done: dict[str, Outcome] = {}
        for future in as_completed(futures):
            outcome = future.result()
            done[outcome.name] = outcome
            if progress is not None:
                progress(outcome)
        return [done[n] for n in chosen]


def describe(o: Outcome) -> str:
    """``ok   defect  NAME  4.2s  expected ...; got ...``: whether the suite was right on an entry, and how long it took."""
    mark = "ok  " if o.correct else "MISS"
    return f"{mark} {o.kind:7} {o.name:38} {o.seconds:5.1f}s  expected {o.wanted}; got {o.obtained}"


def progress_line(o: Outcome, count: int, total: int) -> str:
    """``[ 37/185] ok   defect  NAME  4.2s  expected ...; got ...``: one entry, as it finishes."""
    return f"[{count:>{len(str(total))}}/{total}] {describe(o)}"


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Score the suite on the self-test catalog.")
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("names", nargs="*")
    ns = parser.parse_args()
    total = len(ns.names) if ns.names else len(DEFECTS) + len(VARIANTS)
    print(f"self-test: {total} catalog entries, {ns.workers} at a time, --max-examples {ns.max_examples}; "
          "a line as each finishes", flush=True)
    count = 0

    def progress(o: Outcome) -> None:
        nonlocal count
        count += 1
        print(progress_line(o, count, total), flush=True)

    outcomes = score(ns.names or None, max_examples=ns.max_examples, seed=ns.seed, workers=ns.workers,
                     progress=progress)
    defects = [o for o in outcomes if o.kind == "defect"]
    variants = [o for o in outcomes if o.kind == "variant"]
    for o in outcomes:
        if not o.correct:
            print(f"missed: {describe(o)}")
    flagged = sum(o.correct for o in defects)
    passed = sum(o.correct for o in variants)
    print(f"defects flagged with the right requirement: {flagged}/{len(defects)}")
    print(f"conforming variants passed: {passed}/{len(variants)}")
    return 0 if flagged == len(defects) and passed == len(variants) else 1


if __name__ == "__main__":
    sys.exit(main())

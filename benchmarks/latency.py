"""``python -m benchmarks.latency``: the default run against a target that is not on loopback (issue #15).

Prints figures, asserts nothing. For each injected latency (``conformance serve --latency S``, a subprocess on
loopback; 0, 0.1 and 0.3 s by default): the default ``conformance run`` at ``--concurrency`` 1, 4 and 16 (wall
time of the process, requests counted at the server, the outcome); pytest-xdist ``-n 4`` for comparison (the
alternative to sending ahead: tests in processes); Schemathesis (``st run``, every check, on the 2024-05-13
spec cut to the five assistant operations) with ``--workers`` 1, 4 and 16. At latency 0 also the ceiling: a raw
httpx loop posting one fixed body, and each run's requests per second as a share of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.__main__ import (
    SPEC,
    _env,
    _no_schemathesis_plugin,
    ceiling,
    machine,
    measured,
    say,
    schemathesis_cli,
    schemathesis_version,
)
from conformance.selftest.reference import DEFAULT_API_KEY
from conformance.transport.server import free_port, started_process

ROOT = Path(__file__).resolve().parent.parent
Figures = dict[str, Any]


@contextmanager
def served(latency: float) -> Iterator[str]:
    """``conformance serve --latency S --inspect`` on a free loopback port; its root URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "conformance", "serve", "--port", str(port), "--inspect", "--latency", str(latency)]
    with started_process(cmd, port, 60, ready="/_inspect", cwd=ROOT, env=_env()):
        yield f"http://127.0.0.1:{port}"


def _requests(root: str) -> int:
    return int(httpx.get(root + "/_inspect", timeout=10).json()["requests"])


def suite(root: str, concurrency: int, xdist: int = 0) -> Figures:
    """The default run against the server: ``conformance run --target ... [--concurrency N] [-- -n X]``."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "conformance", "run", "--target", root + "/v1", "--api-key", DEFAULT_API_KEY,
                "--report-dir", tmp, "--concurrency", str(concurrency), "--", *_no_schemathesis_plugin()]
        if xdist:
            argv += ["-n", str(xdist)]
        before = _requests(root)
        result = measured(argv, cwd=Path(tmp), env=_env())
        sent = _requests(root) - before
        report_path = Path(tmp) / "compliance.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    verdicts = {r["id"]: r["verdict"] for r in report.get("requirements", [])}
    return {"seconds": round(result.seconds, 2), "requests": sent, "exit_code": result.code,
            "outcome": report.get("summary", {}).get("outcome"), "verdicts": verdicts,
            "rps": round(sent / result.seconds, 1) if result.seconds else None}


def schemathesis(st_cli: Path, spec: Path, root: str, workers: int) -> Figures:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [str(st_cli), "run", str(spec), "--url", root + "/v1", "-H", f"Authorization: Bearer {DEFAULT_API_KEY}",
                "-H", "OpenAI-Beta: assistants=v2", "--checks", "all", "--seed", "0", "-n", "70",
                "--generation-database", "none", "--no-color", "--workers", str(workers)]
        before = _requests(root)
        result = measured(argv, cwd=Path(tmp), env=_env(NO_COLOR="1"))
        sent = _requests(root) - before
    return {"seconds": round(result.seconds, 2), "requests": sent, "exit_code": result.code,
            "rps": round(sent / result.seconds, 1) if result.seconds else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, action="append", help="seconds (repeatable; default 0, 0.1, 0.3)")
    parser.add_argument("--concurrency", type=int, action="append", help="N (repeatable; default 1, 4, 16)")
    parser.add_argument("--xdist", type=int, default=4, help="also pytest-xdist -n X at latency > 0 (0: skip; default 4)")
    parser.add_argument("--no-schemathesis", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    ns = parser.parse_args(argv)
    latencies = ns.latency or [0.0, 0.1, 0.3]
    levels = ns.concurrency or [1, 4, 16]
    figures: Figures = {"machine": machine(), "runs": []}
    m = figures["machine"]
    say(f"machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, {m['date']}, load average {m['load_start']}")
    st_cli = None if ns.no_schemathesis else schemathesis_cli()
    with tempfile.TemporaryDirectory() as tmp:
        spec = None
        if st_cli is not None and SPEC.exists():
            from benchmarks._spec import fixed_spec

            spec, _ = fixed_spec(SPEC, Path(tmp))
            figures["schemathesis_version"] = schemathesis_version(st_cli)
            say(f"Schemathesis: {figures['schemathesis_version']} (spec {SPEC.name}, GET and POST /assistants, "
                "GET, POST and DELETE /assistants/{assistant_id}; -n 70, every check)")
        else:
            say("Schemathesis: not installed or no spec: skipped")
        say("\nlatency  tool                          wall s  requests  req/s  outcome")

        def row(latency: float, tool: str, fig: Figures) -> None:
            fig.update({"latency": latency, "tool": tool})
            figures["runs"].append(fig)
            outcome = fig.get("outcome") or f"exit {fig['exit_code']}"
            extra = f"  ({fig['share_of_ceiling']:.1%} of the ceiling)" if "share_of_ceiling" in fig else ""
            say(f"{latency:5.1f}    {tool:28}  {fig['seconds']:6.1f}  {fig['requests']:8}  {fig['rps']:5}  "
                f"{outcome}{extra}")

        for latency in latencies:
            with served(latency) as root:
                # warm up the bytecode cache and the server (not measured)
                measured([sys.executable, "-m", "conformance", "run", "--target", root + "/v1", "--api-key",
                          DEFAULT_API_KEY, "--report-dir", tmp, "-k", "unauthorized"], cwd=Path(tmp), env=_env())
                top = None
                if latency == 0:
                    # on a server of its own: the assistants it creates stay, and the suite's list tests would
                    # page through thousands of them, and send more requests than on the other servers
                    with served(latency) as other:
                        top = ceiling(other + "/v1", 4.0)
                    figures["ceiling"] = top
                    say(f"  0.0    raw httpx loop (ceiling)      {top['seconds']:6.1f}  {top['requests']:8}  "
                        f"{top['rps']:5}")
                reference = None
                for n in levels:
                    fig = suite(root, n)
                    if top is not None and fig["rps"]:
                        fig["share_of_ceiling"] = fig["rps"] / top["rps"]
                    if reference is None:
                        reference = fig["verdicts"]
                    fig["same_verdicts_as_first"] = fig["verdicts"] == reference
                    row(latency, f"conformance --concurrency {n}", fig)
                if ns.xdist and latency > 0:
                    fig = suite(root, 1, ns.xdist)
                    fig["same_verdicts_as_first"] = fig["verdicts"] == reference
                    row(latency, f"conformance -n {ns.xdist} (xdist)", fig)
                if st_cli is not None and spec is not None:
                    for n in levels:
                        row(latency, f"schemathesis --workers {n}", schemathesis(st_cli, spec, root, n))
                time.sleep(0.1)
    same = all(r.get("same_verdicts_as_first", True) for r in figures["runs"])
    say(f"\nevery conformance run gave the same verdicts at a latency: {same}")
    figures["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    say(f"load average at the end: {figures['machine']['load_end']}")
    if ns.json:
        for r in figures["runs"]:
            r.pop("verdicts", None)
        ns.json.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

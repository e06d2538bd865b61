"""``python -m benchmarks [--catalog]``: the suite's speed and cost, measured against the field in one run.

Prints figures (and, with ``--json PATH``, writes them); asserts nothing. Everything runs against real
processes on loopback: the reference server is started by ``benchmarks._server`` (the app ``conformance
serve`` builds, with a per-mount request count), the suite by ``conformance run``, Schemathesis by ``st run``.

Default (about a minute): the machine; the default ``conformance run`` (wall time, peak RSS); the ceiling
(a plain httpx loop posting one fixed valid body); the suite against the same server (checked examples per
second, and the ratio to the ceiling); a replay of the exact requests the suite sent (the server's cost of
the suite's request mix); generation alone per strategy family; Schemathesis on the reference server if it
is installed (``pip install -e '.[bench]'``).

``--catalog`` (tens of minutes on 2 cores): every broken server and conforming variant of the self-test
catalog, through the suite and through Schemathesis with a baseline of what it reports on the reference
server; the requests each needed to find each defect.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conformance.contract.schemas import documented_models
from conformance.selftest.reference import DEFAULT_API_KEY
from conformance.transport.server import free_port, started_process

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(os.environ.get("BENCH_SPEC", "/work/shared/reference/openai-openapi-2024-05-13.yaml"))
HEADERS = {"Authorization": f"Bearer {DEFAULT_API_KEY}", "OpenAI-Beta": "assistants=v2",
           "Content-Type": "application/json"}
FIXED_BODY = b'{"model": "gpt-4o"}'
ST_MAX_EXAMPLES = 70  # Schemathesis examples per operation: about as many requests as our default run sends
ST_BASELINE_SEEDS = (0, 1, 2, 3)

Figures = dict[str, Any]


def say(text: str = "") -> None:
    print(text, flush=True)


# --- the machine -----------------------------------------------------------------------------------


def machine() -> Figures:
    cpu = "unknown"
    mem_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(), "load_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {name: _version(name) for name in ("hypothesis", "pytest", "httpx", "uvicorn", "starlette", "jsonschema")},
    }


def _version(name: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "-"


# --- processes ---------------------------------------------------------------------------------------


def _env(*, bytecode_cache: bool = True, **extra: str) -> dict[str, str]:
    """The environment of every process the benchmark starts: this one's, with bytecode caching on (Python's
    default; this machine sets PYTHONDONTWRITEBYTECODE), and the repository on the path (for
    ``benchmarks._plugin`` and ``benchmarks._server``). Without the cache, nothing is read from or written to
    ``__pycache__``: every module is compiled at every start, as in an image that never wrote its .pyc files."""
    env = {**os.environ, **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        empty = tempfile.mkdtemp(prefix="bench-no-pycache-")  # no .pyc to read there
        atexit.register(shutil.rmtree, empty, True)
        env["PYTHONPYCACHEPREFIX"] = empty
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _no_schemathesis_plugin() -> list[str]:
    """pytest arguments that keep Schemathesis' pytest plugin (installed by the bench extra) out of our runs,
    as on a machine without the extra: it makes every pytest start import and assertion-rewrite its package."""
    try:
        import importlib.metadata as md

        md.distribution("schemathesis")
    except Exception:
        return []
    return ["-p", "no:schemathesis"]


@dataclass(frozen=True)
class Measured:
    code: int
    seconds: float
    max_rss_mib: float
    output: str


# A small launcher process starts each measured command and reads its peak RSS with wait4. Started from
# this process directly, a child's ru_maxrss would count the pages it shares with this (large) process
# between fork and exec.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as fh:
    json.dump({"code": os.waitstatus_to_exitcode(status), "seconds": seconds, "max_rss_kib": usage.ru_maxrss}, fh)
"""


def measured(argv: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float = 900) -> Measured:
    """Run ``argv``; its exit code, wall time, and peak RSS (``wait4``'s ``ru_maxrss``, in a small launcher)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(result), *argv], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)
        output = proc.stdout.decode(errors="replace")
        if not result.exists():
            return Measured(proc.returncode or 2, 0.0, 0.0, output)
        figures = json.loads(result.read_text())
    return Measured(figures["code"], figures["seconds"], figures["max_rss_kib"] / 1024, output)


@dataclass(frozen=True)
class Server:
    root: str
    pid: int

    def cpu(self) -> float:
        """CPU seconds (user and system) the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(catalog: bool) -> Iterator[Server]:
    """``benchmarks._server`` in a subprocess on a free loopback port."""
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks._server", "--port", str(port), *(["--catalog"] if catalog else [])]
    with started_process(cmd, port, 60, ready="/_bench/counts", cwd=ROOT, env=_env()) as proc:
        yield Server(f"http://127.0.0.1:{port}", proc.pid)


def with_cpu(srv: Server, fn: Callable[[], Figures], requests: Callable[[Figures], int]) -> Figures:
    """``fn()``'s figures plus the server's CPU per request while it ran (and the client's, if it says)."""
    before = srv.cpu()
    figures = fn()
    used = srv.cpu() - before
    n = max(requests(figures), 1)
    figures["server_cpu_ms_per_request"] = round(used / n * 1000, 3)
    if "client_cpu_seconds" in figures:
        figures["client_cpu_ms_per_request"] = round(figures["client_cpu_seconds"] / n * 1000, 3)
        # Request and answer alternate, so with a core each the rate is bounded by the sum of the two.
        figures["cpu_bound_rps"] = round(1000 / (figures["client_cpu_ms_per_request"] + figures["server_cpu_ms_per_request"]), 1)
    return figures


def counts(root: str) -> dict[str, int]:
    return dict(httpx.get(root + "/_bench/counts", timeout=10).json())


# --- the ceiling and the replay -------------------------------------------------------------------


def ceiling(base: str, seconds: float) -> Figures:
    """A plain httpx loop posting one fixed valid body: requests per second."""
    url = base + "/assistants"
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        for _ in range(50):
            client.post(url, content=FIXED_BODY)
        sent = bad = 0
        started, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            bad += client.post(url, content=FIXED_BODY).status_code != 200
            sent += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"requests": sent, "seconds": round(elapsed, 3), "rps": round(sent / elapsed, 1), "non_200": bad,
            "client_cpu_seconds": round(cpu, 3)}


def replay(base: str, recorded: list[tuple[str, str, dict[str, str], bytes | None]]) -> Figures:
    """The exact requests the suite sent, sent again by a plain httpx loop: the server's cost of the mix."""
    prepared = [(method, base + path, {k: v.replace("***", DEFAULT_API_KEY) for k, v in headers.items()}, body)
                for method, path, headers, body in recorded]
    with httpx.Client(timeout=30) as client:
        started, cpu = time.perf_counter(), time.process_time()
        for method, url, headers, body in prepared:
            client.request(method, url, headers=headers, content=body)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = sum(len(b) for _, _, _, b in recorded if b)
    return {"requests": len(recorded), "seconds": round(elapsed, 3), "rps": round(len(recorded) / elapsed, 1),
            "body_mib": round(size / 2**20, 2), "client_cpu_seconds": round(cpu, 3)}


# --- the suite -------------------------------------------------------------------------------------


def suite_run(base: str, *, expected: Sequence[str] = (), record: Path | None = None,
              max_examples: int = 25, seed: int = 0) -> Figures:
    """``conformance run`` against ``base`` with the observer plugin; its figures and the report's."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        env = _env(BENCH_OUT=str(out), BENCH_EXPECTED=",".join(expected), BENCH_RECORD=str(record or ""))
        result = measured([sys.executable, "-m", "conformance", "run", "--target", base, "--api-key", DEFAULT_API_KEY,
                           "--max-examples", str(max_examples), "--seed", str(seed), "--report-dir", tmp,
                           "--timeout", "20", "--", "-p", "benchmarks._plugin", *_no_schemathesis_plugin()],
                           cwd=Path(tmp), env=env)
        figures: Figures = json.loads(out.read_text()) if out.exists() else {}
        report_path = Path(tmp) / "compliance.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    figures["exit_code"] = result.code
    figures["process_seconds"] = round(result.seconds, 2)
    figures["max_rss_mib"] = round(result.max_rss_mib, 1)
    figures["report_requests"] = report.get("run", {}).get("requests")
    figures["failed"] = sorted(r["id"] for r in report.get("requirements", []) if r["verdict"] == "failed")
    figures["summary"] = report.get("summary", {})
    if result.code not in (0, 1):
        figures["output"] = result.output[-1500:]
    return figures


def default_run(*, bytecode_cache: bool = True, cwd: Path | None = None) -> Figures:
    """``conformance run`` with no arguments (the embedded reference server), as a user types it; in a fresh
    directory unless ``cwd`` is given (Hypothesis keeps caches in ./.hypothesis, as a CI checkout has not)."""
    with tempfile.TemporaryDirectory() as tmp:
        where = cwd or Path(tmp)
        argv = [sys.executable, "-m", "conformance", "run", "--report-dir", str(where / "reports")]
        extra = _no_schemathesis_plugin()
        result = measured([*argv, "--", *extra] if extra else argv, cwd=where, env=_env(bytecode_cache=bytecode_cache))
        report = json.loads((where / "reports" / "compliance.json").read_text())
    return {"exit_code": result.code, "seconds": round(result.seconds, 2), "max_rss_mib": round(result.max_rss_mib, 1),
            "requests": report["run"]["requests"], "passed": report["summary"]["passed"],
            "requirements": report["summary"]["requirements"],
            "bytecode_cache": bytecode_cache, "fresh_directory": cwd is None}


def warm_up(st_cli: Path | None, spec: Path | None, base: str) -> Figures:
    """One short run of each tool, so the measured runs start with their bytecode cached, as a user's do."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        measured([sys.executable, "-m", "conformance", "run", "--report-dir", tmp, "-k", "unauthorized", "--",
                  *_no_schemathesis_plugin()], cwd=Path(tmp), env=_env())
        if st_cli is not None and spec is not None:
            measured([str(st_cli), "run", str(spec), "--url", base, "-n", "1", "--phases", "examples",
                      "--generation-database", "none"], cwd=Path(tmp), env=_env())
    return {"seconds": round(time.perf_counter() - started, 1)}


# --- generation alone --------------------------------------------------------------------------------


def _draw(strategy: Any, examples: int) -> tuple[int, float, int]:
    """Draw ``examples`` values the way the suite does (one ``@given`` per property); count, seconds, bytes."""
    from hypothesis import HealthCheck, given, seed, settings

    from conformance.transport.client import encode

    drawn: list[Any] = []

    @settings(max_examples=examples, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @seed(0)
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    started = time.perf_counter()
    draw()
    elapsed = time.perf_counter() - started
    return len(drawn), elapsed, sum(len(encode(v)) for v in drawn)


LARGEST = (
    "instructions:maxLength:at-limit",
    "instructions:maxLength:past-limit",
    "tool_resources.file_search.vector_stores[].file_ids:maxItems:at-limit",
    "tool_resources.file_search.vector_stores[].file_ids:maxItems:past-limit",
)


def generation(max_examples: int) -> Figures:
    from hypothesis import strategies as st

    from conformance.contract.schemas import load_schemas
    from conformance.generate.probes import probes, valid_requests
    from conformance.generate.strategies import Pools

    schemas = load_schemas()
    pools = Pools(models=documented_models(schemas))
    started = time.perf_counter()
    every = probes(pools, schemas)
    build = time.perf_counter() - started
    by_id = {p.id: p for p in every}
    out: Figures = {"probes": len(every), "probe_build_seconds": round(build, 3)}

    def family(name: str, jobs: list[tuple[Any, int]]) -> None:
        count = nbytes = 0
        seconds = 0.0
        for strategy, examples in jobs:
            n, s, b = _draw(strategy, examples)
            count, seconds, nbytes = count + n, seconds + s, nbytes + b
        out[name] = {"properties": len(jobs), "examples": count, "seconds": round(seconds, 3),
                     "examples_per_s": round(count / seconds, 1), "mean_body_bytes": nbytes // max(count, 1)}

    _draw(st.just(None), 1)  # Hypothesis' own first-use costs, outside every figure
    family("hypothesis_overhead_trivial", [(st.just(None), 1)] * 50)
    family("valid_requests", [(valid_requests(pools, schemas), max_examples)])
    for expect in ("accept", "reject"):
        chosen = [p for p in every if p.expect.startswith(expect) and p.id not in LARGEST]
        family(f"{expect}_probes", [(p.strategy, min(p.max_examples, max_examples)) for p in chosen])
    for pid in LARGEST:
        probe = by_id[pid]
        family(f"largest:{pid}", [(probe.strategy, min(probe.max_examples, max_examples))])
    return out


# --- Schemathesis -----------------------------------------------------------------------------------


def schemathesis_cli() -> Path | None:
    path = Path(sys.executable).with_name("st")
    return path if path.exists() else (Path(found) if (found := shutil.which("st")) else None)


def schemathesis_version(st_cli: Path) -> str:
    return subprocess.run([str(st_cli), "--version"], capture_output=True, text=True).stdout.strip()


def st_run(st_cli: Path, spec: Path, base: str, root: str, *, seed: int = 0, max_examples: int = ST_MAX_EXAMPLES,
           baseline: Path | None = None, extra: Sequence[str] = ()) -> Figures:
    """``st run`` against ``base`` with every check, the key and the beta header; figures, and requests counted
    at the server for ``base``'s mount."""
    mount = base[len(root):].rsplit("/v1", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        argv = [str(st_cli), "run", str(spec), "--url", base, "-H", f"Authorization: Bearer {DEFAULT_API_KEY}",
                "-H", "OpenAI-Beta: assistants=v2", "--checks", "all", "--seed", str(seed), "-n", str(max_examples),
                "--generation-database", "none", "--no-color", "--report", "json", "--report-dir", tmp,
                *(["--baseline", str(baseline)] if baseline else []), *extra]
        before = counts(root).get(mount, 0)
        result = measured(argv, cwd=Path(tmp), env=_env(NO_COLOR="1"))
        requests = counts(root).get(mount, 0) - before
        reports = sorted(Path(tmp).glob("json-*.json"))
        report = json.loads(reports[0].read_text()) if reports else {}
    failures = [{"code": f.get("code"), "title": f.get("title"), "operations": f.get("operations")}
                for f in report.get("failures", [])]
    figures: Figures = {
        "exit_code": result.code, "seconds": round(result.seconds, 2), "requests": requests,
        "rps": round(requests / result.seconds, 1) if result.seconds else None,
        "max_rss_mib": round(result.max_rss_mib, 1), "test_cases": report.get("test_cases", {}).get("generated"),
        "failures": failures, "baseline_new": report.get("baseline", {}).get("new") if report.get("baseline") else None,
        "running_time": report.get("running_time"), "stop_reason": report.get("stop_reason"),
    }
    if not report:
        figures["output"] = result.output[-1500:]
    return figures


# --- the catalog ------------------------------------------------------------------------------------


def catalog(root: str, st_cli: Path | None, spec: Path | None, workers: int, max_examples: int,
            names: Sequence[str]) -> Figures:
    from conformance.selftest.catalog import DEFECTS, EXPECTED, VARIANTS

    baseline: Path | None = None
    out: Figures = {"entries": {}}
    if st_cli is not None and spec is not None:
        baseline = spec.parent / "baseline.json"
        runs = []
        for seed in ST_BASELINE_SEEDS:
            runs.append(st_run(st_cli, spec, root + "/v1", root, seed=seed, baseline=baseline,
                               extra=["--baseline-update", "--continue-on-failure"]))
        entries = json.loads(baseline.read_text())["entries"] if baseline.exists() else []
        out["baseline"] = {"seeds": list(ST_BASELINE_SEEDS), "entries": [
            f"{e['operation']} {e['check']} {e['failure']} {e['signature']}" for e in entries],
            "seconds": round(sum(r["seconds"] for r in runs), 1)}
        say(f"Schemathesis baseline on the reference server: {len(entries)} accepted failures, seeds {ST_BASELINE_SEEDS}")
        for entry in out["baseline"]["entries"]:
            say(f"  {entry}")

    chosen = list(names) or [*DEFECTS, *VARIANTS]

    def one(name: str) -> tuple[str, Figures]:
        kind = "defect" if name in DEFECTS else "variant"
        base = f"{root}/{'broken' if kind == 'defect' else 'variant'}/{name}/v1"
        expected = sorted(EXPECTED.get(name, ()))
        before = counts(root).get(base[len(root):-3], 0)
        ours = suite_run(base, expected=expected, max_examples=max_examples)
        ours["server_requests"] = counts(root).get(base[len(root):-3], 0) - before
        ours["flagged"] = ours["exit_code"] == 1 and bool(set(ours["failed"]) & set(expected))
        entry: Figures = {"kind": kind, "expected": expected, "ours": ours}
        if st_cli is not None and spec is not None:
            full = st_run(st_cli, spec, base, root, baseline=baseline)
            # The same run again, stopped at its first new failure (after shrinking it): the requests it needed.
            first = st_run(st_cli, spec, base, root, baseline=baseline, extra=["--max-failures", "1"]) \
                if full["failures"] else full
            entry["schemathesis"] = {"full": full, "first": first, "flagged": bool(full["failures"])}
        line = f"{kind:7} {name:38} ours: exit={ours['exit_code']} flagged={ours['flagged']} " \
               f"detected@{ours.get('detected_at')} run={ours['requests']}"
        if "schemathesis" in entry:
            sts = entry["schemathesis"]
            line += f" | st: flagged={sts['flagged']} first={sts['first']['requests']} run={sts['full']['requests']} " \
                    f"{','.join(f['code'] or '?' for f in sts['full']['failures'])}"
        say(line)
        return name, entry

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for name, entry in pool.map(one, chosen):
            out["entries"][name] = entry
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def catalog_table(result: Figures) -> None:
    entries = result["entries"]
    defects = {n: e for n, e in entries.items() if e["kind"] == "defect"}
    variants = {n: e for n, e in entries.items() if e["kind"] == "variant"}
    has_st = any("schemathesis" in e for e in entries.values())
    say()
    say("| defect | ours: flagged (requirement) | ours: requests to detection / to end of first failing test / whole run"
        + (" | Schemathesis: flagged (checks) | Schemathesis: requests to first failure / whole run |" if has_st else " |"))
    say("| --- | --- | --- |" + (" --- | --- |" if has_st else ""))
    for name, e in defects.items():
        o = e["ours"]
        hit = sorted(set(o["failed"]) & set(e["expected"]))
        cells = [name, ("yes " + ",".join(hit)) if o["flagged"] else f"NO (failed: {','.join(o['failed']) or '-'})",
                 f"{o.get('detected_at')} / {o.get('first_failed_test_end')} / {o['requests']}"]
        if has_st:
            s = e["schemathesis"]
            codes = sorted({f["code"] for f in s["full"]["failures"] if f["code"]})
            cells += [("yes " + ",".join(codes)) if s["flagged"] else "no",
                      f"{s['first']['requests'] if s['flagged'] else '-'} / {s['full']['requests']}"]
        say("| " + " | ".join(str(c) for c in cells) + " |")
    ours_flagged = [n for n, e in defects.items() if e["ours"]["flagged"]]
    say()
    say(f"ours: {len(ours_flagged)}/{len(defects)} defects flagged with an expected requirement; "
        f"{sum(e['ours']['exit_code'] == 0 for e in variants.values())}/{len(variants)} variants passed")
    if has_st:
        st_flagged = [n for n, e in defects.items() if e["schemathesis"]["flagged"]]
        say(f"Schemathesis: {len(st_flagged)}/{len(defects)} defects flagged (a failure beyond its reference "
            f"baseline); {sum(not e['schemathesis']['flagged'] for e in variants.values())}/{len(variants)} variants passed")
        both = [n for n in st_flagged if n in ours_flagged]
        missed = [n for n in st_flagged if n not in ours_flagged]
        def compare(key: str) -> str:
            pairs = [(defects[n]["ours"][key] or 10**9, defects[n]["schemathesis"]["first"]["requests"]) for n in both]
            return (f"fewer on {sum(a < b for a, b in pairs)}, as many on {sum(a == b for a, b in pairs)}, "
                    f"more on {sum(a > b for a, b in pairs)}")

        say(f"flagged by Schemathesis and by ours: {len(both)}; by Schemathesis only: {missed or 'none'}")
        say(f"  requests, ours to the end of its first failing test vs Schemathesis to its first failure: "
            f"{compare('first_failed_test_end')}")
        say(f"  requests, ours to the detecting request vs Schemathesis to its first failure: {compare('detected_at')}")
        for name, e in variants.items():
            if e["schemathesis"]["flagged"]:
                codes = sorted({f["code"] for f in e["schemathesis"]["full"]["failures"] if f["code"]})
                say(f"  Schemathesis flagged the conforming variant {name}: {','.join(codes)}")
    for name, e in variants.items():
        if e["ours"]["exit_code"] != 0:
            say(f"  ours flagged the conforming variant {name}: {e['ours']['failed']}")


# --- main --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", action="store_true", help="also the catalog comparison (tens of minutes)")
    parser.add_argument("--workers", type=int, default=2, help="catalog entries run at once (default 2)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the ceiling loop (default 4)")
    parser.add_argument("--max-examples", type=int, default=25, help="the suite's --max-examples (default 25)")
    parser.add_argument("--no-schemathesis", action="store_true", help="skip Schemathesis even if installed")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("names", nargs="*", help="with --catalog: only these catalog entries")
    ns = parser.parse_args(argv)

    figures: Figures = {"machine": machine()}
    m = figures["machine"]
    say(f"machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, {m['date']}, "
        f"load average {m['load_start']}")

    def step(name: str, fn: Callable[[], Figures]) -> Figures:
        started = time.perf_counter()
        result = fn()
        figures[name] = result
        say(f"\n[{name}] ({time.perf_counter() - started:.1f} s, load {[round(x, 2) for x in os.getloadavg()]})")
        for key, value in result.items():
            say(f"  {key}: {value}")
        return result

    st_cli = None if ns.no_schemathesis else schemathesis_cli()
    with tempfile.TemporaryDirectory() as tmp, server(ns.catalog) as srv:
        root = srv.root
        base = root + "/v1"
        spec = None
        if st_cli is None:
            say("Schemathesis: not installed (pip install -e '.[bench]'), skipped")
        elif not SPEC.exists():
            say(f"Schemathesis: no spec at {SPEC} (set $BENCH_SPEC), skipped")
        else:
            from benchmarks._spec import fixed_spec

            spec, renamed = fixed_spec(SPEC, Path(tmp))
            figures["schemathesis_version"] = schemathesis_version(st_cli)
            say(f"Schemathesis: {figures['schemathesis_version']}; spec {SPEC.name}: {renamed} repeated anchors renamed, "
                "cut to POST /assistants, GET and DELETE /assistants/{assistant_id}")
        step("warm_up", lambda: warm_up(st_cli, spec, base))
        step("default_run", default_run)
        same = Path(tmp) / "project"
        same.mkdir()
        default_run(cwd=same)  # leaves ./.hypothesis behind, as a developer's second run finds it
        step("default_run_again_same_directory", lambda: default_run(cwd=same))
        step("default_run_without_bytecode_cache", lambda: default_run(bytecode_cache=False))
        before = step("ceiling_before", lambda: with_cpu(srv, lambda: ceiling(base, ns.seconds), lambda f: f["requests"]))
        record = Path(tmp) / "requests.pickle"
        sent_before = counts(root).get("", 0)
        def run_suite() -> Figures:
            out = suite_run(base, record=record, max_examples=ns.max_examples)
            out["client_cpu_seconds"] = out["tests_cpu_seconds"]
            return out

        suite = step("suite", lambda: with_cpu(srv, run_suite, lambda f: f["requests"]))
        suite["server_requests"] = counts(root).get("", 0) - sent_before
        after = step("ceiling_after", lambda: with_cpu(srv, lambda: ceiling(base, ns.seconds), lambda f: f["requests"]))
        ceiling_rps = (before["rps"] + after["rps"]) / 2
        figures["ceiling_rps"] = ceiling_rps
        for key, seconds in (("tests", suite["tests_seconds"]), ("session", suite["session_seconds"]),
                             ("process", suite["process_seconds"])):
            rate = suite["requests"] / seconds
            suite[f"rps_{key}"] = round(rate, 1)
            suite[f"ratio_{key}"] = round(rate / ceiling_rps, 3)
        say(f"\nsuite: {suite['requests']} requests sent ({suite['server_requests']} counted at the server); checked "
            f"examples per second (test phase / pytest session / process): {suite['rps_tests']} / {suite['rps_session']} / "
            f"{suite['rps_process']}; of the ceiling ({ceiling_rps:.1f}/s, mean of before and after): "
            f"{suite['ratio_tests']:.1%} / {suite['ratio_session']:.1%} / {suite['ratio_process']:.1%}")
        cpu_ceiling = (before["cpu_bound_rps"] + after["cpu_bound_rps"]) / 2
        figures["cpu_bound_ratio"] = round(suite["cpu_bound_rps"] / cpu_ceiling, 3)
        say(f"  CPU per request, client / server: ceiling {before['client_cpu_ms_per_request']} / "
            f"{before['server_cpu_ms_per_request']} ms, suite {suite['client_cpu_ms_per_request']} / "
            f"{suite['server_cpu_ms_per_request']} ms; with a core each (no other load) the suite would run at "
            f"{suite['cpu_bound_rps']}/s, {figures['cpu_bound_ratio']:.1%} of the ceiling's {cpu_ceiling:.1f}/s")
        import pickle

        recorded = pickle.loads(record.read_bytes())
        replayed = step("replay", lambda: with_cpu(srv, lambda: replay(base, recorded), lambda f: f["requests"]))
        say(f"  replay of the suite's requests: {replayed['rps'] / ceiling_rps:.1%} of the ceiling; the suite's test phase "
            f"ran at {suite['rps_tests'] / replayed['rps']:.1%} of the replay")
        # The same, split: the few requests whose body passes 100 kB (the 256,000-code-point and 10,000-id
        # probes) against all the others.
        large = [r for r in recorded if r[3] is not None and len(r[3]) > 100_000]
        small = [r for r in recorded if not (r[3] is not None and len(r[3]) > 100_000)]
        step("replay_without_large_bodies", lambda: with_cpu(srv, lambda: replay(base, small), lambda f: f["requests"]))
        step("replay_large_bodies_only", lambda: with_cpu(srv, lambda: replay(base, large), lambda f: f["requests"]))
        step("generation", lambda: generation(ns.max_examples))
        if st_cli is not None and spec is not None:
            st_fig = step("schemathesis", lambda: with_cpu(srv, lambda: st_run(st_cli, spec, base, root),
                                                           lambda f: f["requests"]))
            say(f"  Schemathesis: {st_fig['rps']} requests/s over its whole process; {st_fig['rps'] / ceiling_rps:.1%} "
                "of the ceiling")
        if ns.catalog:
            figures["catalog"] = catalog(root, st_cli, spec, ns.workers, ns.max_examples, ns.names)
            catalog_table(figures["catalog"])
    figures["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    say(f"\nload average at the end: {figures['machine']['load_end']}")
    if ns.json:
        ns.json.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

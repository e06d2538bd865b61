"""The ledger: which requirement was exercised how often, by which checks, and the evidence of failures.

It is filled while the suite runs (a failure seen in any example counts, even one Hypothesis later
shrinks past) and turned into ``compliance.json`` at the end.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.contract.requirements import Requirement
from conformance.endpoints import RESOURCES
from conformance.transport.secrets import shown

if TYPE_CHECKING:
    from conformance.transport.client import Exchange

__all__ = ["Finding", "Ledger"]

_BODY_LIMIT = 4000


@dataclass(frozen=True)
class Finding:
    """One broken requirement, with what was expected, what came back, and the exchange that shows it."""

    requirement: str
    check: str
    title: str
    expected: str
    received: str
    test: str
    exchange: Exchange | None

    def __post_init__(self) -> None:
        if self.exchange is not None:  # a run keeps its findings to the end: keep only the start of the answer
            object.__setattr__(self, "exchange", self.exchange.clipped())

    def render(self) -> str:
        """The finding as pytest's failure message shows it (terminal, junit.xml): the title and the curl line
        carry ids the target chose, so the whole text is masked and made visible (``secrets.shown``)."""
        lines = [f"[{self.requirement}] {self.title}", f"  Expected: {self.expected}", f"  Received: {self.received}"]
        if self.exchange is not None:
            lines.append(f"  Reproduce: {self.exchange.curl()}")
        return shown("\n".join(lines))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check, "title": self.title, "expected": self.expected, "received": self.received,
            "test": self.test,
        }
        ex = self.exchange
        if ex is not None:
            payload = ex.sent.payload
            body_text = ex.sent.body.decode("utf-8", errors="replace") if ex.sent.body is not None else None
            out["request"] = {
                "method": ex.sent.method, "url": ex.sent.url, "headers": ex.sent.headers,
                "body": _clip(body_text) if body_text is not None else None,
                "json": payload if _small(payload) else None,
            }
            out["response"] = {
                "status": ex.received.status, "headers": ex.received.headers, "body": _clip(ex.received.text(_BODY_LIMIT)),
            }
            out["curl"] = ex.curl()
        return out


def _clip(text: str) -> str:
    return text if len(text) <= _BODY_LIMIT else text[:_BODY_LIMIT] + "…(truncated)"


def _small(payload: Any) -> bool:
    try:
        return len(json.dumps(payload, allow_nan=True)) <= _BODY_LIMIT
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class RemoteFinding:
    """A finding made in another process (a pytest-xdist worker), as that process reported it."""

    requirement: str
    title: str
    received: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


class Ledger:
    """Counts and evidence per requirement, for one run."""

    def __init__(self, requirements: dict[str, Requirement]) -> None:
        self.requirements = requirements
        self.examples: Counter[str] = Counter()
        self.checks: dict[str, set[str]] = defaultdict(set)
        self.failures: dict[str, Finding | RemoteFinding] = {}
        self.seen_ids: dict[str, str] = {}
        self.failure_counts: Counter[str] = Counter()
        self.target_errors: list[str] = []

    def passed(self, requirement: str, check: str) -> None:
        self.examples[requirement] += 1
        self.checks[requirement].add(check)

    def failed(self, finding: Finding, *, final: bool = False) -> None:
        """Record a failure; a final (shrunk) one replaces the first evidence."""
        self.checks[finding.requirement].add(finding.check)
        if not final:
            self.examples[finding.requirement] += 1
            self.failure_counts[finding.requirement] += 1
        if final or finding.requirement not in self.failures:
            self.failures[finding.requirement] = finding

    def to_wire(self) -> dict[str, Any]:
        """What a worker process sends back to the controller: plain JSON-able data."""
        return {
            "examples": dict(self.examples), "checks": {k: sorted(v) for k, v in self.checks.items()},
            "failure_counts": dict(self.failure_counts), "target_errors": list(self.target_errors),
            "failures": {rid: {"title": f.title, "received": f.received, "data": f.to_json()}
                         for rid, f in self.failures.items()},
            "seen_ids": dict(self.seen_ids),
        }

    def merge_wire(self, wire: dict[str, Any], unique_requirement: str) -> None:
        """Add a worker's ledger; an id two workers were both given breaks ``unique_requirement``."""
        self.examples.update(wire["examples"])
        for rid, names in wire["checks"].items():
            self.checks[rid].update(names)
        self.failure_counts.update(wire["failure_counts"])
        self.target_errors.extend(wire["target_errors"])
        for rid, f in wire["failures"].items():
            self.failures.setdefault(rid, RemoteFinding(rid, f["title"], f["received"], f["data"]))
        for resource_id, test in wire["seen_ids"].items():
            if resource_id in self.seen_ids and unique_requirement not in self.failures:
                data = {"check": "unique_id", "title": f"Two {RESOURCES[0].id_label}s were given the same id",
                        "expected": "a new id", "received": f"{resource_id!r} in {self.seen_ids[resource_id]} and {test}",
                        "test": test}
                self.failures[unique_requirement] = RemoteFinding(unique_requirement, data["title"], data["received"], data)
                self.failure_counts[unique_requirement] += 1
            self.seen_ids.setdefault(resource_id, test)

    def reset(self) -> None:
        """Forget every verdict: a run that found nothing to judge reports no requirement passed or failed."""
        self.examples.clear()
        self.checks.clear()
        self.failures.clear()
        self.failure_counts.clear()
        self.seen_ids.clear()

    def judged(self) -> bool:
        """Whether any answer of the target was judged, for or against a requirement."""
        return bool(+self.examples) or bool(self.failures)

    def verdict(self, requirement: str) -> str:
        if requirement in self.failures:
            return "failed"
        if self.examples[requirement]:
            return "passed"
        return "not_exercised"

    def report(self, target: str, extra: dict[str, Any] | None = None, *, incomplete: tuple[str, ...] = (),
               no_verdict: str | None = None) -> dict[str, Any]:
        """The matrix. ``incomplete`` says why the run did not finish (it then never "conforms"); ``no_verdict``
        says why there was nothing to judge (every requirement is then not exercised)."""
        rows = []
        for rid, req in self.requirements.items():
            row: dict[str, Any] = {
                "id": rid, "verdict": self.verdict(rid), "checks": sorted(self.checks.get(rid, ())),
                "examples": self.examples[rid], "doc": req.doc, "schema": req.schema, "places": list(req.places),
                "operations": list(req.operations),
            }
            if rid in self.failures:
                row["failures"] = self.failure_counts[rid]
                row["failure"] = self.failures[rid].to_json()
            rows.append(row)
        for rid, finding in self.failures.items():  # judged by a test, though outside the selection: still failed
            if rid not in self.requirements:
                rows.append({"id": rid, "verdict": "failed", "checks": sorted(self.checks.get(rid, ())),
                             "examples": self.examples[rid], "doc": "(a requirement outside the endpoints selected)",
                             "schema": "", "places": [], "operations": [], "failures": self.failure_counts[rid],
                             "failure": finding.to_json()})
        summary = summarise(rows, list(self.target_errors), list(incomplete), no_verdict)
        out = {"target": target, "requirements": rows, "summary": summary}
        if extra:
            out.update(extra)
        return out


def summarise(rows: list[dict[str, Any]], target_errors: list[str], incomplete: list[str],
              no_verdict: str | None) -> dict[str, Any]:
    """A report's summary. ``outcome`` is the one word a reader needs: ``conforms`` (the run finished, every
    requirement it exercised passed, the target always answered), ``failed`` (a requirement failed, whatever
    else happened), ``incomplete`` (nothing failed in what ran, but the run did not finish) or ``no_verdict``
    (nothing the target answered could be judged)."""
    counts = Counter(r["verdict"] for r in rows)
    if no_verdict is not None:
        outcome = "no_verdict"
    elif counts["failed"]:
        outcome = "failed"
    elif incomplete or target_errors:
        outcome = "incomplete"
    else:
        outcome = "conforms"
    if target_errors and not any("target error" in reason for reason in incomplete):
        incomplete = [*incomplete, f"{len(target_errors)} test(s) ended in a target error"]
    return {
        "requirements": len(rows), "passed": counts["passed"], "failed": counts["failed"],
        "not_exercised": counts["not_exercised"], "conforms": outcome == "conforms", "outcome": outcome,
        "complete": not incomplete and no_verdict is None, "incomplete": incomplete, "no_verdict": no_verdict,
        "target_errors": target_errors,
    }


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from several (shards of one run on several machines): a requirement failed if it failed
    anywhere, passed if it passed somewhere and failed nowhere; examples add up."""
    if not reports:
        raise ValueError("nothing to merge")
    for key, what in (("profile", "profiles (contracts)"), ("schemas_sha256", "schemas")):
        values = {str(r.get("run", {}).get(key)) for r in reports}
        if len(values) > 1:
            shown = "; ".join(f"{_name(r)}: {str(r.get('run', {}).get(key))[:12]}" for r in reports)
            raise ValueError(f"the reports were made with different {what} ({shown}): their verdicts do not "
                             "add up; merge only the shards of one run")
    rows: dict[str, dict[str, Any]] = {}
    for report in reports:
        for row in report["requirements"]:
            seen = rows.get(row["id"])
            if seen is None:
                rows[row["id"]] = dict(row)
                continue
            seen["examples"] += row["examples"]
            seen["checks"] = sorted(set(seen["checks"]) | set(row["checks"]))
            rank = {"failed": 2, "passed": 1, "not_exercised": 0}
            seen["failures"] = seen.get("failures", 0) + row.get("failures", 0)
            if rank[row["verdict"]] > rank[seen["verdict"]]:
                seen["verdict"] = row["verdict"]
                if "failure" in row:
                    seen["failure"] = row["failure"]
    for row in rows.values():
        if row["verdict"] != "failed":
            row.pop("failures", None)
    errors = [e for r in reports for e in r["summary"].get("target_errors", [])]
    incomplete = [f"{_name(r)}: {reason}" for r in reports for reason in r["summary"].get("incomplete", [])]
    no_verdict = [f"{_name(r)}: {r['summary']['no_verdict']}" for r in reports if r["summary"].get("no_verdict")]
    summary = summarise(list(rows.values()), errors, incomplete + no_verdict, None)
    run = dict(reports[0].get("run", {}))
    run["requests"] = sum(r.get("run", {}).get("requests", 0) for r in reports)
    run["cleanup_failed"] = [i for r in reports for i in r.get("run", {}).get("cleanup_failed", [])]
    run["merged_from"] = len(reports)
    targets = list(dict.fromkeys(str(r["target"]) for r in reports))
    run["merged_targets"] = targets
    merged = {"target": " + ".join(targets), "requirements": list(rows.values()), "summary": summary, "run": run}
    if "version" in reports[0]:
        merged = {"version": reports[0]["version"], **merged}
    return merged


def _name(report: dict[str, Any]) -> str:
    return str(report.get("run", {}).get("target_name") or report.get("target", "?"))

"""The ledger: which requirement was exercised how often, by which checks, and the evidence of failures.

It is filled while the suite runs (a failure seen in any example counts, even one Hypothesis later
shrinks past) and turned into ``compliance.json`` at the end.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._requirements import Requirement

if TYPE_CHECKING:
    from ._client import Exchange

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
        lines = [f"[{self.requirement}] {self.title}", f"  Expected: {self.expected}", f"  Received: {self.received}"]
        if self.exchange is not None:
            lines.append(f"  Reproduce: {self.exchange.curl()}")
        return "\n".join(lines)

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


class Ledger:
    """Counts and evidence per requirement, for one run."""

    def __init__(self, requirements: dict[str, Requirement]) -> None:
        self.requirements = requirements
        self.examples: Counter[str] = Counter()
        self.checks: dict[str, set[str]] = defaultdict(set)
        self.failures: dict[str, Finding] = {}
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

    def judged(self) -> bool:
        """Whether any answer of the target was judged, for or against a requirement."""
        return bool(+self.examples) or bool(self.failures)

    def verdict(self, requirement: str) -> str:
        if requirement in self.failures:
            return "failed"
        if self.examples[requirement]:
            return "passed"
        return "not_exercised"

    def report(self, target: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        rows = []
        for rid, req in self.requirements.items():
            row: dict[str, Any] = {
                "id": rid, "verdict": self.verdict(rid), "checks": sorted(self.checks.get(rid, ())),
                "examples": self.examples[rid], "doc": req.doc, "schema": req.schema, "places": list(req.places),
            }
            if rid in self.failures:
                row["failures"] = self.failure_counts[rid]
                row["failure"] = self.failures[rid].to_json()
            rows.append(row)
        counts = Counter(r["verdict"] for r in rows)
        summary = {
            "requirements": len(rows), "passed": counts["passed"], "failed": counts["failed"],
            "not_exercised": counts["not_exercised"], "conforms": counts["failed"] == 0 and not self.target_errors,
            "target_errors": list(self.target_errors),
        }
        out = {"target": target, "requirements": rows, "summary": summary}
        if extra:
            out.update(extra)
        return out

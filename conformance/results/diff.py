"""``conformance diff OLD.json NEW.json``: which requirements changed verdict between two runs.

A regression is a requirement that passed in OLD and failed in NEW; CI gates on those (exit 1). Other
changes (fixed, newly exercised, added to or removed from the catalog) are listed but do not fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Change", "ReportReadError", "compare", "load_verdicts"]

_VERDICTS = {"passed", "failed", "not_exercised"}
ABSENT = "absent"


class ReportReadError(Exception):
    """A file is not a readable compliance report; the message names it and says why."""


@dataclass(frozen=True)
class Change:
    requirement: str
    old: str
    new: str

    @property
    def regressed(self) -> bool:
        return self.old == "passed" and self.new == "failed"

    def line(self) -> str:
        return f"{self.requirement}: {self.old} -> {self.new}" + ("  (regressed)" if self.regressed else "")


def load_verdicts(path: Path) -> dict[str, str]:
    """The verdict of each requirement in a compliance.json, in report order."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportReadError(f"{path} is not JSON: {exc}") from None
    rows = report.get("requirements") if isinstance(report, dict) else None
    if not isinstance(rows, list):
        raise ReportReadError(f"{path} is not a compliance report: no 'requirements' list")
    verdicts: dict[str, str] = {}
    for index, row in enumerate(rows):
        if not (isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("verdict") in _VERDICTS):
            raise ReportReadError(f"{path} is not a compliance report: requirements[{index}] has no id and verdict")
        verdicts[row["id"]] = row["verdict"]
    return verdicts


def compare(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    """Every requirement whose verdict differs, regressions first, then in NEW's order (removed ones last)."""
    order = list(new) + [r for r in old if r not in new]
    changes = [Change(r, old.get(r, ABSENT), new.get(r, ABSENT)) for r in order if old.get(r) != new.get(r)]
    return sorted(changes, key=lambda c: not c.regressed)

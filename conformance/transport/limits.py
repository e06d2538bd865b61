"""Limits for targets that cost money or push back: a request budget, and waiting out HTTP 429.

``Api.send`` (the single place requests leave) asks ``Limits`` before each request. The budget keeps in
reserve one DELETE for every assistant the run created and has not deleted, so the run's own cleanup
never takes it past ``max_requests``: a request that could not leave room for that cleanup is never sent.
A 429 is waited out as ``Retry-After`` (or ``retry-after-ms``, or the ``x-ratelimit-reset-*`` headers)
says, within ``max_wait`` seconds a wait and ``max_retries`` retries; past either bound it becomes a
``TargetError`` (a rate limit is not a verdict on conformance). Every retry is a request and counts.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BudgetExhausted", "Limits", "retry_wait"]


class BudgetExhausted(BaseException):
    """The request budget is spent. A BaseException, so Hypothesis stops at once instead of shrinking."""

    def __init__(self, limit: int, spent: int, reserved: int) -> None:
        self.limit, self.spent, self.reserved = limit, spent, reserved
        held = f", {reserved} held back to delete what the run created" if reserved else ""
        super().__init__(f"the request budget of {limit} is spent ({spent} sent{held})")


@dataclass(frozen=True)
class Limits:
    """``max_requests`` None means no budget; waits are in seconds."""

    max_requests: int | None = None
    max_retries: int = 3
    max_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, not {self.max_requests}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must not be negative, not {self.max_retries}")
        if not (self.max_wait >= 0 and math.isfinite(self.max_wait)):
            raise ValueError(f"max_wait must be a finite number of seconds, not {self.max_wait}")

    def admit(self, spent: int, reserved: int) -> None:
        """Raise ``BudgetExhausted`` unless one more request still leaves ``reserved`` requests for cleanup."""
        if self.max_requests is not None and spent + 1 + reserved > self.max_requests:
            raise BudgetExhausted(self.max_requests, spent, reserved)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _duration(text: str) -> float | None:
    """OpenAI's reset durations: '1s', '6m0s', '20ms', '1h2m3.5s'; or a bare number of seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _retry_after(value: str, now: float) -> float | None:
    """``Retry-After``: delay-seconds, or an HTTP date."""
    seconds = _duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def retry_wait(headers: Mapping[str, str], attempt: int, now: float | None = None) -> float:
    """Seconds to wait before retrying a 429, from the answer's headers (names in lower case).

    Precedence: ``retry-after-ms``, ``retry-after``, the later of ``x-ratelimit-reset-requests`` and
    ``x-ratelimit-reset-tokens``; without any, exponential backoff from 0.5 s (attempt 0, 1, 2, ...).
    """
    now = time.time() if now is None else now
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in headers:
        seconds = _retry_after(headers["retry-after"], now)
        if seconds is not None:
            return seconds
    resets = [_duration(headers[name]) for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
              if name in headers]
    known = [r for r in resets if r is not None]
    if known:
        return max(known)
    return 0.5 * 2**attempt

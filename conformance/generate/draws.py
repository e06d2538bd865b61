"""The settings every Hypothesis test of the suite runs with, and the examples such a test will draw, drawn
beforehand: ``--concurrency`` sends their requests ahead (``transport/concurrency.py``).

With the same seed, strategy and settings, what Hypothesis generates does not depend on the test's body until
the body fails (then it shrinks): so the examples drawn here by a body that only records them are the ones
the suite's test sends, in order, up to its first failure. Measured on the default run against the reference
server: every request drawn here was claimed by its test (647 of 647 sent ahead, none unused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from conformance.generate.hypothesis_seam import skip_database_key, source_independent

__all__ = ["draws", "seeded"]


def seeded(fn: Callable[[Any], None], strategy: st.SearchStrategy[Any], seed_value: int, max_examples: int,
           shrink: bool) -> Any:
    """``fn`` as the suite's Hypothesis test: seeded, no database, no deadline; ``shrink`` False leaves the
    shrink phase out (the first failing example is the evidence)."""
    test = settings(
        max_examples=max_examples, database=None, deadline=None, print_blob=False,
        suppress_health_check=list(HealthCheck),
        # explain re-runs failures traced, to name suite lines
        phases=[p for p in Phase if p is not Phase.explain and (shrink or p is not Phase.shrink)],
    )(seed(seed_value)(given(strategy)(fn)))
    # Without a database Hypothesis never reads the test's database key, yet derives it from the test's
    # source on every call (inspect.getsource and tokenize: a few ms, a second or so of a default run).
    # A key given beforehand skips that; an attribute Hypothesis ignores would only cost the time again.
    skip_database_key(test)
    return test


def draws(strategy: st.SearchStrategy[Any], seed_value: int, max_examples: int, shrink: bool) -> list[Any]:
    """The examples a ``seeded`` test of ``strategy`` draws, in order, when none fails."""
    drawn: list[Any] = []

    def record(value: Any) -> None:
        drawn.append(value)

    with source_independent():
        seeded(record, strategy, seed_value, max_examples, shrink)()
    return drawn

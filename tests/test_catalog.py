"""Every broken server of the catalog is flagged, naming the right requirement; every conforming variant
passes. Each entry is a real run of ``conformance run`` against a real server on loopback."""

from __future__ import annotations

import pytest

from conformance.selftest.catalog import DEFECTS, VARIANTS
from conformance.selftest.run import Outcome, score


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return {o.name: o for o in score(max_examples=10, seed=0, workers=2)}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_is_flagged_with_its_requirement(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    if outcome.expected_exit == 2:  # nothing to judge: no verdict, and no requirement passed or failed
        assert (outcome.exit_code, outcome.passed, outcome.failed) == (2, 0, ()), outcome.output
        return
    assert outcome.exit_code == 1, outcome.output
    assert set(outcome.failed) & set(outcome.expected), (
        f"{name}: expected one of {outcome.expected}, the suite failed {outcome.failed}")
    assert set(outcome.every) <= set(outcome.failed), (
        f"{name}: expected each of {outcome.every}, the suite failed {outcome.failed}")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_conforming_variant_passes(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    assert outcome.exit_code == 0, f"{name}: false alarm on {outcome.failed}\n{outcome.output}"

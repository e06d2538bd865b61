"""Every broken server of the catalog is flagged, naming the right requirement; every conforming variant
passes. Each entry is a real run of ``conformance run`` against a real server on loopback.

One test per entry, so that pytest-xdist spreads the entries over its workers. Each worker (or the one
pytest process) starts one ``conformance serve --catalog`` and one forked process that runs its entries one
after the other (``conformance run`` runs pytest in-process: not inside this pytest session). As each entry
finishes, a line is printed on the terminal, also under xdist (``tests/conftest.py``, ``pytest_runtest_logreport``):
``catalog [ 37/185] ok   defect  NAME  4.2s  expected ...; got ...``.

What an entry is judged on is the run's exit code and its ``compliance.json``; the runs write no ``junit.xml``
and no Allure results, and capture no logs or output (``run_entry`` passes ``selftest._ONLY_COMPLIANCE`` after
``--``). ``tests/test_reports.py`` and ``tests/test_leaks.py`` check those reports on runs of their own.

Measured and kept as they are (2026-11-29, on the 2-core machine): ``--max-examples 10`` (5 saves about 3 % of
the requests: most of a run is probes with fixed values, and its CPU did not measurably drop), and every
entry over HTTP to a ``conformance serve --catalog`` on loopback (the defects in-process, through
``--transport``, saved about 10 % of the catalog's CPU: too little to give up the real server).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from conformance.runner.selftest import Outcome, describe, fork_pool, run_entry
from conformance.selftest.catalog import DEFECTS, VARIANTS

MAX_EXAMPLES, SEED = 10, 0


@pytest.fixture(scope="session")
def catalog_pool() -> Iterator[ProcessPoolExecutor]:
    import conformance.runner.cli  # noqa: F401  (imported once here, before the fork)

    with fork_pool(1) as pool:
        yield pool


@pytest.fixture
def outcome(request: pytest.FixtureRequest, catalog_url: str, catalog_pool: ProcessPoolExecutor) -> Outcome:
    name = request.node.callspec.params["name"]
    result = catalog_pool.submit(run_entry, catalog_url, name, max_examples=MAX_EXAMPLES, seed=SEED).result()
    # Printed by tests/conftest.py as the entry finishes, with a count of the catalog's tests in this run.
    total = sum(item.nodeid.startswith(request.node.nodeid.split("::")[0] + "::") for item in request.session.items)
    request.node.user_properties += [("catalog", describe(result)), ("catalog_total", total)]
    return result


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_is_flagged_with_its_requirement(outcome: Outcome, name: str) -> None:
    if outcome.expected_exit == 2:  # nothing to judge: no verdict, and no requirement passed or failed
        assert (outcome.exit_code, outcome.passed, outcome.failed) == (2, 0, ()), outcome.output
        return
    assert outcome.exit_code == 1, outcome.output
    assert set(outcome.failed) & set(outcome.expected), (
        f"{name}: expected one of {outcome.expected}, the suite failed {outcome.failed}")
    assert set(outcome.every) <= set(outcome.failed), (
        f"{name}: expected each of {outcome.every}, the suite failed {outcome.failed}")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_conforming_variant_passes(outcome: Outcome, name: str) -> None:
    assert outcome.exit_code == 0, f"{name}: false alarm on {outcome.failed}\n{outcome.output}"

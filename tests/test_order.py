"""The run's order and the probes' examples: a defect shows within the first requests that can show it, and
a failing probe costs no more requests than its first failing example."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.contract.schemas import documented_models, load_schemas
from conformance.generate.probes import probes
from conformance.generate.strategies import Pools

from .serving import KEY, ROOT, Served, report, run, serve, verdicts

PROBES = {p.id: p for p in probes(Pools(models=documented_models()), load_schemas())}


def collected() -> list[str]:
    """The suite's test ids in run order, as pytest collects them with the plugin."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "conformance", "--collect-only", "-q",
                             "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if "::" in line]


def order_of(module: str) -> list[str]:
    """The test ids of one module of the suite, in run order."""
    return [line.split("::", 1)[1] for line in collected() if line.split("::", 1)[0].endswith(module)]


def probe_of(test_id: str) -> str | None:
    return test_id.split("[", 1)[1][:-1] if test_id.startswith(("test_refused[", "test_accepted[")) else None


def test_the_run_starts_with_the_smallest_request_the_key_checks_and_one_refusal_per_requirement() -> None:
    everything = [line.split("::", 1)[1] for line in collected()]
    # the smallest valid request first: its answer says whether there is anything to judge at all
    assert everything[:3] == ["test_minimal_request_is_accepted", "test_unauthorized[missing-key]",
                              "test_unauthorized[wrong-key]"]
    order = order_of("test_create_assistant.py")
    assert order[:3] == everything[:3]
    lifecycle = order.index("test_created_assistant_can_be_retrieved_and_deleted")
    leads = order[3:lifecycle]
    assert all(t.startswith("test_refused[") for t in leads), leads
    refused = [p for p in PROBES.values() if p.expect != "accept"]
    # every requirement that has a refused probe is refused once before anything else runs (a oneOf of
    # required branches twice: "at least one" and "at most one")
    lead_keys = [(PROBES[probe_of(t) or ""].requirement, PROBES[probe_of(t) or ""].part) for t in leads]
    assert sorted(lead_keys) == sorted({(p.requirement, p.part) for p in refused})
    # then valid requests, the accepted probes, and the other refused probes
    rest = order[lifecycle + 1:]
    assert rest[0] == "test_valid_requests_are_accepted_and_echoed"
    accepted = [t for t in rest if t.startswith("test_accepted[")]
    assert rest[1:1 + len(accepted)] == accepted
    assert all(t.startswith("test_refused[") for t in rest[1 + len(accepted):])
    assert len(order) == 3 + 1 + 1 + len(PROBES)


def test_within_a_requirement_the_nearest_miss_leads() -> None:
    lead = {(p.requirement, p.part): p.id for p in PROBES.values() if p.expect != "accept" and p.rank == 0}
    assert lead[("REQ-TEMPERATURE-MAX", "")] == "temperature:maximum:just-past"  # one ulp past, not +1
    assert lead[("REQ-TEMPERATURE-TYPE", "")] == "temperature:type:boolean"  # Python's bool is an int
    assert lead[("REQ-BODY-OBJECT", "")] == "(body):type:array"  # the other container
    assert PROBES["tools[].type:const:outside0"].values == ({"model": documented_models()[0],
                                                             "tools": [{"type": "CODE_INTERPRETER"}]},)
    assert lead[("REQ-TOOL-KIND", "")] == "tools[].type:const:outside0"  # a valid value in capitals
    assert lead[("REQ-METADATA-MAXPAIRS", "")] == "metadata:maxProperties:past-limit"  # the top-level field first


@pytest.fixture(scope="module")
def catalog() -> Iterator[Served]:
    with serve("--catalog") as server:
        yield server


@pytest.mark.parametrize(("defect", "requirement"), [
    ("model-optional", "REQ-MODEL-REQUIRED"),
    ("malformed-json-crashes", "HTTP-NO-5XX"),
    ("response-format-type-any", "REQ-RESPONSE-FORMAT-TYPE-ENUM"),
    ("file-search-both-accepted", "REQ-FILE-SEARCH-ONEOF"),
    ("temperature-accepts-booleans", "REQ-TEMPERATURE-TYPE"),
])
def test_a_defect_shows_within_a_budget_of_forty_requests(catalog: Served, defect: str, requirement: str,
                                                          tmp_path: Path) -> None:
    """With the tests in file order (before 2026-11-25) these took 144 to 405 requests to show."""
    result = run("--target", f"{catalog.root}/broken/{defect}/v1", "--api-key", KEY, "--max-requests", "40",
                 "--report-dir", str(tmp_path))
    assert result.returncode == 1, result.stdout[-2000:]
    assert verdicts(tmp_path)[requirement] == "failed"
    assert report(tmp_path)["run"]["requests"] <= 40


def test_a_failing_probe_sends_its_first_failing_example_and_nothing_more(catalog: Served, tmp_path: Path) -> None:
    """No shrinking and no replay of the failure: against a server that takes 257 characters for a name, the
    past-limit probe costs one create, plus the delete of what it created."""
    before = catalog.inspect()["requests"]
    result = run("--target", f"{catalog.root}/broken/name-max-257/v1", "--api-key", KEY, "-k",
                 "test_refused and name:maxLength:past-limit and not function", "--report-dir", str(tmp_path))
    sent = catalog.inspect()["requests"] - before
    assert result.returncode == 1, result.stdout[-2000:]
    assert verdicts(tmp_path)["REQ-NAME-MAXLEN"] == "failed"
    assert sent == 2 == report(tmp_path)["run"]["requests"]


def test_the_state_and_access_tests_take_their_places_in_the_run() -> None:
    """Lookalike credentials and the scheme's case right after the key checks (cheap, high yield); the
    state tests with the lifecycle; text and pairs with the valid requests; the read-back of every assistant
    the run created last of all."""
    everything = [line.split("::", 1)[1] for line in collected()]
    ours = order_of("test_state_and_access.py")
    start = everything.index("test_minimal_request_is_accepted") + 1
    assert everything[start:start + 2] == ["test_unauthorized[missing-key]", "test_unauthorized[wrong-key]"]
    assert everything[start + 2:start + 9] == ours[:7]
    assert all(t.startswith(("test_lookalike_credentials_are_refused[", "test_scheme_is_case_insensitive"))
               for t in ours[:7])
    lifecycle = everything.index("test_created_assistant_can_be_retrieved_and_deleted")
    valid = everything.index("test_valid_requests_are_accepted_and_echoed")
    assert lifecycle < everything.index("test_ids_stay_bound_through_creates_and_deletes") < valid
    assert everything[-1] == "test_assistants_created_during_the_run_read_back"

"""Profiles: the default contract (documentation of 2024-05-13) and 'latest' (today's spec), each a schema set.

Each reference passes its own profile; a server of one profile fails the other exactly where they differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.contract.profiles import DEFAULT_PROFILE, load_profile
from conformance.contract.requirements import catalog
from conformance.contract.schemas import REQUEST, documented_models
from conformance.generate.probes import Probe, RawBody, probes, valid_requests
from conformance.generate.strategies import Pools
from conformance.transport.client import encode

from .serving import KEY, ROOT, failed, non_finite, report, run, serve, verdicts

DEFAULT = load_profile(DEFAULT_PROFILE)
LATEST = load_profile("latest")
# The differences below are the create endpoint's (modify and list follow the same nodes by $ref).
CREATE = frozenset({"create"})
OLD, NEW = catalog(DEFAULT, CREATE), catalog(LATEST, CREATE)
# Requirements kept under the same ID whose sentence changed with today's spec (see schemas/README.md).
CHANGED = {"REQ-UNKNOWN-FIELD", "REQ-RESPONSE-FORMAT-ONEOF", "RESP-RESPONSE-FORMAT", "REQ-VECTOR-STORE-METADATA-TYPE"}
REMOVED = {"REQ-VECTOR-STORE-FILE-IDS-MAXITEMS"}

# What a server of the 2024-05-13 contract gets wrong under 'latest', requirement by requirement: it refuses
# reasoning_effort and json_schema formats, accepts "none" and {} as response_format, and does not check the
# new nested fields (file_search overrides, function strict, chunking_strategy), and refuses null as a vector
# store's metadata (today's Metadata is nullable). HTTP-CREATE-200: valid
# requests of today's shape are refused. The json_schema name/description/schema/strict type requirements
# it keeps: it refuses every json_schema format, broken or not, so only its accept probes tell.
DEFAULT_UNDER_LATEST = {
    "HTTP-CREATE-200", "REQ-REASONING-EFFORT-TYPE", "REQ-REASONING-EFFORT-ENUM", "REQ-RESPONSE-FORMAT-ONEOF",
    "REQ-JSON-SCHEMA-NAME-MAXLEN", "REQ-JSON-SCHEMA-STRICT-TYPE", "REQ-JSON-SCHEMA-SCHEMA-TYPE",
    "REQ-FILE-SEARCH-OVERRIDES-TYPE",
    "REQ-FILE-SEARCH-MAX-RESULTS-TYPE", "REQ-FILE-SEARCH-MAX-RESULTS-MIN", "REQ-FILE-SEARCH-MAX-RESULTS-MAX",
    "REQ-FILE-SEARCH-RANKING-OPTIONS-TYPE", "REQ-FILE-SEARCH-RANKER", "REQ-FILE-SEARCH-SCORE-THRESHOLD",
    "REQ-FUNCTION-STRICT-TYPE", "REQ-CHUNKING-STRATEGY", "REQ-CHUNK-SIZE-TYPE", "REQ-CHUNK-SIZE-MIN",
    "REQ-CHUNK-SIZE-MAX", "REQ-CHUNK-OVERLAP-TYPE", "REQ-VECTOR-STORE-METADATA-TYPE",
}
# Today's valid requests may carry null as a vector store's metadata, which a 2024-05-13 server refuses: an accept
# probe of any requirement under tool_resources may draw one (which depends on the seed) and fail with it.
NULL_VECTOR_STORE_METADATA_REACHES = {rid for rid, req in NEW.items()
                                      if any(place.startswith("tool_resources") for place in req.places)}
# And a server of today's spec under 2024-05-13: it refuses "none" and {} as response_format, takes 10,001
# files in a vector store, and takes null as a vector store's metadata.
LATEST_UNDER_DEFAULT = {"HTTP-CREATE-200", "REQ-RESPONSE-FORMAT-ONEOF", "REQ-VECTOR-STORE-FILE-IDS-MAXITEMS",
                        "REQ-VECTOR-STORE-METADATA-TYPE"}


def test_the_latest_reference_passes_the_latest_profile(tmp_path: Path) -> None:
    result = run("--profile", "latest", "--max-examples", "10", "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(verdicts(tmp_path).values()) == {"passed"}
    assert len(verdicts(tmp_path)) == len(catalog(LATEST))
    assert report(tmp_path)["run"]["profile"] == "latest"


@pytest.mark.parametrize("seed", ["0", "1"])
def test_a_default_server_fails_the_latest_profile_exactly_where_they_differ(seed: str, tmp_path: Path) -> None:
    with serve() as server:
        result = run("--target", server.base, "--api-key", KEY, "--profile", "latest", "--model", "gpt-4o",
                     "--seed", seed, "--max-examples", "10", "--report-dir", str(tmp_path), "--endpoint", "create")
    assert result.returncode == 1
    assert DEFAULT_UNDER_LATEST <= failed(tmp_path) <= DEFAULT_UNDER_LATEST | NULL_VECTOR_STORE_METADATA_REACHES
    assert failed(tmp_path) - {"HTTP-CREATE-200"} - NULL_VECTOR_STORE_METADATA_REACHES <= (set(NEW) - set(OLD)) | CHANGED
    assert "test_refused[response_format:enum:outside2]" in result.stdout  # "none", accepted: refused today


def test_a_latest_server_fails_the_default_profile_exactly_where_they_differ(tmp_path: Path) -> None:
    with serve("--profile", "latest") as server:
        result = run("--target", server.base, "--api-key", KEY, "--model", "gpt-4o", "--max-examples", "10",
                     "--report-dir", str(tmp_path), "--endpoint", "create")
    assert result.returncode == 1
    assert failed(tmp_path) == LATEST_UNDER_DEFAULT
    evidence = {r["id"]: r for r in report(tmp_path)["requirements"]}["REQ-RESPONSE-FORMAT-ONEOF"]["failure"]
    sent = evidence["request"]["json"]
    # "none", the value today's spec dropped, or {}: a format object without the type today's spec requires
    assert sent["response_format"] in ("none", {})
    assert DEFAULT.validator(REQUEST).is_valid(sent) and not LATEST.validator(REQUEST).is_valid(sent)


def test_the_profiles_share_what_is_the_same() -> None:
    """Unchanged requirements keep their ID and sentence; only the listed ones changed or went."""
    assert set(OLD) - set(NEW) == REMOVED
    assert {rid for rid in set(OLD) & set(NEW) if OLD[rid].doc != NEW[rid].doc} == CHANGED
    assert documented_models(LATEST)[:2] == ("gpt-5", "gpt-5-mini")
    assert LATEST.request["properties"]["name"] == DEFAULT.request["properties"]["name"]  # a $ref, resolved
    assert LATEST.digest != DEFAULT.digest


def test_the_readme_lists_every_difference() -> None:
    text = (ROOT / "schemas" / "README.md").read_text(encoding="utf-8")
    for rid in (set(NEW) - set(OLD)) | CHANGED | REMOVED:
        assert rid in text, rid


def test_the_cli_lists_each_profiles_requirements() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "conformance", "requirements", "--profile", "latest"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    assert "REQ-REASONING-EFFORT-ENUM" in out and "REQ-VECTOR-STORE-FILE-IDS-MAXITEMS" not in out


# --- the strategies hold for the latest schemas too -----------------------------------------------

POOLS = Pools(models=documented_models(LATEST))


def _refuse(name: str) -> Any:
    raise ValueError(name)


VALIDATOR = LATEST.validator(REQUEST)
PROBES = probes(POOLS, LATEST)
FAST = settings(max_examples=30, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(valid_requests(POOLS, LATEST))
def test_latest_valid_requests_are_valid(payload: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(payload)) == []


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_latest_probes_are_what_they_say(probe: Probe) -> None:
    @settings(max_examples=3, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(probe.strategy)
    def check(payload: Any) -> None:
        if isinstance(payload, RawBody):
            return
        if probe.expect == "accept":
            assert list(VALIDATOR.iter_errors(payload)) == [], probe.id
        elif probe.expect == "reject-4xx":
            assert VALIDATOR.is_valid(payload)
        elif non_finite(payload):
            with pytest.raises(ValueError):  # not JSON at all (JSON Schema cannot see non-finite numbers)
                json.loads(encode(payload), parse_constant=_refuse)
        else:
            assert not VALIDATOR.is_valid(payload), probe.id

    check()


def test_none_is_probed_as_refused_only_in_latest() -> None:
    def none_probes(found: tuple[Probe, ...]) -> set[str]:
        return {p.expect for p in found if p.description.startswith('response_format = "none"')}

    assert none_probes(PROBES) == {"reject"}
    assert none_probes(probes(Pools(models=documented_models(DEFAULT)), DEFAULT)) == {"accept"}

"""Property tests of the strategies: valid cases are valid, probes break exactly what they say."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.contract.requirements import catalog
from conformance.contract.schemas import REQUEST, documented_models, load_schemas
from conformance.generate.probes import Probe, RawBody, probes, valid_requests
from conformance.generate.strategies import Pools, text_of_length
from conformance.transport.client import encode

from .serving import non_finite

POOLS = Pools(models=documented_models())
SCHEMAS = load_schemas()
VALIDATOR = SCHEMAS.validator(REQUEST)
PROBES = probes(POOLS, SCHEMAS)


def _refuse(name: str) -> None:
    raise ValueError(name)


FAST = settings(max_examples=30, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(valid_requests(POOLS, SCHEMAS))
def test_valid_requests_are_valid(payload: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(payload)) == []
    assert payload["model"] in POOLS.models


@pytest.mark.parametrize("probe", [p for p in PROBES if p.expect == "accept"], ids=lambda p: p.id)
def test_accept_probes_are_valid(probe: Probe) -> None:
    @settings(max_examples=3, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(probe.strategy)
    def check(payload: Any) -> None:
        assert list(VALIDATOR.iter_errors(payload)) == [], probe.id

    check()


@pytest.mark.parametrize("probe", [p for p in PROBES if p.expect != "accept"], ids=lambda p: p.id)
def test_reject_probes_are_invalid(probe: Probe) -> None:
    @settings(max_examples=3, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(probe.strategy)
    def check(payload: Any) -> None:
        if isinstance(payload, RawBody):
            return  # not JSON at all: nothing for a validator to say
        if probe.expect == "reject-4xx":
            assert VALIDATOR.is_valid(payload)  # schema-valid, but names a resource that does not exist
            assert payload["model"] not in POOLS.models
            return
        if non_finite(payload):
            # JSON Schema cannot see non-finite numbers (every comparison with NaN is false); they are
            # invalid because they are not JSON at all.
            with pytest.raises(ValueError):
                json.loads(encode(payload), parse_constant=_refuse)
            return
        assert not VALIDATOR.is_valid(payload), probe.id

    check()


def test_every_request_requirement_has_probes_both_ways_where_it_has_a_limit() -> None:
    by_req: dict[str, set[str]] = {}
    for p in PROBES:
        by_req.setdefault(p.requirement, set()).add(p.expect)
    for rid, req in catalog(SCHEMAS).items():
        limited = any(k in req.keywords for k in ("maxLength", "maxItems", "maxProperties", "minimum", "maximum"))
        if rid.startswith("REQ-") and limited:
            assert by_req.get(rid, set()) >= {"accept", "reject"}, rid
        if rid.startswith("REQ-"):
            assert rid in by_req, f"{rid} has no probe"


@given(st.integers(0, 600), st.data())
@FAST
def test_text_of_length_counts_code_points(n: int, data: st.DataObject) -> None:
    text = data.draw(text_of_length({"type": "string"}, n))
    assert len(text) == n


def test_limit_probes_use_characters_outside_the_bmp() -> None:
    probe = next(p for p in PROBES if p.id == "instructions:maxLength:at-limit")
    seen_astral = False

    @settings(max_examples=20, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(probe.strategy)
    def check(payload: dict[str, Any]) -> None:
        nonlocal seen_astral
        assert len(payload["instructions"]) == 256000
        seen_astral |= any(ord(c) > 0xFFFF for c in payload["instructions"])

    check()
    assert seen_astral


def test_pools_drive_resource_fields() -> None:
    pools = Pools(models=("my-model",), file_ids=("file-real",), vector_store_ids=())

    @FAST
    @given(valid_requests(pools, SCHEMAS))
    def check(payload: dict[str, Any]) -> None:
        assert payload["model"] == "my-model"
        resources = payload.get("tool_resources") or {}
        for fid in (resources.get("code_interpreter") or {}).get("file_ids", []):
            assert fid == "file-real"
        assert (resources.get("file_search") or {}).get("vector_store_ids", []) == []

    check()

"""The machinery of issue 13: the pairwise covering set covers every pair, the combined and text requests are
valid under the schema, lookalike credentials never show the key, the new probes break what they say, and
the new checks fail what they should."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.checks.core import Context, refused_key, utf8_answer
from conformance.contract.profiles import PROFILES, load_profile
from conformance.contract.requirements import catalog
from conformance.contract.schemas import REQUEST, Schemas, documented_models, load_schemas
from conformance.generate.combine import (
    ABSENT,
    TEXT_SAMPLES,
    all_at_limits,
    covering_rows,
    escaped_json,
    field_levels,
    pairwise_requests,
    text_requests,
)
from conformance.generate.probes import probes
from conformance.generate.strategies import Pools, minimal_object
from conformance.results.ledger import Ledger
from conformance.suite.test_state_and_access import _oldest_and_newest, lookalikes
from conformance.transport.client import Api, Exchange, Received, Sent, Target

KEY = "sk-conformance-0123456789"


def _pools(schemas: Schemas) -> Pools:
    return Pools(models=documented_models(schemas))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=2, max_size=7))
def test_covering_rows_cover_every_pair(sizes: list[int]) -> None:
    levels = [list(range(n)) for n in sizes]
    rows = covering_rows(levels)
    for i, j in itertools.combinations(range(len(sizes)), 2):
        seen = {(row[i], row[j]) for row in rows}
        assert seen == set(itertools.product(range(sizes[i]), range(sizes[j])))
    assert len(rows) <= max(sizes) * sorted(sizes)[-2] * 3  # far fewer than every combination


@pytest.mark.parametrize("profile", PROFILES)
def test_pairwise_requests_are_valid_and_cover_every_pair_of_levels(profile: str) -> None:
    schemas = load_profile(profile)
    pools = _pools(schemas)
    rows = pairwise_requests(schemas, pools)
    validator = schemas.validator(REQUEST)
    assert all(validator.is_valid(r) for r in rows)
    root = schemas.request
    required = minimal_object(root, pools)
    names = [k for k in root["properties"] if k not in required]
    levels = {k: [ABSENT, *[v for v in field_levels(root["properties"][k], pools)
                            if validator.is_valid({**required, k: v})]] for k in names}
    for a, b in itertools.combinations(names, 2):
        seen = {(json.dumps(r.get(a, "ABSENT")), json.dumps(r.get(b, "ABSENT"))) for r in rows}
        for va, vb in itertools.product(levels[a], levels[b]):
            pair = (json.dumps("ABSENT" if va is ABSENT else va), json.dumps("ABSENT" if vb is ABSENT else vb))
            assert pair in seen, (a, b, pair)
    # every branch of response_format and every kind of tool appears
    assert {"none", "auto"} <= {r.get("response_format") for r in rows if isinstance(r.get("response_format"), str)} \
        or profile == "latest"
    kinds = {t["type"] for r in rows for t in r.get("tools") or []}
    assert kinds == {"code_interpreter", "file_search", "function"}


@pytest.mark.parametrize("profile", PROFILES)
def test_all_at_limits_is_valid_and_at_every_limit(profile: str) -> None:
    schemas = load_profile(profile)
    payload = all_at_limits(schemas, _pools(schemas))
    assert schemas.validator(REQUEST).is_valid(payload)
    props = schemas.request["properties"]
    for name in ("name", "description", "instructions"):
        assert len(payload[name]) == props[name]["maxLength"]
    assert len(payload["tools"]) == props["tools"]["maxItems"]
    assert len(payload["metadata"]) == props["metadata"]["maxProperties"]
    assert all(len(k) == props["metadata"]["propertyNames"]["maxLength"] for k in payload["metadata"])
    assert all(len(v) == props["metadata"]["additionalProperties"]["maxLength"] for v in payload["metadata"].values())
    assert len({t["function"]["name"] for t in payload["tools"]}) == len(payload["tools"])  # distinct names


def test_text_requests_are_valid_and_carry_every_sample() -> None:
    schemas = load_schemas()
    requests = text_requests(schemas, _pools(schemas))
    validator = schemas.validator(REQUEST)
    assert all(validator.is_valid(r) for r in requests)
    text = json.dumps(requests, ensure_ascii=False)
    for sample in TEXT_SAMPLES:
        assert json.dumps(sample, ensure_ascii=False)[1:-1] in text
        assert "\x00" not in sample and not any(0xD800 <= ord(c) <= 0xDFFF for c in sample)


def test_escaped_json_is_the_same_value_in_ascii() -> None:
    payload = {"name": "\U0001f600/\u00e9", "metadata": {"k\u200d": "v"}}
    data = escaped_json(payload)
    assert data.isascii()
    assert json.loads(data) == payload
    assert b"\\uD83D\\uDE00" in data and b"\\/" in data and b"\\u00E9" in data


def test_lookalike_credentials_are_wrong_and_never_show_the_key() -> None:
    found = lookalikes(KEY)
    assert len(found) >= 6
    for credential in found.values():
        assert credential.header != f"Bearer {KEY}"
        assert KEY[:-1] not in credential.shown


def test_an_exchange_with_a_credential_shows_its_label_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = b'{"error": {"message": "no", "type": "x", "param": null, "code": null}}'
        return httpx.Response(401, stream=httpx.ByteStream(body), headers={"content-type": "application/json"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = Api(client, Target("http://t.invalid/v1", KEY))
    credential = lookalikes(KEY)["prefix"]
    ex = api.retrieve("asst_1", api_key=credential)
    assert ex.sent.headers["Authorization"] == credential.shown
    assert KEY[:-1] not in ex.curl()


def _exchange(status: int, body: bytes, content_type: str = "application/json") -> Exchange:
    now = time.time()
    return Exchange(Sent("GET", "http://t.invalid/v1/assistants/a", {"Authorization": "Bearer"}, None),
                    Received(status, {"content-type": content_type}, body), now, now)


def _context() -> Context:
    schemas = load_schemas()
    return Context(schemas, Ledger(catalog(schemas)))


def test_utf8_answer_fails_latin_1_and_cesu_8() -> None:
    ctx = _context()
    assert utf8_answer(ctx, _exchange(200, '{"name": "\u00e9\U0001f600"}'.encode()))
    assert not utf8_answer(ctx, _exchange(200, '{"name": "\u00e9"}'.encode("latin-1")))
    assert not utf8_answer(ctx, _exchange(200, b'{"name": "' + "\ud83d\ude00".encode("utf-8", "surrogatepass") + b'"}'))
    assert {f.requirement for f in ctx.take()} == {"HTTP-UTF8"}


def test_refused_key_on_other_endpoints_names_its_requirement() -> None:
    ctx = _context()
    envelope = b'{"error": {"message": "m", "type": "t", "param": null, "code": null}}'
    assert refused_key(ctx, _exchange(401, envelope), "x-auth-everywhere")
    assert not refused_key(ctx, _exchange(200, b"{}"), "x-auth-everywhere")
    assert [f.requirement for f in ctx.take()] == ["AUTH-EVERY-ENDPOINT"]
    refused_key(ctx, _exchange(401, b'{"detail": "Not authenticated"}'), "x-auth-everywhere")
    assert [f.requirement for f in ctx.take()] == ["ERROR-ENVELOPE"]


def test_new_probes_break_what_they_say() -> None:
    schemas = load_schemas()
    found = {p.id: p for p in probes(_pools(schemas), schemas)}
    validator = schemas.validator(REQUEST)
    wanted = {
        "(body):additionalProperties:other-case": "REQ-UNKNOWN-FIELD",
        "(body):additionalProperties:outside0": "REQ-UNKNOWN-FIELD",
        "tools[].type:const:outside2": "REQ-TOOL-KIND",
    }
    for pid, requirement in wanted.items():
        probe = found[pid]
        assert probe.requirement == requirement and probe.expect == "reject"
        assert probe.values is not None and not any(validator.is_valid(v) for v in probe.values)
    newline = [p.values[0] for p in found.values() if p.requirement == "REQ-FUNCTION-NAME-PATTERN" and p.values
               and p.values[0]["tools"][0]["function"].get("name") == "trailing_newline\n"]
    assert newline and not validator.is_valid(newline[0])
    examples = [p for p in found.values() if ":type:example" in p.id]
    assert len(examples) >= 6 and all(p.expect == "accept" and validator.is_valid(p.values[0])  # type: ignore[index]
                                      for p in examples)


def test_pattern_dollar_is_ecma_262() -> None:
    validator = load_schemas().validator(REQUEST)
    tool: Any = {"type": "function", "function": {"name": "ok_name"}}
    assert validator.is_valid({"model": "gpt-4o", "tools": [tool]})
    tool["function"]["name"] = "ok_name\n"
    assert not validator.is_valid({"model": "gpt-4o", "tools": [tool]})


def test_new_requirements_are_in_both_profiles() -> None:
    for profile in PROFILES:
        ids = set(catalog(load_profile(profile)))
        assert {"AUTH-EVERY-ENDPOINT", "AUTH-SCHEME-CASE", "AUTH-REFUSED-NO-EFFECT", "HTTP-UTF8"} <= ids


@given(st.lists(st.booleans(), max_size=60), st.integers(1, 30))
def test_the_read_back_takes_the_oldest_and_newest_valid_answers(valid: list[bool], cap: int) -> None:
    """What the read-back at the end reads: the valid answers' ids, and past ``cap`` the oldest half and the
    newest rest; validating only as many answers as that takes."""
    answers = [(f"asst_{i}", ok) for i, ok in enumerate(valid)]
    everyone = [i for i, ok in answers if ok]
    expected = everyone if len(everyone) <= cap else everyone[:cap // 2] + everyone[-(cap - cap // 2):]
    assert _oldest_and_newest(answers, cap, lambda ok: ok) == expected


def test_the_read_back_validates_only_the_answers_it_reads() -> None:
    looked: list[int] = []
    answers = [(f"asst_{i}", i) for i in range(100)]
    assert _oldest_and_newest(answers, 40, lambda i: looked.append(i) is None) == [f"asst_{i}" for i in
                                                                                    [*range(20), *range(80, 100)]]
    assert sorted(looked) == [*range(20), *range(80, 100)]

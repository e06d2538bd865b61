"""Our schemas agree with the spec of their profile node by node, or ``schemas/spec-decisions.json`` says why not.

The spec of each profile (the 2024-05-13 YAML for ``schemas/``, today's JSON for ``schemas/latest/``) is walked
beside our resolved schemas (``tests/spec_walk.py`` says how both are brought to one form and how branches are
matched). Every difference must be a listed decision, and every decision a real difference: a decision whose
difference went away is stale and fails too, so the file never says more than is true.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from conformance.contract.profiles import DEFAULT_PROFILE, PROFILES, load_profile
from conformance.contract.requirements import format_path
from conformance.contract.schemas import REQUEST, iter_nodes

from .serving import ROOT
from .spec_walk import (
    LIST_QUERY,
    LIST_RESPONSE,
    MODIFY,
    PAIRS,
    TABLE_END,
    TABLE_START,
    Difference,
    Node,
    canon,
    compare,
    differences,
    load_spec,
    profile_schemas,
    query_parameters,
    render_table,
    spec_resolver,
)
from .test_schemas import _CHILD_KEYWORDS, _field_of

REFERENCE = ROOT.parent / "shared" / "reference"
SPECS = {DEFAULT_PROFILE: REFERENCE / "openai-openapi-2024-05-13.yaml",
         "latest": REFERENCE / "openai-openapi-latest-assistants.json"}
DECISIONS_FILE = ROOT / "schemas" / "spec-decisions.json"
SHOWN = "schemas/spec-decisions.json"
FIELDS = {"profile": str, "schema": str, "path": str, "keyword": str, "why": str, "server_may_follow_spec": bool}


def _decisions() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(DECISIONS_FILE.read_text(encoding="utf-8"))
    return data


def _spec(profile: str) -> tuple[dict[str, Node], Callable[[Node], Node]]:
    path = SPECS[profile]
    if not path.is_file():
        pytest.skip(f"the spec of profile {profile} is not at {path} (a clone without ../shared beside it)")
    components = load_spec(path)
    return components, spec_resolver(components)


def found_differences(profile: str) -> list[Difference]:
    """Every pair's differences; a component another refers to whole (the list's items: AssistantObject) is
    compared once, as its own pair."""
    components, resolve = _spec(profile)
    schemas = profile_schemas(profile)
    ours = {name: schemas.resolved(file) for file, name in PAIRS}
    return [d for _, name in PAIRS for d in differences(
        ours[name], components.get(name), name, resolve, {n: tree for n, tree in ours.items() if n != name})]


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_every_decision_is_well_formed() -> None:
    seen = set()
    for entry in _decisions():
        assert set(entry) == {*FIELDS, "ours", "spec"}, entry
        assert all(isinstance(entry[k], t) for k, t in FIELDS.items()), entry
        assert entry["profile"] in PROFILES and entry["schema"] in {name for _, name in PAIRS}, entry
        assert entry["why"].strip(), entry
        key = (entry["profile"], entry["schema"], entry["path"], entry["keyword"])
        assert key not in seen, f"{key} is listed twice in {DECISIONS_FILE}"
        seen.add(key)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_schemas_agree_with_the_spec_or_say_why(profile: str) -> None:
    found = {d.key: d for d in found_differences(profile)}
    listed = {(e["schema"], e["path"], e["keyword"]): e for e in _decisions() if e["profile"] == profile}
    problems = []
    for key, d in found.items():
        entry = listed.get(key)
        if entry is None or entry["ours"] != d.ours or entry["spec"] != d.spec:
            problems.append(
                f"{d.schema} {d.path}: {d.keyword} is {_show(d.ours)} in schemas/ but {_show(d.spec)} in the spec "
                f"({SPECS[profile].name}): make schemas/ agree, or add a decision to {SHOWN} "
                f'{{"profile": "{profile}", "schema": "{d.schema}", "path": "{d.path}", "keyword": "{d.keyword}", '
                f'"ours": {_show(d.ours)}, "spec": {_show(d.spec)}, "server_may_follow_spec": ..., "why": ...}}')
    for key, entry in listed.items():
        now_found = found.get(key)
        if now_found is None or entry["ours"] != now_found.ours or entry["spec"] != now_found.spec:
            now = ("no longer differ" if now_found is None
                   else f"now differ as ours {_show(now_found.ours)}, spec {_show(now_found.spec)}")
            problems.append(f"stale decision in {SHOWN}: {entry['schema']} {entry['path']}: {entry['keyword']} "
                            f"(ours {_show(entry['ours'])}, spec {_show(entry['spec'])}): the two {now}; remove or "
                            "update the entry")
    assert problems == [], "\n".join(problems)


def test_the_readme_table_is_the_decisions_file() -> None:
    text = (ROOT / "schemas" / "README.md").read_text(encoding="utf-8")
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    assert start >= 0 and end > start, f"schemas/README.md has no table between {TABLE_START!r} and {TABLE_END!r}"
    assert text[start:end + len(TABLE_END)] == render_table(_decisions()), (
        "schemas/README.md's table of decisions differs from schemas/spec-decisions.json: "
        "paste the output of `python -m tests.spec_walk` over it")


# --- the walk itself: spellings of one constraint agree, a real difference is named ------------------------


def _walk(ours: Node, spec: Node, components: dict[str, Node] | None = None) -> list[tuple[str, str, Any, Any]]:
    resolve = spec_resolver(components or {})
    return [(d.path, d.keyword, d.ours, d.spec)
            for d in compare(canon(ours, lambda n: n), canon(spec, resolve), "S")]


def test_nullable_spellings_agree() -> None:
    ours = {"type": ["string", "null"], "maxLength": 3}
    assert _walk(ours, {"type": "string", "nullable": True, "maxLength": 3}) == []  # OpenAPI 3.0
    assert _walk(ours, {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]}) == []  # 3.1
    assert _walk({"enum": ["a", None]}, {"type": "string", "enum": ["a"], "nullable": True}) == []
    assert _walk(ours, {"type": "string", "maxLength": 3}) == [("(body)", "nullable", True, False)]


def test_refs_consts_and_branches_are_matched() -> None:
    components = {"Text": {"type": "object", "properties": {"type": {"type": "string", "enum": ["text"]}}},
                  "Json": {"type": "object", "properties": {"type": {"type": "string", "enum": ["json_object"]}}}}
    ours: Node = {"type": "object", "properties": {"f": {"oneOf": [
        {"type": "string", "enum": ["auto"], "maxLength": 4},
        {"type": "object", "properties": {"type": {"const": "text"}}},  # no 'type': the const's
        {"type": "object", "properties": {"type": {"type": "string", "enum": ["json_object"]}}},
    ]}}}
    spec: Node = {"type": "object", "properties": {"f": {"nullable": False, "oneOf": [
        {"$ref": "#/components/schemas/Json"}, {"type": "string", "enum": ["auto"]},
        {"$ref": "#/components/schemas/Text"}]}}}
    # Text and Json differ only in their type's value: one branch on each side, matched by its label.
    assert _walk(ours, spec, components) == [("f(string)", "maxLength", 4, None)]
    del spec["properties"]["f"]["oneOf"][1]
    assert _walk(ours, spec, components)[-1] == ("f", "oneOf", ["string"], None)


def test_an_unlisted_difference_is_named_with_its_place_and_both_values() -> None:
    """A schema that drifts from the spec (a limit off by one) is a difference the decisions do not list."""
    components, resolve = _spec(DEFAULT_PROFILE)
    drifted = copy.deepcopy(load_profile(DEFAULT_PROFILE).resolved(REQUEST))
    drifted["properties"]["name"]["maxLength"] = 255
    found = differences(drifted, components["CreateAssistantRequest"], "CreateAssistantRequest", resolve)
    listed = {(e["schema"], e["path"], e["keyword"]) for e in _decisions() if e["profile"] == DEFAULT_PROFILE}
    unlisted = [d for d in found if d.key not in listed]
    assert unlisted == [Difference("CreateAssistantRequest", "name", "maxLength", 255, 256)]


def test_a_schema_missing_from_the_spec_is_one_difference() -> None:
    assert differences({"type": "object"}, None, "ErrorResponse", lambda n: n) == [
        Difference("ErrorResponse", "(body)", "schema", True, False)]



def test_query_parameters_are_one_object() -> None:
    """An operation's query parameters are compared as one object: each a property, open to other names."""
    operation: Node = {"parameters": [
        {"name": "limit", "in": "query", "required": False, "description": "d", "schema": {"type": "integer", "default": 20}},
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}]}
    node = query_parameters(operation)
    assert node == {"type": "object", "required": ["q"], "properties": {
        "limit": {"type": "integer", "default": 20, "description": "d"}, "q": {"type": "string", "description": ""}}}
    ours: Node = {"type": "object", "additionalProperties": True, "required": ["q"], "properties": {
        "limit": {"type": "integer", "minimum": 1, "default": 20}, "q": {"type": "string"}}}
    assert _walk(ours, node) == [("limit", "minimum", 1, None)]


def test_a_component_referred_to_whole_is_compared_once() -> None:
    """A list's items that are the assistant object are not walked again under the list; items that are not
    (a schema written out in its place) are, and their differences show."""
    components: dict[str, Node] = {"Item": {"type": "object", "properties": {"n": {"type": "string"}}}}
    item: Node = {"type": "object", "properties": {"n": {"type": "string", "maxLength": 3}}}
    ours: Node = {"type": "object", "properties": {"data": {"type": "array", "items": item}}}
    spec: Node = {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}
    resolve = spec_resolver(components)
    assert differences(ours, spec, "L", resolve, {"Item": item}) == []
    assert differences(ours, spec, "L", resolve) == [Difference("L", "data[].n", "maxLength", 3, None)]
    other: Node = {"type": "object", "properties": {"n": {"type": "string", "maxLength": 4}}}
    # Ours is not the shared schema: it is walked against nothing, so every keyword of it shows.
    assert [(d.path, d.keyword) for d in differences(ours, spec, "L", resolve, {"Item": other})] == [
        ("data[]", "type"), ("data[].n", "type"), ("data[].n", "maxLength")]


# --- the requirements of the modify and list schemas --------------------------------------------------------

# Create's requirements a modify does not carry: the behaviour of the API as a whole (stated once, on create),
# the defaults (a field left out keeps its value: MODIFY-KEEPS), model being required, and the vector_stores
# helper with the oneOf beside it (ModifyAssistantRequest has neither).
_NOT_IN_MODIFY_TOP = {"HTTP-MALFORMED-400", "HTTP-NO-5XX", "HTTP-JSON", "HTTP-UTF8", "AUTH-401", "AUTH-EVERY-ENDPOINT",
                      "AUTH-SCHEME-CASE", "AUTH-REFUSED-NO-EFFECT"}
_MODIFY_TOP = {"REQ-BODY-OBJECT": "MODIFY-BODY-OBJECT", "REQ-UNKNOWN-FIELD": "MODIFY-UNKNOWN-FIELD",
               "HTTP-CREATE-200": "MODIFY-200", "HTTP-INVALID-400": "MODIFY-INVALID-400"}
_MODIFY_ONLY = {"MODIFY-REPLACES", "MODIFY-KEEPS", "MODIFY-UNKNOWN-ID", "MODIFY-REFUSED-NO-EFFECT"}


def modify_id(rid: str) -> str:
    """A requirement ID reached through the modify schema: MODIFY- before it, unless it is there already."""
    return rid if rid.startswith("MODIFY-") else f"MODIFY-{rid}"


def _places(schemas: Any, name: str, depth: int | None = None) -> dict[str, str]:
    out = {}
    for path, node in iter_nodes(schemas.resolved(name)):
        if depth is not None and sum(1 for step in path if step[0] != "branch") > depth:
            continue  # as the catalog does for an answer: deeper IDs (data[]'s assistant objects) are not its own
        for keyword, spec in node.get("x-req", {}).items():
            out[f"{format_path(path)}:{keyword}"] = spec["id"]
    return out


@pytest.mark.parametrize("profile", PROFILES)
def test_modify_carries_creates_requirements_prefixed(profile: str) -> None:
    """Every place create and modify share carries the create ID with MODIFY- before it; what modify leaves out of
    create is exactly what it should; the IDs written in the modify files start with MODIFY- already."""
    schemas = profile_schemas(profile)
    create, modify = _places(schemas, REQUEST), _places(schemas, MODIFY)
    for place, rid in create.items():
        if place in modify:
            assert modify_id(modify[place]) == _MODIFY_TOP.get(rid, f"MODIFY-{rid}"), (place, rid, modify[place])
        else:
            assert (rid in _NOT_IN_MODIFY_TOP or rid.startswith("DEFAULT-") or rid in ("REQ-MODEL-REQUIRED",
                    "REQ-FILE-SEARCH-ONEOF") or place.startswith("tool_resources.file_search.vector_stores")), (place, rid)
    assert {modify[p] for p in modify if p not in create} == _MODIFY_ONLY
    assert [rid for rid in _ids_in(schemas.raw[MODIFY]) if modify_id(rid) != rid] == []


def _ids_in(node: Any) -> list[str]:
    if isinstance(node, list):
        return [rid for item in node for rid in _ids_in(item)]
    if not isinstance(node, dict):
        return []
    own = [spec["id"] for spec in node.get("x-req", {}).values()]
    return own + [rid for key, value in node.items() if key != "x-req" for rid in _ids_in(value)]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_modify_and_list_requirement_is_at_one_field(profile: str) -> None:
    """As test_schemas' rule for the catalog: a requirement names one field (a parent's ID may sit on a child's
    required, const or enum), with the MODIFY- prefix applied; list IDs start with LIST- and are the list's own."""
    schemas = profile_schemas(profile)
    found: dict[str, set[str]] = {}
    for name, depth in ((MODIFY, None), (LIST_QUERY, None), (LIST_RESPONSE, 1)):
        for place, rid in _places(schemas, name, depth).items():
            rid = modify_id(rid) if name == MODIFY else rid
            assert rid.startswith("MODIFY-" if name == MODIFY else "LIST-"), (name, place, rid)
            found.setdefault(rid, set()).add(place)
    shared = []
    for rid, places in found.items():
        fields = {_field_of(p, False) for p in places}
        if not any(all(_field_of(p, False) == f or (p.rsplit(":", 1)[1] in _CHILD_KEYWORDS and _field_of(p, True) == f)
                       for p in places) for f in fields):
            shared.append(f"{rid}: {sorted(places)}")
    assert shared == []
    assert {"MODIFY-BODY-OBJECT", "MODIFY-UNKNOWN-FIELD", "MODIFY-200", "MODIFY-REPLACES", "MODIFY-KEEPS",
            "MODIFY-UNKNOWN-ID", "MODIFY-REFUSED-NO-EFFECT", "LIST-LIMIT-TYPE", "LIST-LIMIT-MIN", "LIST-LIMIT-MAX",
            "LIST-LIMIT-DEFAULT", "LIST-ORDER-ENUM", "LIST-ORDER-DEFAULT", "LIST-AFTER", "LIST-BEFORE", "LIST-200",
            "LIST-INVALID-400", "LIST-NO-REPEAT-SKIP", "LIST-ORDER", "LIST-OBJECT", "LIST-DATA", "LIST-HAS-MORE",
            "LIST-FIRST-LAST-ID", "LIST-HAS-MORE-TRUE"} <= set(found)

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

from conformance._profiles import DEFAULT_PROFILE, PROFILES, load_profile
from conformance._schemas import REQUEST

from .serving import ROOT
from .spec_walk import (
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
    render_table,
    spec_resolver,
)

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


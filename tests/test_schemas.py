"""The schemas are the source of truth: every constraint carries a requirement ID, and the catalog is theirs."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from conformance.contract.requirements import catalog, format_path
from conformance.contract.schemas import DELETE, ERROR, OBJECT, REQUEST, SchemaError, iter_nodes, load_schemas
from conformance.endpoints import RESOURCES

CONSTRAINTS = {"maxLength", "maxItems", "maxProperties", "minimum", "maximum", "pattern", "enum", "oneOf",
               "required", "default", "type"}


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    schemas = load_schemas()
    for name in (REQUEST, OBJECT, ERROR, DELETE):
        Draft202012Validator.check_schema(schemas.raw[name])


def test_every_request_constraint_carries_a_requirement_id() -> None:
    """A constraint without an ID could never be reported: each keyword is covered by its node or an ancestor oneOf."""
    missing = []
    for path, node in iter_nodes(load_schemas().request):
        ids = node.get("x-req", {})
        for keyword in CONSTRAINTS & set(node):
            if keyword == "type" and ("oneOf" in node or any(s[0] == "branch" for s in path)):
                continue
            if keyword == "required" and any(k in ids for k in ("required", "oneOf")):
                continue
            if keyword == "required" and all(
                    "required" in node.get("properties", {}).get(k, {}).get("x-req", {}) for k in node["required"]):
                continue
            if keyword == "oneOf" and all(set(b) <= {"required"} for b in node["oneOf"]) and "oneOf" in ids:
                continue
            if keyword not in ids and not any(s[0] == "branch" for s in path):
                missing.append(f"{path}:{keyword}")
    assert missing == []


def test_the_catalog_is_derived_from_the_schemas_and_cites_the_documentation() -> None:
    reqs = catalog()
    assert "REQ-NAME-MAXLEN" in reqs
    assert "256" in reqs["REQ-NAME-MAXLEN"].doc
    assert reqs["REQ-METADATA-MAXPAIRS"].places == ("metadata:maxProperties",)
    assert reqs["REQ-VECTOR-STORE-METADATA-MAXPAIRS"].places == (
        "tool_resources.file_search.vector_stores[].metadata:maxProperties",)
    assert all(r.doc for r in reqs.values())


def test_limits_match_the_documentation_text() -> None:
    """Each limit in the schema appears in the documentation sentence its requirement quotes."""
    reqs = catalog()
    for path, node in iter_nodes(load_schemas().request):
        for keyword in ("maxLength", "maxItems", "maxProperties", "maximum"):
            if keyword in node and keyword in node.get("x-req", {}):
                doc = reqs[node["x-req"][keyword]["id"]].doc.replace(",", "")
                assert str(node[keyword]) in doc, (path, keyword)


def test_a_broken_schema_directory_is_reported_in_one_line(tmp_path: pytest.TempPathFactory) -> None:
    directory = tmp_path
    for name in (REQUEST, OBJECT, ERROR, DELETE):
        (directory / name).write_text(json.dumps(load_schemas().raw[name]))  # type: ignore[operator]
    (directory / ERROR).write_text("{not json")  # type: ignore[operator]
    with pytest.raises(SchemaError, match="is not valid JSON"):
        load_schemas(str(directory))


def _field_of(place: str, parent: bool) -> str:
    """The field a catalog place is on; with ``parent``, the field one step up (``tools[].type`` -> ``tools[]``)."""
    path = place.rsplit(":", 1)[0]
    if not parent:
        return path
    cut = max(path.rfind("."), path.rfind("[]"), path.rfind("{}"), path.rfind("<key>"))
    return path[:cut] if cut > 0 else "(body)"


# A keyword a parent's requirement legitimately carries on a child: which children must be there, and the value
# of a oneOf's discriminator (a tool's "type" outside the three kinds is REQ-TOOL-KIND, the tools[] item's).
_CHILD_KEYWORDS = {"required", "const", "enum"}


@pytest.mark.parametrize("profile", ["2024-05-13", "latest"])
def test_each_requirement_is_reported_at_one_field(profile: str) -> None:
    """A constraint reached through a shared definition is its place's own requirement: every failure names the
    field the user must fix, never a field of the same shape elsewhere."""
    from conformance.contract.profiles import load_profile

    shared = []
    for req in catalog(load_profile(profile)).values():
        if req.schema != REQUEST and "(body):type" in req.places:
            continue  # an answer's shape as a whole (ERROR-ENVELOPE): the body and its top-level fields
        fields = {_field_of(p, False) for p in req.places}
        for candidate in fields:
            if all(_field_of(p, False) == candidate or (p.rsplit(":", 1)[1] in _CHILD_KEYWORDS
                                                        and _field_of(p, True) == candidate) for p in req.places):
                break
        else:
            shared.append(f"{req.id}: {', '.join(req.places)}")
    assert shared == [], "requirements reported at more than one field (give each place an ID of its own):\n" + \
        "\n".join(shared)


def test_request_requirements_are_placed_in_the_request_only() -> None:
    """The assistant object's tools[] refer into the request's tool definitions; their IDs are never reported on
    the answer (a broken answer fails RESP-TOOLS), so the catalog takes a request requirement's places from the
    request alone, and a response requirement's from the answer's body and top-level fields."""
    schemas = load_schemas()
    own: dict[str, set[str]] = {}
    requests = {}
    for op in (op for resource in RESOURCES for op in resource.operations if op.request or op.query):
        requests[op.request or op.query] = op
        for path, node in iter_nodes(schemas.request_for(op.name)):
            for keyword, spec in node.get("x-req", {}).items():
                own.setdefault(spec["id"], set()).add(f"{format_path(path)}:{keyword}")
    for req in catalog().values():
        if req.schema in requests:
            assert set(req.places) == own[req.id], req.id
        else:
            assert all(_field_of(p, False).count(".") == 0 and "[]" not in p for p in req.places), req.id

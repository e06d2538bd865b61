"""Walk the OpenAPI spec of a profile and the project's resolved schemas side by side, node by node.

Why: schemas/ is written from the documentation, with the spec filling in what the documentation folds away.
Every place where the two disagree must be a decision someone took (``schemas/spec-decisions.json``), never an
accident of copying. This module finds the differences; ``tests/test_spec_agreement.py`` holds them against the
decisions.

Both sides are first brought to one canonical form, so that spellings of the same constraint compare equal:

- ``$ref`` is followed on both sides (ours are already inlined by ``Schemas.resolved``); keywords beside a
  spec ``$ref`` (the 2024-05-13 spec writes ``nullable: true`` there) are merged over its target.
- Nullability is a keyword of its own, ``nullable``: OpenAPI 3.0 ``nullable: true``, a JSON Schema type list
  with ``"null"``, a ``oneOf``/``anyOf`` branch ``{"type": "null"}`` and ``null`` in an ``enum`` all make it
  true; ``type`` then lists the other types.
- ``const`` is an ``enum`` of one value; a node with an ``enum`` but no ``type`` has the types of its values.
- ``oneOf`` and ``anyOf`` are both "branches" (ours and the spec's are disjoint, so the two mean the same).
  After the null branch is taken out, a single branch left is merged into its node (today's spec writes
  ``anyOf: [X, {type: null}]`` for "X or null"); ``anyOf`` with a bare ``{type: T}`` among branches all of type
  T is that bare branch (the spec's "any string, or one of these models"); branches that differ only in the
  values of their ``type`` property are one branch with the union (today's ``ResponseFormatText`` and
  ``ResponseFormatJsonObject`` are our one ``{"type": "text" | "json_object"}`` branch).
- ``additionalProperties`` is compared as closed (``false``) or not; a schema there is walked as the map's
  values (``{}`` in a path), like ``propertyNames`` (``<key>``). A child absent on one side is ``{}`` there.
- Descriptions, examples, titles, formats and ``x-`` keywords are not compared.

Branches are matched by their label: the values of their ``type`` property when they have one
(``tools[](function)``), else their JSON type (``response_format(string)``); labels that differ but share a
value are matched next, then what is left by position. A branch with no partner is a ``oneOf`` difference.

Paths read like the catalog's (``tools[].function.name``, ``metadata{}``, ``metadata<key>``), with a branch's
label in parentheses after the node it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Node = dict[str, Any]

# The keywords compared, in the order differences are listed.
KEYWORDS = ("type", "nullable", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
            "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "pattern", "required",
            "additionalProperties", "default")
_IGNORED = {"description", "title", "example", "examples", "format", "deprecated", "readOnly", "writeOnly"}
_ABSENT: Any = None  # a keyword not stated; compared and written as null

MODIFY = "modify-assistant-request.schema.json"
LIST_QUERY = "list-assistants-query.schema.json"
LIST_RESPONSE = "list-assistants-response.schema.json"

# Our schema files and the spec's component each is written after. "GET /assistants (query)" is no component: it
# is that operation's query parameters as one object (``load_spec`` makes it, ``query_parameters`` says how).
PAIRS = (("create-assistant-request.schema.json", "CreateAssistantRequest"),
         ("assistant.schema.json", "AssistantObject"),
         ("delete-assistant-response.schema.json", "DeleteAssistantResponse"),
         ("error.schema.json", "ErrorResponse"),
         (MODIFY, "ModifyAssistantRequest"),
         (LIST_QUERY, "GET /assistants (query)"),
         (LIST_RESPONSE, "ListAssistantsResponse"))
QUERIES = {"GET /assistants (query)": ("/assistants", "get")}


@dataclass(frozen=True)
class Difference:
    """One keyword at one place where our schema and the spec say different things (``None``: not stated)."""

    schema: str
    path: str
    keyword: str
    ours: Any
    spec: Any

    @property
    def key(self) -> tuple[str, str, str]:
        return self.schema, self.path, self.keyword


# --- loading the spec ----------------------------------------------------------------------------


def load_spec(path: Path) -> dict[str, Node]:
    """The spec's ``components.schemas``: YAML (its repeated anchors renamed) or JSON; with, under the names of
    ``QUERIES``, the query parameters of those operations as one object each (``query_parameters``)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        from benchmarks._spec import rename_repeated_anchors

        doc = yaml.safe_load(rename_repeated_anchors(text)[0])
    else:
        doc = json.loads(text)
    schemas: dict[str, Node] = dict(doc["components"]["schemas"])
    for name, (where, method) in QUERIES.items():
        operation = doc["paths"].get(where, {}).get(method)
        if operation is not None:
            schemas[name] = query_parameters(operation)
    return schemas


def query_parameters(operation: Node) -> Node:
    """An operation's ``in: query`` parameters as one object schema: each parameter's ``schema`` is a property
    (its ``description`` beside it), ``required: true`` ones are required, and other names are not forbidden
    (OpenAPI says nothing of parameters it does not list)."""
    properties: Node = {}
    required = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        properties[parameter["name"]] = {**parameter.get("schema", {}), "description": parameter.get("description", "")}
        if parameter.get("required") is True:
            required.append(parameter["name"])
    node: Node = {"type": "object", "properties": properties}
    if required:
        node["required"] = required
    return node


def spec_resolver(components: dict[str, Node]) -> Callable[[Node], Node]:
    """Follows a ``#/components/schemas/X`` reference, merging the keywords beside it over its target."""

    def resolve(node: Node) -> Node:
        seen = 0
        while "$ref" in node:
            seen += 1
            if seen > 32:
                raise ValueError(f"$ref cycle at {node['$ref']}")
            name = node["$ref"].rsplit("/", 1)[-1]
            node = {**components[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    return resolve


def _no_refs(node: Node) -> Node:
    if "$ref" in node:
        raise ValueError(f"unresolved $ref {node['$ref']} in our resolved schema")
    return node


# --- the canonical form ----------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=lambda v: json.dumps(v, sort_keys=True))


def canon(node: Node, resolve: Callable[[Node], Node]) -> Node:
    """The canonical form of a schema node (see the module's docstring); children are canonical too."""
    node = resolve(node)
    if "oneOf" in node and "anyOf" in node:
        raise ValueError("a node with both oneOf and anyOf is not supported")
    nullable = node.get("nullable") is True
    listed: list[Node] = node.get("oneOf") or node.get("anyOf") or []
    branches = [canon(b, resolve) for b in listed]
    rest = [b for b in branches if b["type"] != [] or not b["nullable"] or _has_content(b)]
    nullable = nullable or len(rest) < len(branches) or any(b["nullable"] for b in rest)
    bare = [b for b in rest if _is_bare(b)]
    if bare and all(b["type"] == bare[0]["type"] for b in rest):
        rest = bare[:1]  # "any T, or one of these T": any T
    own = {k: v for k, v in node.items() if k not in ("oneOf", "anyOf", "nullable")}
    out = _own(own, resolve)
    out["nullable"] = out["nullable"] or nullable
    if len(rest) == 1:
        merged = _merge_into(out, rest[0])
        return merged
    out["branches"] = _merge_by_discriminator(rest)
    return out


def _has_content(b: Node) -> bool:
    return any(b[k] is not None for k in KEYWORDS if k not in ("type", "nullable", "additionalProperties")) or bool(
        b["properties"] or b["branches"] or b["items"] or b["values"] or b["names"])


def _is_bare(b: Node) -> bool:
    return len(b["type"]) == 1 and not _has_content(b) and b["additionalProperties"]


def _own(node: Node, resolve: Callable[[Node], Node]) -> Node:
    types = node.get("type")
    type_list = [types] if isinstance(types, str) else list(types or [])
    values = node.get("enum", [node["const"]] if "const" in node else None)
    nullable = "null" in type_list or (values is not None and None in values)
    if values is not None:
        values = _sorted([v for v in values if v is not None])
    if not type_list and values:
        type_list = [_json_type(v) for v in values]
    out: Node = {
        "type": sorted({t for t in type_list if t != "null"}),
        "nullable": nullable,
        "enum": values,
    }
    for keyword in KEYWORDS[3:]:
        out[keyword] = node.get(keyword, _ABSENT)
    for side in ("Minimum", "Maximum"):  # OpenAPI 3.0's boolean form: the bound itself is exclusive
        if node.get(f"exclusive{side}") is True:
            out[f"exclusive{side}"] = node.get(side.lower())
            out[side.lower()] = _ABSENT
        elif node.get(f"exclusive{side}") is False:
            out[f"exclusive{side}"] = _ABSENT
    out["required"] = sorted(node["required"]) if node.get("required") else _ABSENT
    extra = node.get("additionalProperties", True)
    out["additionalProperties"] = extra is not False
    out["properties"] = {name: canon(child, resolve) for name, child in node.get("properties", {}).items()}
    out["items"] = canon(node["items"], resolve) if isinstance(node.get("items"), dict) else None
    out["values"] = canon(extra, resolve) if isinstance(extra, dict) and extra else None
    out["names"] = canon(node["propertyNames"], resolve) if isinstance(node.get("propertyNames"), dict) else None
    out["branches"] = []
    unknown = set(node) - set(KEYWORDS) - _IGNORED - {"const", "properties", "items", "propertyNames", "$ref"}
    unknown = {k for k in unknown if not k.startswith("x-")}
    if unknown:
        raise ValueError(f"keywords the comparison does not know: {sorted(unknown)}")
    return out


def _merge_into(out: Node, branch: Node) -> Node:
    """A node with a single branch: the branch's keywords, where the node states none of its own."""
    merged = dict(branch)
    for keyword, value in out.items():
        if keyword == "nullable":
            merged[keyword] = value or branch[keyword]
        elif keyword == "additionalProperties":
            merged[keyword] = value and branch[keyword]
        elif keyword == "type":
            merged[keyword] = value or branch[keyword]
        elif value not in (None, [], {}):
            merged[keyword] = value
    return merged


def _discriminator(b: Node) -> list[Any] | None:
    prop: Node | None = b["properties"].get("type")
    values: list[Any] | None = prop["enum"] if prop is not None else None
    return list(values) if values else None


def _merge_by_discriminator(branches: list[Node]) -> list[Node]:
    """Branches that differ only in the values of their ``type`` property become one, with the union."""
    out: list[Node] = []
    for b in branches:
        for i, kept in enumerate(out):
            if _discriminator(b) and _discriminator(kept) and _without_discriminator(b) == _without_discriminator(kept):
                both = [*(_discriminator(kept) or []), *(_discriminator(b) or [])]
                union = _sorted(list({json.dumps(v): v for v in both}.values()))
                props = dict(kept["properties"])
                props["type"] = {**props["type"], "enum": union}
                out[i] = {**kept, "properties": props}
                break
        else:
            out.append(b)
    return out


def _without_discriminator(b: Node) -> str:
    props = {k: v for k, v in b["properties"].items() if k != "type"}
    props["type"] = {**b["properties"]["type"], "enum": None}
    return json.dumps({**b, "properties": props}, sort_keys=True)


EMPTY: Node = _own({}, _no_refs)


def label(b: Node) -> str:
    """A branch's label: the values of its ``type`` property, else its JSON type(s)."""
    values = _discriminator(b)
    if values:
        return "|".join(str(v) for v in values)
    return "|".join(b["type"]) or "any"


# --- our schemas, the new ones included ------------------------------------------------------------


def profile_schemas(profile: str) -> Any:
    """The schemas of a profile, every file of ``PAIRS`` among them (the loader reads every endpoint's schemas)."""
    from conformance.contract.profiles import load_profile

    schemas = load_profile(profile)
    missing = [name for name, _ in PAIRS if name not in schemas.raw]
    assert not missing, f"the loader does not read {missing}"
    return schemas


# --- the comparison ------------------------------------------------------------------------------


def compare(ours: Node, spec: Node, schema: str) -> list[Difference]:
    """Every difference between two canonical trees, in walking order."""
    return list(_walk(ours, spec, schema, ""))


def _join(path: str, step: str) -> str:
    if step.startswith("."):
        return path + step if path else step[1:]
    return path + step


def _walk(ours: Node, spec: Node, schema: str, path: str) -> Iterator[Difference]:
    where = path or "(body)"
    for keyword in KEYWORDS:
        if ours[keyword] != spec[keyword]:
            yield Difference(schema, where, keyword, _shown(keyword, ours[keyword]), _shown(keyword, spec[keyword]))
    for name in dict.fromkeys([*ours["properties"], *spec["properties"]]):
        mine, theirs = ours["properties"].get(name), spec["properties"].get(name)
        child = _join(path, f".{name}")
        if mine is None or theirs is None:
            closed = not (ours if mine is None else spec)["additionalProperties"]
            if closed:  # a field one side defines and the other's closed object refuses
                yield Difference(schema, child, "properties", mine is not None, theirs is not None)
                continue
        yield from _walk(mine or EMPTY, theirs or EMPTY, schema, child)
    if ours["items"] or spec["items"]:
        yield from _walk(ours["items"] or EMPTY, spec["items"] or EMPTY, schema, path + "[]")
    if (ours["values"] or spec["values"]) and ours["additionalProperties"] and spec["additionalProperties"]:
        yield from _walk(ours["values"] or EMPTY, spec["values"] or EMPTY, schema, path + "{}")
    if ours["names"] or spec["names"]:
        yield from _walk(ours["names"] or EMPTY, spec["names"] or EMPTY, schema, path + "<key>")
    pairs, alone_ours, alone_spec = match_branches(ours["branches"], spec["branches"])
    for mine, theirs in pairs:
        yield from _walk(mine, theirs, schema, f"{path}({label(mine)})")
    if alone_ours or alone_spec:
        yield Difference(schema, where, "oneOf", [label(b) for b in alone_ours] or None,
                         [label(b) for b in alone_spec] or None)


def _shown(keyword: str, value: Any) -> Any:
    """A value as a decision states it: no type at all is null, like any other keyword not stated."""
    return None if keyword == "type" and value == [] else value


def match_branches(ours: list[Node], spec: list[Node]) -> tuple[list[tuple[Node, Node]], list[Node], list[Node]]:
    """Pairs of branches (same label, then a shared value, then by position) and those left on each side."""
    left_ours, left_spec = list(ours), list(spec)
    pairs: list[tuple[Node, Node]] = []

    def take(fits: Callable[[Node, Node], bool]) -> None:
        for mine in list(left_ours):
            for theirs in left_spec:
                if fits(mine, theirs):
                    pairs.append((mine, theirs))
                    left_ours.remove(mine)
                    left_spec.remove(theirs)
                    break

    take(lambda a, b: label(a) == label(b))
    take(lambda a, b: bool(set(label(a).split("|")) & set(label(b).split("|"))))
    take(lambda a, b: True)
    return pairs, left_ours, left_spec


def differences(ours: Node | None, spec: Node | None, schema: str,
                resolve: Callable[[Node], Node], shared: dict[str, Node] | None = None) -> list[Difference]:
    """The differences of one of our resolved schemas from the spec's component (``None``: not in the spec).

    ``shared`` maps names of other components compared on their own to our resolved schema of each: where the spec
    refers to one of them (``items: {$ref: AssistantObject}`` of a list) and ours is that very schema, the walk
    stops, so each difference is listed once, under the component it belongs to. Where only one side is the
    shared schema, the walk goes on, and the differences show.
    """
    if spec is None or ours is None:
        return [Difference(schema, "(body)", "schema", ours is not None, spec is not None)]
    kept = shared or {}

    def ours_resolve(node: Node) -> Node:
        return {} if any(node == whole for whole in kept.values()) else _no_refs(node)

    def spec_resolve(node: Node) -> Node:
        return {} if "$ref" in node and node["$ref"].rsplit("/", 1)[-1] in kept else resolve(node)

    return compare(canon(ours, ours_resolve), canon(spec, spec_resolve), schema)


# --- the decisions file and its table in schemas/README.md ----------------------------------------------

TABLE_START = "<!-- spec-decisions: generated from spec-decisions.json by `python -m tests.spec_walk`; do not edit -->"
TABLE_END = "<!-- end of spec-decisions -->"


def _cell(value: Any) -> str:
    return "—" if value is None else "`" + json.dumps(value, ensure_ascii=False) + "`"


def render_table(decisions: list[dict[str, Any]]) -> str:
    """The README's table of decisions, one row per entry of ``spec-decisions.json``."""
    rows = ["| profile | schema | path | keyword | ours | spec | server may follow the spec | why |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d in decisions:
        why = str(d["why"]).replace("|", "\\|")
        rows.append(f"| {d['profile']} | {d['schema']} | `{d['path']}` | {d['keyword']} | {_cell(d['ours'])} | "
                    f"{_cell(d['spec'])} | {'yes' if d['server_may_follow_spec'] else 'no'} | {why} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


if __name__ == "__main__":  # prints the table, to paste into schemas/README.md
    root = Path(__file__).resolve().parent.parent
    print(render_table(json.loads((root / "schemas" / "spec-decisions.json").read_text(encoding="utf-8"))))

"""Catalog servers that test our decisions against the spec (``schemas/spec-decisions.json``).

Where we are deliberately laxer than the spec (a decision with ``server_may_follow_spec: true``), a server that
does exactly what the spec says must still conform. ``spec-strict`` is that server: the reference with its request
schema patched, at every such decision, to the spec's value, read from the decisions file (never restated here),
and answering with the spec's defaults where we assert none. It also refuses ``null`` for a vector store's
``metadata``, where the 2024-05-13 spec is an object without ``nullable``. If the suite fails it, a decision
claims a freedom the suite does not grant.

``vector-store-metadata-17-pairs`` is the matching broken server: it takes 17 pairs in a vector store's
metadata, and must be flagged under that field's own requirement, not the top-level ``metadata``'s.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from conformance.contract.profiles import DEFAULT_PROFILE
from conformance.contract.schemas import Node, PatternValidator, schema_dir
from conformance.selftest.reference import ReferenceServer
from conformance.selftest.registry import _Patched, _shift, defect, variant

__all__ = ["decisions", "locate", "spec_strict_schema"]

DECISIONS = "spec-decisions.json"
_REQUEST_COMPONENT = "CreateAssistantRequest"
# Path steps as tests/spec_walk.py writes them: a field, an array's items, a map's values, a map's keys, and a
# oneOf/anyOf branch named by its "type" values (or its JSON type), e.g. tools[](function).function.name.
_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|(\[\])|(\{\})|(<key>)|\(([^)]*)\)")


def decisions(directory: Path | None = None) -> list[dict[str, Any]]:
    """The decisions where our schemas and the spec differ."""
    data: list[dict[str, Any]] = json.loads(((directory or schema_dir()) / DECISIONS).read_text(encoding="utf-8"))
    return data


def _steps(path: str) -> Iterator[tuple[str, str]]:
    if path == "(body)":
        return
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"cannot read the path {path!r} at {path[position:]!r}")
        name, item, value, key, branch = match.groups()
        if name is not None:
            yield "key", name
        elif item:
            yield "item", ""
        elif value:
            yield "value", ""
        elif key:
            yield "name", ""
        else:
            yield "branch", branch
        position = match.end()


def _label(branch: Node) -> set[str]:
    kind = branch.get("properties", {}).get("type", {})
    values = kind.get("enum", [kind["const"]] if "const" in kind else [])
    if values:
        return {str(v) for v in values}
    types = branch.get("type", [])
    return {t for t in ([types] if isinstance(types, str) else types) if t != "null"}


def locate(root: Node, path: str) -> Node:
    """The node of a resolved schema at a decision's path."""
    node = root
    for kind, arg in _steps(path):
        if kind == "key":
            node = node["properties"][arg]
        elif kind == "item":
            node = node["items"]
        elif kind == "value":
            node = node["additionalProperties"]
        elif kind == "name":
            node = node["propertyNames"]
        else:
            branches: list[Node] = node.get("oneOf") or node.get("anyOf") or []
            found = [b for b in branches if _label(b) == set(arg.split("|"))]
            if len(found) != 1:
                raise KeyError(f"no single branch ({arg}) at {path!r}")
            node = found[0]
    return node


def _nullable(node: Node) -> bool:
    types = node.get("type", [])
    return "null" in ([types] if isinstance(types, str) else types) or None in node.get("enum", [])


def _apply(node: Node, keyword: str, spec: Any) -> None:
    """Make ``node`` say what the spec says for ``keyword`` (``None``: the spec states nothing)."""
    if keyword == "nullable":
        types = node.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        types = [t for t in types if t != "null"] + (["null"] if spec else [])
        node["type"] = types[0] if len(types) == 1 else types
        if "enum" in node:
            node["enum"] = [v for v in node["enum"] if v is not None] + ([None] if spec else [])
        for keyword_ in ("oneOf", "anyOf"):
            if keyword_ in node and not spec:
                node[keyword_] = [b for b in node[keyword_] if b != {"type": "null"}]
    elif keyword == "type":
        nullable = _nullable(node)
        if spec is None:
            node.pop("type", None)
        else:
            node["type"] = [*spec, *(["null"] if nullable else [])]
    elif keyword == "enum":
        node.pop("const", None)
        if spec is None:
            node.pop("enum", None)
        else:
            node["enum"] = [*spec, *([None] if _nullable(node) else [])]
    elif keyword == "additionalProperties":
        if spec is False:
            node["additionalProperties"] = False
        elif node.get("additionalProperties") is False:
            del node["additionalProperties"]
    elif keyword in ("oneOf", "properties", "schema"):
        raise ValueError(f"a decision on {keyword!r} cannot be followed by patching one node")
    elif spec is None:
        node.pop(keyword, None)
    else:
        node[keyword] = copy.deepcopy(spec)


def _lax(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's decisions of the default profile where a server may follow the spec."""
    return [e for e in entries if e["profile"] == DEFAULT_PROFILE and e["schema"] == _REQUEST_COMPONENT
            and e["server_may_follow_spec"]]


VECTOR_STORE_METADATA = "tool_resources.file_search.vector_stores[].metadata"


def spec_strict_schema(resolved_request: Node, entries: list[dict[str, Any]]) -> Node:
    """Our resolved request schema with every lax decision set to the spec's value."""
    schema = copy.deepcopy(resolved_request)
    for entry in _lax(entries):
        _apply(locate(schema, entry["path"]), entry["keyword"], entry["spec"])
    # The 2024-05-13 spec: a vector store's metadata is "type: object" without "nullable".
    _apply(locate(schema, VECTOR_STORE_METADATA), "nullable", False)
    return schema


def _fill(value: Any, steps: list[tuple[str, str]], default: Any) -> None:
    """Put ``default`` at the end of ``steps`` in a request body wherever the key is absent."""
    if not steps:
        return
    (kind, arg), rest = steps[0], steps[1:]
    if kind == "key" and isinstance(value, dict):
        if not rest:
            value.setdefault(arg, copy.deepcopy(default))
        elif arg in value:
            _fill(value[arg], rest, default)
    elif kind == "item" and isinstance(value, list):
        for item in value:
            _fill(item, rest, default)
    elif kind == "value" and isinstance(value, dict):
        for item in value.values():
            _fill(item, rest, default)
    elif kind == "branch":
        labels = set(arg.split("|"))
        fits = (isinstance(value, dict) and ("object" in labels or value.get("type", next(iter(labels))) in labels)) \
            or (isinstance(value, str) and "string" in labels)
        if fits:
            _fill(value, rest, default)


@variant("spec-strict")
class _SpecStrict(ReferenceServer):
    """Strict exactly where the spec is: validates against the patched schema, answers with the spec's defaults."""

    def request_validator(self) -> Draft202012Validator:
        if not hasattr(self, "_strict"):
            self._strict = PatternValidator(spec_strict_schema(self.schemas.request, decisions()))
        return self._strict

    def build(self, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        for entry in _lax(decisions()):
            if entry["keyword"] == "default" and entry["spec"] is not None:
                _fill(body, list(_steps(entry["path"])), entry["spec"])
        return super().build(body)


@defect("vector-store-metadata-17-pairs", "REQ-VECTOR-STORE-METADATA-MAXPAIRS")
class _VectorStoreMetadata17(_Patched):
    """Takes 17 pairs in a vector store's metadata (the top-level metadata keeps its limit of 16)."""

    patch = staticmethod(_shift(["properties", "tool_resources", "properties", "file_search", "properties",
                                 "vector_stores", "items", "properties", "metadata"], "maxProperties", +1))

"""Probes: payloads exactly at each limit (to be accepted) and payloads that break exactly one requirement
(to be refused), each derived from a keyword of the request schema and labelled with its requirement ID.

A probe is built by embedding a drawn leaf value into a *carrier*: the simplest valid request that reaches
the leaf's path. Everything else in the carrier is minimal, so the leaf is the only thing that can be wrong.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ._generate import Pools, _merge, minimal, minimal_object, text_alphabet, text_of_length, valid
from ._requirements import format_path
from ._schemas import Node, Schemas, load_schemas

__all__ = ["Expect", "Probe", "RawBody", "probes", "valid_requests"]

Expect = Literal["accept", "reject", "reject-4xx"]
Path = tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class RawBody:
    """A request body sent as these exact bytes (not valid JSON, or not UTF-8)."""

    data: bytes


@dataclass(frozen=True)
class Probe:
    """One labelled case: what to send, what the requirement says must happen."""

    id: str
    requirement: str
    expect: Expect
    path: str
    description: str
    strategy: st.SearchStrategy[Any] = field(compare=False, repr=False)
    max_examples: int = 3


UNKNOWN_FIELD = "x_conformance_unknown_field"
_WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("boolean", True),
    ("integer", 1),
    ("number", 1.5),
    ("numeric-string", "1"),
    ("string", "text"),
    ("array", []),
    ("object", {}),
    ("null", None),
)
_TYPE_ERRORS = {"type", "oneOf", "anyOf", "const", "enum"}
_PATTERN_BREAKERS = ("has space", "dot.name", "naïve", "emoji😀", "slash/name", "semi;colon", "tab\tname", "ünïcode")
MALFORMED: tuple[tuple[str, bytes], ...] = (
    ("empty", b""),
    ("truncated", b'{"model": "gpt-4"'),
    ("not-json", b"model=gpt-4"),
    ("trailing-comma", b'{"model": "gpt-4",}'),
    ("single-quotes", b"{'model': 'gpt-4'}"),
    ("invalid-utf8", b'{"model": "gpt-4", "name": "\xff\xfe"}'),
    ("trailing-garbage", b'{"model": "gpt-4"} {"x": 1}'),
)


def _tiny(limit: float) -> float:
    """The smallest step that makes a difference near ``limit`` (one ulp, never a subnormal)."""
    return max(math.ulp(limit), 2.0**-52)


def _with(base: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = dict(base)
    out[key] = value
    return out


def _embed(node: Node, path: Path, leaf: st.SearchStrategy[Any], pools: Pools) -> st.SearchStrategy[Any]:
    """The carrier for ``path`` with ``leaf`` drawn at its end."""
    if not path:
        return leaf
    step, rest = path[0], path[1:]
    kind = step[0]
    if kind == "branch":
        keyword = "oneOf" if "oneOf" in node else "anyOf"
        return _embed(_merge(node, node[keyword][step[1]]), rest, leaf, pools)
    if kind == "key":
        name = step[1]
        base = minimal_object(node, pools, include=name)
        return _embed(node["properties"][name], rest, leaf, pools).map(lambda v: _with(base, name, v))
    if kind == "item":
        return _embed(node["items"], rest, leaf, pools).map(lambda v: [v])
    if kind == "value":
        return _embed(node["additionalProperties"], rest, leaf, pools).map(lambda v: {"key": v})
    if kind == "name":
        value = minimal(node["additionalProperties"], pools)
        return leaf.map(lambda k: {k: value})
    raise ValueError(f"unknown path step {step!r}")


def _node_at(root: Node, path: Path) -> Node:
    node = root
    for step in path:
        if step[0] == "branch":
            keyword = "oneOf" if "oneOf" in node else "anyOf"
            node = _merge(node, node[keyword][step[1]])
        elif step[0] == "key":
            node = node["properties"][step[1]]
        elif step[0] == "item":
            node = node["items"]
        elif step[0] == "value":
            node = node["additionalProperties"]
        elif step[0] == "name":
            node = {"type": "string", **node["propertyNames"]}
    return node


def _walk(node: Node, path: Path = (), inherited: str | None = None) -> Iterator[tuple[Path, Node, str | None]]:
    """Nodes with the oneOf requirement they sit under (for branch keywords that carry no ID of their own)."""
    yield path, node, inherited
    own = node.get("x-req", {}).get("oneOf", {}).get("id")
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, (*path, ("key", name)), inherited)
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], (*path, ("item",)), None)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], (*path, ("value",)), None)
    if isinstance(node.get("propertyNames"), dict):
        yield from _walk({"type": "string", **node["propertyNames"]}, (*path, ("name",)), None)
    for index, branch in enumerate(node.get("oneOf", [])):
        if set(branch) <= {"required"}:
            continue
        merged = _merge(node, branch)
        merged.pop("x-req", None)
        yield from _walk(merged, (*path, ("branch", index)), own or inherited)


def _req(node: Node, keyword: str, inherited: str | None) -> str | None:
    spec = node.get("x-req", {}).get(keyword)
    if spec:
        return str(spec["id"])
    spec = node.get("x-req", {}).get("oneOf")
    if spec:
        return str(spec["id"])
    return inherited


class _Builder:
    def __init__(self, schemas: Schemas, pools: Pools) -> None:
        self.root = schemas.request
        self.pools = pools
        self.out: dict[str, Probe] = {}

    def add(self, path: Path, keyword: str, variant: str, requirement: str | None, expect: Expect,
            description: str, leaf: st.SearchStrategy[Any], max_examples: int = 3) -> None:
        if requirement is None:
            return
        where = format_path(path)
        pid = f"{where}:{keyword}:{variant}"
        if pid in self.out:
            return
        strategy = _embed(self.root, path, leaf, self.pools)
        self.out[pid] = Probe(pid, requirement, expect, where, description, strategy, max_examples)

    def node_probes(self, path: Path, node: Node, inherited: str | None) -> None:
        xreq = node.get("x-req", {})
        types = node.get("type")
        type_list = [types] if isinstance(types, str) else list(types or [])
        validator = Draft202012Validator(node)
        where = format_path(path)

        # Wrong JSON types (and values matching no oneOf branch), one probe per kind of value.
        type_req = _req(node, "type", inherited) if ("type" in xreq or "oneOf" in xreq) else None
        if type_req:
            for label, value in _WRONG_TYPES:
                errors = list(validator.iter_errors(value))
                at_root = all(not e.relative_path for e in errors)
                if "type" in xreq:
                    fits = any(e.validator == "type" for e in errors)
                else:
                    fits = all(e.validator in _TYPE_ERRORS for e in errors)
                if errors and at_root and fits:
                    self.add(path, "type", label, type_req, "reject",
                             f"{where} given a JSON {label} ({json.dumps(value)})", st.just(value), 1)
        if "number" in type_list or "integer" in type_list:
            req = _req(node, "type", inherited)
            for label, value in (("nan", math.nan), ("infinity", math.inf), ("-infinity", -math.inf)):
                self.add(path, "type", label, req, "reject", f"{where} given the non-finite number {label}",
                         st.just(value), 1)
        if "number" in type_list and "minimum" in node and "maximum" in node:
            # A value no shorter decimal can stand for: a server that stores floats with less precision
            # cannot echo it.
            inner = node["minimum"] + (node["maximum"] - node["minimum"]) / 3
            self.add(path, "type", "full-precision", _req(node, "type", inherited), "accept",
                     f"{where} = {inner!r}, a full-precision double", st.just(inner), 1)
        if "null" in type_list:
            self.add(path, "type", "null", _req(node, "type", inherited), "accept", f"{where} given null",
                     st.just(None), 1)

        if "maxLength" in node:
            n = node["maxLength"]
            req = _req(node, "maxLength", inherited)
            self.add(path, "maxLength", "at-limit", req, "accept", f"{where} exactly {n} code points",
                     text_of_length(node, n))
            self.add(path, "maxLength", "past-limit", req, "reject", f"{where} of {n + 1} code points",
                     text_of_length(node, n + 1))
        if "pattern" in node:
            req = _req(node, "pattern", inherited)
            bad = [s for s in _PATTERN_BREAKERS
                   if not re.fullmatch(node["pattern"], s) and len(s) <= node.get("maxLength", len(s))]
            for index, text in enumerate(bad):
                self.add(path, "pattern", f"breaker{index}", req, "reject",
                         f"{where} {text!r} outside {node['pattern']}", st.just(text), 1)
        if "maxItems" in node:
            self._items(path, node, inherited)
        if "maxProperties" in node:
            self._pairs(path, node, inherited)
        for keyword, sign in (("minimum", -1), ("maximum", 1)):
            if keyword not in node:
                continue
            limit = node[keyword]
            req = _req(node, keyword, inherited)
            at = [limit, float(limit)] if float(limit).is_integer() else [limit]
            self.add(path, keyword, "at-limit", req, "accept", f"{where} exactly {limit}",
                     st.sampled_from(at), len(at))
            self.add(path, keyword, "just-past", req, "reject", f"{where} just past {limit}",
                     st.just(limit + sign * _tiny(limit)), 1)
            self.add(path, keyword, "past", req, "reject", f"{where} at {limit + sign}",
                     st.just(limit + sign), 1)
        values = node.get("enum", [node["const"]] if "const" in node else None)
        if values is not None:
            keyword = "enum" if "enum" in node else "const"
            req = _req(node, keyword, inherited)
            for value in values:
                self.add(path, keyword, f"value-{value}", req, "accept", f"{where} = {json.dumps(value)}",
                         st.just(value), 1)
            # 'x-outside': values worth probing besides the generic ones, e.g. a value an older contract allowed
            for index, other in enumerate(_outside(values) + list(node.get("x-outside", []))):
                self.add(path, keyword, f"outside{index}", req, "reject",
                         f"{where} = {json.dumps(other)}, not one of {json.dumps(values)}", st.just(other), 1)
        if "required" in node and "object" in (type_list or ["object"]):
            self._required(path, node, inherited)
        if node.get("additionalProperties") is False:
            req = _req(node, "additionalProperties", inherited)
            carrier = minimal_object(node, self.pools)
            self.add(path, "additionalProperties", "unknown-field", req, "reject",
                     f"{where} with the undocumented field {UNKNOWN_FIELD!r}",
                     st.just(_with(carrier, UNKNOWN_FIELD, "value")), 1)
        branches = node.get("oneOf", [])
        if branches and all(set(b) <= {"required"} for b in branches):
            self._exclusive(path, node, inherited)
        elif branches:
            req = _req(node, "oneOf", inherited)
            for index, branch in enumerate(branches):
                self.add(path, "oneOf", f"branch{index}", req, "accept", f"{where} as its branch {index}",
                         valid(_merge(node, branch), self.pools))
        if "x-resource" in node and node["x-resource"] == "model":
            self.add(path, "x-resource", "unknown", _req(node, "x-resource", inherited), "reject-4xx",
                     f"{where} names a model that does not exist", st.just(self.pools.unknown_model), 1)

    def _items(self, path: Path, node: Node, inherited: str | None) -> None:
        n = node["maxItems"]
        req = _req(node, "maxItems", inherited)
        items = node.get("items", {})
        where = format_path(path)
        if not self.pools.available(items.get("x-resource", "")):
            return
        motif = st.lists(valid(items, self.pools, small=2), min_size=1, max_size=3)

        def cycle(count: int) -> Callable[[list[Any]], list[Any]]:
            return lambda m: [m[i % len(m)] for i in range(count)]

        self.add(path, "maxItems", "at-limit", req, "accept", f"{where} with exactly {n} items", motif.map(cycle(n)))
        self.add(path, "maxItems", "past-limit", req, "reject", f"{where} with {n + 1} items",
                 motif.map(cycle(n + 1)))

    def _pairs(self, path: Path, node: Node, inherited: str | None) -> None:
        n = node["maxProperties"]
        req = _req(node, "maxProperties", inherited)
        key_node = {"type": "string", **node.get("propertyNames", {})}
        values = valid(node["additionalProperties"], self.pools, small=2)
        where = format_path(path)

        def pairs(count: int) -> st.SearchStrategy[dict[str, Any]]:
            prefix = st.lists(text_alphabet(key_node), min_size=1, max_size=6).map("".join)
            return st.tuples(prefix, st.lists(values, min_size=count, max_size=count)).map(
                lambda t: {f"{t[0]}{i:02d}": v for i, v in enumerate(t[1])}
            )

        self.add(path, "maxProperties", "at-limit", req, "accept", f"{where} with exactly {n} pairs", pairs(n))
        self.add(path, "maxProperties", "past-limit", req, "reject", f"{where} with {n + 1} pairs", pairs(n + 1))

    def _required(self, path: Path, node: Node, inherited: str | None) -> None:
        where = format_path(path)
        full = minimal_object(node, self.pools)
        for key in node["required"]:
            child = node.get("properties", {}).get(key, {})
            req = _req(child, "required", None) if "required" in child.get("x-req", {}) else None
            req = req or _req(node, "required", inherited)
            without = {k: v for k, v in full.items() if k != key}
            self.add(path, "required", f"missing-{key}", req, "reject", f"{where} without its required {key!r}",
                     st.just(without), 1)

    def _exclusive(self, path: Path, node: Node, inherited: str | None) -> None:
        where = format_path(path)
        req = _req(node, "oneOf", inherited)
        props = node["properties"]
        keys = [k for b in node["oneOf"] for k in b["required"]]
        if not all(self.pools.available(props[k].get("items", {}).get("x-resource", "")) for k in keys):
            return
        both = st.fixed_dictionaries({
            k: st.lists(valid(props[k]["items"], self.pools, small=2), min_size=1, max_size=props[k].get("maxItems", 1))
            for k in keys
        })
        for index, branch in enumerate(node["oneOf"]):
            chosen = {k: valid(props[k], self.pools) for k in branch["required"]}
            self.add(path, "oneOf", f"branch{index}", req, "accept", f"{where} with only {branch['required']}",
                     st.fixed_dictionaries(chosen))
        self.add(path, "oneOf", "both", req, "reject", f"{where} with all of {keys}", both, 2)
        self.add(path, "oneOf", "neither", req, "reject", f"{where} with none of {keys}", st.just({}), 1)


def _outside(values: list[Any]) -> list[Any]:
    strings = [v for v in values if isinstance(v, str)]
    out: list[Any] = []
    if strings:
        out.append("conformance_unknown_value")
        upper = strings[0].upper()
        if upper not in values:
            out.append(upper)
    return out


@functools.cache
def probes(pools: Pools, schemas: Schemas | None = None) -> tuple[Probe, ...]:
    """Every probe of the request schema, in schema order."""
    schemas = schemas or load_schemas()
    builder = _Builder(schemas, pools)
    root = schemas.request
    for path, node, inherited in _walk(root):
        builder.node_probes(path, node, inherited)
    malformed = root.get("x-req", {}).get("x-malformed", {}).get("id")
    for label, data in MALFORMED:
        builder.add((), "x-malformed", label, malformed, "reject", f"a body that is not a JSON object ({label})",
                    st.just(RawBody(data)), 1)
    return tuple(builder.out.values())


def valid_requests(pools: Pools, schemas: Schemas | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Valid request bodies reaching every field and branch of the request schema."""
    schemas = schemas or load_schemas()
    return valid(schemas.request, pools)


def node_at(path: Path, schemas: Schemas | None = None) -> Node:
    return _node_at((schemas or load_schemas()).request, path)

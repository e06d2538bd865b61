"""Probes: payloads exactly at each limit (to be accepted) and payloads that break exactly one requirement
(to be refused), each derived from a keyword of the request schema and labelled with its requirement ID.

A probe is built by embedding a drawn leaf value into a *carrier*: the simplest valid request that reaches
the leaf's path. Everything else in the carrier is minimal, so the leaf is the only thing that can be wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from conformance.contract.requirements import format_path
from conformance.contract.schemas import Node, Schemas, load_schemas
from conformance.contract.walk import branch as seen_in
from conformance.contract.walk import json_types, walk
from conformance.contract.wire import RawBody, encode
from conformance.generate.strategies import Pools, minimal, minimal_object, text_alphabet, text_of_length, valid

__all__ = ["Expect", "Probe", "RawBody", "probes", "valid_requests"]

Expect = Literal["accept", "reject", "reject-4xx"]
Path = tuple[tuple[Any, ...], ...]


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
    # The exact payloads, in order, when the probe is a fixed set of values rather than drawn (most are):
    # the suite sends them as they are, without Hypothesis.
    values: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)
    keyword: str = ""
    depth: int = 0  # fields and items between the body and the probed value
    rank: int = 0  # among its requirement's probes of the same outcome, nearest miss first; 0 leads
    part: str = ""  # a part of its requirement with a lead of its own: "exactly one of" is two conditions
    index: int = 0  # in schema order

    @property
    def schedule(self) -> tuple[int, int, bool, int, int]:
        """When the suite runs it: breadth-first over requirements (every requirement's lead probe before any
        requirement's second one); within a round, the rules a server writes by hand (limits, enums, required
        fields, malformed bodies) before what a schema validator gives for free (types), and large bodies
        last; then fixed probes before drawn ones, the cheapest body first, and schema order."""
        cost = len(encode(self.values[0])) if self.values is not None else 0
        group = 2 if self.keyword in _SIZES else 0 if _NEARNESS.get(self.keyword, 2) <= 1 else 1
        return (self.rank, group, self.values is None, cost, self.index)


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
# For each expected JSON type, the wrong kinds of value nearest to it, tried first: the ones a lax server
# takes for it (a boolean for a number, as Python's bool is an int; an array for an object).
_NEAR_KINDS = {"object": ("array",), "array": ("object",), "number": ("boolean", "numeric-string"),
               "integer": ("boolean", "numeric-string", "number"), "string": ("integer", "number")}
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


def _carrier(node: Node, path: Path, pools: Pools) -> Callable[[Any], Any]:
    """The function that puts a leaf value at the end of ``path`` in the simplest valid request reaching it."""
    if not path:
        return _identity
    step, rest = path[0], path[1:]
    kind = step[0]
    if kind == "branch":
        keyword = "oneOf" if "oneOf" in node else "anyOf"
        return _carrier(seen_in(node, node[keyword][step[1]]), rest, pools)
    if kind == "key":
        name = step[1]
        base = minimal_object(node, pools, include=name)
        inner = _carrier(node["properties"][name], rest, pools)
        return lambda v: _with(base, name, inner(v))
    if kind == "item":
        inner = _carrier(node["items"], rest, pools)
        return lambda v: [inner(v)]
    if kind == "value":
        inner = _carrier(node["additionalProperties"], rest, pools)
        return lambda v: {"key": inner(v)}
    if kind == "name":
        value = minimal(node["additionalProperties"], pools)
        return lambda k: {k: value}
    raise ValueError(f"unknown path step {step!r}")


def _identity(value: Any) -> Any:
    return value


def _req(node: Node, keyword: str, inherited: str | None) -> str | None:
    spec = node.get("x-req", {}).get(keyword)
    if spec:
        return str(spec["id"])
    spec = node.get("x-req", {}).get("oneOf")
    if spec:
        return str(spec["id"])
    return inherited


class _Builder:
    def __init__(self, root: Node, pools: Pools) -> None:
        self.root = root
        self.pools = pools
        self.out: dict[str, Probe] = {}

    def add(self, path: Path, keyword: str, variant: str, requirement: str | None, expect: Expect,
            description: str, leaf: st.SearchStrategy[Any] | tuple[Any, ...], max_examples: int = 3,
            part: str = "") -> None:
        """Add a probe; ``leaf`` is a strategy to draw from, or the fixed values to send, in order."""
        if requirement is None:
            return
        where = format_path(path)
        pid = f"{where}:{keyword}:{variant}"
        if pid in self.out:
            return
        carrier = _carrier(self.root, path, self.pools)
        depth = sum(1 for step in path if step[0] != "branch")
        if isinstance(leaf, tuple):
            values = tuple(carrier(v) for v in leaf)
            strategy: st.SearchStrategy[Any] = st.sampled_from(values) if len(values) > 1 else st.just(values[0])
            self.out[pid] = Probe(pid, requirement, expect, where, description, strategy, len(values), values,
                                  keyword, depth, part=part)
        else:
            self.out[pid] = Probe(pid, requirement, expect, where, description, leaf.map(carrier), max_examples,
                                  None, keyword, depth, part=part)

    def node_probes(self, path: Path, node: Node, inherited: str | None) -> None:
        xreq = node.get("x-req", {})
        types = node.get("type")
        type_list = [types] if isinstance(types, str) else list(types or [])
        validator = Draft202012Validator(node)
        where = format_path(path)

        # Wrong JSON types (and values matching no oneOf branch), one probe per kind of value.
        type_req = _req(node, "type", inherited) if ("type" in xreq or "oneOf" in xreq) else None
        if type_req:
            for label, value in _nearest_first(json_types(node)):
                errors = list(validator.iter_errors(value))
                at_root = all(not e.relative_path for e in errors)
                if "type" in xreq:
                    fits = any(e.validator == "type" for e in errors)
                else:
                    fits = all(e.validator in _TYPE_ERRORS for e in errors)
                if errors and at_root and fits:
                    self.add(path, "type", label, type_req, "reject",
                             f"{where} given a JSON {label} ({json.dumps(value)})", (value,))
        if "number" in type_list or "integer" in type_list:
            req = _req(node, "type", inherited)
            for label, value in (("nan", math.nan), ("infinity", math.inf), ("-infinity", -math.inf)):
                self.add(path, "type", label, req, "reject", f"{where} given the non-finite number {label}",
                         (value,))
        if "number" in type_list and "minimum" in node and "maximum" in node:
            # A value no shorter decimal can stand for: a server that stores floats with less precision
            # cannot echo it.
            inner = node["minimum"] + (node["maximum"] - node["minimum"]) / 3
            self.add(path, "type", "full-precision", _req(node, "type", inherited), "accept",
                     f"{where} = {inner!r}, a full-precision double", (inner,))
        if "null" in type_list:
            self.add(path, "type", "null", _req(node, "type", inherited), "accept", f"{where} given null",
                     (None,))

        if "maxLength" in node:
            n = node["maxLength"]
            req = _req(node, "maxLength", inherited)
            self.add(path, "maxLength", "at-limit", req, "accept", f"{where} exactly {n} code points",
                     text_of_length(node, n))
            # One example past the limit (any n + 1 code points are too many); three at it, where how a server
            # counts (bytes, UTF-16 units) shows.
            self.add(path, "maxLength", "past-limit", req, "reject", f"{where} of {n + 1} code points",
                     text_of_length(node, n + 1), 1)
        if "pattern" in node:
            req = _req(node, "pattern", inherited)
            # 'x-outside': strings a regex engine's habits let through ("$" before a final newline)
            bad = [s for s in [*_PATTERN_BREAKERS, *node.get("x-outside", [])]
                   if not re.fullmatch(node["pattern"], s) and len(s) <= node.get("maxLength", len(s))]
            for index, text in enumerate(bad):
                self.add(path, "pattern", f"breaker{index}", req, "reject",
                         f"{where} {text!r} outside {node['pattern']}", (text,))
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
            self.add(path, keyword, "at-limit", req, "accept", f"{where} exactly {limit}", tuple(at))
            self.add(path, keyword, "just-past", req, "reject", f"{where} just past {limit}",
                     (limit + sign * _tiny(limit),))
            self.add(path, keyword, "past", req, "reject", f"{where} at {limit + sign}", (limit + sign,))
        examples = node.get("x-generate", {}).get("examples", [])
        if examples and "type" in xreq:  # every example the schema gives is a valid value: accepted and echoed
            for index, example in enumerate(examples):
                self.add(path, "type", f"example{index}", _req(node, "type", inherited), "accept",
                         f"{where} = example {index} ({json.dumps(example)[:80]})", (example,))
        values = node.get("enum", [node["const"]] if "const" in node else None)
        if values is not None:
            keyword = "enum" if "enum" in node else "const"
            req = _req(node, keyword, inherited)
            for value in values:
                self.add(path, keyword, f"value-{value}", req, "accept", f"{where} = {json.dumps(value)}", (value,))
            # 'x-outside': values worth probing besides the generic ones, e.g. a value an older contract allowed
            for index, other in enumerate(_outside(values) + list(node.get("x-outside", []))):
                self.add(path, keyword, f"outside{index}", req, "reject",
                         f"{where} = {json.dumps(other)}, not one of {json.dumps(values)}", (other,))
        if "required" in node and "object" in (type_list or ["object"]):
            self._required(path, node, inherited)
        if node.get("additionalProperties") is False:
            req = _req(node, "additionalProperties", inherited)
            carrier = minimal_object(node, self.pools)
            self.add(path, "additionalProperties", "unknown-field", req, "reject",
                     f"{where} with the undocumented field {UNKNOWN_FIELD!r}",
                     (_with(carrier, UNKNOWN_FIELD, "value"),))
            # A documented field in another case (Go's encoding/json matches keys case-insensitively), and
            # 'x-outside': fields of another version of the API (v1's top-level file_ids).
            optional = [k for k in node.get("properties", {}) if k not in carrier]
            if optional:
                key = optional[0]
                value = minimal(node["properties"][key], self.pools)
                self.add(path, "additionalProperties", "other-case", req, "reject",
                         f"{where} with the field {key.capitalize()!r}, {key!r} in another case",
                         (_with(carrier, key.capitalize(), value),))
            for index, fields in enumerate(node.get("x-outside", [])):
                self.add(path, "additionalProperties", f"outside{index}", req, "reject",
                         f"{where} with the undocumented fields {json.dumps(fields)}", ({**carrier, **fields},))
        branches = node.get("oneOf", [])
        if branches and all(set(b) <= {"required"} for b in branches):
            self._exclusive(path, node, inherited)
        elif branches:
            req = _req(node, "oneOf", inherited)
            for index, branch in enumerate(branches):
                self.add(path, "oneOf", f"branch{index}", req, "accept", f"{where} as its branch {index}",
                         valid(seen_in(node, branch), self.pools))
        if "x-resource" in node and node["x-resource"] == "model":
            self.add(path, "x-resource", "unknown", _req(node, "x-resource", inherited), "reject-4xx",
                     f"{where} names a model that does not exist", (self.pools.unknown_model,))

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
        # One example past the limit: the count is what is probed, and the items are valid ones.
        self.add(path, "maxItems", "past-limit", req, "reject", f"{where} with {n + 1} items",
                 motif.map(cycle(n + 1)), 1)

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
        self.add(path, "maxProperties", "past-limit", req, "reject", f"{where} with {n + 1} pairs", pairs(n + 1), 1)

    def _required(self, path: Path, node: Node, inherited: str | None) -> None:
        where = format_path(path)
        full = minimal_object(node, self.pools)
        for key in node["required"]:
            child = node.get("properties", {}).get(key, {})
            req = _req(child, "required", None) if "required" in child.get("x-req", {}) else None
            req = req or _req(node, "required", inherited)
            without = {k: v for k, v in full.items() if k != key}
            self.add(path, "required", f"missing-{key}", req, "reject", f"{where} without its required {key!r}",
                     (without,))

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
        # Exactly one of: at least one (a server may forget) and at most one (a server may forget that instead).
        self.add(path, "oneOf", "both", req, "reject", f"{where} with all of {keys}", both, 2, part="at-most-one")
        self.add(path, "oneOf", "neither", req, "reject", f"{where} with none of {keys}", ({},), part="at-least-one")


def _outside(values: list[Any]) -> list[Any]:
    """Values outside an enum, nearest first: a valid value in capitals, then a value unlike any."""
    strings = [v for v in values if isinstance(v, str)]
    out: list[Any] = []
    if strings:
        upper = strings[0].upper()
        if upper not in values:
            out.append(upper)
        out.append("conformance_unknown_value")
    return out



def _nearest_first(types: list[str]) -> list[tuple[str, Any]]:
    """The wrong kinds of value, those nearest to one of ``types`` first."""
    near = [kind for t in types for kind in _NEAR_KINDS.get(t, ())]
    rank = {kind: i for i, kind in enumerate(dict.fromkeys(near))}
    return sorted(_WRONG_TYPES, key=lambda item: rank.get(item[0], len(rank)))


@functools.cache
def probes(pools: Pools, schemas: Schemas | None = None, operation: str = "create") -> tuple[Probe, ...]:
    """Every probe of an operation's request schema, in schema order."""
    schemas = schemas or load_schemas()
    root = schemas.request_for(operation)
    builder = _Builder(root, pools)
    for path, node, inherited in walk(root, merged=True):
        builder.node_probes(path, node, inherited)
    if schemas.is_query(operation):  # what a query can carry: every value goes as text
        kept = []
        for probe in builder.out.values():
            values = tuple(v for v in probe.values or () if _on_the_wire(probe, v, root))
            if values:
                kept.append(dataclasses.replace(probe, values=values, max_examples=len(values),
                                                strategy=st.sampled_from(values)))
        return _ranked(kept)
    malformed = root.get("x-req", {}).get("x-malformed", {}).get("id")
    for label, data in MALFORMED:
        builder.add((), "x-malformed", label, malformed, "reject", f"a body that is not a JSON object ({label})",
                    (RawBody(data),))
    return _ranked(list(builder.out.values()))


def wire_value(text: str) -> Any:
    """A query parameter as a server reads it: an integer or a number where the text is one, else the text."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def _on_the_wire(probe: Probe, payload: Any, root: Node) -> bool:
    """A query probe's value keeps its meaning on the wire, where every value is text: read back as a server
    reads it (a parameter the schema types as a string is the text; another is ``wire_value``), it is still
    valid (accepted probes, spelled as an integer where one is meant: ``1``, not ``1.0``) or still invalid."""
    if not isinstance(payload, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                for v in payload.values()):
        return False
    props = root.get("properties", {})
    read = {}
    for name, value in payload.items():
        text = value if isinstance(value, str) else json.dumps(value)
        read[name] = text if props.get(name, {}).get("type") == "string" else wire_value(text)
        if probe.expect == "accept" and isinstance(read[name], float):
            return False
    return Draft202012Validator(root).is_valid(read) == (probe.expect == "accept")


# Within a requirement, the probes nearest to a valid request first: a server that gets the near miss right
# (a value just past a limit, a valid enum value in capitals) rarely gets the far one wrong, not the reverse.
_NEARNESS = {"enum": 0, "const": 0, "minimum": 0, "maximum": 0, "required": 1, "oneOf": 1, "pattern": 1,
             "x-malformed": 1, "additionalProperties": 2, "x-resource": 2, "type": 3,
             "maxLength": 4, "maxItems": 4, "maxProperties": 4}
_SIZES = {"maxLength", "maxItems", "maxProperties"}


def _ranked(found: list[Probe]) -> tuple[Probe, ...]:
    groups: dict[tuple[str, bool, str], list[int]] = {}
    for i, probe in enumerate(found):
        groups.setdefault((probe.requirement, probe.expect == "accept", probe.part), []).append(i)
    rank: dict[int, int] = {}
    for members in groups.values():
        members.sort(key=lambda i: (_NEARNESS.get(found[i].keyword, 2), found[i].depth, found[i].values is None, i))
        rank.update((i, r) for r, i in enumerate(members))
    return tuple(dataclasses.replace(probe, rank=rank[i], index=i) for i, probe in enumerate(found))



def valid_requests(pools: Pools, schemas: Schemas | None = None,
                   operation: str = "create") -> st.SearchStrategy[dict[str, Any]]:
    """Valid request bodies reaching every field and branch of an operation's request schema."""
    schemas = schemas or load_schemas()
    return valid(schemas.request_for(operation), pools)



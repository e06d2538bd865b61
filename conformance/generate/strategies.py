"""Hypothesis strategies for *valid* values, compiled from a resolved schema by construction.

Why not hypothesis-jsonschema: measured here, it drew about 50 ms per example for the request schema
(oneOf tools, oneOf file_search, patterned names), filtering where this module constructs; see
schemas/README.md. This compiler supports exactly the keywords our schemas use and refuses any other,
so a schema change it cannot honour fails loudly instead of generating wrong data.

'x-generate' narrows what is drawn without asserting anything ('minLength', 'examples');
'x-resource' nodes draw from a pool of server-side resources (models, files, vector stores).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.contract.schemas import Node
from conformance.contract.walk import branch as seen_in
from conformance.contract.walk import types as node_types
from conformance.generate.hypothesis_seam import source_independent

__all__ = ["Pools", "UnsupportedSchema", "minimal", "source_independent", "text_alphabet", "valid"]

_SUPPORTED = {
    "type", "const", "enum", "properties", "required", "additionalProperties", "maxProperties",
    "propertyNames", "maxLength", "pattern", "items", "maxItems", "minimum", "maximum", "oneOf",
    "default", "description", "title", "examples",
}

# Printable text, with non-ASCII and astral characters; no control characters or lone surrogates.
# Every code point but a surrogate (Cs) encodes in UTF-8, so codec="utf-8" would add nothing, yet it makes
# Hypothesis map the codec's code points at first use: about 2 s and 200 MB in each fresh directory (as
# on CI), before the result is cached in ./.hypothesis. Without it the character set, and so every draw,
# is the same.
TEXT_CHARS = st.characters(exclude_categories=("Cs", "Cc"))
# Characters that make code-point counting visible: 1, 2, 3 and 4 bytes in UTF-8, astral ones are
# 2 UTF-16 units.
WIDE_SAMPLES = ("a", "Z", "7", "_", "-", "é", "ß", "中", "€", "😀", "𝄞", "🂡")


class UnsupportedSchema(Exception):
    """The schema uses a keyword this compiler does not implement."""


@dataclass(frozen=True)
class Pools:
    """Server-side resources valid payloads may reference.

    ``None`` for files or vector stores means synthetic IDs (fine for mocks and the reference server);
    an empty tuple means none is available, so generated payloads leave those lists empty.
    """

    models: tuple[str, ...]
    file_ids: tuple[str, ...] | None = None
    vector_store_ids: tuple[str, ...] | None = None
    unknown_model: str = "conformance-unknown-model"

    def values(self, kind: str) -> tuple[str, ...] | None:
        if kind == "model":
            return self.models
        if kind == "file":
            return self.file_ids
        if kind == "vector_store":
            return self.vector_store_ids
        return None

    def available(self, kind: str) -> bool:
        values = self.values(kind)
        return values is None or len(values) > 0


_SYNTHETIC = {"file": "file-", "vector_store": "vs_", "model": "model-"}


def resource(kind: str, pools: Pools) -> st.SearchStrategy[str]:
    values = pools.values(kind)
    if values is None:
        prefix = _SYNTHETIC.get(kind, f"{kind}-")
        return st.text("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", min_size=12, max_size=24).map(
            lambda s: prefix + s
        )
    if not values:
        return st.nothing()
    return st.sampled_from(values)


def _check(node: Node) -> None:
    unknown = {k for k in node if not k.startswith("x-")} - _SUPPORTED
    if unknown:
        raise UnsupportedSchema(f"keywords {sorted(unknown)} are not supported by the generator")


def text_alphabet(node: Node) -> st.SearchStrategy[str]:
    """Characters a string at this node may hold: all printable text, or those the pattern accepts."""
    pattern = node.get("pattern")
    if pattern is None:
        return st.one_of(st.sampled_from(WIDE_SAMPLES), TEXT_CHARS)
    ok = [c for c in _PATTERN_PROBE if re.fullmatch(pattern, c)]
    if not ok:
        raise UnsupportedSchema(f"pattern {pattern!r} accepts none of the probe characters")
    return st.sampled_from(ok)


_PATTERN_PROBE = (
    [chr(c) for c in range(0x21, 0x7F)] + list(WIDE_SAMPLES)
)


def text_of_length(node: Node, length: int) -> st.SearchStrategy[str]:
    """A string of exactly ``length`` code points, cheap at any size: a short drawn motif, repeated.

    Motifs lean on non-ASCII and astral characters so code points, UTF-16 units and bytes disagree.
    """
    if length == 0:
        return st.just("")
    alphabet = text_alphabet(node)
    wide = [c for c in ASTRAL if _allowed(node, c)]
    if wide:
        # Lead with an astral character, so each such string is longer in UTF-16 units and bytes than in
        # code points: a server counting either refuses a value at the limit.
        motif = st.tuples(st.sampled_from(wide), st.lists(alphabet, max_size=7)).map(lambda t: t[0] + "".join(t[1]))
    else:
        motif = st.lists(alphabet, min_size=1, max_size=8).map("".join)
    return motif.map(lambda m: (m * (length // len(m) + 1))[:length])


ASTRAL = ("😀", "𝄞", "🂡", "𠀋")


def _allowed(node: Node, char: str) -> bool:
    pattern = node.get("pattern")
    return pattern is None or re.fullmatch(pattern, char) is not None


def valid(node: Node, pools: Pools, *, small: int = 3) -> st.SearchStrategy[Any]:
    """Values that the node accepts; containers are kept small (``small`` items or pairs at most)."""
    _check(node)
    gen = node.get("x-generate", {})
    if "examples" in gen:
        return st.sampled_from(gen["examples"])
    if "x-resource" in node:
        return resource(node["x-resource"], pools)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "oneOf" in node:
        branches = [seen_in(node, b) for b in node["oneOf"]]
        if all(set(b) <= {"required"} for b in node["oneOf"]):
            return st.one_of([_object(node, pools, small, only=i) for i in range(len(node["oneOf"]))])
        return st.one_of([valid(b, pools, small=small) for b in branches])
    types = node_types(node)
    if not types:
        raise UnsupportedSchema(f"node without type, const, enum or oneOf: {sorted(node)}")
    return st.one_of([_of_type(node, t, pools, small) for t in types])


def _of_type(node: Node, kind: str, pools: Pools, small: int) -> st.SearchStrategy[Any]:
    gen = node.get("x-generate", {})
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        max_size = min(node.get("maxLength", 40), 40)
        min_size = gen.get("minLength", 0)
        if "pattern" in node:
            return st.text(text_alphabet(node), min_size=min_size, max_size=max_size)
        return st.text(st.one_of(st.sampled_from(WIDE_SAMPLES), TEXT_CHARS), min_size=min_size, max_size=max_size)
    if kind in ("number", "integer"):
        lo = node.get("minimum")
        hi = node.get("maximum")
        ints = st.integers(
            min_value=None if lo is None else math.ceil(lo), max_value=None if hi is None else math.floor(hi)
        )
        if kind == "integer":
            return ints
        floats = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
        return st.one_of(ints, floats)
    if kind == "array":
        items = node.get("items", {})
        if "x-resource" in items and not pools.available(items["x-resource"]):
            return st.just([])  # the target has none of these resources: send none
        return st.lists(valid(items, pools, small=small), max_size=min(node.get("maxItems", small), small))
    if kind == "object":
        return _object(node, pools, small)
    raise UnsupportedSchema(f"type {kind!r}")


def _object(node: Node, pools: Pools, small: int, only: int | None = None) -> st.SearchStrategy[Any]:
    props: dict[str, Node] = node.get("properties", {})
    extra = node.get("additionalProperties")
    if not props and not isinstance(extra, dict):
        return st.just({})  # free-form object: only an 'examples' hint could say more
    if not props:
        keys = node.get("propertyNames", {})
        key_node = {"type": "string", **{k: v for k, v in keys.items() if k != "x-req"}}
        return st.dictionaries(
            valid(key_node, pools), valid(extra, pools, small=small),  # type: ignore[arg-type]
            max_size=min(node.get("maxProperties", small), small),
        )
    required = set(node.get("required", []))
    excluded: set[str] = set()
    if only is not None:
        branches: Sequence[Node] = node["oneOf"]
        required |= set(branches[only].get("required", []))
        for i, b in enumerate(branches):
            if i != only:
                excluded |= set(b.get("required", [])) - required
    fixed = {k: valid(v, pools, small=small) for k, v in props.items() if k in required}
    optional = {k: valid(v, pools, small=small) for k, v in props.items() if k not in required and k not in excluded}
    return st.fixed_dictionaries(fixed, optional=optional)


def minimal(node: Node, pools: Pools) -> Any:
    """The simplest valid value, deterministic: carriers for probes are built from these."""
    gen = node.get("x-generate", {})
    if "examples" in gen:
        return gen["examples"][0]
    if "x-resource" in node:
        values = pools.values(node["x-resource"])
        return values[0] if values else _SYNTHETIC.get(node["x-resource"], "") + "conformance0"
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "oneOf" in node:
        first = node["oneOf"][0]
        if set(first) <= {"required"}:
            return minimal_object(node, pools)
        return minimal(seen_in(node, first), pools)
    kind = node_types(node)[0]
    if kind == "string":
        pattern_ok = "a"
        return pattern_ok * gen.get("minLength", 0)
    if kind in ("number", "integer"):
        return node.get("minimum", 0)
    if kind == "array":
        return []
    if kind == "object":
        return minimal_object(node, pools)
    return None


def minimal_object(node: Node, pools: Pools, include: str | None = None) -> dict[str, Any]:
    """Required properties at their simplest, plus the branch of a required-only oneOf that fits ``include``."""
    props: dict[str, Node] = node.get("properties", {})
    keys = list(node.get("required", []))
    branches = node.get("oneOf", [])
    if branches and all(set(b) <= {"required"} for b in branches):
        chosen = next((b for b in branches if include in b.get("required", [])), branches[0])
        keys += [k for k in chosen["required"] if k not in keys]
    return {k: minimal(props[k], pools) for k in keys if k != include and k in props}

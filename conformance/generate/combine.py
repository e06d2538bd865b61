"""Requests that exercise fields together, derived from the request schema: a pairwise covering set over the
optional fields and their branches, one request with every field at its limit at once, and requests that
carry text a server is tempted to change (edges, normal forms, joiners, astral characters), in two JSON
encodings of the same text.

Each field is probed alone elsewhere (``probes``); what breaks only in company (a total size no single
field reaches, a crash when two fields meet) shows here.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from conformance.contract.schemas import REQUEST, Node, Schemas
from conformance.contract.walk import branch as seen_in
from conformance.generate.strategies import Pools, minimal, minimal_object

__all__ = ["ABSENT", "TEXT_SAMPLES", "all_at_limits", "covering_rows", "escaped_json", "field_levels",
           "pairwise_requests", "text_requests"]


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

# Text a server is tempted to change on the way in or out: whitespace at the edges and inside, both
# normal forms of one letter, compatibility characters NFKC folds, joiners and zero-width characters, a
# byte order mark, astral characters and a flag sequence, bidirectional controls, the separators JSON
# allows raw and JavaScript does not, HTML-ish characters, a combining mark with nothing to combine with.
# All are Unicode scalar values (no lone surrogates, no U+0000), so every one is a valid JSON string.
TEXT_SAMPLES: tuple[str, ...] = (
    "  leading and trailing spaces  ",
    "\ttabs\tand\nnewlines\r\n",
    "e\u0301 decomposed (NFD) beside \u00e9 composed (NFC)",
    "\u212b angstrom sign, \ufb01 ligature, \u2460 circled one, \uff21 fullwidth",
    "\u1e9b\u0323 differs in every normal form",
    "\U0001f469\u200d\U0001f4bb zero width joiner, \u200b zero width space, \u200c non-joiner",
    "\ufeffleading byte order mark",
    "\U0001f600\U0001d11e astral, \U0001f3f3\ufe0f\u200d\U0001f308 flag, \U0001f44d\U0001f3fd skin tone",
    "\u00a0no-break\u00a0spaces\u3000and an ideographic one",
    "right-to-left \u202eoverride\u202c and \u05d0\u05d1\u05d2",
    "\u2028line separator\u2029paragraph separator",
    "<b>&amp; \"double\" 'single' \\backslash /slash</b>",
    "\u0308 a combining mark at the start",
    "\U000f0000 private use, plane 15",
    "trailing newline\n",
    "   ",
)


def escaped_json(payload: Any) -> bytes:
    """``payload`` as ASCII-only JSON: every non-ASCII character a ``\\uXXXX`` escape in capitals, astral
    characters as escaped surrogate pairs (``\\uD83D\\uDE00``), and ``/`` written ``\\/``. The same JSON value
    as the suite's usual compact UTF-8, written the other ways RFC 8259 allows."""
    text = json.dumps(payload, ensure_ascii=True, separators=(", ", ": "))
    text = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), text)
    return text.replace("/", "\\/").encode("ascii")


# --- pairs ----------------------------------------------------------------------------------------


def _resource_ok(node: Node, pools: Pools) -> bool:
    kind = node.get("x-resource")
    return kind is None or pools.available(kind)


def _fullest(levels: list[Any]) -> Any:
    return max(levels, key=lambda v: len(json.dumps(v)))


def field_levels(node: Node, pools: Pools) -> list[Any]:
    """The values that stand for each branch of a node: every enum value, each type (null, a string, the
    bounds of a number), an empty and a one-item array per kind of item, an empty object and one per
    property (one per branch of a required-only oneOf)."""
    if "x-generate" in node and "examples" in node["x-generate"]:
        return [node["x-generate"]["examples"][0]]
    if "x-resource" in node:
        return [minimal(node, pools)]
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return list(node["enum"])
    branches = node.get("oneOf", [])
    if branches and not all(set(b) <= {"required"} for b in branches):
        out: list[Any] = []
        for branch in branches:
            out += [v for v in field_levels(seen_in(node, branch), pools) if v not in out]
        return out
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    out = []
    for kind in kinds:
        if kind == "null":
            out.append(None)
        elif kind == "string":
            out.append("pair \u00e9\U0001f600")
        elif kind == "boolean":
            out += [True, False]
        elif kind in ("number", "integer"):
            out += list(dict.fromkeys([node.get("minimum", 0), node.get("maximum", 1)]))
        elif kind == "array":
            out.append([])
            items = node.get("items", {})
            if _resource_ok(items, pools):
                for level in (field_levels(items, pools) if "oneOf" in items else [minimal(items, pools)]):
                    out.append([level])
        elif kind == "object":
            out += _object_levels(node, pools)
    return out


def _object_levels(node: Node, pools: Pools) -> list[Any]:
    props: dict[str, Node] = node.get("properties", {})
    extra = node.get("additionalProperties")
    if not props:
        if isinstance(extra, dict):
            return [{}, {"key": minimal(extra, pools)}]
        return [{}]
    branches = node.get("oneOf", [])
    exclusive = bool(branches) and all(set(b) <= {"required"} for b in branches)
    out: list[Any] = [] if exclusive or node.get("required") else [{}]
    for name, child in props.items():
        if exclusive and not any(name in b["required"] for b in branches):
            continue
        filled = [v for v in field_levels(child, pools) if v not in ([], {}, None)]
        out.append({**minimal_object(node, pools, include=name), name: _fullest(filled) if filled else minimal(child, pools)})
    return out


def covering_rows(levels: list[list[Any]]) -> list[list[int]]:
    """Rows of level indices in which every pair of levels of two factors appears at least once (a greedy
    pairwise covering set: each row starts from an uncovered pair and takes, factor by factor, the level that
    covers most pairs still uncovered; ties go to the lower index, so the set is deterministic)."""
    n = len(levels)
    uncovered = {((i, a), (j, b)) for i, j in itertools.combinations(range(n), 2)
                 for a in range(len(levels[i])) for b in range(len(levels[j]))}
    rows: list[list[int]] = []
    while uncovered:
        (i, a), (j, b) = min(uncovered)
        row: dict[int, int] = {i: a, j: b}
        for k in range(n):
            if k in row:
                continue

            row[k] = max(range(len(levels[k])), key=lambda level: (_gain(uncovered, row, k, level), -level))
        chosen = [row[k] for k in range(n)]
        uncovered -= {((i, chosen[i]), (j, chosen[j])) for i, j in itertools.combinations(range(n), 2)}
        rows.append(chosen)
    return rows


def _gain(uncovered: set[Any], row: dict[int, int], k: int, level: int) -> int:
    """Pairs still uncovered that ``level`` of factor ``k`` would cover beside the levels already in ``row``."""
    return sum(((min(k, f), level if k < f else v), (max(k, f), v if k < f else level)) in uncovered
               for f, v in row.items())


def pairwise_requests(schemas: Schemas, pools: Pools) -> tuple[dict[str, Any], ...]:
    """Valid requests covering every pair of levels of the optional top-level fields (absent among them)."""
    root = schemas.request
    required = minimal_object(root, pools)
    names = [k for k in root["properties"] if k not in required]
    levels = [[ABSENT, *field_levels(root["properties"][k], pools)] for k in names]
    validator = schemas.validator(REQUEST)
    levels = [[v for v in options if v is ABSENT or validator.is_valid({**required, name: v})]
              for name, options in zip(names, levels, strict=True)]
    out = []
    for row in covering_rows(levels):
        payload = dict(required)
        for name, options, index in zip(names, levels, row, strict=True):
            if options[index] is not ABSENT:
                payload[name] = options[index]
        out.append(payload)
    return tuple(out)


# --- everything at its limit -------------------------------------------------------------------------

_MOTIF = "\u00e9\u4e2da\U0001f600"  # 2, 3, 1 and 4 bytes in UTF-8; the last is 2 UTF-16 units


def _text(node: Node, length: int, index: int) -> str:
    if "pattern" in node:
        tag = f"f{index}_"
        return (tag + "x" * length)[:length] if length >= len(tag) else tag[:length]
    tag = f"{index:03d}"
    return tag + (_MOTIF * (length // len(_MOTIF) + 1))[:length - len(tag)]


def _at_limit(node: Node, pools: Pools, index: int = 0) -> Any:
    if "x-generate" in node and "examples" in node["x-generate"]:
        return _fullest(node["x-generate"]["examples"])
    if "x-resource" in node:
        return minimal(node, pools)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][-1]
    branches = node.get("oneOf", [])
    if branches and not all(set(b) <= {"required"} for b in branches):
        return _fullest([_at_limit(seen_in(node, b), pools, index) for b in branches])
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    kind = next((k for k in kinds if k != "null"), "null")
    if kind == "string":
        return _text(node, node.get("maxLength", 16), index)
    if kind in ("number", "integer"):
        return node.get("maximum", 1)
    if kind == "array":
        items = node.get("items", {})
        if not _resource_ok(items, pools):
            return []
        count = min(node.get("maxItems", 2), 200)
        if "x-resource" in items:
            values = pools.values(items["x-resource"])
            if values:
                return [values[i % len(values)] for i in range(count)]
            return [f"{minimal(items, pools)}{i}" for i in range(count)]
        if "oneOf" in items:  # the branch that carries the most
            fullest = max(range(len(items["oneOf"])),
                          key=lambda b: len(json.dumps(_at_limit(seen_in(items, items["oneOf"][b]), pools))))
            items = seen_in(items, items["oneOf"][fullest])
        return [_at_limit(items, pools, i) for i in range(count)]
    if kind == "object":
        props: dict[str, Node] = node.get("properties", {})
        extra = node.get("additionalProperties")
        if not props and isinstance(extra, dict):
            keys = {"type": "string", **node.get("propertyNames", {})}
            return {_at_limit(keys, pools, i): _at_limit(extra, pools, i) for i in range(node.get("maxProperties", 2))}
        excluded: set[str] = set()
        branches = node.get("oneOf", [])
        if branches:  # a required-only oneOf: its first branch
            excluded = {k for b in branches[1:] for k in b["required"]} - set(branches[0]["required"])
        return {k: _at_limit(v, pools, index) for k, v in props.items() if k not in excluded}
    return None


def all_at_limits(schemas: Schemas, pools: Pools) -> dict[str, Any]:
    """One valid request with every field present and every length, count and number at its maximum."""
    root = schemas.request
    payload = minimal_object(root, pools)
    for name, node in root["properties"].items():
        if name not in payload:
            payload[name] = _at_limit(node, pools)
    return payload


# --- text ---------------------------------------------------------------------------------------------


def text_requests(schemas: Schemas, pools: Pools) -> tuple[dict[str, Any], ...]:
    """Requests carrying every text sample: in the free-text fields of the body and the function tool, as
    metadata values, and as metadata keys (within every limit, so each is valid)."""
    root = schemas.request
    required = minimal_object(root, pools)
    free = [k for k, n in root["properties"].items() if k not in required and _is_text(n)]
    meta = root["properties"]["metadata"]
    pairs = int(meta["maxProperties"])
    key_max = int(meta["propertyNames"]["maxLength"])
    samples = list(TEXT_SAMPLES)
    first = dict(required)
    for i, name in enumerate(free):
        first[name] = samples[i % len(samples)]
    first["metadata"] = {f"t{i:02d}": s for i, s in enumerate(samples[:pairs])}
    first["tools"] = [{"type": "function", "function": {"name": f"text_{i}", "description": s}}
                      for i, s in enumerate(samples)]
    second = dict(required)
    second["metadata"] = {s[:key_max]: s for s in samples[:pairs]}
    for i, name in enumerate(free):
        second[name] = "".join(samples[i::len(free)])
    return (first, second)


def _is_text(node: Node) -> bool:
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return "string" in kinds and "pattern" not in node and "enum" not in node and "x-resource" not in node

"""The one walk over a resolved schema: instance paths, ``oneOf`` branches seen with their parent, type lists.

The requirement catalog, the probes, the strategies and the checks all walk the same trees; each used to do it
its own way. Here a path is a tuple of steps: ``("key", name)`` a field, ``("item",)`` an array's items,
``("value",)`` a map's values, ``("name",)`` a map's keys, ``("branch", i)`` the i-th ``oneOf``/``anyOf``
branch (the same instance).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Node", "Path", "branch", "json_types", "node_at", "types", "walk"]

Node = dict[str, Any]
Path = tuple[tuple[Any, ...], ...]


def types(node: Node) -> list[str]:
    """The node's ``type``, always a list (empty when it has none)."""
    kind = node.get("type")
    if kind is None:
        return []
    return [kind] if isinstance(kind, str) else list(kind)


def json_types(node: Node) -> list[str]:
    """The JSON types a node allows: its ``type``, its ``enum``/``const`` values' and its branches'."""
    out = types(node)
    for value in node.get("enum", [node["const"]] if "const" in node else []):
        out.append("null" if value is None else "boolean" if isinstance(value, bool) else
                   "string" if isinstance(value, str) else "number" if isinstance(value, (int, float)) else
                   "array" if isinstance(value, list) else "object")
    for sub in node.get("oneOf", []) + node.get("anyOf", []):
        out += json_types(sub)
    return list(dict.fromkeys(out))


def branch(parent: Node, sub: Node) -> Node:
    """A ``oneOf`` branch seen with its parent's other keywords (minus the ``oneOf``, its requirements and its
    default, which are the parent's)."""
    base = {k: v for k, v in parent.items() if k not in ("oneOf", "x-req", "default")}
    return {**base, **sub}


def walk(node: Node, path: Path = (), *, merged: bool = False,
         inherited: str | None = None) -> Iterator[tuple[Path, Node, str | None]]:
    """Every subschema with the path that reaches it and the ``oneOf`` requirement it sits under.

    ``merged=False``: the tree as it is, ``oneOf`` and ``anyOf`` branches raw (the catalog reads each node's own
    annotations). ``merged=True``: each ``oneOf`` branch as an instance sees it, merged with its parent
    (``branch``), without the parent's annotations, branches that only name required fields skipped, and a
    map's key schema as the string it is (what probes and strategies build values for)."""
    yield path, node, inherited
    own = node.get("x-req", {}).get("oneOf", {}).get("id")
    for name, child in node.get("properties", {}).items():
        yield from walk(child, (*path, ("key", name)), merged=merged, inherited=inherited if merged else None)
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], (*path, ("item",)), merged=merged)
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], (*path, ("value",)), merged=merged)
    if isinstance(node.get("propertyNames"), dict):
        names = {"type": "string", **node["propertyNames"]} if merged else node["propertyNames"]
        yield from walk(names, (*path, ("name",)), merged=merged)
    if merged:
        for index, sub in enumerate(node.get("oneOf", [])):
            if set(sub) <= {"required"}:
                continue
            seen = branch(node, sub)
            seen.pop("x-req", None)
            yield from walk(seen, (*path, ("branch", index)), merged=True, inherited=own or inherited)
        return
    for keyword in ("oneOf", "anyOf"):
        for index, sub in enumerate(node.get(keyword, [])):
            yield from walk(sub, (*path, ("branch", index)))


def node_at(root: Node, path: Path) -> Node:
    """The node a path of ``walk(merged=True)`` reaches."""
    node = root
    for step in path:
        if step[0] == "branch":
            keyword = "oneOf" if "oneOf" in node else "anyOf"
            node = branch(node, node[keyword][step[1]])
        elif step[0] == "key":
            node = node["properties"][step[1]]
        elif step[0] == "item":
            node = node["items"]
        elif step[0] == "value":
            node = node["additionalProperties"]
        elif step[0] == "name":
            node = {"type": "string", **node["propertyNames"]}
    return node

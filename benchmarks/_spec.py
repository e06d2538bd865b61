"""The 2024-05-13 OpenAPI spec, made loadable for Schemathesis and cut down to the operations we serve.

The file defines a few YAML anchors twice; PyYAML's ``safe_load`` refuses that. YAML says an alias
refers to the closest anchor of that name before it, so renaming each redefinition (and the aliases
that follow it) keeps the document's meaning. Only the assistant operations are kept (``GET``/``POST
/assistants``, ``GET``/``POST``/``DELETE /assistants/{assistant_id}``: the reference server serves no
others, and the suite's default run tests all five), with the components they reach. The result is
written as JSON to a temporary directory at run time, never committed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

KEEP = {"/assistants": ("get", "post", "parameters"), "/assistants/{assistant_id}": ("get", "post", "delete", "parameters")}


def rename_repeated_anchors(text: str) -> tuple[str, int]:
    """``text`` with every anchor defined again renamed ``NAME__N`` (aliases follow); and how many were."""
    edits: list[tuple[int, int, str]] = []
    seen: dict[str, int] = {}
    current: dict[str, str] = {}
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken):
            count = seen.get(token.value, 0)
            seen[token.value] = count + 1
            current[token.value] = token.value if count == 0 else f"{token.value}__{count}"
            edits.append((token.start_mark.index, token.end_mark.index, "&" + current[token.value]))
        elif isinstance(token, yaml.AliasToken):
            edits.append((token.start_mark.index, token.end_mark.index, "*" + current.get(token.value, token.value)))
    for start, end, replacement in reversed(edits):
        text = text[:start] + replacement + text[end:]
    return text, sum(1 for n in seen.values() if n > 1)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= _refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def restrict(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with only the kept operations and the ``#/components/...`` entries they reach."""
    paths = {p: {k: v for k, v in doc["paths"][p].items() if k in keep} for p, keep in KEEP.items()}
    out = {k: v for k, v in doc.items() if k not in ("paths", "components")}
    out["paths"] = paths
    components: dict[str, dict[str, Any]] = {}
    todo = _refs(paths) | _refs(doc.get("security", []))
    for scheme in doc.get("components", {}).get("securitySchemes", {}):
        todo.add(f"#/components/securitySchemes/{scheme}")
    done: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in done or not ref.startswith("#/components/"):
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = doc["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        todo |= _refs(value)
    out["components"] = components
    return out


def fixed_spec(source: Path, directory: Path) -> tuple[Path, int]:
    """Write the loadable, restricted spec to ``directory``; returns its path and the anchors renamed."""
    text, renamed = rename_repeated_anchors(source.read_text(encoding="utf-8"))
    doc = restrict(yaml.safe_load(text))
    path = directory / "openapi-assistants.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path, renamed

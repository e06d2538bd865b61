"""The requirement catalog, derived from the ``x-req`` annotations of the schemas (never kept by hand)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from conformance.contract.schemas import Schemas, iter_nodes, load_schemas
from conformance.endpoints import RESOURCES, Operation, Resource

__all__ = ["Requirement", "catalog", "format_path"]


@dataclass(frozen=True)
class Requirement:
    """One requirement: its ID, the documentation sentence it comes from, where the schemas state it, and the
    operations (``POST /v1/assistants``) it is judged on, with the selections (``--endpoint``) that judge it."""

    id: str
    doc: str
    schema: str
    places: tuple[str, ...]
    keywords: tuple[str, ...]
    operations: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return self.id.split("-", 1)[0]


def format_path(path: tuple[tuple[object, ...], ...]) -> str:
    """A readable instance path: ``tools[].function.name``, ``metadata{}``, ``metadata<key>``."""
    out = ""
    for step in path:
        kind = step[0]
        if kind == "key":
            out += ("." if out else "") + str(step[1])
        elif kind == "item":
            out += "[]"
        elif kind == "value":
            out += "{}"
        elif kind == "name":
            out += "<key>"
    return out or "(body)"


def _sources() -> Iterator[tuple[str, str, Operation | None, tuple[Operation, ...]]]:
    """Each schema the catalog reads: its file, its role, the operation whose request it is (None for an answer),
    and the operations it is judged on."""
    for resource in RESOURCES:
        for op in resource.operations:
            for name in (op.request, op.query):
                if name:
                    yield name, "request", op, (op,)
        answers: dict[str, list[Operation]] = {resource.object: []}
        for op in resource.operations:
            answers.setdefault(op.answer, []).append(op)
        first, *others = answers.items()
        yield first[0], "answer", None, tuple(first[1])
        yield resource.error, "answer", None, resource.operations
        for name, ops in others:
            yield name, "answer", None, tuple(ops)


@functools.cache
def catalog(schemas: Schemas | None = None, suites: frozenset[str] | None = None) -> dict[str, Requirement]:
    """Every requirement ID in the schemas, in schema order, with the places that carry it; only those the
    selections ``suites`` judge, when given."""
    schemas = schemas or load_schemas()
    found: dict[str, dict[str, list[str] | str]] = {}
    for name, role, op, ops in _sources():
        for path, node in iter_nodes(schemas.resolved(name)):
            # An answer that breaks its schema is reported under the requirement of the top-level field where it
            # broke, or the object's (checks.core._response_requirement): IDs deeper in a response schema, reached
            # through a $ref (tools[] of the assistant object, the objects in a list's data), are never reported
            # there, so those places are not the requirement's.
            if role == "answer" and sum(1 for step in path if step[0] != "branch") > 1:
                continue
            for keyword, spec in node.get("x-req", {}).items():
                rid = op.requirement(spec["id"]) if op is not None else spec["id"]
                entry = found.setdefault(rid, {"doc": spec["doc"], "schema": name, "places": [], "keywords": [],
                                               "operations": []})
                place = f"{format_path(path)}:{keyword}"
                for key, value in (("places", place), ("keywords", keyword)):
                    values = entry[key]
                    assert isinstance(values, list)
                    if value not in values:
                        values.append(value)
                labels = entry["operations"]
                assert isinstance(labels, list)
                # "scope": "resource": a rule of every operation (no 5xx, JSON answers, the key on every call)
                judged_on = _resource_of(op).operations if op is not None and spec.get("scope") == "resource" else ops
                labels += [o.label for o in judged_on if o.label not in labels]
    suite_of = {o.label: o.suite for resource in RESOURCES for o in resource.operations}
    out = {}
    for rid, entry in found.items():
        ops_of = tuple(str(label) for label in entry["operations"])
        judged_by = tuple(dict.fromkeys(suite_of[label] for label in ops_of))
        if suites is not None and not set(judged_by) & suites:
            continue
        out[rid] = Requirement(id=rid, doc=str(entry["doc"]), schema=str(entry["schema"]),
                               places=tuple(str(p) for p in entry["places"]),
                               keywords=tuple(str(k) for k in entry["keywords"]), operations=ops_of, suites=judged_by)
    return out


def _resource_of(op: Operation) -> Resource:
    return next(resource for resource in RESOURCES if op in resource.operations)

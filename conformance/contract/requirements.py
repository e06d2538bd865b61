"""The requirement catalog, derived from the ``x-req`` annotations of the schemas (never kept by hand)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from conformance.contract.schemas import ASSISTANT, DELETE, ERROR, REQUEST, Schemas, iter_nodes, load_schemas

__all__ = ["Requirement", "catalog", "format_path"]


@dataclass(frozen=True)
class Requirement:
    """One requirement: its ID, the documentation sentence it comes from, and where the schemas state it."""

    id: str
    doc: str
    schema: str
    places: tuple[str, ...]
    keywords: tuple[str, ...]

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


@functools.cache
def catalog(schemas: Schemas | None = None) -> dict[str, Requirement]:
    """Every requirement ID in the schemas, in schema order, with the places that carry it."""
    schemas = schemas or load_schemas()
    found: dict[str, dict[str, object]] = {}
    for name in (REQUEST, ASSISTANT, ERROR, DELETE):
        for path, node in iter_nodes(schemas.resolved(name)):
            # An answer that breaks its schema is reported under the requirement of the top-level field where it
            # broke, or the object's (_checks._response_requirement): IDs deeper in a response schema, reached
            # through a $ref into the request's definitions (tools[] of the assistant object), are never reported
            # there, so those places are not the requirement's.
            if name != REQUEST and sum(1 for step in path if step[0] != "branch") > 1:
                continue
            for keyword, spec in node.get("x-req", {}).items():
                entry = found.setdefault(
                    spec["id"], {"doc": spec["doc"], "schema": name, "places": [], "keywords": []}
                )
                place = f"{format_path(path)}:{keyword}"
                places = entry["places"]
                keywords = entry["keywords"]
                assert isinstance(places, list) and isinstance(keywords, list)
                if place not in places:
                    places.append(place)
                if keyword not in keywords:
                    keywords.append(keyword)
    return {
        rid: Requirement(
            id=rid,
            doc=str(e["doc"]),
            schema=str(e["schema"]),
            places=tuple(e["places"]),  # type: ignore[arg-type]
            keywords=tuple(e["keywords"]),  # type: ignore[arg-type]
        )
        for rid, e in found.items()
    }

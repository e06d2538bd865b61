"""Load the JSON Schemas in ``schemas/``, the single source of truth, and resolve them once.

Every other module reads limits, enums, defaults and requirement IDs from here: nothing restates a limit.
References are resolved locally (never over the network) into plain trees, which are cached.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance.contract.walk import walk
from conformance.endpoints import RESOURCES, Operation

__all__ = ["SchemaError", "Schemas", "documented_models", "load_schemas", "operation", "schema_dir"]

Node = dict[str, Any]

# The schema files come from the endpoint modules; these name the roles the create suite reads most.
_RESOURCE = RESOURCES[0]
REQUEST = str(_RESOURCE.op("create").request)
OBJECT = _RESOURCE.object
ERROR = _RESOURCE.error
DELETE = _RESOURCE.op("delete").answer
_NAMES = tuple(dict.fromkeys(name for resource in RESOURCES for name in resource.schema_files))


class SchemaError(Exception):
    """A schema file is missing, unreadable or not a valid Draft 2020-12 schema."""


def schema_dir() -> Path:
    """Where the schemas live: $CONFORMANCE_SCHEMA_DIR, the installed package's copy, or the source tree's."""
    override = os.environ.get("CONFORMANCE_SCHEMA_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent.parent / "schemas"
    if (packaged / REQUEST).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "schemas"


@dataclass(frozen=True)
class Schemas:
    """The four schemas, raw (for validation) and resolved (``$ref`` inlined, for walking)."""

    directory: Path
    raw: dict[str, Node]
    registry: Registry[Any]
    digest: str

    @property
    def request(self) -> Node:
        return self.resolved(REQUEST)

    @property
    def object_schema(self) -> Node:
        """The resource's object (the assistant object), resolved."""
        return self.resolved(OBJECT)

    @property
    def error(self) -> Node:
        return self.resolved(ERROR)

    @property
    def delete(self) -> Node:
        return self.resolved(DELETE)

    def resolved(self, name: str) -> Node:
        return _resolve_cached(self, name)

    def is_query(self, name: str) -> bool:
        """Whether an operation's request is its query parameters (list), not a JSON body."""
        return operation(name).query is not None

    def request_for(self, operation: str) -> Node:
        """The resolved request schema (body, or query parameters) of an operation, each requirement ID in it as
        that operation has it (``Operation.requirement``: modify's REQ-NAME-MAXLEN is MODIFY-REQ-NAME-MAXLEN)."""
        return _request_cached(self, operation)

    def validator(self, name: str) -> Draft202012Validator:
        return _validator_cached(self, name)

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schemas) and other.digest == self.digest


def _read(path: Path) -> Node:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read schema {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SchemaError(f"schema {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"schema {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise SchemaError(f"schema {path} is not a JSON object")
    try:
        Draft202012Validator.check_schema(data)
    except Exception as exc:  # jsonschema.SchemaError carries a long message; keep the first line
        first = str(exc).splitlines()[0]
        raise SchemaError(f"schema {path} is not a valid Draft 2020-12 schema: {first}") from None
    return data


@functools.cache
def load_schemas(directory: str | None = None) -> Schemas:
    """Read and check the schemas once per directory."""
    root = Path(directory) if directory else schema_dir()
    raw = {name: _read(root / name) for name in _NAMES}
    # A set in a subfolder (a profile, e.g. schemas/latest/) shares what is unchanged by $ref into the set
    # above it ("../assistant.schema.json#/..."), so that set is registered too, and counted in the digest.
    shared = {name: _read(root.parent / name) for name in _NAMES} if (root.parent / REQUEST).is_file() else {}
    resources = []
    for name, data in [*raw.items(), *shared.items()]:
        resource = Resource.from_contents(data, default_specification=DRAFT202012)
        resources.append((data.get("$id", name), resource))
    registry: Registry[Any] = Registry().with_resources(resources)
    digest = hashlib.sha256(
        b"".join(json.dumps(files[n], sort_keys=True).encode() for files in (raw, shared) for n in files)
    ).hexdigest()
    return Schemas(directory=root, raw=raw, registry=registry, digest=digest)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Node) -> Iterator[Any]:
    """``pattern`` as JSON Schema means it (ECMA-262): ``$`` ends the string. Python's ``$`` also matches
    before a final newline, so the stock validator lets ``"name\n"`` through ``^[a-zA-Z0-9_-]*$``."""
    if not validator.is_type(instance, "string"):
        return
    ecma = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if not re.search(ecma, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


PatternValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]


@functools.cache
def _validator_cached(schemas: Schemas, name: str) -> Draft202012Validator:
    validator: Draft202012Validator = PatternValidator(schemas.raw[name], registry=schemas.registry)
    return validator


@functools.cache
def _resolve_cached(schemas: Schemas, name: str) -> Node:
    base = schemas.raw[name].get("$id", name)
    return _inline(schemas, schemas.raw[name], base, depth=0)


def _lookup(schemas: Schemas, ref: str, base: str) -> tuple[Node, str]:
    resolver = schemas.registry.resolver(base_uri=base)
    resolved = resolver.lookup(ref)
    contents = resolved.contents
    if not isinstance(contents, dict):
        raise SchemaError(f"$ref {ref!r} does not point at a schema object")
    uri = ref.split("#", 1)[0]
    new_base = str(resolved.resolver._base_uri) if uri else base
    return contents, new_base


def _inline(schemas: Schemas, node: Any, base: str, depth: int) -> Any:
    """Inline every ``$ref``; a wrapper's own keywords (``x-req`` entries) are merged over the target's."""
    if depth > 64:
        raise SchemaError("schema references nest deeper than 64 levels (a cycle?)")
    if isinstance(node, list):
        return [_inline(schemas, item, base, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    out: Node = {}
    if "$ref" in node:
        target, target_base = _lookup(schemas, node["$ref"], base)
        out = copy.deepcopy(_inline(schemas, target, target_base, depth + 1))
    for key, value in node.items():
        if key in ("$ref", "$defs", "$schema", "$id"):
            continue
        if key == "x-req" and "x-req" in out:
            out["x-req"] = {**out["x-req"], **value}
        elif key == "properties" and isinstance(value, dict):  # names here are fields, not keywords
            out[key] = {name: _inline(schemas, sub, base, depth + 1) for name, sub in value.items()}
        elif key.startswith("x-") or key in ("const", "enum", "default", "description", "title"):
            out[key] = copy.deepcopy(value)
        else:
            out[key] = _inline(schemas, value, base, depth + 1)
    return out


def iter_nodes(node: Node, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Node]]:
    """Every subschema of a resolved tree with the instance path that reaches it, branches raw
    (``walk.walk``)."""
    for where, sub, _ in walk(node, path):
        yield where, sub


def documented_models(schemas: Schemas | None = None) -> tuple[str, ...]:
    """The models the documentation names: the default pool, and the reference server's."""
    schemas = schemas or load_schemas()
    return tuple(schemas.request["properties"]["model"]["x-documented-values"])


def operation(name: str) -> Operation:
    """An operation of the resources, by name."""
    for resource in RESOURCES:
        for op in resource.operations:
            if op.name == name:
                return op
    raise KeyError(f"no operation {name!r}")


@functools.cache
def _request_cached(schemas: Schemas, name: str) -> Node:
    op = operation(name)
    source = op.request or op.query
    if source is None:
        raise KeyError(f"the operation {name!r} takes no request")
    return _renamed(copy.deepcopy(schemas.resolved(source)), op)


def _renamed(node: Any, op: Operation) -> Any:
    if isinstance(node, list):
        return [_renamed(item, op) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "x-req" and isinstance(value, dict):
            out[key] = {kw: {**spec, "id": op.requirement(spec["id"])} for kw, spec in value.items()}
        elif key == "properties" and isinstance(value, dict):
            out[key] = {field: _renamed(sub, op) for field, sub in value.items()}
        elif key.startswith("x-") or key in ("const", "enum", "default", "examples"):
            out[key] = value
        else:
            out[key] = _renamed(value, op)
    return out

"""What an endpoint is: a resource, its operations, and the schema each one's request and answer follow."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Operation", "Resource"]


@dataclass(frozen=True)
class Operation:
    """One operation of a resource.

    ``request``: the schema of its JSON body; ``query``: of its query parameters (as one object); ``answer``: of its
    2xx answer. ``prefix``: prepended to every requirement ID reached through ``request`` that lacks it, so an
    operation that shares the create request's nodes (modify) has requirements of its own, traced to the same
    sentences. ``suite``: the selection (``--endpoint``) whose tests exercise it.
    """

    name: str
    method: str
    path: str  # under the base URL; ``{id}`` stands for the resource's id
    answer: str
    suite: str
    request: str | None = None
    query: str | None = None
    prefix: str = ""

    @property
    def label(self) -> str:
        """As ``conformance requirements`` shows it: ``GET /v1/assistants``."""
        return f"{self.method} /v1{self.path}"

    def at(self, resource_id: str | None = None) -> str:
        """The path, with the id (already encoded for a path) in place of ``{id}``."""
        return self.path if resource_id is None else self.path.replace("{id}", resource_id)

    def requirement(self, rid: str) -> str:
        """The ID a requirement found through this operation's request schema has here."""
        return rid if not self.prefix or rid.startswith(self.prefix) else self.prefix + rid


@dataclass(frozen=True)
class Resource:
    """A resource: its object's schema, the error envelope's, the headers every request carries, its operations.

    ``created`` and ``deleted_object``: how the suite recognises what it made (the create operation's name) and
    what a delete answers. Selections (``suites``) group operations for ``--endpoint``; the first is the default
    focus of a report."""

    name: str
    object: str
    error: str
    headers: tuple[tuple[str, str], ...]
    operations: tuple[Operation, ...]
    id_label: str  # what the object is called in messages ("assistant")
    title: str = ""  # the API's name in messages ("the Assistants API")
    gone: str = ""  # what to say when a target does not serve it (where the original went)

    @property
    def probe_path(self) -> str:
        """A path under the base URL that any server of the resource answers (404 for an unknown id will do):
        what a test waits for to know a server it started is up."""
        return "/v1" + self.op("retrieve").at("x")

    def summary(self) -> str:
        """The selections and the operations each runs, as the command line's help says them."""
        parts = []
        for suite in self.suites:
            labels = [op.label for op in self.operations if op.suite == suite]
            parts.append(f"{suite} ({', '.join(labels)})")
        return ", ".join(parts)

    def op(self, name: str) -> Operation:
        for operation in self.operations:
            if operation.name == name:
                return operation
        raise KeyError(f"{self.name} has no operation {name!r}")

    @property
    def suites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(op.suite for op in self.operations))

    @property
    def schema_files(self) -> tuple[str, ...]:
        names = [self.object, self.error]
        for op in self.operations:
            names += [n for n in (op.request, op.query, op.answer) if n]
        return tuple(dict.fromkeys(names))

"""The catalog's registry: broken servers and conforming variants, each registered under a name with what the
suite must say of it. The entries live in ``catalog`` (one defect each), ``catalog_real`` (real servers'
mistakes) and ``catalog_strict`` (strict exactly where the spec is); importing ``catalog`` loads them all.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import Draft202012Validator

from conformance.contract.requirements import catalog
from conformance.contract.schemas import REQUEST, PatternValidator
from conformance.selftest.reference import ReferenceServer

__all__ = ["DEFECTS", "EVERY", "EXPECTED", "EXPECTED_EXIT", "VARIANTS", "Factory", "defect", "selection", "variant"]

_DELETE = object()


Factory = Callable[[], ReferenceServer]
DEFECTS: dict[str, Factory] = {}
EXPECTED: dict[str, set[str]] = {}
VARIANTS: dict[str, Factory] = {}
EVERY: dict[str, set[str]] = {}  # requirements the suite must name, each of them, besides one of EXPECTED's
ENDPOINT: dict[str, str] = {}  # the selection (--endpoint) a defect is run with, when not derived
EXPECTED_EXIT: dict[str, int] = {}  # a defect whose right outcome is not a failure (exit 1): no verdict is 2


def defect(name: str, *requirements: str, every: Iterable[str] = (), exit: int = 1,
           endpoint: str | None = None) -> Callable[[Factory], Factory]:
    """Register a broken server and the requirements the suite must name for it: any one of ``requirements``
    and each of ``every``. ``exit=2``: nothing the server answers can be judged; the run must say so, with
    no requirement passed."""

    def register(factory: Factory) -> Factory:
        DEFECTS[name] = factory
        EXPECTED[name] = set(requirements) | set(every)
        if every:
            EVERY[name] = set(every)
        if exit != 1:
            EXPECTED_EXIT[name] = exit
        if endpoint is not None:
            ENDPOINT[name] = endpoint
        return factory

    return register


def variant(name: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        VARIANTS[name] = factory
        return factory

    return register


class _Patched(ReferenceServer):
    patch: Callable[[dict[str, Any]], None] = staticmethod(lambda s: None)

    def request_validator(self) -> Draft202012Validator:
        if not hasattr(self, "_patched"):
            raw = copy.deepcopy(self.schemas.raw[REQUEST])
            type(self).patch(raw)
            # ``pattern`` as JSON Schema means it (ECMA-262 '$'), as the reference validates: each patched server
            # stays broken in its one way only (``function-name-python-dollar`` is the one with Python's '$').
            self._patched = PatternValidator(raw, registry=self.schemas.registry)
        return self._patched


def _set(path: list[str], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def patch(s: dict[str, Any]) -> None:
        node = s
        for step in path:
            node = node[step]
        if value is _DELETE:
            node.pop(key, None)
        else:
            node[key] = value

    return patch


def _shift(path: list[str], key: str, delta: int) -> Callable[[dict[str, Any]], None]:
    """The schema's own limit at ``path``, moved by ``delta``: a limit off by one, whatever the schema says."""
    def patch(s: dict[str, Any]) -> None:
        node = s
        for step in path:
            node = node[step]
        node[key] += delta

    return patch


def selection(name: str) -> list[str]:
    """The ``--endpoint`` arguments a catalog entry is run with. A variant: every selection (it must pass them
    all). A defect: the one it names (``endpoint=``), else the selections its requirements share, create
    first (the default focus, which found every defect of the create endpoint before the others existed)."""
    if name not in DEFECTS:
        return []
    if name in ENDPOINT:
        return ["--endpoint", ENDPOINT[name]]
    found = catalog()
    suites = [set(found[rid].suites) for rid in EXPECTED[name] if rid in found]
    shared = set.intersection(*suites) if suites else {"create"}
    chosen = ["create"] if "create" in shared or not shared else sorted(shared)
    return [arg for suite in chosen for arg in ("--endpoint", suite)]

"""The package's import graph: no cycle, and no module importing from a layer above its own.

Every module is parsed with ``ast``: every import counts, at module level, inside functions and under
``TYPE_CHECKING``, relative ones resolved. ``LAYERS`` is the one statement of the layering (ARCHITECTURE.md
shows it): a module may import from its own layer and the layers below it. The package root
(``conformance/__init__.py``, the public surface) and ``__main__`` may import anything; no module imports
the package root (what every layer may read, the distribution's name and version, is ``conformance._meta``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "conformance"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# From the bottom. An endpoint module is data the contract reads, so endpoints sits below contract.
LAYERS = ("_meta", "endpoints", "contract", "generate", "transport", "results", "checks", "selftest", "runner",
          "suite")
TOP = ("__init__", "__main__")  # the package root and ``python -m conformance``: above every layer
# Imports against the layers that are known and owned elsewhere, each with why; the test fails when one is gone
# (take it out) and on any other.
KNOWN: dict[tuple[str, str], str] = {}  # exceptions to the layers, each with its reason (none today)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def resolve(importer: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The package's modules an import statement names (a name imported from a package that is one of its
    submodules counts as that submodule)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                yield alias.name
        return
    if node.level:
        base = importer.split(".") if is_package(importer) else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    if source != PACKAGE and not source.startswith(PACKAGE + "."):
        return
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        yield submodule if submodule in MODULES else source


def imports_of(name: str) -> dict[str, int]:
    """The package's modules ``name`` imports, each with the line of its first import."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]))
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in resolve(name, node):
                found.setdefault(target, node.lineno)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> str:
    parts = name.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_module_is_in_a_layer() -> None:
    assert {layer(name) for name in MODULES} <= {*LAYERS, *TOP}, "add the new folder to LAYERS (and ARCHITECTURE.md)"
    unknown = {target for imports in GRAPH.values() for target in imports if target not in MODULES}
    assert not unknown, f"imports of modules that do not exist: {sorted(unknown)}"


def find_cycle() -> list[str] | None:
    """A cycle of the import graph, as the modules along it (the first back to the start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def violations() -> list[str]:
    out = []
    for name, imports in sorted(GRAPH.items()):
        here = layer(name)
        for target, line in sorted(imports.items()):
            rel = MODULES[name].relative_to(ROOT.parent)
            if target == PACKAGE and here not in TOP:
                out.append(f"{rel}:{line}: {name} imports the package root (read conformance._meta, or the module "
                           "that defines the name)")
            elif (here not in TOP and target != PACKAGE and LAYERS.index(layer(target)) > LAYERS.index(here)
                  and (name, target) not in KNOWN):
                out.append(f"{rel}:{line}: {name} ({here}) imports {target} ({layer(target)}), a layer above it")
    return out


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    found = violations()
    assert not found, "\n".join(["imports against the layers " + " < ".join(LAYERS) + ":", *found])
    gone = [pair for pair in KNOWN if pair[1] not in GRAPH.get(pair[0], {})]
    assert not gone, f"no longer imported, take them out of KNOWN: {gone}"


# --- the checker checks: a cycle and an upward import it must see -------------------------------------------


def test_the_checker_sees_a_cycle_and_an_upward_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "conformance.contract.wire", {**GRAPH["conformance.contract.wire"],
                                                             "conformance.runner.cli": 1})
    monkeypatch.setitem(GRAPH, "conformance.runner.cli", {**GRAPH["conformance.runner.cli"],
                                                          "conformance.contract.wire": 1})
    cycle = find_cycle()
    assert cycle is not None and "conformance.contract.wire" in cycle and "conformance.runner.cli" in cycle
    assert any("conformance.contract.wire (contract) imports conformance.runner.cli (runner)" in v
               for v in violations())


def test_relative_and_function_level_imports_are_resolved() -> None:
    source = ("from . import schemas\nfrom .. import _meta\nfrom ..transport.client import Api\n"
              "def f():\n    from conformance import catalog\n    import conformance.results.ledger\n"
              "if True:\n    from conformance.transport import cassettes\n")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= set(resolve("conformance.contract.profiles", node))
    assert found == {"conformance.contract.schemas", "conformance._meta", "conformance.transport.client",
                     "conformance", "conformance.results.ledger", "conformance.transport.cassettes"}


ENGINE = ("contract", "generate", "transport", "results", "checks", "runner")


def resource_named(path: Path, words: tuple[str, ...]) -> list[str]:
    """Where a module's code (its names and strings, docstrings aside) names a resource."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
            else node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) \
            else node.arg if isinstance(node, ast.arg) else None
        if text is not None and any(word in text.lower() for word in words):
            where = path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path.name
            found.append(f"{where}:{getattr(node, 'lineno', '?')}: {text[:80]!r}")
    return found


def test_only_the_endpoint_modules_name_a_resource() -> None:
    """The engine (contract, generate, transport, results, checks, runner) reads every path, label and message
    about a resource from ``endpoints/``: a new endpoint needs no change there."""
    from conformance.endpoints import RESOURCES

    words = tuple(word for resource in RESOURCES for word in (resource.name, resource.id_label))
    found = [hit for layer in ENGINE for path in sorted((ROOT / layer).glob("*.py")) for hit in resource_named(path, words)]
    assert not found, "\n".join(found)


def test_the_resource_check_sees_a_named_resource(tmp_path: Path) -> None:
    """The check itself: a path in a string and a name in an identifier are seen, a docstring is not."""
    module = tmp_path / "planted.py"
    module.write_text('"""About assistants: a docstring may."""\nPATH = "/v1/assistants"\nassistant_id = 1\n')
    assert [hit.split(": ", 1)[1] for hit in resource_named(module, ("assistant",))] == ["'/v1/assistants'",
                                                                                         "'assistant_id'"]

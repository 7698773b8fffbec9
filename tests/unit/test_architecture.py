"""The shape of the code that docs/architecture.md promises: sizes, layers and imports.

These tests read the source as text (ast); they run nothing of it.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ledger"
MAX_FILE_LINES = 800
MAX_CLASS_LINES = 400
# Only the store may reach into the library's persistence layer.
PERSISTENCE_MODULES = (
    "eventsourcing.persistence",
    "eventsourcing.sqlite",
    "eventsourcing.postgres",
)


@dataclass(frozen=True)
class Module:
    """A module of the package: its dotted name, file and parsed source."""

    name: str
    path: Path
    tree: ast.Module

    @property
    def part(self) -> str:
        """The part of ledger it belongs to: `ledger.domain`, `ledger.cli`, `ledger.logs`, ..."""
        return ".".join(self.name.split(".")[:2])

    def imports(self) -> list[str]:
        """Every module this one imports, wherever the import stands (also inside functions)."""
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append(node.module)
            elif isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
        return found


def _module_names() -> dict[str, Path]:
    names = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names[".".join(parts).removesuffix(".__init__")] = path
    return names


MODULE_PATHS = _module_names()


def _module_of(target: str) -> str:
    """The module of ledger an imported name is in ('' when it is outside ledger)."""
    while target and target not in MODULE_PATHS:
        target = target.rpartition(".")[0]
    return target


def _imported_modules(name: str) -> set[str]:
    """The modules of ledger that the module `name` imports, anywhere in it (in functions and
    type-checking blocks too), relative imports resolved."""
    path = MODULE_PATHS[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(owner for t in targets if (owner := _module_of(t)) and owner != name)
    return found


def _modules() -> list[Module]:
    modules = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        modules.append(Module(name, path, ast.parse(path.read_text(encoding="utf-8"))))
    return modules


MODULES = _modules()


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_source_file_is_longer_than_800_lines() -> None:
    """Every module stays short enough to read in one sitting."""
    long = {str(m.path.relative_to(SRC)): _line_count(m.path) for m in MODULES}
    assert {path: n for path, n in long.items() if n > MAX_FILE_LINES} == {}


def _is_aggregate(node: ast.ClassDef) -> bool:
    names = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
    return bool(names & {"Aggregate", "LedgerAggregate"})


def _class_lines(node: ast.ClassDef) -> int:
    """Lines of a class, less the event classes nested in it when it is an aggregate."""
    total = (node.end_lineno or node.lineno) - node.lineno + 1
    if _is_aggregate(node):
        for child in node.body:
            if isinstance(child, ast.ClassDef):
                total -= (child.end_lineno or child.lineno) - child.lineno + 1
    return total


def test_no_class_is_longer_than_400_lines() -> None:
    """Rules that grow a class move into value objects and policies, not into one big class."""
    long = {
        f"{m.name}.{node.name}": _class_lines(node)
        for m in MODULES
        for node in ast.walk(m.tree)
        if isinstance(node, ast.ClassDef)
    }
    assert {name: n for name, n in long.items() if n > MAX_CLASS_LINES} == {}


def test_the_cli_is_a_package_of_one_module_per_group() -> None:
    """`ledger.cli` is a package, like `ledger.web.routes`."""
    assert (SRC / "cli" / "__init__.py").is_file()
    assert not (SRC / "cli.py").exists()


def test_the_domain_imports_only_the_standard_library_and_the_librarys_domain() -> None:
    """`ledger.domain` stays pure: no store, no settings, no logging, no web."""
    allowed_third_party = ("eventsourcing.domain",)
    wrong = {
        f"{m.name}: {name}"
        for m in MODULES
        if m.part == "ledger.domain"
        for name in m.imports()
        if not (
            name.split(".")[0] in sys.stdlib_module_names
            or name == "ledger.domain"
            or name.startswith("ledger.domain.")
            or name.startswith(allowed_third_party)
        )
    }
    assert wrong == set()


def test_only_the_store_imports_the_librarys_persistence_layer() -> None:
    """Every customisation of the recorders, pools and transcoders is in ledger.store."""
    wrong = {
        f"{m.name}: {name}"
        for m in MODULES
        if m.part != "ledger.store"
        for name in m.imports()
        if name.startswith(PERSISTENCE_MODULES)
    }
    assert wrong == set()


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _part_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name in MODULE_PATHS:
        for target in _imported_modules(name):
            if _part(target) != _part(name):
                edges[_part(name)].add(_part(target))
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_parts_of_ledger() -> None:
    """The parts form layers: no part imports, even for types, one that imports it back."""
    assert _cycles(_part_graph()) == []


READ_SIDE = ("ledger.projections", "ledger.audit", "ledger.reports", "ledger.figures")


def test_no_module_of_the_read_side_is_part_of_an_import_cycle() -> None:
    """Views, reports, figures and the audit never import a module that imports them back,
    not even inside their own part."""
    graph = {name: _imported_modules(name) for name in MODULE_PATHS}
    assert [g for g in _cycles(graph) if any(m.startswith(READ_SIDE) for m in g)] == []


def test_the_hash_chain_arithmetic_and_the_figures_import_nothing_of_ledger() -> None:
    """The bottom of the read side: the chain's projection and its verification both build on
    the chain's arithmetic, and every layer reads the figures."""
    assert _imported_modules("ledger.hashchain") == set()
    assert _imported_modules("ledger.figures") == set()
    assert "ledger.hashchain" in _imported_modules("ledger.projections.audit_chain")
    assert "ledger.hashchain" in _imported_modules("ledger.audit.chain")
    assert "ledger.audit.chain" not in _imported_modules("ledger.projections.audit_chain")


def test_the_application_imports_no_read_model_and_no_user_interface() -> None:
    """Use cases reach read models only through interfaces they declare themselves."""
    forbidden = (
        "ledger.projections",
        "ledger.web",
        "ledger.cli",
        "ledger.audit",
        "ledger.reports",
    )
    wrong = {
        f"{m.name}: {name}"
        for m in MODULES
        if m.part == "ledger.application"
        for name in m.imports()
        if name.startswith(forbidden)
    }
    assert wrong == set()


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
    ids=["layers", "two-part-cycle", "three-part-cycle"],
)
def test_the_cycle_finder_finds_cycles(
    edges: dict[str, set[str]], expected: list[list[str]]
) -> None:
    """The cycle check itself can fail: it names every part of a cycle."""
    assert _cycles(edges) == expected

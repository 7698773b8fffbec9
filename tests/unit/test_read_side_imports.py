"""The read side imports without cycles: views, reports, figures and the audit.

Read from the source (every import, those made in functions or only for type checking
included), so that a cycle hidden behind an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ledger

ROOT = Path(ledger.__file__).parent
READ_SIDE = ("ledger.projections", "ledger.audit", "ledger.reports", "ledger.figures")


def module_name(path: Path) -> str:
    """The dotted name of a module of the ledger package."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imported(name: str) -> set[str]:
    """The modules of ledger that the module `name` imports, anywhere in it."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
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
        found.update(owner for t in targets if (owner := module_of(t)) and owner != name)
    return found


def module_of(target: str) -> str:
    """The module of ledger an imported name is in ('' when it is outside ledger)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def test_no_module_of_the_read_side_is_part_of_an_import_cycle() -> None:
    """Views, reports, figures and the audit never import a module that imports them back."""
    graph = {name: imported(name) for name in MODULES}
    assert [g for g in cycles(graph) if any(m.startswith(READ_SIDE) for m in g)] == []


def test_the_hash_chain_arithmetic_and_the_figures_import_nothing_of_ledger() -> None:
    """The bottom of the read side: both the chain projection and its verification import the
    links, and every layer reads the figures."""
    assert imported("ledger.hashchain") == set()
    assert imported("ledger.figures") == set()
    assert "ledger.hashchain" in imported("ledger.projections.audit_chain")
    assert not any(m.startswith("ledger.projections") for m in imported("ledger.hashchain"))


def test_the_check_finds_modules_that_import_each_other_through_others() -> None:
    """As the chain's verification and its projection did: a imports b, b imports c, c a."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert "ledger.projections.audit_chain" in imported("ledger.audit.chain")
    assert "ledger.audit.chain" not in imported("ledger.projections.audit_chain")

"""The import graph of src/lockgate points one way: no domain package imports the web layer or
the CLI, the engine imports no web framework, and top-level packages import each other
without cycles. Imports under `if TYPE_CHECKING:` are for annotations only and not counted."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "lockgate"

EDGE = {"gateway", "cli"}
DOMAIN = {
    "retrieval",
    "guardrails",
    "cache",
    "budget",
    "routing",
    "batch",
    "observability",
    "ingest",
    "store",
    "models",
    "prompts",
    "config",
    "engine",
    "auth",
    "review",
    "eval",
    "drift",
}
WEB_FRAMEWORKS = {"starlette", "uvicorn", "fastapi", "flask", "aiohttp"}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]], list[tuple[str, str]]]:
    packages: dict[str, set[str]] = defaultdict(set)
    external: dict[str, set[str]] = defaultdict(set)
    module_edges: list[tuple[str, str]] = []
    for path in SRC.rglob("*.py"):
        here = _package(path)
        for name in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[0] == "lockgate" and len(parts) > 1:
                there = parts[1]
                module_edges.append((str(path.relative_to(SRC)), name))
                if there != here:
                    packages[here].add(there)
            else:
                external[here].add(parts[0])
    return packages, external, module_edges


def test_no_domain_package_imports_the_web_layer_or_the_cli() -> None:
    _, _, edges = _graph()
    bad = [
        f"{src} imports {name}"
        for src, name in edges
        if src.split("/")[0].removesuffix(".py") in DOMAIN and name.split(".")[1] in EDGE
    ]
    assert bad == []


def test_the_engine_imports_no_web_framework() -> None:
    _, external, _ = _graph()
    assert external["engine"] & WEB_FRAMEWORKS == set()


def test_no_import_cycles_between_packages() -> None:
    packages, _, _ = _graph()
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        for nxt in sorted(packages.get(node, ())):
            if nxt in stack:
                cycle = stack[stack.index(nxt) :] + [nxt]
                if min(cycle[:-1]) == cycle[0]:
                    cycles.append(cycle)
                continue
            walk(nxt, [*stack, nxt])

    for start in sorted(packages):
        walk(start, [start])
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_imports() -> None:
    # Guards the test itself: the graph must contain edges we know exist.
    packages, external, _ = _graph()
    assert "engine" in packages["gateway"] and "starlette" in external["gateway"]

"""Dependencies between agent's subpackages point one way (DESIGN.md, Architecture): no import
cycle between them, counting imports inside functions (the lazy ones) too."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[1] / "agent"


def unit_of(module: str, root: Path = AGENT) -> str | None:
    """The subpackage or top-level module `agent.x.y` belongs to (`x`); `agent` for names of the
    package itself (`from agent import __version__`); None outside agent."""
    parts = module.split(".")
    if parts[0] != "agent":
        return None
    if len(parts) == 1:
        return "agent"
    head = root / parts[1]
    return parts[1] if head.is_dir() or head.with_suffix(".py").is_file() else "agent"


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module `path` (a file under `root`, the agent package) imports, wherever the import
    statement is (module level or lazy)."""
    package = ".".join(("agent", *path.relative_to(root).parts[:-1]))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def unit_graph(root: Path = AGENT) -> dict[str, dict[str, str]]:
    """unit -> {imported unit: one file that imports it}."""
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        source = "agent" if relative == Path("__init__.py") else relative.parts[0].removesuffix(".py")
        for module in imported_modules(path, root):
            target = unit_of(module, root)
            if target and target != source:
                graph[source].setdefault(target, str(relative))
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] when the graph has none (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycle_between_subpackages() -> None:
    graph = unit_graph()
    cycle = find_cycle(graph)
    steps = [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    assert not cycle, "import cycle: " + "; ".join(steps)


def test_lazy_and_relative_imports_count(tmp_path: Path) -> None:
    """The checker itself: an import inside a function closes a cycle as much as a top-level one."""
    (tmp_path / "llm").mkdir()
    (tmp_path / "context").mkdir()
    (tmp_path / "llm" / "loop.py").write_text("from agent.context.redact import redact\n")
    (tmp_path / "context" / "redact.py").write_text("def redact():\n    from ..llm import loop\n")
    (tmp_path / "context" / "packing.py").write_text("def f():\n    import agent.llm.loop\n")
    graph = unit_graph(tmp_path)
    assert graph["llm"] == {"context": "llm/loop.py"}
    assert set(graph["context"]) == {"llm"}
    assert find_cycle(graph) == ["context", "llm", "context"]


@pytest.mark.parametrize("module, unit", [("agent.llm.loop", "llm"), ("agent.types", "types"),
                                          ("agent.__version__", "agent"), ("anthropic", None)])
def test_unit_of(module: str, unit: str | None) -> None:
    assert unit_of(module) == unit

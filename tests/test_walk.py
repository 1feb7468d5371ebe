"""The shared tree walk answers exactly what `ast.walk` and the old per-rule walks answered."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agent.analysis.walk import SCOPE_NODES, SHARED_LEAVES, TreeWalk, activate, walk_body, walk_nodes

REPO = Path(__file__).resolve().parent.parent
SAMPLES = sorted((REPO / "agent" / "analysis").rglob("*.py"))[:12] + sorted((REPO / "examples").rglob("*.py"))


def reference_walk(node: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(node) if not isinstance(n, SHARED_LEAVES)]


def reference_body(node: ast.AST) -> list[ast.AST]:
    """The engine's original `walk_body`: pre-order, nested scopes entered but not descended."""
    found: list[ast.AST] = []
    stack = list(reversed(list(ast.iter_child_nodes(node))))
    while stack:
        current = stack.pop()
        if isinstance(current, SHARED_LEAVES):
            continue
        found.append(current)
        if not isinstance(current, SCOPE_NODES):
            stack.extend(reversed(list(ast.iter_child_nodes(current))))
    return found


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_walk_matches_ast_walk(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    walk = TreeWalk(tree)
    assert walk.nodes == reference_walk(tree)
    assert walk.of_type(ast.Call, ast.Return) == [n for n in reference_walk(tree) if isinstance(n, (ast.Call, ast.Return))]
    parents = {child: parent for parent in reference_walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in walk.of_type(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.Call):
        assert walk.body(node) == reference_body(node)
        assert walk.subtree_bfs(node) == reference_walk(node)
        assert set(map(id, walk.subtree(node))) == set(map(id, reference_walk(node)))
        assert walk.parent(node) is parents.get(node)
    walk.release_lookups()
    assert walk.body(tree) == reference_body(tree)


def test_node_helpers_use_the_active_walk_and_fall_back_for_other_nodes():
    tree = ast.parse("def f(x):\n    def g():\n        return 1\n    return [x + 1 for x in range(3)]\n")
    other = ast.parse("y = z.w(1)").body[0]
    activate(TreeWalk(tree))
    try:
        function = tree.body[0]
        assert walk_body(function) == reference_body(function)
        assert walk_body(other) == reference_body(other)  # not in the active walk: walked directly
        assert walk_nodes(other) == reference_walk(other)
    finally:
        activate(None)
    assert walk_body(function) == reference_body(function)

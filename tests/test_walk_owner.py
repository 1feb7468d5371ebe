"""Node-only helpers answer from the walk that numbered the node, whatever was walked last."""

from __future__ import annotations

import ast

from agent.analysis import walk as walk_module
from agent.analysis.walk import TreeWalk, child_nodes, subtree_nodes, walk_body, walk_nodes, walk_nodes_of_type

FIRST = "def f(a):\n    def inner():\n        return a\n    return [a + b for b in range(a)]\n"
SECOND = "async def g(x):\n    y = await x.fetch(1)\n    return {k: v for k, v in y.items()}\n"


def answers(node: ast.AST) -> tuple:
    """What each helper answers (`subtree_nodes` promises the set, not the order)."""
    return (walk_body(node), walk_nodes(node), set(map(id, subtree_nodes(node))),
            walk_nodes_of_type(node, ast.Name, ast.Call))


def test_two_files_walks_interleaved_answer_alike_and_from_their_own_walk(monkeypatch):
    first_tree, second_tree = ast.parse(FIRST), ast.parse(SECOND)
    expected = {id(n): answers(n) for tree in (first_tree, second_tree) for n in ast.walk(tree)}

    def no_direct_walk(node):
        raise AssertionError("walked directly: the node's walk was not found")

    first = TreeWalk(first_tree)
    second = TreeWalk(second_tree)  # walked last: must not matter for the first file's nodes
    monkeypatch.setattr(walk_module, "_walk", no_direct_walk)
    monkeypatch.setattr(walk_module, "_walk_body", no_direct_walk)
    inner = [[n for n in walk.subtree(walk.tree) if child_nodes(n)] for walk in (first, second)]  # leaves need no walk
    for a, b in zip(*inner):  # interleaved questions about both files
        assert answers(a) == expected[id(a)]
        assert answers(b) == expected[id(b)]


def test_a_node_whose_walk_is_gone_is_walked_directly():
    tree = ast.parse(FIRST)
    function = tree.body[0]
    expected = answers(function)
    TreeWalk(tree)  # dropped at once: the nodes hold it only weakly
    assert function._fba_walk() is None
    assert answers(function) == expected

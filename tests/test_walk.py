"""The shared tree walk answers exactly what `ast.walk` and the old per-rule walks answered."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agent.analysis.walk import (
    SCOPE_NODES,
    SHARED_LEAVES,
    TreeWalk,
    walk_body,
    walk_nodes,
    walk_nodes_of_type,
)

REPO = Path(__file__).resolve().parent.parent
STDLIB = Path(ast.__file__).parent
# Every kind of node the walk must reach: `match` patterns, `global`/`nonlocal`, f-strings,
# decorators, comprehensions, `async` forms, annotations, starred and keyword arguments.
EVERY_SYNTAX = '''
import os.path as p
from . import x as y
global_name = 1
@deco(arg=1)
async def f(a: int, /, b=2, *args: str, c: "T" = 3, **kw) -> list[int]:
    global global_name
    async with ctx() as (m, n):
        async for i in aiter(): yield f"{i!r:>{width}}"
    def g():
        nonlocal a
        return lambda q=1: q
    match a:
        case {"k": 1, **rest}: pass
        case Point(x=0, y=[1, *others]) | None: pass
        case str() as s if s: pass
        case _: pass
    try:
        raise ValueError() from None
    except* (KeyError, OSError) as error:
        del a[1:2, ::3]
    x = [i async for i in b if i] + {k: v for k, v in kw.items()} | {*args}
    assert (walrus := 1) is not None, "msg"
    return await x(*args, **kw)
class C(Base, metaclass=M):
    attr: int = 0
'''
SAMPLES = sorted((REPO / "agent" / "analysis").rglob("*.py"))[:12] + sorted((REPO / "examples").rglob("*.py")) + [
    STDLIB / "ast.py", STDLIB / "dataclasses.py", STDLIB / "typing.py", STDLIB / "asyncio" / "tasks.py"]


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
    check_walk(ast.parse(path.read_text(encoding="utf-8")))


def test_walk_reaches_every_kind_of_node():
    check_walk(ast.parse(EVERY_SYNTAX))
    if hasattr(ast, "TypeAlias"):  # Python 3.12+: `type X = ...` and type parameters
        check_walk(ast.parse("type Pair[T: int] = tuple[T, T]\ndef f[U](u: U) -> U: return u\n"))


def test_nodes_renumbered_by_a_walk_over_a_subtree_are_still_found():
    tree = ast.parse("def f():\n    return g(1)\n")
    module_walk = TreeWalk(tree)
    call = module_walk.of_type(ast.Call)[0]
    TreeWalk(tree.body[0])  # a second walk over a subtree re-numbers its nodes
    assert module_walk.subtree(call) == reference_walk(call)
    assert module_walk.parent(call) is tree.body[0].body[0]
    assert module_walk.parent(ast.Name("elsewhere")) is None


def check_walk(tree: ast.Module) -> None:
    walk = TreeWalk(tree)
    assert walk.subtree_bfs(tree) == reference_walk(tree)
    assert walk.of_type(ast.Call, ast.Return) == [n for n in reference_walk(tree) if isinstance(n, (ast.Call, ast.Return))]
    parents = {child: parent for parent in reference_walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in walk.of_type(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.Call):
        assert walk.body(node) == reference_body(node)
        assert walk.subtree_bfs(node) == reference_walk(node)
        assert walk.subtree_of_type(node, ast.Call, ast.Name, ast.stmt) == [
            n for n in reference_walk(node) if isinstance(n, (ast.Call, ast.Name, ast.stmt))]
        assert set(map(id, walk.subtree(node))) == set(map(id, reference_walk(node)))
        assert walk.parent(node) is parents.get(node)
        scope = parents.get(node)
        while scope is not None and not isinstance(scope, SCOPE_NODES):
            scope = parents.get(scope)
        assert walk.enclosing_scope(node) is scope
    assert walk.body(tree) == reference_body(tree)


def test_node_helpers_use_the_nodes_walk_and_fall_back_for_other_nodes():
    tree = ast.parse("def f(x):\n    def g():\n        return 1\n    return [x + 1 for x in range(3)]\n")
    other = ast.parse("y = z.w(1)").body[0]
    walk = TreeWalk(tree)
    function = tree.body[0]
    assert walk_body(function) == reference_body(function)
    assert walk_body(other) == reference_body(other)  # in no walk: walked directly
    assert walk_nodes(other) == reference_walk(other)
    assert walk_nodes_of_type(function, ast.Name) == [n for n in reference_walk(function) if isinstance(n, ast.Name)]
    assert walk_nodes_of_type(other, ast.Name) == [n for n in reference_walk(other) if isinstance(n, ast.Name)]
    del walk
    assert walk_body(function) == reference_body(function)

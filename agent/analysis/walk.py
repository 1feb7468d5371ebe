"""One walk over a parsed module, shared by the facts pass and every rule.

`ast.walk` costs a Python-level `iter_child_nodes` call per node; a file walked once per rule and
again per function body (the old engine walked each file some twenty times) spends most of its
review time there. `TreeWalk` visits the tree once, in pre-order, and answers from arrays:

* `nodes` — every node in `ast.walk` order (breadth first), `of_type(...)` a filtered copy;
* `subtree(node)` — a node and all its descendants (pre-order: a slice of one list), and
  `subtree_bfs(node)` the same in `ast.walk` order;
* `body(node)` — a node's descendants without the inside of nested functions, lambdas and
  classes (what `_db.walk_body` means), as slices around the nested scopes;
* `parent(node)`.

Unlike `ast.walk`, none of these include the `Load`/`Store` contexts and operators (`SHARED_LEAVES`).

Rule helpers that only receive a node (`walk_body(func)`, `walk_nodes`, `subtree_nodes`) use the
walk of the file being checked, made active by `activate` (the runner checks one file at a time
per process); a node that walk does not hold (another tree, a synthetic node) is walked directly.
"""

from __future__ import annotations

import ast
from array import array
from bisect import bisect_right
from typing import Iterable

SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# `Load`/`Store`/`Del` and the operators: singleton leaves that many parents share. No rule looks
# for them by walking (they are read as `node.ctx` / `node.op`), so the walk leaves them out.
SHARED_LEAVES = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
_AST = ast.AST


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`list(ast.iter_child_nodes(node))` without the shared leaves (and without two generator layers)."""
    found = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, _AST):
            if not isinstance(value, SHARED_LEAVES):
                found.append(value)
        elif isinstance(value, list) and name != "ops":  # `Compare.ops` holds only shared leaves
            found.extend(item for item in value if isinstance(item, _AST))
    return found


class TreeWalk:
    """A module's nodes in pre-order with each subtree's extent, built by one traversal.

    Positions live in `array`s (4 bytes a node): the facts pass builds the walk and the findings
    pass reuses it, so it is held for every file in between.
    """

    def __init__(self, tree: ast.AST) -> None:
        order: list[ast.AST] = []
        parent_at: list[int] = []
        depth_at: list[int] = []
        stack: list[tuple[ast.AST, int, int]] = [(tree, -1, 0)]
        push, pop = stack.append, stack.pop
        while stack:  # `child_nodes` inlined: this loop runs once per node of every file
            node, parent, depth = pop()
            position = len(order)
            order.append(node)
            parent_at.append(parent)
            depth_at.append(depth)
            children = []
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, _AST):
                    if not isinstance(value, SHARED_LEAVES):
                        children.append(value)
                elif isinstance(value, list) and name != "ops":
                    for item in value:
                        if isinstance(item, _AST):
                            children.append(item)
            depth += 1
            for child in reversed(children):
                push((child, position, depth))
        end = list(range(1, len(order) + 1))
        for position in range(len(order) - 1, 0, -1):  # children come after their parent
            parent = parent_at[position]
            if end[position] > end[parent]:
                end[parent] = end[position]
        self.tree = tree
        self._order = order
        self._parent_at = array("i", parent_at)
        self._depth_at = array("i", depth_at)
        self._end = array("i", end)
        self._position: dict[ast.AST, int] | None = None
        self._nodes: list[ast.AST] | None = None
        self._by_type: dict[tuple[type, ...], list[ast.AST]] = {}
        self._parents: dict[ast.AST, ast.AST] | None = None
        self._scopes: list[int] | None = None

    @property
    def nodes(self) -> list[ast.AST]:
        """Every node in `ast.walk` order: breadth first is pre-order grouped by depth."""
        if self._nodes is None:
            levels: list[list[ast.AST]] = []
            for node, depth in zip(self._order, self._depth_at):
                if depth == len(levels):
                    levels.append([])
                levels[depth].append(node)
            self._nodes = [node for level in levels for node in level]
        return self._nodes

    def of_type(self, *types: type) -> list[ast.AST]:
        """The nodes that are instances of `types`, in `nodes` order."""
        found = self._by_type.get(types)
        if found is None:
            found = self._by_type[types] = [n for n in self.nodes if isinstance(n, types)]
        return found

    def subtree(self, node: ast.AST) -> list[ast.AST]:
        """`node` and all its descendants, in pre-order (same set as `ast.walk(node)`)."""
        position = self._index_of(node)
        if position is None:
            return _walk(node)
        return self._order[position:self._end[position]]

    def subtree_bfs(self, node: ast.AST) -> list[ast.AST]:
        """`list(ast.walk(node))`, in its order (breadth first), for callers that keep the order."""
        position = self._index_of(node)
        if position is None:
            return _walk(node)
        depth = self._depth_at
        span = range(position, self._end[position])
        return [self._order[i] for i in sorted(span, key=depth.__getitem__)]

    def body(self, node: ast.AST) -> list[ast.AST]:
        """The descendants of `node`, not descending into nested functions, lambdas or classes
        (which are themselves included), in pre-order."""
        position = self._index_of(node)
        if position is None:
            return list(_walk_body(node))
        order, end, scopes = self._order, self._end, self._scope_positions()
        start, stop = position + 1, end[position]
        found: list[ast.AST] = []
        next_scope = bisect_right(scopes, position)
        while next_scope < len(scopes) and scopes[next_scope] < stop:
            scope = scopes[next_scope]
            found += order[start:scope + 1]
            start = end[scope]
            next_scope = bisect_right(scopes, start - 1, next_scope)
        found += order[start:stop]
        return found

    def parent(self, node: ast.AST) -> ast.AST | None:
        if self._parents is None:
            order, parent_at = self._order, self._parent_at
            self._parents = {order[i]: order[parent_at[i]] for i in range(1, len(order))}
        return self._parents.get(node)

    def release_lookups(self) -> None:
        """Drop the per-node dictionaries (positions, parents): cheap to rebuild, costly to hold
        for every file between the facts pass and the findings pass."""
        self._position = None
        self._parents = None

    def _scope_positions(self) -> list[int]:
        if self._scopes is None:
            self._scopes = [i for i, node in enumerate(self._order) if isinstance(node, SCOPE_NODES)]
        return self._scopes

    def _index_of(self, node: ast.AST) -> int | None:
        if self._position is None:
            self._position = {node: i for i, node in enumerate(self._order)}
        return self._position.get(node)


def _walk(node: ast.AST) -> list[ast.AST]:
    """Breadth first, like `ast.walk`, for nodes outside the walk."""
    found = [node]
    for current in found:  # grows while iterating
        found.extend(child_nodes(current))
    return found


def _walk_body(node: ast.AST) -> Iterable[ast.AST]:
    stack = list(reversed(child_nodes(node)))
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, SCOPE_NODES):
            stack.extend(reversed(child_nodes(current)))


_active: TreeWalk | None = None


def activate(walk: TreeWalk | None) -> None:
    """Make `walk` the one node-only helpers consult (the file whose rules run now; None after)."""
    global _active
    _active = walk


def walk_body(node: ast.AST) -> list[ast.AST]:
    """`TreeWalk.body` through the active walk, or a direct walk for nodes it does not hold."""
    walk = _active
    if walk is not None:
        return walk.body(node)
    return list(_walk_body(node))


def walk_nodes(node: ast.AST) -> list[ast.AST]:
    """`ast.walk(node)` (breadth first, without the shared leaves), served by the active walk."""
    walk = _active
    return walk.subtree_bfs(node) if walk is not None else _walk(node)


def subtree_nodes(node: ast.AST) -> list[ast.AST]:
    """`node` and its descendants in pre-order (for callers that do not need `ast.walk`'s order)."""
    walk = _active
    return walk.subtree(node) if walk is not None else _walk(node)

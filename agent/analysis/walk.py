"""One walk over a parsed module, shared by the facts pass and every rule.

`ast.walk` costs a Python-level `iter_child_nodes` call per node; a file walked once per rule and
again per function body (the old engine walked each file some twenty times) spends most of its
review time there. `TreeWalk` visits the tree once, in pre-order, and answers from arrays:

* `of_type(...)` — the nodes of some types in `ast.walk` order (breadth first), from per-class
  buckets filled by the walk: no scan per question;
* `subtree(node)` — a node and all its descendants (pre-order: a slice of one list),
  `subtree_bfs(node)` the same in `ast.walk` order, `subtree_of_type(node, ...)` the ones of some
  types (a range of each class's bucket);
* `body(node)` — a node's descendants without the inside of nested functions, lambdas and
  classes (what `_db.walk_body` means), as slices around the nested scopes;
* `parent(node)`.

Unlike `ast.walk`, none of these include the `Load`/`Store` contexts and operators (`SHARED_LEAVES`).
Each node remembers its pre-order position (`_fba_at`, checked against the walk's own list, so
a node of another tree is never mistaken for one of this walk; a node re-numbered by a second
walk over part of the tree is found through a position table) and, by a weak reference, the walk
that numbered it (`_fba_walk`; not on leaves, whose answers need no walk).

Rule helpers that only receive a node (`walk_body(func)`, `walk_nodes`, `subtree_nodes`) ask the
walk the node belongs to, so their answers do not depend on which file was walked last; a node
no live walk holds (a leaf, a synthetic node, a tree whose walk is gone) is walked directly.
"""

from __future__ import annotations

import ast
import weakref
from array import array
from bisect import bisect_left, bisect_right
from typing import Iterable

SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# `Load`/`Store`/`Del` and the operators: singleton leaves that many parents share. No rule looks
# for them by walking (they are read as `node.ctx` / `node.op`), so the walk leaves them out.
SHARED_LEAVES = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
_AST = ast.AST
# Fields that never hold a node to walk: identifiers, strings, numbers, constants (the ASDL's
# `identifier`, `string`, `int`, `constant` fields) and the shared leaves. Skipping them saves a
# lookup per field of most nodes; tests/test_walk.py checks the result against `ast.walk`.
_LEAF_FIELDS = frozenset({"id", "attr", "arg", "asname", "module", "level", "conversion", "is_async",
                          "type_comment", "kind", "rest", "kwd_attrs", "ctx", "op", "ops"})
_LEAF_FIELDS_OF = {"Constant": {"value"}, "MatchSingleton": {"value"}, "Global": {"names"}, "Nonlocal": {"names"}}
_NAMED_BY_NODE = frozenset({"TypeAlias"})  # `name` is an identifier everywhere else


class _ChildFields(dict):
    """Node class -> the names of its fields that can hold child nodes (computed once per class)."""

    def __missing__(self, cls: type) -> tuple[str, ...]:
        skip = _LEAF_FIELDS | _LEAF_FIELDS_OF.get(cls.__name__, set())
        if cls.__name__ not in _NAMED_BY_NODE:
            skip = skip | {"name"}
        names = self[cls] = tuple(f for f in cls._fields if f not in skip)
        return names


_CHILD_FIELDS = _ChildFields()


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`list(ast.iter_child_nodes(node))` without the shared leaves (and without two generator layers)."""
    found = []
    for name in _CHILD_FIELDS[node.__class__]:
        value = getattr(node, name, None)
        if value.__class__ is list:
            found.extend(item for item in value if isinstance(item, _AST))
        elif isinstance(value, _AST):
            found.append(value)
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
        by_class: dict[type, list[int]] = {}
        add_node, add_parent, add_depth = order.append, parent_at.append, depth_at.append
        fields_of = _CHILD_FIELDS
        stack: list[tuple[ast.AST, int, int]] = [(tree, -1, 0)]
        push, pop = stack.append, stack.pop
        owner = weakref.ref(self)  # weak: a tree kept after its walk must not keep the walk alive
        while stack:  # `child_nodes` inlined: this loop runs once per node of every file
            node, parent, depth = pop()
            position = len(order)
            add_node(node)
            add_parent(parent)
            add_depth(depth)
            node._fba_at = position
            cls = node.__class__
            bucket = by_class.get(cls)
            if bucket is None:
                by_class[cls] = [position]
            else:
                bucket.append(position)
            names = fields_of[cls]
            if not names:
                continue  # a leaf: helpers answer it directly as cheaply, so it is not stamped
            node._fba_walk = owner
            children = []
            for name in names:
                value = getattr(node, name, None)
                if value is None:
                    continue
                if value.__class__ is list:
                    for item in value:
                        if isinstance(item, _AST):
                            children.append(item)
                elif isinstance(value, _AST):
                    children.append(value)
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
        self._by_class = by_class
        self._parent_at = array("i", parent_at)
        self._depth_at = array("i", depth_at)
        self._end = array("i", end)
        self._by_type: dict[tuple[type, ...], list[ast.AST]] = {}
        self._buckets_of: dict[tuple[type, ...], list[list[int]]] = {}
        self._scopes: list[int] | None = None
        self._position: dict[ast.AST, int] | None = None  # only for re-numbered nodes

    def of_type(self, *types: type) -> list[ast.AST]:
        """The nodes that are instances of `types`, in `ast.walk` order (breadth first is
        pre-order grouped by depth: a stable sort of the class buckets by depth)."""
        found = self._by_type.get(types)
        if found is None:
            buckets = self._buckets(types)
            positions = buckets[0] if len(buckets) == 1 else sorted(p for bucket in buckets for p in bucket)
            order = self._order
            found = self._by_type[types] = [order[p] for p in sorted(positions, key=self._depth_at.__getitem__)]
        return found

    def subtree_of_type(self, node: ast.AST, *types: type) -> list[ast.AST]:
        """The nodes of `types` in `node`'s subtree (itself included), in `ast.walk` order."""
        position = self._index_of(node)
        if position is None:
            return [n for n in _walk(node) if isinstance(n, types)]
        stop = self._end[position]
        found: list[int] = []
        for positions in self._buckets(types):
            found += positions[bisect_left(positions, position):bisect_left(positions, stop)]
        order = self._order
        return [order[p] for p in sorted(sorted(found), key=self._depth_at.__getitem__)]

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
        order = self._order
        span = range(position, self._end[position])
        return [order[i] for i in sorted(span, key=self._depth_at.__getitem__)]

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
        position = self._index_of(node)
        if position is None or position == 0:
            return None
        return self._order[self._parent_at[position]]

    def enclosing_scope(self, node: ast.AST) -> ast.AST | None:
        """The innermost function, lambda or class around `node` (None at module level): the one
        scope whose `body` holds `node`."""
        parent = self.parent(node)
        while parent is not None and not isinstance(parent, SCOPE_NODES):
            parent = self.parent(parent)
        return parent

    def _buckets(self, types: tuple[type, ...]) -> list[list[int]]:
        """The position lists (ascending) of the node classes that are `types`."""
        found = self._buckets_of.get(types)
        if found is None:
            found = self._buckets_of[types] = [p for cls, p in self._by_class.items() if issubclass(cls, types)]
        return found

    def _scope_positions(self) -> list[int]:
        if self._scopes is None:
            by_class = self._by_class
            self._scopes = sorted(p for cls in SCOPE_NODES for p in by_class.get(cls, ()))
        return self._scopes

    def _index_of(self, node: ast.AST) -> int | None:
        position = getattr(node, "_fba_at", None)
        order = self._order
        if position is not None and position < len(order) and order[position] is node:
            return position
        # Re-numbered by another walk over part of this tree, or not a node of this walk at all.
        if self._position is None:
            self._position = {n: i for i, n in enumerate(order)}
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


def _walk_of(node: ast.AST) -> TreeWalk | None:
    """The live walk that numbered `node`, if any."""
    owner = getattr(node, "_fba_walk", None)
    return owner() if owner is not None else None


def walk_body(node: ast.AST) -> list[ast.AST]:
    """`TreeWalk.body` through the node's own walk, or a direct walk for a node no walk holds."""
    walk = _walk_of(node)
    return walk.body(node) if walk is not None else list(_walk_body(node))


def walk_nodes(node: ast.AST) -> list[ast.AST]:
    """`ast.walk(node)` (breadth first, without the shared leaves), served by the node's walk."""
    walk = _walk_of(node)
    return walk.subtree_bfs(node) if walk is not None else _walk(node)


def subtree_nodes(node: ast.AST) -> list[ast.AST]:
    """`node` and its descendants in pre-order (for callers that do not need `ast.walk`'s order)."""
    walk = _walk_of(node)
    return walk.subtree(node) if walk is not None else _walk(node)


def walk_nodes_of_type(node: ast.AST, *types: type) -> list[ast.AST]:
    """The nodes of `types` in `walk_nodes(node)`, in its order, from the node's walk's buckets."""
    walk = _walk_of(node)
    if walk is not None:
        return walk.subtree_of_type(node, *types)
    return [n for n in _walk(node) if isinstance(n, types)]

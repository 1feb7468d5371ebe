"""Helpers shared by the API hygiene rules (pagination, validation, transaction, N+1, blocking-async).

Not a rule module: it defines no `Rule`. The heuristics are local to one function's AST: a
"session" is a receiver named like one (`session`, `db`, `self.session`, `conn`), a query is a
read method called on it, a write is `add/delete/merge/...` or an executed insert/update/delete.
"""

from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import Route, call_name, dotted_name
from agent.analysis.rules.base import FileContext, FunctionNode, PerIndex  # noqa: F401 - PerIndex re-exported
# `walk_body(node)`: the nodes of a function or statement without nested scopes (see walk.py).
from agent.analysis.walk import subtree_nodes, walk_body, walk_nodes  # walk_body is re-exported for the rules


SESSION_NAMES = frozenset({"session", "db", "sess", "conn", "connection", "database", "tx", "uow"})
# Roots whose `.session` is something else (Starlette's cookie session dict, a client session).
NOT_SESSION_ROOTS = frozenset({"request", "websocket", "req", "client", "http", "aiohttp", "requests", "httpx"})
QUERY_METHODS = frozenset({
    "get", "get_one", "exec", "execute", "query", "scalars", "scalar", "stream", "stream_scalars",
    "fetch_all", "fetch_one", "fetch_val", "fetch", "fetchrow", "fetchval",
})
WRITE_METHODS = frozenset({
    "add", "add_all", "delete", "merge", "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings",
})
WRITE_STATEMENTS = frozenset({"insert", "update", "delete", "upsert"})
# Objects whose attributes handlers set without touching the database.
NON_ROW_ROOTS = frozenset({"self", "cls", "response", "request", "app", "settings", "state", "logger"})

def unique_handlers(ctx: FileContext) -> Iterator[tuple[Route, FunctionNode]]:
    """Each route handler once, with its first route (a handler may serve several paths)."""
    seen: set[int] = set()
    for route, func in ctx.route_handlers():
        if id(func) not in seen:
            seen.add(id(func))
            yield route, func


def is_migration(ctx: FileContext) -> bool:
    """Alembic migrations run once, offline: per-row loops and commits there are deliberate."""
    facts = ctx.index.files.get(ctx.path)
    imports = facts.imports.values() if facts is not None else ()
    return any(name == "alembic" or name.startswith("alembic.") for name in imports)


def in_order(nodes: Iterator[ast.AST]) -> list[ast.AST]:
    """Nodes sorted by source position (evaluation order is close enough for these rules)."""
    return sorted(nodes, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))


def callee_attr(node: ast.AST) -> str | None:
    """The called function's own name: `limit` for `select(X).where(...).limit(10)`, `select` for `sa.select(X)`."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def is_session(expr: ast.AST) -> bool:
    name = dotted_name(expr)
    if name is None:
        return False
    parts = name.lower().split(".")
    if parts[0] in NOT_SESSION_ROOTS:
        return False
    last = parts[-1]
    return last in SESSION_NAMES or last.endswith(("session", "_db", "_conn"))


def session_method(node: ast.AST) -> str | None:
    """`execute` for `session.execute(...)` / `db.execute(...)`, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_session(node.func.value):
        return node.func.attr
    return None


def is_write_statement(call: ast.Call) -> bool:
    """`session.execute(update(...))`, `db.exec(delete(Item).where(...))`, `session.execute(insert(T).values(...))`."""
    if not call.args:
        return False
    for node in subtree_nodes(call.args[0]):
        name = call_name(node)
        if name and name.rsplit(".", 1)[-1] in WRITE_STATEMENTS:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
                return True
    return False


def is_query(node: ast.AST) -> bool:
    """A read query on a session: `session.get(...)`, `db.query(...)`, `await session.execute(select(...))`."""
    method = session_method(node)
    if method == "get" and _string_key(node):
        return False
    return method in QUERY_METHODS and not is_write_statement(node)


def _string_key(call: ast.Call) -> bool:
    """`session.get("user_id")`: a dict-like session (cookies, cache), not `session.get(Model, id)`."""
    return bool(call.args) and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)


def is_write(node: ast.AST) -> bool:
    """A database write: session add/delete/merge, an executed DML statement, or a row's attribute set."""
    method = session_method(node)
    if method in WRITE_METHODS:
        return True
    if method in {"execute", "exec"} and is_write_statement(node):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "sqlmodel_update":
        return True
    if isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(_row_attribute(t) for t in targets)
    return False


def _row_attribute(target: ast.AST) -> bool:
    if not isinstance(target, ast.Attribute):
        return False
    root = dotted_name(target)
    return root is not None and root.split(".", 1)[0] not in NON_ROW_ROOTS


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in subtree_nodes(node) if isinstance(n, ast.Name)}


def assigned_names(stmt: ast.AST) -> list[str]:
    """Plain names bound by an assignment statement (`a = ...`, `a: T = ...`, `a, b = ...`)."""
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        targets = [stmt.target]
    elif isinstance(stmt, ast.NamedExpr):
        targets = [stmt.target]
    return [n.id for t in targets for n in walk_nodes(t) if isinstance(n, ast.Name)]


def assignment_value(stmt: ast.AST) -> ast.AST | None:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return stmt.value
    return None


def tainted_names(func: ast.AST, is_source) -> set[str]:
    """Names in `func` whose value derives from an expression `is_source` accepts, through
    assignments (`rows = session.exec(q)`, `items = rows.all()`, `data = [x for x in items]`)."""
    tainted: set[str] = set()
    assignments = [n for n in in_order(walk_body(func)) if assignment_value(n) is not None]
    for _ in range(3):  # a few passes reach names assigned before their sources in loops
        before = len(tainted)
        for stmt in assignments:
            value = assignment_value(stmt)
            if any(is_source(n) for n in subtree_nodes(value)) or names_in(value) & tainted:
                tainted.update(assigned_names(stmt))
        if len(tainted) == before:
            break
    return tainted


UNTYPED_NAMES = frozenset({"dict", "Dict", "Any", "object", "Mapping", "MutableMapping", "Json", "JsonValue"})
UNTYPED_CONTAINERS = frozenset({"list", "List", "Sequence", "Optional", "Union", "Annotated"})


def is_untyped(annotation: ast.AST | None) -> bool:
    """True for `dict`, `Dict[str, Any]`, `Any`, `list[dict]`, `dict[str, Any] | None`: types that
    accept any JSON and validate nothing. `dict[str, int]` validates its values and is typed."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        sides = [annotation.left, annotation.right]
        real = [s for s in sides if not (isinstance(s, ast.Constant) and s.value is None)]
        return bool(real) and all(is_untyped(s) for s in real)
    name = dotted_name(annotation)
    if name is not None:
        return name.rsplit(".", 1)[-1] in UNTYPED_NAMES
    if isinstance(annotation, ast.Subscript):
        base = (dotted_name(annotation.value) or "").rsplit(".", 1)[-1]
        args = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if base in {"dict", "Dict", "Mapping", "MutableMapping"}:
            return is_untyped(args[-1]) if len(args) == 2 else True
        if base == "Annotated":
            return is_untyped(args[0])
        if base in UNTYPED_CONTAINERS:
            real = [a for a in args if not (isinstance(a, ast.Constant) and a.value is None)]
            return bool(real) and all(is_untyped(a) for a in real)
    return False


def _arguments(func: FunctionNode) -> list[tuple[ast.arg, ast.expr | None, ast.expr | None]]:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]
    return [(arg, arg.annotation, default) for arg, default in pairs]


def _markers(annotation: ast.expr | None, default: ast.expr | None) -> set[str]:
    """FastAPI markers on a parameter (`Body`, `Query`, `Depends`, ...), in its default or Annotated."""
    found = set()
    for node in (annotation, default):
        if node is None:
            continue
        for inner in subtree_nodes(node):
            name = call_name(inner) if isinstance(inner, ast.Call) else None
            if name:
                found.add(name.rsplit(".", 1)[-1])
    return found


def _untyped_body(arg: ast.arg, annotation: ast.expr | None, default: ast.expr | None, path: str) -> bool:
    """FastAPI reads this parameter from the body and its type validates nothing."""
    markers = _markers(annotation, default)
    if markers & {"Query", "Path", "Header", "Cookie", "Form", "File", "Depends", "Security"}:
        return False
    if "{" + arg.arg in path:  # a path parameter (`{item_id}` or `{item_id:int}`)
        return False
    if "Body" in markers and (annotation is None or is_untyped(annotation)):
        return True
    return is_untyped(annotation)


def untyped_body_args(func: FunctionNode, path: str) -> list[ast.arg]:
    """A route handler's parameters that take the request body as `dict`/`Any`/untyped `Body()`."""
    return [arg for arg, annotation, default in _arguments(func) if _untyped_body(arg, annotation, default, path)]


BODY_READERS = frozenset({"json", "body", "form"})
REQUEST_NAMES = frozenset({"request", "req"})


def request_names(func: FunctionNode) -> set[str]:
    args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
    return {
        a.arg for a in args
        if a.arg in REQUEST_NAMES or (a.annotation is not None and ast.unparse(a.annotation).endswith("Request"))
    }


def body_read(node: ast.AST, requests: set[str]) -> bool:
    """`await request.json()` (or `.body()` / `.form()`) on one of the `requests` parameter names."""
    if not isinstance(node, ast.Await) or not isinstance(node.value, ast.Call):
        return False
    callee = node.value.func
    return (
        isinstance(callee, ast.Attribute)
        and callee.attr in BODY_READERS
        and isinstance(callee.value, ast.Name)
        and callee.value.id in requests
    )

"""Helpers shared by the API hygiene rules (pagination, validation, transaction, N+1, blocking-async).

Not a rule module: it defines no `Rule`. The heuristics are local to one function's AST: a
"session" is a receiver named like one (`session`, `db`, `self.session`, `conn`), a query is a
read method called on it, a write is `add/delete/merge/...` or an executed insert/update/delete.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Iterator

from agent.analysis.facts import Route, call_name, callee_attr, dotted_name
from agent.analysis.rules.base import FileContext, FunctionNode, PerIndex  # noqa: F401 - PerIndex re-exported
# `walk_body(node)`: the nodes of a function or statement without nested scopes (see walk.py).
from agent.analysis.walk import TreeWalk, subtree_nodes, walk_body  # walk_body is re-exported


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
TRANSACTION_METHODS = frozenset({"commit", "begin", "begin_nested", "rollback"})
# The session methods `session_calls` indexes (the method name is the cheap test, done first).
SESSION_METHODS = QUERY_METHODS | WRITE_METHODS | TRANSACTION_METHODS
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


def is_session(expr: ast.AST) -> bool:
    """`session`, `db`, `self.session`, `uow.conn`: a dotted name whose last part is named like a
    session and whose root is not a request or HTTP client."""
    # The last part first: it rejects almost every receiver without building the dotted name.
    if isinstance(expr, ast.Attribute):
        last = expr.attr.lower()
    elif isinstance(expr, ast.Name):
        last = expr.id.lower()
    else:
        return False
    if last not in SESSION_NAMES and not last.endswith(("session", "_db", "_conn")):
        return False
    root = expr
    while isinstance(root, ast.Attribute):
        root = root.value
    return isinstance(root, ast.Name) and root.id.lower() not in NOT_SESSION_ROOTS


def session_method(node: ast.AST) -> str | None:
    """`execute` for `session.execute(...)` / `db.execute(...)`, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_session(node.func.value):
        return node.func.attr
    return None


def session_calls(ctx: FileContext, method: str) -> list[ast.Call]:
    """The file's `<session>.<method>(...)` calls (`session_method(call) == method`), in `ast.walk`
    order, for a method of `SESSION_METHODS`."""
    return _session_calls(ctx.walk).get(method, [])


def query_calls(ctx: FileContext) -> set[ast.Call]:
    """The file's read queries (`is_query`): rules test membership instead of calling `is_query`."""
    return _query_calls(ctx.walk)


# Cached for the file being checked (the runner checks one file at a time per process): the
# rules that look for session calls share one pass over the file.
@lru_cache(maxsize=1)
def _session_calls(walk: TreeWalk) -> dict[str, list[ast.Call]]:
    # From the attribute nodes, not the calls: one node read per candidate instead of two (a
    # call and its callee), and the parent looked up only for a session method.
    by_method: dict[str, list[ast.Call]] = {}
    for callee in walk.of_type(ast.Attribute):
        if callee.attr in SESSION_METHODS and is_session(callee.value):
            call = walk.parent(callee)
            if isinstance(call, ast.Call) and call.func is callee:
                by_method.setdefault(callee.attr, []).append(call)
    return by_method


@lru_cache(maxsize=1)
def _query_calls(walk: TreeWalk) -> set[ast.Call]:
    calls = _session_calls(walk)
    return {call for method in QUERY_METHODS for call in calls.get(method, ()) if _reads(call)}


def is_write_statement(call: ast.Call) -> bool:
    """`session.execute(update(...))`, `db.exec(delete(Item).where(...))`, `session.execute(insert(T).values(...))`."""
    if not call.args:
        return False
    for node in subtree_nodes(call.args[0]):
        if isinstance(node, ast.Call):
            if callee_attr(node) in WRITE_STATEMENTS and call_name(node):
                return True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
                return True
    return False


def is_query(node: ast.AST) -> bool:
    """A read query on a session: `session.get(...)`, `db.query(...)`, `await session.execute(select(...))`."""
    return session_method(node) in QUERY_METHODS and _reads(node)


def _reads(call: ast.Call) -> bool:
    """A session call with a query method reads, unless it is a dict-like `get` or executes a write."""
    if call.func.attr == "get" and _string_key(call):
        return False
    return not is_write_statement(call)


def _string_key(call: ast.Call) -> bool:
    """`session.get("user_id")`: a dict-like session (cookies, cache), not `session.get(Model, id)`."""
    return bool(call.args) and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)


def is_write(node: ast.AST) -> bool:
    """A database write: session add/delete/merge, an executed DML statement, or a row's attribute set."""
    if isinstance(node, ast.Call):
        # The method name first: only these few need the receiver (and the statement) examined.
        method = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if method == "sqlmodel_update":
            return True
        if method in WRITE_METHODS:
            return is_session(node.func.value)
        return method in {"execute", "exec"} and is_session(node.func.value) and is_write_statement(node)
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
    return [n.id for t in targets for n in subtree_nodes(t) if isinstance(n, ast.Name)]


ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)


def tainted_names(func: ast.AST, is_source) -> set[str]:
    """Names in `func` whose value derives from an expression `is_source` accepts, through
    assignments (`rows = session.exec(q)`, `items = rows.all()`, `data = [x for x in items]`)."""
    tainted: set[str] = set()
    # Per assignment, once: does its value hold a source, which names does it read, which does it bind.
    flows = []
    for stmt in in_order(n for n in walk_body(func) if isinstance(n, ASSIGNMENTS) and n.value is not None):
        nodes = subtree_nodes(stmt.value)
        read = {n.id for n in nodes if isinstance(n, ast.Name)}
        flows.append((any(is_source(n) for n in nodes), read, assigned_names(stmt)))
    for _ in range(3):  # a few passes reach names assigned before their sources in loops
        before = len(tainted)
        for sourced, read, bound in flows:
            if sourced or read & tainted:
                tainted.update(bound)
        if len(tainted) == before:
            break
    return tainted


# Not pydantic's `JsonValue`: naming it declares "any JSON value" on purpose (an XCom, a rendered
# template), the typed spelling of a body declared open.
UNTYPED_NAMES = frozenset({"dict", "Dict", "Any", "object", "Mapping", "MutableMapping", "Json"})
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
    return _body_read_receiver(node) in requests


def body_readers(ctx: FileContext, func: FunctionNode) -> set[str]:
    """The names whose body `func`'s own body awaits (`request` for `await request.json()`): a
    handler reads the raw body only if one of its request parameters is among them."""
    return _body_readers_by_scope(ctx.walk).get(func, set())


@lru_cache(maxsize=1)  # the file being checked, shared by the rules about raw request bodies
def _body_readers_by_scope(walk: TreeWalk) -> dict[ast.AST, set[str]]:
    readers: dict[ast.AST, set[str]] = {}
    for node in walk.of_type(ast.Await):
        receiver = _body_read_receiver(node)
        if receiver is not None:
            readers.setdefault(walk.enclosing_scope(node), set()).add(receiver)
    return readers


def _body_read_receiver(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Await) or not isinstance(node.value, ast.Call):
        return None
    callee = node.value.func
    if isinstance(callee, ast.Attribute) and callee.attr in BODY_READERS and isinstance(callee.value, ast.Name):
        return callee.value.id
    return None

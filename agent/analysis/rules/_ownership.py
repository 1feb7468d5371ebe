"""Helpers shared by the auth and ownership rules (FBA101-104). Not a rule module.

A *fetch* is a query over an owned table model: `session.get(Item, id)`, `select(Item).where(...)`,
`db.query(Item).filter(...)`. A table is owned when it links to the authenticated principal: an
owner column (per the project index: `owner_id`, `user_id`, `created_by`...), a tenant column
(`tenant_id`, `org_id`, `workspace_id`), or a column named after the principal the route
receives (`customer_id` for `CurrentCustomer`, `member_id` for `CurrentMember`). It is *scoped*
when a `where`/`filter` in the same function names such a column (on the table or a joined one)
or the principal, and *checked* when the function compares a row's link attribute after fetching it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterator

from agent.analysis.facts import ADMIN_ATTRIBUTES, Route, call_name, callee_attr, dotted_name
from agent.analysis.models import OWNER_COLUMNS, USER_TABLE_WORDS, ModelInfo
from agent.analysis.rules._db import is_session, session_method, walk_body
from agent.analysis.rules.base import FileContext, FunctionNode
from agent.analysis.walk import subtree_nodes

CLIENT_SOURCES = frozenset({"path", "query", "body", "form", "header", "cookie"})
FILTER_METHODS = frozenset({"where", "filter", "filter_by", "having"})
LIST_METHODS = frozenset({"all", "offset", "limit", "paginate", "fetchall", "scalars", "unique"})
OWNER_RELATIONS = frozenset({"owner", "user", "author", "creator", "created_by"})
CHECK_WORDS = ("owner", "access", "permission", "authoriz", "can_", "ensure", "assert_", "require", "member")
TENANT_COLUMNS = ("tenant_id", "org_id", "organization_id", "organisation_id", "workspace_id")
# Tables a link column may point at: the user-like ones and the tenants.
PRINCIPAL_TABLE_WORDS = (*USER_TABLE_WORDS, "org", "tenant", "workspace")
# Words of a principal's annotation or parameter name that name no kind of principal.
GENERIC_PRINCIPAL_WORDS = frozenset({
    "current", "active", "user", "users", "auth", "authenticated", "dep", "deps", "principal", "get", "verified",
    "annotated", "optional", "me", "requester", "caller", "logged", "in", "request", "identity", "token",
})


@dataclass(frozen=True)
class Fetch:
    """A query over a user-owned table in a function: the node, the model, and its filter arguments."""

    node: ast.Call
    model: ModelInfo
    predicates: tuple[ast.AST, ...]
    columns: tuple[str, ...]  # the model's links to the principal, owner column first

    @property
    def owners(self) -> str:
        """Whose rows these are, for messages: `users'`, `orgs'`, `customers'`."""
        column = self.columns[0]
        return "users'" if column in OWNER_COLUMNS else f"{column.removesuffix('_id')}s'"


def principal_columns(principal: str | None, user_param: str | None) -> tuple[str, ...]:
    """Link columns named after the kind of principal a route receives: `customer_id` for
    `customer: CurrentCustomer`, `member_id` for `CurrentMember`."""
    words = _words(principal or "") | _words(user_param or "")
    return tuple(f"{w}_id" for w in sorted(words - GENERIC_PRINCIPAL_WORDS) if w.isalpha() and len(w) > 2)


# Collections of a parent's members: in `/workspaces/{id}/users[/{user_id}]` the user id names the
# member being added or removed, the target of the action, not the caller.
MEMBER_SEGMENTS = frozenset({"users", "members", "memberships", "collaborators", "participants"})


def manages_members(route: Route) -> bool:
    """A membership route: a member collection right under a parameterised parent
    (`/orgs/{org_id}/members`, `/workspaces/{workspace_id}/users/{user_id}`)."""
    segments = [s for s in route.path.strip("/").split("/") if s]
    if segments and segments[-1].startswith("{"):
        segments.pop()  # the member's own id
    return len(segments) >= 2 and segments[-1].lower() in MEMBER_SEGMENTS and segments[-2].startswith("{")


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}


def link_columns(model: ModelInfo, principal: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The model's columns that link a row to a principal: its owner column, tenant columns and
    columns named after the route's principal (with no foreign key, or one to such a table)."""
    found = [model.owner_column] if model.owner_column else []
    for field in model.fields:
        if field.name not in found and (field.name in TENANT_COLUMNS or field.name in principal):
            table = (field.foreign_key or "").split(".", 1)[0].lower()
            if field.foreign_key is None or any(word in table for word in PRINCIPAL_TABLE_WORDS):
                found.append(field.name)
    return tuple(found)


def client_names(route: Route) -> set[str]:
    """Parameters whose values the client chooses (path, query, body, ...)."""
    return {p.name for p in route.params if p.source in CLIENT_SOURCES}


def mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in subtree_nodes(node))


def fetches(ctx: FileContext, func: ast.AST, principal: tuple[str, ...] = ()) -> Iterator[Fetch]:
    """Queries over owned tables in `func`'s own body (`principal`: see `principal_columns`)."""
    for node in walk_body(func):
        if not isinstance(node, ast.Call):
            continue
        method = session_method(node)
        if method in {"get", "get_one"} and len(node.args) >= 2:
            owned = _owned(ctx, node.args[0], principal)
            if owned is not None:
                yield Fetch(node, owned[0], (node.args[1],), owned[1])
        elif (method == "query" or (call_name(node) or "").rsplit(".", 1)[-1] == "select") and node.args:
            owned = _owned(ctx, node.args[0], principal)
            if owned is not None:
                yield Fetch(node, owned[0], tuple(_chain_predicates(ctx, node)), owned[1])


def _owned(ctx: FileContext, node: ast.AST, principal: tuple[str, ...]) -> tuple[ModelInfo, tuple[str, ...]] | None:
    name = dotted_name(node)
    model = ctx.index.model(ctx.path, name) if name else None
    columns = link_columns(model, principal) if model is not None and model.table else ()
    return (model, columns) if columns else None


def chain_calls(ctx: FileContext, node: ast.Call) -> list[ast.Call]:
    """The method calls chained on `node`: `select(X).where(a).limit(10)` -> [where(a), limit(10)]."""
    calls: list[ast.Call] = []
    current: ast.AST = node
    while True:
        parent = ctx.parent(current)
        if isinstance(parent, ast.Attribute) and isinstance(ctx.parent(parent), ast.Call) and ctx.parent(parent).func is parent:
            current = ctx.parent(parent)
            calls.append(current)  # type: ignore[arg-type]
            continue
        return calls


def _chain_predicates(ctx: FileContext, node: ast.Call) -> list[ast.AST]:
    return [arg for call in chain_calls(ctx, node) if call.func.attr in FILTER_METHODS  # type: ignore[union-attr]
            for arg in [*call.args, *(kw.value for kw in call.keywords)]] + [
        ast.Name(kw.arg) for call in chain_calls(ctx, node) if call.func.attr == "filter_by"  # type: ignore[union-attr]
        for kw in call.keywords if kw.arg
    ]


def is_listing(ctx: FileContext, fetch: Fetch, func: ast.AST) -> bool:
    """Does the fetch read many rows (`.all()`, `.offset/.limit`, `paginate(...)`)?"""
    if any(call.func.attr in LIST_METHODS for call in chain_calls(ctx, fetch.node)):  # type: ignore[union-attr]
        return True
    return any(callee_attr(n) in LIST_METHODS for n in walk_body(func))


def owner_scoped(func: ast.AST, columns: tuple[str, ...], user_param: str | None = None) -> bool:
    """Does any `where`/`filter`/`filter_by` in `func` name a link column (the model's or a
    joined table's: `Project.org_id == user.org_id`) or the principal itself?"""
    links = {*columns, *OWNER_COLUMNS, *TENANT_COLUMNS}
    for node in walk_body(func):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FILTER_METHODS):
            continue
        if any(kw.arg in links for kw in node.keywords):
            return True
        if any(isinstance(n, ast.Attribute) and n.attr in links for arg in node.args for n in subtree_nodes(arg)):
            return True
        if user_param and mentions(node, {user_param}):
            return True
    return False


def owner_checked(func: ast.AST, model: ModelInfo, columns: tuple[str, ...], user_param: str | None) -> bool:
    """Does `func` compare a fetched row's link with the caller (`item.owner_id != user.id`,
    `invoice.org_id != user.org_id`, `order.customer != customer`)?"""
    owner_attrs = {*columns, *(c.removesuffix("_id") for c in columns), *OWNER_RELATIONS}
    for node in walk_body(func):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Attribute) and o.attr in owner_attrs and not _is_class_attr(o, model)
                   for operand in operands for o in subtree_nodes(operand)):
                return True
            if user_param and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and mentions(node, {user_param}):
                return True
        elif isinstance(node, ast.Call) and user_param and mentions(node, {user_param}):
            name = (call_name(node) or "").rsplit(".", 1)[-1].lower()
            if any(word in name for word in CHECK_WORDS) and len(node.args) + len(node.keywords) >= 2:
                return True
    return False


def _is_class_attr(node: ast.Attribute, model: ModelInfo) -> bool:
    return (dotted_name(node.value) or "").rsplit(".", 1)[-1] == model.name


def requires_admin(func: FunctionNode) -> bool:
    """A handler that starts by refusing non-admins: `if not current_user.is_superuser: raise ...`."""
    for stmt in func.body:
        if not isinstance(stmt, ast.If) or not any(isinstance(s, ast.Raise) for s in stmt.body):
            continue
        test = stmt.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            test = test.operand
        if isinstance(test, ast.Attribute) and test.attr in ADMIN_ATTRIBUTES:
            return True
    return False


def same_file_helpers(ctx: FileContext, func: ast.AST, client: set[str]) -> Iterator[tuple[ast.Call, FunctionNode]]:
    """Calls from `func` to functions of this file that receive a client-supplied value."""
    local = {f.name: f for f in ctx.tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in walk_body(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in local:
            if mentions(node, client) and local[node.func.id] is not func:
                yield node, local[node.func.id]


def helper_client_names(helper: FunctionNode) -> set[str]:
    """A helper's parameters other than the session: they carry whatever the handler passed."""
    args = [*helper.args.posonlyargs, *helper.args.args, *helper.args.kwonlyargs]
    return {a.arg for a in args if not is_session(ast.Name(a.arg))}


def receives_user(call: ast.Call, user_param: str | None) -> bool:
    return bool(user_param) and mentions(call, {user_param})  # type: ignore[arg-type]

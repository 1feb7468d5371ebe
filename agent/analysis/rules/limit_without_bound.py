from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, keyword
from agent.analysis.rules._db import PerIndex, is_query, unique_handlers, walk_body
from agent.analysis.rules.base import FileContext, FunctionNode, Rule, route_label
from agent.types import Finding

SIZE_NAMES = frozenset({
    "limit", "page_size", "pagesize", "per_page", "perpage", "size", "take", "max_results", "max_items",
    "page_limit", "count", "top", "first",
})
UPPER_BOUNDS = ("le", "lt")
LOWER_BOUNDS = ("ge", "gt")
# Client numbers that size the work a request does besides the page: how long it may hold a
# worker (timeouts, waits), how many results a search or a walk may fetch.
WORK_NAMES = frozenset({
    "timeout", "timeout_seconds", "timeout_secs", "timeout_ms", "wait", "wait_seconds", "wait_time", "max_wait",
    "top_k", "topk", "max_depth", "depth", "retries", "max_retries", "max_attempts",
})
# Client numbers whose danger is being too small: a poll interval of 0 is a busy loop.
INTERVAL_NAMES = frozenset({"poll_interval", "polling_interval", "interval", "poll_seconds", "refresh_interval"})
# Types that carry a lower bound of their own.
POSITIVE_TYPES = frozenset({"PositiveInt", "NonNegativeInt", "PositiveFloat", "NonNegativeFloat"})
# Names that are page sizes in a query string but usually something else in a request body.
AMBIGUOUS_NAMES = frozenset({"size", "count", "top", "first"})
BODY_MARKERS = frozenset({"Body", "Form"})
# Parameter markers whose arguments fba reads; any other call as a default (a project's
# `LimitBody()` dependency factory) computes the value somewhere fba does not follow.
PARAMETER_MARKERS = frozenset({"Query", "Body", "Form", "Header", "Cookie", "Path", "Field", "Param"})


class LimitWithoutBound(Rule):
    """Page-size (or other work-sizing) parameter without a bound.

    **What it does**
    Flags integer query parameters named `limit`, `page_size`, `per_page`, `size`, `take` (and
    similar) on routes, and on dependency classes/functions and query-parameter models in the
    same file, that declare no maximum (`limit: int = 100`, `Query(100)` without `le=`/`lt=`) or
    a maximum but no minimum (`Query(50, le=100)` without `ge=`/`gt=`). Client numbers that size
    other work are checked too: timeouts and waits (`timeout`, `wait_seconds`), `top_k`,
    `max_depth` and retries need a maximum, poll intervals a minimum. A work size whose default
    is None is left alone: leaving it out already means "no cap" (`depth: int | None = None`
    walks the whole graph), so a maximum on it would bound nothing.
    `Annotated[int, Query(ge=1, le=100)]`, `conint(ge=1, le=...)`, `Field(ge=1, le=...)`,
    `PositiveInt`, `Literal[...]`, and a handler that clamps the value (`max(1, min(limit, MAX))`,
    `if limit > MAX or limit < 1: raise`), itself or through a helper of the same file (or a
    normaliser of another file whose result replaces it, `limit = clamp_limit(limit)`) count as
    bounded. So do a value only privileged callers choose (`if user.role == "admin": ... else:
    limit = DEFAULT`) and one that only slices a list already in memory (`ranked[:limit]`).

    **Why is this bad?**
    Pagination only protects the database when the client cannot ask for everything:
    `?limit=100000000` turns a paginated endpoint back into an unbounded one, and so does
    `?limit=-1`, which SQLite (and ORMs that pass it through) read as "no limit". An unbounded
    timeout or `top_k` lets one request hold a worker or fetch without end; a poll interval of 0
    is a busy loop.

    **Example**
    ```python
    @router.get("/items/")
    def read_items(session: SessionDep, skip: int = 0, limit: int = Query(100, le=100)): ...
    ```

    **Use instead**
    ```python
    @router.get("/items/")
    def read_items(session: SessionDep, skip: int = Query(0, ge=0),
                   limit: Annotated[int, Query(ge=1, le=100)] = 100): ...
    ```

    **Known problems**
    Clamping done in another function (a CRUD helper) is not seen unless the handler replaces
    the value with a normaliser's result; dependency classes defined in another file are not
    followed. A default computed by a project call (a dependency factory such as
    `limit: int = LimitBody()`) is trusted, since fba does not follow it. Offsets are not
    checked: a negative offset is read as 0 by SQLite and rejected by PostgreSQL.
    """

    code = "FBA211"
    name = "limit-without-bound"
    category = "pagination"
    title = "Page size or other client number without a bound"

    VALID = (
        """
from typing import Annotated
from fastapi import APIRouter, Query
router = APIRouter()

@router.get("/items/")
def read_items(skip: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=100)):
    return []

@router.get("/users/")
def read_users(limit: Annotated[int, Query(ge=1, le=100)] = 20, page: int = 1):
    return []

@router.get("/things/")
def read_things(per_page: Literal[10, 25, 50] = 10, size: str = "large"):
    return []
""",
        """
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, conint
router = APIRouter()

class Pagination(BaseModel):
    offset: int = 0
    limit: int = Field(50, ge=1, le=200)

@router.get("/orders")
def list_orders(page: Pagination = Depends()):
    return []

@router.get("/logs")
def list_logs(limit: conint(ge=1, le=500) = 100):
    return []
""",
        """
from fastapi import APIRouter
router = APIRouter()
MAX_PAGE = 100

@router.get("/items/")
def read_items(limit: int = 50):
    limit = max(1, min(limit, MAX_PAGE))
    return []

@router.get("/tags/")
def read_tags(limit: int = 50):
    if limit > MAX_PAGE or limit < 1:
        raise HTTPException(400, "limit must be between 1 and 100")
    return []

@router.get("/labels/")
def read_labels(page_size: int = 20):
    if not 1 <= page_size <= MAX_PAGE:
        raise HTTPException(422, "page_size must be between 1 and 100")
    return []

@router.get("/threads/{id}")
def read_thread(id: str, skip: int = 0, limit: int = 50):
    return Messages.get_thread(id, skip, min(max(limit, 1), 100))
""",
        # A dependency factory supplies (and bounds) the value: fba does not follow it.
        """
from fastapi import APIRouter, Body, Depends, HTTPException
router = APIRouter()

def LimitBody():
    def get_limit(limit: int = Body(None)):
        if limit is not None and limit > 200:
            raise HTTPException(422, "limit must be <= 200")
        return limit or 200
    return Depends(get_limit)

@router.post("/flows/filter")
async def read_flows(limit: int = LimitBody(), offset: int = Body(0, ge=0)):
    return []

@router.post("/images/resize")
async def resize(size: int = Body(...), count: int = Form(1)):
    return {}
""",
        # Both bounds declared (Field, conint, PositiveInt), clamped by a helper of the file, chosen
        # only by admins, or only cutting a list already in memory; work sizes with a maximum.
        """
from typing import Annotated
from fastapi import APIRouter, Depends, Query
from pydantic import Field, PositiveInt, conint
router = APIRouter()
PAGE_ITEM_COUNT = 30

def clamp_limit(value: int) -> int:
    return max(1, min(value, 100))

@router.get("/events")
def list_events(limit: Annotated[int, Field(ge=1, le=100)] = 20, per_page: conint(ge=1, le=50) = 10):
    return []

@router.get("/files")
def list_files(limit: int = 50):
    limit = clamp_limit(limit)
    return []

@router.get("/knowledge/{id}/files")
def knowledge_files(id: str, user=Depends(get_user), limit: int | None = Query(None)):
    if user.role == "admin" and limit is not None:
        limit = max(1, limit)
    else:
        limit = PAGE_ITEM_COUNT
    return []

@router.get("/leaderboard")
def leaderboard(service, limit: int = Query(50)):
    usage = service.usage_per_user()
    return sorted(usage, key=usage.get, reverse=True)[:limit]

@router.get("/search")
def search(q: str, top_k: int = Query(5, ge=1, le=50), timeout: float = Query(10.0, gt=0, le=30),
           poll_interval: PositiveInt = 2):
    return []

@router.get("/dags/{dag_id}/structure")
def structure(dag_id: str, root: str | None = None, depth: int | None = None,
              max_retries: int | None = Query(None)):
    return graph_of(dag_id).subset(root, depth=depth)
""",
    )
    INVALID = (
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/items/")
def read_items(session: SessionDep, current_user: CurrentUser, skip: int = 0, limit: int = 100):
    return crud.get_items(session, skip=skip, limit=limit)
""",
        """
from typing import Annotated
from fastapi import APIRouter, Query
router = APIRouter()

@router.get("/users/")
async def read_users(page_size: Annotated[int, Query(ge=1)] = 20):
    return []
""",
        """
from fastapi import APIRouter, Depends, Query
router = APIRouter()

class CommonQuery:
    def __init__(self, q: str | None = None, skip: int = 0, limit: int = Query(100)):
        self.q, self.skip, self.limit = q, skip, limit

@router.get("/items/")
def read_items(commons: CommonQuery = Depends()):
    return []
""",
        """
from typing import Annotated
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
router = APIRouter()

class FilterParams(BaseModel):
    limit: int = Field(100, gt=0)
    order_by: str = "created_at"

@router.get("/items/")
async def read_items(filter_query: Annotated[FilterParams, Query()]):
    return filter_query
""",
        # A maximum but no minimum: limit=-1 is "no limit" in SQLite.
        """
from fastapi import APIRouter, Query
router = APIRouter()

@router.get("/messages")
async def list_messages(session: SessionDep, skip: int = Query(0, ge=0), limit: int = Query(50, le=100)):
    return session.exec(select(Message).offset(skip).limit(limit)).all()
""",
        # Clamped from above only.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/notes")
def list_notes(session: SessionDep, limit: int = 20):
    limit = min(limit, 100)
    return session.exec(select(Note).limit(limit)).all()
""",
        # Client numbers that size other work: a wait with no maximum, a poll interval with no minimum.
        """
import asyncio
from fastapi import APIRouter, Query
router = APIRouter()

@router.get("/jobs/{job_id}/wait")
async def wait_for_job(job_id: str, jobs, timeout: float = Query(30.0), poll_interval: float = Query(1.0, le=60)):
    return await jobs.wait(job_id, timeout=timeout, every=poll_interval)
""",
        # A work size whose default caps the work, with no maximum on what a client sends instead.
        """
from fastapi import APIRouter, Query
router = APIRouter()

@router.get("/dags/{dag_id}/structure")
def structure(dag_id: str, depth: int = Query(3)):
    return graph_of(dag_id).subset(depth=depth)
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/documents/search")
async def search_documents(q: str, index, top_k: int = 10):
    return await index.query(q, top_k=top_k)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        dependency_names = _DEPENDENCY_NAMES(ctx.index)
        for route, func in unique_handlers(ctx):
            yield from self._check_function(ctx, func, route_label(route))
        for node in ctx.tree.body:
            if getattr(node, "name", None) not in dependency_names:
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and ctx.route_of(node) is None:
                yield from self._check_function(ctx, node, f"dependency {node.name}")
            elif isinstance(node, ast.ClassDef):
                yield from self._check_class(ctx, node)

    def _check_function(self, ctx: FileContext, func: FunctionNode, where: str) -> Iterator[Finding]:
        args = func.args
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for arg, default in [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
            missing = [m for m in _missing_bounds(arg.arg, arg.annotation, default)
                       if not _handled_in_body(ctx, func, arg.arg, m)]
            if missing:
                yield self._finding(ctx, arg, arg.arg, where, missing[0])

    def _check_class(self, ctx: FileContext, cls: ast.ClassDef) -> Iterator[Finding]:
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                missing = _missing_bounds(stmt.target.id, stmt.annotation, stmt.value)
                if missing:
                    yield self._finding(ctx, stmt, stmt.target.id, f"{cls.name} field", missing[0])
            elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                yield from self._check_function(ctx, stmt, f"{cls.name}()")

    def _finding(self, ctx: FileContext, node: ast.AST, name: str, where: str, missing: str) -> Finding:
        if missing == "lower" and name.lower() in INTERVAL_NAMES:
            message = (f"{where}: '{name}' has no lower bound; a client can set it to 0 and make the "
                       f"server poll in a busy loop (use Query(..., ge=1))")
        elif missing == "lower":
            message = (f"{where}: '{name}' has no lower bound; a negative page size is \"no limit\" in SQLite "
                       f"and some ORMs (limit=-1), so a client can still ask for every row (add ge=1)")
        elif name.lower() in WORK_NAMES:
            message = (f"{where}: '{name}' has no upper bound; a client can make one request hold a worker or "
                       f"fetch without end (use Query(..., le=...))")
        else:
            message = (f"{where}: '{name}' has no upper bound; a client can ask for every row "
                       f"(use Query(..., le=100) or Annotated[int, Query(le=100)])")
        return self.finding(ctx, node, message, line=node.lineno)


def _dependency_names(index) -> set[str]:
    """Names of the classes/functions any route takes as a dependency or query-parameter model."""
    return {
        part
        for route in index.routes
        for param in route.params
        if param.source in {"depends", "query"}
        for part in _type_names(param)
    }


_DEPENDENCY_NAMES = PerIndex(_dependency_names)


def _type_names(param) -> set[str]:
    """Class names a dependency or query-model parameter may refer to (`Pagination`, `CommonQuery`)."""
    names = {param.dependency.rsplit(".", 1)[-1]} if param.dependency else set()
    try:
        annotation = ast.parse(param.annotation, mode="eval").body if param.annotation else None
    except SyntaxError:
        return names
    if annotation is not None:
        names |= {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
    return names


def _missing_bounds(name: str, annotation: ast.expr | None, default: ast.expr | None) -> list[str]:
    """The bounds ("upper", "lower") this parameter needs as a client number and its declaration
    lacks. Page sizes need both (a huge or a negative limit reads every row), work sizes
    (timeouts, top_k) an upper one, poll intervals a lower one."""
    lowered = name.lower()
    needs_upper = lowered in SIZE_NAMES or (lowered in WORK_NAMES and not _optional(default))
    needs_lower = lowered in SIZE_NAMES or lowered in INTERVAL_NAMES
    if not (needs_upper or needs_lower) or not _number(annotation, default, floats=lowered not in SIZE_NAMES):
        return []
    marker = (call_name(default) or "").rsplit(".", 1)[-1] if isinstance(default, ast.Call) else None
    if marker is not None and marker not in PARAMETER_MARKERS:
        return []
    if marker in BODY_MARKERS and lowered in AMBIGUOUS_NAMES:
        return []  # `size: int = Body(...)` in a request body: an image size, a file size...
    declared = [node for node in (annotation, default) if node is not None]
    missing = []
    if needs_upper and not any(_bounds(node, UPPER_BOUNDS) for node in declared):
        missing.append("upper")
    if needs_lower and not any(_bounds(node, LOWER_BOUNDS) or _positive_type(node) for node in declared):
        missing.append("lower")
    return missing


def _optional(default: ast.expr | None) -> bool:
    """A default of None: leaving the number out already means "no cap" (`depth=None` walks the
    whole graph), so a maximum on the value a client sends would not bound the work."""
    value = _marker_default(default) if isinstance(default, ast.Call) else default
    return isinstance(value, ast.Constant) and value.value is None


def _positive_type(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id in POSITIVE_TYPES for n in ast.walk(node))


def _number(annotation: ast.expr | None, default: ast.expr | None, floats: bool = False) -> bool:
    """An integer parameter (also a float one when `floats`: timeouts and intervals in seconds)."""
    kinds = (int, float) if floats else (int,)
    if annotation is None:
        value = _marker_default(default) if isinstance(default, ast.Call) else default
        return isinstance(value, ast.Constant) and type(value.value) in kinds
    names = {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
    if "Literal" in names:
        return False
    called = {call_name(n) for n in ast.walk(annotation)}
    if "conint" in called or (floats and "confloat" in called):
        return True
    number_types = {"int", "PositiveInt", "NonNegativeInt"} | (
        {"float", "PositiveFloat", "NonNegativeFloat"} if floats else set())
    return bool(names & number_types)


def _marker_default(call: ast.Call) -> ast.expr | None:
    return call.args[0] if call.args else keyword(call, "default")


def _bounds(node: ast.AST, keywords: tuple[str, ...]) -> bool:
    """A bound keyword (`le=`/`lt=`, or `ge=`/`gt=`) on any call inside (Query, Field, conint,
    Interval), or the matching annotated-types marker (`Le(...)`, `Ge(...)`)."""
    markers = {keyword.capitalize() for keyword in keywords}
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            if any(kw.arg in keywords for kw in inner.keywords):
                return True
            if (call_name(inner) or "").rsplit(".", 1)[-1] in markers:
                return True
    return False


def _handled_in_body(ctx: FileContext, func: FunctionNode, name: str, missing: str, helpers: bool = True) -> bool:
    """The handler bounds the value itself or through a helper (one call away), only privileged
    callers choose it, or it only cuts a list already in memory."""
    clamped = _clamped if missing == "upper" else _floored
    return (clamped(func, name) or (helpers and _clamped_by_helper(ctx, func, name, missing))
            or _admin_only(func, name) or _only_slices(func, name))


def _clamped(func: FunctionNode, name: str) -> bool:
    """The handler clamps the value itself: `min(limit, MAX)` (also `min(max(limit, 1), MAX)`)
    or a `limit > MAX` check."""
    for node in walk_body(func):
        if isinstance(node, ast.Call) and call_name(node) == "min" and _mentions(node.args, name):
            return True
        if isinstance(node, ast.Compare) and _caps(node, name):
            return True
    return False


def _floored(func: FunctionNode, name: str) -> bool:
    """The handler raises the value to a minimum: `max(limit, 1)` (also `max(1, min(limit, MAX))`)
    or a `limit < 1` check."""
    for node in walk_body(func):
        if isinstance(node, ast.Call) and call_name(node) == "max" and _mentions(node.args, name):
            return True
        if isinstance(node, ast.Compare) and _floors(node, name):
            return True
    return False


def _mentions(nodes, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for a in nodes for n in ast.walk(a))


def _caps(compare: ast.Compare, name: str) -> bool:
    """`limit > MAX`, `MAX < limit`, `limit <= MAX_PAGE` (`if not 1 <= limit <= 100: raise`): a
    comparison with something other than a small constant is a check against a maximum."""
    return any(not _small(other) for other in _compared_with(compare, name))


def _floors(compare: ast.Compare, name: str) -> bool:
    """`limit < 1`, `limit <= 0`, `1 <= limit`: a comparison with 0 or 1 is a check against a minimum."""
    return any(_small(other) for other in _compared_with(compare, name))


def _compared_with(compare: ast.Compare, name: str) -> list[ast.expr]:
    """What `name` is compared with, in each ordering comparison of the chain (`1 <= limit <= 100`)."""
    sides = [compare.left, *compare.comparators]
    others = []
    for left, op, right in zip(sides, compare.ops, sides[1:]):
        if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
            if isinstance(left, ast.Name) and left.id == name:
                others.append(right)
            elif isinstance(right, ast.Name) and right.id == name:
                others.append(left)
    return others


def _small(node: ast.expr) -> bool:
    value = node.operand.value if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant) else getattr(node, "value", None)
    return isinstance(node, (ast.Constant, ast.UnaryOp)) and type(value) in (int, float) and value <= 1


def _clamped_by_helper(ctx: FileContext, func: FunctionNode, name: str, missing: str) -> bool:
    """The value is passed to a function that bounds it: one of this file that clamps the
    parameter it arrives in, or a normaliser of another file whose result replaces it
    (`limit = clamp_page_size(limit)`) and that calls `min` (upper) / `max` (lower)."""
    replaced = {id(n.value) for n in walk_body(func) if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)}
    for call in walk_body(func):
        received = _received_as(call, name) if isinstance(call, ast.Call) else []
        if not received:
            continue
        callee = call_name(call)
        local = next((f for f in ctx.functions if isinstance(call.func, ast.Name) and f.name == callee), None)
        if local is not None:
            params = [a.arg for a in (*local.args.posonlyargs, *local.args.args, *local.args.kwonlyargs)]
            if any(_handled_in_body(ctx, local, p, missing, helpers=False)
                   for p in _parameters_for(received, params) if p != "*"):
                return True
        elif id(call) in replaced and callee:
            facts = _function_facts(ctx, callee)
            if facts is not None and ("min" if missing == "upper" else "max") in facts.calls:
                return True
    return False


def _received_as(call: ast.Call, name: str) -> list[int | str]:
    """Where `name` is passed to `call`: positions and keyword names."""
    passed: list[int | str] = [i for i, a in enumerate(call.args) if isinstance(a, ast.Name) and a.id == name]
    passed += [k.arg for k in call.keywords if k.arg and isinstance(k.value, ast.Name) and k.value.id == name]
    return passed


def _parameters_for(received: list[int | str], params: list[str]) -> list[str]:
    return [params[r] if isinstance(r, int) and r < len(params) else r if isinstance(r, str) else "*"
            for r in received]


def _function_facts(ctx: FileContext, callee: str):
    symbol = ctx.index.symbols.get(ctx.index.resolve(ctx.path, callee))
    return symbol.value if symbol is not None and symbol.kind == "function" else None


def _admin_only(func: FunctionNode, name: str) -> bool:
    """`if user.role == "admin": ... else: limit = DEFAULT`: only privileged callers choose the value."""
    for node in walk_body(func):
        if isinstance(node, ast.If) and _tests_privilege(node.test):
            for branch in (node.body, node.orelse):
                if any(_overwrites(statement, name) for statement in branch):
                    return True
    return False


def _tests_privilege(test: ast.AST) -> bool:
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and node.attr in PRIVILEGE_ATTRIBUTES:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in {"admin", "superuser"}:
            return True
    return False


PRIVILEGE_ATTRIBUTES = frozenset({"is_superuser", "is_admin", "is_staff", "superuser", "role"})


def _overwrites(statement: ast.stmt, name: str) -> bool:
    """`limit = PAGE_ITEM_COUNT`: the value replaced by one that does not come from the client."""
    return (isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in statement.targets)
            and not _mentions([statement.value], name))


def _only_slices(func: FunctionNode, name: str) -> bool:
    """Every use of the value cuts a list already in memory (`sorted(usage)[:limit]`), never a query."""
    uses = [n for n in walk_body(func) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
    if not uses:
        return False
    cuts = [n for n in walk_body(func) if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Slice)
            and not any(is_query(q) for q in ast.walk(n.value))]
    inside = {id(n) for cut in cuts for bound in (cut.slice.lower, cut.slice.upper) if bound is not None
              for n in ast.walk(bound)}
    return all(id(use) in inside for use in uses)

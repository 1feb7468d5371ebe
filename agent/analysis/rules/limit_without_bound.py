from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, keyword
from agent.analysis.rules._db import PerIndex, unique_handlers, walk_body
from agent.analysis.rules.base import FileContext, FunctionNode, Rule, route_label
from agent.types import Finding

SIZE_NAMES = frozenset({
    "limit", "page_size", "pagesize", "per_page", "perpage", "size", "take", "max_results", "max_items",
    "page_limit", "count", "top", "first",
})
UPPER_BOUNDS = ("le", "lt")
# Names that are page sizes in a query string but usually something else in a request body.
AMBIGUOUS_NAMES = frozenset({"size", "count", "top", "first"})
BODY_MARKERS = frozenset({"Body", "Form"})
# Parameter markers whose arguments fba reads; any other call as a default (a project's
# `LimitBody()` dependency factory) computes the value somewhere fba does not follow.
PARAMETER_MARKERS = frozenset({"Query", "Body", "Form", "Header", "Cookie", "Path", "Field", "Param"})


class LimitWithoutBound(Rule):
    """Page-size query parameter without an upper bound.

    **What it does**
    Flags integer query parameters named `limit`, `page_size`, `per_page`, `size`, `take` (and
    similar) on routes, and on dependency classes/functions and query-parameter models in the
    same file, that declare no maximum: `limit: int = 100` or `Query(100)` without `le=`/`lt=`.
    `Annotated[int, Query(le=100)]`, `conint(le=...)`, `Field(le=...)`, `Literal[...]`, and a
    handler that clamps the value (`min(limit, MAX)`, `if limit > MAX: raise`) count as bounded.

    **Why is this bad?**
    Pagination only protects the database when the client cannot ask for everything:
    `?limit=100000000` turns a paginated endpoint back into an unbounded one.

    **Example**
    ```python
    @router.get("/items/")
    def read_items(session: SessionDep, skip: int = 0, limit: int = 100): ...
    ```

    **Use instead**
    ```python
    @router.get("/items/")
    def read_items(session: SessionDep, skip: int = Query(0, ge=0),
                   limit: Annotated[int, Query(ge=1, le=100)] = 100): ...
    ```

    **Known problems**
    Clamping done in another function (a CRUD helper) is not seen; dependency classes defined
    in another file are not followed. A default computed by a project call (a dependency factory
    such as `limit: int = LimitBody()`) is trusted, since fba does not follow it.
    """

    code = "FBA211"
    name = "limit-without-bound"
    category = "pagination"
    title = "Page size parameter has no upper bound"

    VALID = (
        """
from typing import Annotated
from fastapi import APIRouter, Query
router = APIRouter()

@router.get("/items/")
def read_items(skip: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=100)):
    return []

@router.get("/users/")
def read_users(limit: Annotated[int, Query(le=100)] = 20, page: int = 1):
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
    limit = min(limit, MAX_PAGE)
    return []

@router.get("/tags/")
def read_tags(limit: int = 50):
    if limit > MAX_PAGE:
        raise HTTPException(400, "limit too large")
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
            if _unbounded_size(arg.arg, arg.annotation, default) and not _clamped(func, arg.arg):
                yield self._finding(ctx, arg, arg.arg, where)

    def _check_class(self, ctx: FileContext, cls: ast.ClassDef) -> Iterator[Finding]:
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if _unbounded_size(stmt.target.id, stmt.annotation, stmt.value):
                    yield self._finding(ctx, stmt, stmt.target.id, f"{cls.name} field")
            elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                yield from self._check_function(ctx, stmt, f"{cls.name}()")

    def _finding(self, ctx: FileContext, node: ast.AST, name: str, where: str) -> Finding:
        return self.finding(
            ctx,
            node,
            f"{where}: '{name}' has no upper bound; a client can ask for every row "
            f"(use Query(..., le=100) or Annotated[int, Query(le=100)])",
            line=node.lineno,
        )


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


def _unbounded_size(name: str, annotation: ast.expr | None, default: ast.expr | None) -> bool:
    if name.lower() not in SIZE_NAMES or not _integer(annotation, default):
        return False
    marker = (call_name(default) or "").rsplit(".", 1)[-1] if isinstance(default, ast.Call) else None
    if marker is not None and marker not in PARAMETER_MARKERS:
        return False
    if marker in BODY_MARKERS and name.lower() in AMBIGUOUS_NAMES:
        return False  # `size: int = Body(...)` in a request body: an image size, a file size...
    return not any(_bounds(node) for node in (annotation, default) if node is not None)


def _integer(annotation: ast.expr | None, default: ast.expr | None) -> bool:
    if annotation is None:
        value = _marker_default(default) if isinstance(default, ast.Call) else default
        return isinstance(value, ast.Constant) and type(value.value) is int
    names = {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
    if "Literal" in names:
        return False
    if "conint" in {call_name(n) for n in ast.walk(annotation)}:
        return True
    return "int" in names or "PositiveInt" in names or "NonNegativeInt" in names


def _marker_default(call: ast.Call) -> ast.expr | None:
    return call.args[0] if call.args else keyword(call, "default")


def _bounds(node: ast.AST) -> bool:
    """A `le=`/`lt=` keyword on any call inside (Query, Field, conint, Interval), or an
    annotated-types `Le(...)`/`Lt(...)` marker."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            if any(kw.arg in UPPER_BOUNDS for kw in inner.keywords):
                return True
            if (call_name(inner) or "").rsplit(".", 1)[-1] in {"Le", "Lt"}:
                return True
    return False


def _clamped(func: FunctionNode, name: str) -> bool:
    """The handler clamps the value itself: `min(limit, MAX)` (also `min(max(limit, 1), MAX)`)
    or a `limit > MAX` check."""
    for node in walk_body(func):
        if isinstance(node, ast.Call) and call_name(node) == "min":
            if any(isinstance(n, ast.Name) and n.id == name for a in node.args for n in ast.walk(a)):
                return True
        if isinstance(node, ast.Compare) and _caps(node, name):
            return True
    return False


def _caps(compare: ast.Compare, name: str) -> bool:
    """`limit > MAX`, `limit >= MAX` or `MAX < limit`: a check against a maximum (not `limit < 1`)."""
    sides = [compare.left, *compare.comparators]
    for left, op, right in zip(sides, compare.ops, sides[1:]):
        if isinstance(left, ast.Name) and left.id == name and isinstance(op, (ast.Gt, ast.GtE)):
            return True
        if isinstance(right, ast.Name) and right.id == name and isinstance(op, (ast.Lt, ast.LtE)):
            return True
    return False

from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import call_name, callee_attr, dotted_name
from agent.analysis.rules._db import (
    in_order,
    is_query,
    names_in,
    tainted_names,
    unique_handlers,
    walk_body,
)
from agent.analysis.rules.base import FileContext, FunctionNode, Rule, route_label
from agent.types import Finding

COLLECTION_METHODS = frozenset({"all", "fetchall", "fetch_all", "to_list"})
BOUNDING_METHODS = frozenset({
    "limit", "offset", "slice", "fetchmany", "partitions", "yield_per", "paginate", "apaginate",
})
PAGE_TYPES = re.compile(r"\b(\w*Page|CursorPage|LimitOffsetPage|Paginated\w*|\w*Pagination)\b")
AGGREGATES = frozenset({"len", "sum", "max", "min", "any", "all", "bool", "round", "float", "int"})
# Small, fixed reference tables that are listed whole by design (a documented decision).
LOOKUP_TABLES = re.compile(
    r"(Role|Permission|Country|Currency|Language|Locale|Timezone|TimeZone|Plan|Setting|FeatureFlag|Scope)s?$"
)


class UnboundedList(Rule):
    """GET endpoint that returns every row of a query.

    **What it does**
    Flags `GET` routes that return the result of a collection query (`.all()`,
    `.scalars().all()`, `fetch_all`) built with no `limit`/`offset`, slice or cursor, and no
    fastapi-pagination `paginate(...)` / `Page[...]` response. Helpers in the same file that the
    handler calls are followed one level.

    **Why is this bad?**
    The response grows with the table: one request can read and serialise millions of rows,
    exhausting memory and the database, and it is an easy denial-of-service lever.

    **Example**
    ```python
    @router.get("/items", response_model=list[ItemPublic])
    def read_items(session: SessionDep, current_user: CurrentUser):
        return session.exec(select(Item).where(Item.owner_id == current_user.id)).all()
    ```

    **Use instead**
    ```python
    @router.get("/items", response_model=ItemsPublic)
    def read_items(session: SessionDep, current_user: CurrentUser,
                   skip: int = Query(0, ge=0), limit: int = Query(100, le=100)):
        statement = select(Item).where(Item.owner_id == current_user.id).offset(skip).limit(limit)
        return ItemsPublic(data=session.exec(statement).all(), count=...)
    ```

    **Known problems**
    Small fixed lookup tables (roles, permissions, countries, currencies, languages, plans,
    settings) are listed whole by design and not flagged; other small tables are. Queries built
    in another module (a CRUD layer) are not followed, and any `limit`/`offset` in the handler
    counts as bounding its queries.
    """

    code = "FBA210"
    name = "unbounded-list"
    category = "pagination"
    title = "List endpoint returns an unbounded query result"
    preview = True  # precision on real code (bench/precision) below the default set's 0.80

    VALID = (
        """
from fastapi import APIRouter
from sqlmodel import func, select
router = APIRouter()

@router.get("/items/", response_model=ItemsPublic)
def read_items(session: SessionDep, current_user: CurrentUser, skip: int = 0, limit: int = Query(100, le=100)):
    count = session.exec(select(func.count()).select_from(Item)).one()
    statement = select(Item).where(Item.owner_id == current_user.id).offset(skip).limit(limit)
    items = session.exec(statement).all()
    return ItemsPublic(data=items, count=count)
""",
        """
from fastapi import APIRouter
from fastapi_pagination import Page
from fastapi_pagination.ext.sqlalchemy import paginate
router = APIRouter()

@router.get("/users", response_model=Page[UserOut])
async def list_users(db: AsyncSession = Depends(get_db)):
    return await paginate(db, select(User).order_by(User.created_at))
""",
        """
import enum
from fastapi import APIRouter
router = APIRouter()

class Color(str, enum.Enum):
    red = "red"
    blue = "blue"

@router.get("/colors", response_model=list[str])
def list_colors():
    return [c.value for c in Color]

@router.get("/roles", response_model=list[RolePublic])
def list_roles(session: SessionDep):
    return session.exec(select(Role)).all()
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/stats")
def stats(session: SessionDep):
    rows = session.exec(select(Order.total)).all()
    return {"revenue": sum(rows)}

@router.post("/items/search")
def search(session: SessionDep, q: str):
    return session.exec(select(Item).where(Item.title == q)).all()
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/notes")
async def list_notes(session: AsyncSession = Depends(get_session), cursor: int = 0):
    result = await session.execute(select(Note).where(Note.id > cursor).order_by(Note.id).limit(50))
    return result.scalars().all()
""",
        # Rows fetched by a set of ids the code already holds.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/groups/preview")
async def preview_groups(ids: list[str], db: AsyncSession = Depends(get_session)):
    groups = (await db.execute(select(Group).where(Group.id.in_(set(ids))))).scalars().all()
    return [g.name for g in groups]
""",
    )
    INVALID = (
        # Filtering by a set of owners is not a set of rows.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/team/items")
async def team_items(member_ids: list[str], db: AsyncSession = Depends(get_session)):
    return (await db.execute(select(Item).where(Item.owner_id.in_(member_ids)))).scalars().all()
""",
        """
from fastapi import APIRouter
from sqlmodel import select
router = APIRouter()

@router.get("/items/", response_model=list[ItemPublic])
def read_items(session: SessionDep, current_user: CurrentUser):
    return session.exec(select(Item).where(Item.owner_id == current_user.id)).all()
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/notes")
async def list_notes(session: AsyncSession = Depends(get_session)):
    result = await session.execute(select(Note))
    notes = result.scalars().all()
    return [NoteOut.model_validate(n) for n in notes]
""",
        """
from fastapi import APIRouter
router = APIRouter()

def get_users(db):
    return db.query(User).all()

@router.get("/users", response_model=List[UserOut])
def read_users(db: Session = Depends(get_db)):
    users = get_users(db)
    return users
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        local: dict[str, FunctionNode] | None = None
        for route, func in unique_handlers(ctx):
            if "GET" not in route.methods or _single_resource(route.path):
                continue
            if _paginated_response(route.response_model, func):
                continue
            if local is None:
                local = {f.name: f for f in ctx.functions}
            bodies = [func, *_local_callees(func, local)]
            # Only a collection call can be reported: look for one before the costlier tests.
            if not any(_collection_calls(body) for body in bodies) or any(_bounded(body) for body in bodies):
                continue
            for body in bodies:
                call = _returned_collection(body)
                if call is not None:
                    yield self.finding(
                        ctx,
                        call,
                        f"{route_label(route, 'GET')} returns every row of the query; "
                        "add offset/limit (with a bounded limit) or a cursor",
                        line=call.lineno,
                    )
                    break


def _single_resource(path: str) -> bool:
    """`/items/{item_id}`: one resource; lists nested in it are bounded by that resource."""
    return path.rstrip("/").endswith("}")


def _paginated_response(response_model: str | None, func: FunctionNode) -> bool:
    returns = ast.unparse(func.returns) if func.returns is not None else ""
    return bool(PAGE_TYPES.search(response_model or "") or PAGE_TYPES.search(returns))


def _local_callees(func: FunctionNode, local: dict[str, FunctionNode]) -> list[FunctionNode]:
    # A function of this file is called by its plain name (`get_users(db)`).
    called = {n.func.id for n in walk_body(func) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return [local[name] for name in sorted(called) if name in local and local[name] is not func]


def _bounded(func: FunctionNode) -> bool:
    """Any limit/offset/slice/cursor/paginate call, or slicing of a query, bounds the function's queries."""
    for node in walk_body(func):
        if callee_attr(node) in BOUNDING_METHODS:
            return True
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and _from_query(node.value, set()):
            return True
    return False


def _from_query(expr: ast.AST, results: set[str]) -> bool:
    return any(is_query(n) for n in ast.walk(expr)) or bool(names_in(expr) & results)


def _collection_calls(func: FunctionNode) -> list[ast.Call]:
    """The calls that may read a whole collection (`.all()`, `.fetch_all(...)`): the method name only."""
    return [
        n for n in walk_body(func)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in COLLECTION_METHODS
    ]


def _returned_collection(func: FunctionNode) -> ast.Call | None:
    """The first collection call (`.all()` on a query result) whose value reaches a `return`."""
    candidates = _collection_calls(func)
    if not candidates or _lookup_only(func):
        return None
    results = tainted_names(func, is_query)
    returned = _returned_names(func)
    returns = [n.value for n in walk_body(func) if isinstance(n, ast.Return) and n.value is not None]
    for node in in_order(iter(candidates)):
        if _is_collection(node, results) and (
            any(_contains(r, node) for r in returns) or _assigned_to(func, node) & returned
        ):
            return node
    return None


def _is_collection(node: ast.AST, results: set[str]) -> bool:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr == "fetch_all":  # databases / asyncpg style: `await database.fetch_all(query)`
        return is_query(node)
    return (node.func.attr in COLLECTION_METHODS and not node.args and _from_query(node.func.value, results)
            and not _by_ids(node.func.value))


def _by_ids(query: ast.AST) -> bool:
    """`select(Group).where(Group.id.in_(ids))`: as many rows as ids the code already holds."""
    return any(
        callee_attr(n) == "in_" and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Attribute)
        and n.func.value.attr == "id"
        for n in ast.walk(query)
    )


def _contains(tree: ast.AST, node: ast.AST) -> bool:
    return any(n is node for n in ast.walk(tree))


def _assigned_to(func: FunctionNode, call: ast.Call) -> set[str]:
    """Names that hold `call`'s value, directly or through later assignments."""
    holders = {id(call)}
    names: set[str] = set()
    for stmt in in_order(walk_body(func)):
        if isinstance(stmt, ast.Assign) and (
            any(id(n) in holders for n in ast.walk(stmt.value)) or names_in(stmt.value) & names
        ):
            names.update(n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _returned_names(func: FunctionNode) -> set[str]:
    """Names whose value a `return` hands out, not counting ones only aggregated (`sum(rows)`)."""
    names: set[str] = set()
    for node in walk_body(func):
        if isinstance(node, ast.Return) and node.value is not None:
            names |= _names_outside_aggregates(node.value)
    return names


def _names_outside_aggregates(expr: ast.AST) -> set[str]:
    stack, names = [expr], set()
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call) and call_name(node) in AGGREGATES:
            continue
        if isinstance(node, ast.Name):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _lookup_only(func: FunctionNode) -> bool:
    """True when every entity the function selects is a small lookup table."""
    entities = []
    for node in walk_body(func):
        if callee_attr(node) in {"select", "query"} and node.args:
            entities.extend(dotted_name(a) or "" for a in node.args)
    return bool(entities) and all(LOOKUP_TABLES.search(e.rsplit(".", 1)[-1]) for e in entities)

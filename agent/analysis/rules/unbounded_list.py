from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import call_name, callee_attr, dotted_name
from agent.analysis.rules._db import (
    QUERY_METHODS,
    assigned_names,
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
# Keywords that hand pagination to a helper (`paginated_select(stmt, offset=offset, limit=limit)`).
PAGE_KEYWORDS = frozenset({"limit", "offset", "page_size", "per_page", "cursor"})
AGGREGATES = frozenset({"len", "sum", "max", "min", "any", "all", "bool", "round", "float", "int"})
# A parameter typed or injected as a database session, whatever its name (`s: AsyncSession`).
SESSION_TYPE = re.compile(r"^(Async)?Session(Dep)?$|^(Async)?Connection$")
SESSION_PROVIDER = re.compile(r"(session|db|database|connection|conn)$", re.IGNORECASE)
# Calls that put a loop's items into a container the handler may return.
COLLECTING_METHODS = frozenset({"append", "extend", "add", "insert"})
# Small, fixed reference tables that are listed whole by design (a documented decision).
LOOKUP_TABLES = re.compile(
    r"(Role|Permission|Country|Currency|Language|Locale|Timezone|TimeZone|Plan|Setting|FeatureFlag|Scope)s?$"
)


class UnboundedList(Rule):
    """GET endpoint that returns every row of a query.

    **What it does**
    Flags `GET` routes that return the result of a collection query (`.all()`,
    `.scalars().all()`, `fetch_all`) built with no `limit`/`offset`, slice or cursor, and no
    fastapi-pagination `paginate(...)` / `Page[...]` response, also when the rows are first bound
    to a name (plain, annotated or walrus) and post-processed (a comprehension, a loop that fills a
    list or dict). A session is a receiver named like one or a parameter typed or injected as one
    (`s: AsyncSession`, `Depends(get_db)`). Helpers in the same file that the handler calls are
    followed one level.

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
        # Rows only counted or searched: the answer does not grow with the table.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/notes/summary")
async def notes_summary(s: AsyncSession = Depends(get_session)):
    rows = (await s.execute(select(Note))).scalars().all()
    by_kind = {}
    for row in rows:
        by_kind[row.kind] = by_kind.get(row.kind, 0) + 1
    return {"kinds": len(by_kind), "total": len(rows)}

@router.get("/notes/pinned")
async def pinned_note(s: AsyncSession = Depends(get_session)):
    for note in (await s.execute(select(Note))).scalars().all():
        if note.pinned:
            return note
    return None
""",
        # Pagination handed to a helper; counts grouped by the ids filtered; rows held rows refer to.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/jobs")
def list_jobs(session: SessionDep, offset: int = 0, limit: int = Query(50, le=100)):
    statement = paginated_select(statement=select(Job), offset=offset, limit=limit)
    return session.scalars(statement).all()

@router.get("/groups")
async def list_groups(session: SessionDep):
    groups = (await session.exec(select(Group).limit(50))).all()
    ids = [g.id for g in groups]
    stmt = select(Member.group_id, func.count(Member.id)).where(Member.group_id.in_(ids)).group_by(Member.group_id)
    return {row[0]: row[1] for row in (await session.exec(stmt)).all()}

@router.get("/instances/types")
async def instance_types(session: SessionDep):
    instances = (await session.exec(select(Instance).limit(50))).all()
    snapshots = sorted({i.type_snapshot for i in instances})
    rows = await session.exec(select(InstanceType).where(InstanceType.snapshot.in_(snapshots)))
    return {row.snapshot: row for row in rows.all()}
""",
    )
    INVALID = (
        # Look-alikes: a helper told `limit=None`, and the rows of the owners held rows name.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/jobs")
def list_jobs(session: SessionDep):
    statement = paginated_select(statement=select(Job), limit=None)
    return session.scalars(statement).all()
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/team/items")
async def team_items(session: SessionDep):
    members = await crud.team_members(session)
    owner_ids = [m.user_id for m in members]
    return (await session.exec(select(Item).where(Item.owner_id.in_(owner_ids)))).all()
""",
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
        # A session of any name, rows bound by a walrus and post-processed.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/notes")
async def list_notes(s: AsyncSession = Depends(get_session)):
    if rows := (await s.execute(select(Note))).scalars().all():
        return [to_out(r) for r in rows]
    return []
""",
        # Rows bound with an annotation, copied into a list by a loop.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/tasks")
def list_tasks(session: Session = Depends(get_db)):
    tasks: list[Task] = session.query(Task).all()
    out = []
    for task in tasks:
        out.append({"id": task.id, "title": task.title})
    return out
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
    queries = _query_test(func)
    for node in walk_body(func):
        if callee_attr(node) in BOUNDING_METHODS:
            return True
        if isinstance(node, ast.Call) and any(kw.arg in PAGE_KEYWORDS and not _is_none(kw.value) for kw in node.keywords):
            return True
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and _from_query(node.value, set(), queries):
            return True
    return False


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _query_test(func: FunctionNode):
    """`is_query`, also for a read on a parameter typed or injected as a session (`s: AsyncSession`)."""
    sessions = _session_parameters(func)

    def queries(node: ast.AST) -> bool:
        return is_query(node) or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUERY_METHODS
            and isinstance(node.func.value, ast.Name) and node.func.value.id in sessions)
    return queries


def _session_parameters(func: FunctionNode) -> set[str]:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    found = set()
    for arg, default in [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
        types = {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(arg.annotation)
                 if isinstance(n, (ast.Name, ast.Attribute))} if arg.annotation is not None else set()
        provider = (dotted_name(default.args[0]) or "") if (
            isinstance(default, ast.Call) and callee_attr(default) == "Depends" and default.args) else ""
        if any(SESSION_TYPE.search(t) for t in types) or SESSION_PROVIDER.search(provider):
            found.add(arg.arg)
    return found


def _from_query(expr: ast.AST, results: set[str], queries=is_query) -> bool:
    return any(queries(n) for n in ast.walk(expr)) or bool(names_in(expr) & results)


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
    queries = _query_test(func)
    results = tainted_names(func, queries)
    returned = _returned_names(func)
    returns = [n.value for n in walk_body(func) if isinstance(n, ast.Return) and n.value is not None]
    for node in in_order(iter(candidates)):
        if _is_collection(node, results, queries, func) and (
            any(_contains(r, node) for r in returns) or _assigned_to(func, node) & returned
        ):
            return node
    return None


def _is_collection(node: ast.AST, results: set[str], queries=is_query, func: FunctionNode | None = None) -> bool:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr == "fetch_all":  # databases / asyncpg style: `await database.fetch_all(query)`
        return queries(node)
    return (node.func.attr in COLLECTION_METHODS and not node.args and _from_query(node.func.value, results, queries)
            and not _by_ids(node.func.value, func))


def _by_ids(query: ast.AST, func: FunctionNode | None = None) -> bool:
    """As many rows as keys the code already holds: `select(Group).where(Group.id.in_(ids))`,
    counts grouped by the filtered column (`.where(M.group_id.in_(ids)).group_by(M.group_id)`), or
    the rows that held rows refer to (`Type.snapshot.in_({i.type_snapshot for i in instances})`)."""
    query = _expanded(query, func)
    grouped = {ast.dump(a) for n in ast.walk(query) if callee_attr(n) == "group_by" for a in n.args}
    for n in ast.walk(query):
        if not (callee_attr(n) == "in_" and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Attribute) and n.args):
            continue
        column = n.func.value
        if column.attr == "id" or ast.dump(column) in grouped or _referenced_by_rows(n.args[0], column.attr, func):
            return True
    return False


def _expanded(query: ast.AST, func: FunctionNode | None) -> ast.AST:
    """`query` together with the values its names were assigned (the statement behind `session.exec(stmt)`)."""
    if func is None:
        return query
    names = names_in(query)
    values = [n.value for n in walk_body(func) if isinstance(n, ast.Assign) and n.value is not None
              and any(isinstance(t, ast.Name) and t.id in names for t in n.targets)]
    return ast.Module(body=[ast.Expr(v) for v in (query, *values)], type_ignores=[])


def _referenced_by_rows(keys: ast.AST, column: str, func: FunctionNode | None) -> bool:
    """`{i.type_snapshot for i in instances}` filtering `Type.snapshot`: each held row refers to one
    row by `<prefix>_<column>`. (`[m.user_id ...]` filtering `Item.user_id` reads every row of those users.)"""
    sources = [keys]
    if func is not None and isinstance(keys, ast.Call) and keys.args:  # `sorted({...})`, `list(...)`
        sources.append(keys.args[0])
    if func is not None:
        named = names_in(keys)
        sources += [n.value for n in walk_body(func) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id in named for t in n.targets)]
    for source in sources:
        for comp in (n for n in ast.walk(source) if isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp))):
            element = comp.elt
            if isinstance(element, ast.Attribute) and element.attr != column and element.attr.endswith("_" + column):
                return True
    return False


def _contains(tree: ast.AST, node: ast.AST) -> bool:
    return any(n is node for n in ast.walk(tree))


def _assigned_to(func: FunctionNode, call: ast.Call) -> set[str]:
    """Names that hold `call`'s rows, directly or through later assignments (also annotated and
    walrus ones), and containers a loop over them fills (`for r in rows: out.append(to_out(r))`)."""
    names: set[str] = set()

    def holds(expr: ast.AST) -> bool:
        return any(n is call for n in ast.walk(expr)) or bool(names_in(expr) & names)

    for stmt in in_order(walk_body(func)):
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and stmt.value is not None and holds(stmt.value):
            names.update(assigned_names(stmt))
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and holds(stmt.iter):
            names.update(_filled_in(stmt))
    return names


def _filled_in(loop: ast.For | ast.AsyncFor) -> set[str]:
    """Containers the loop's body fills: `out.append(...)`, `by_id[key] = ...`."""
    filled = set()
    for node in (n for statement in loop.body for n in ast.walk(statement)):
        if (isinstance(node, ast.Call) and callee_attr(node) in COLLECTING_METHODS
                and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)):
            filled.add(node.func.value.id)
        elif isinstance(node, ast.Assign):
            filled.update(t.value.id for t in node.targets
                          if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name))
    return filled


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

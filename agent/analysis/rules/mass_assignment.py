from __future__ import annotations

import ast
import re
from typing import Callable, Iterator

from agent.analysis.facts import call_name
from agent.analysis.rules._db import (
    body_read,
    body_readers,
    request_names,
    tainted_names,
    unique_handlers,
    untyped_body_args,
    walk_body,
)
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.types import Finding, Severity

# Names of request/response schemas (they validate and whitelist fields); other classes are rows.
SCHEMA_NAME = re.compile(
    r"(Create|Update|Patch|In|Input|Base|Public|Schema|Request|Payload|Out|Output|Read|Body|Params|"
    r"Query|Filter|Response|Dto|DTO|Form|Command|Data|Args)$"
)
NOT_MODELS = frozenset({"dict", "Dict", "JSONResponse", "Response", "HTTPException", "Exception"})
UPDATE_METHODS = frozenset({"sqlmodel_update", "values"})


class MassAssignment(Rule):
    """Client data copied wholesale onto a table row.

    **What it does**
    In route handlers, flags untyped client data (a `dict`/`Any` body parameter, or
    `await request.json()` / `.form()`, also after `json.loads`) that is copied onto a database
    row without a schema: `for k, v in data.items(): setattr(row, k, v)`, `Item(**data)` or
    `Item.model_validate(data)` on a table model, `row.sqlmodel_update(data)`,
    `update(Item).values(**data)`.

    **Why is this bad?**
    The client chooses which columns it writes: `owner_id`, `is_superuser`, `hashed_password`,
    `balance`. A schema (`ItemUpdate`) is the allow-list of fields a client may set.

    **Example**
    ```python
    @router.patch("/users/me")
    async def update_me(request: Request, current_user: CurrentUser, session: SessionDep):
        for key, value in (await request.json()).items():
            setattr(current_user, key, value)
        session.commit()
    ```

    **Use instead**
    ```python
    @router.patch("/users/me", response_model=UserPublic)
    def update_me(user_in: UserUpdateMe, current_user: CurrentUser, session: SessionDep):
        current_user.sqlmodel_update(user_in.model_dump(exclude_unset=True))
        session.commit()
    ```

    **Known problems**
    Table models are told from schemas by the project index (SQLModel `table=True`, SQLAlchemy
    declarative classes); classes it cannot see are told by name (`ItemCreate`, `ItemUpdate`,
    `ItemPublic`, ... are schemas), so an imported schema named like a table may be flagged.
    Copies done in another function that receives the raw dict are not followed.
    """

    code = "FBA222"
    name = "mass-assignment"
    category = "validation"
    severity = Severity.HIGH
    title = "Client data copied onto a table row without a schema"

    VALID = (
        """
from fastapi import APIRouter
router = APIRouter()

@router.put("/items/{id}", response_model=ItemPublic)
def update_item(*, session: SessionDep, current_user: CurrentUser, id: uuid.UUID, item_in: ItemUpdate):
    item = session.get(Item, id)
    update_dict = item_in.model_dump(exclude_unset=True)
    item.sqlmodel_update(update_dict)
    for key, value in item_in.model_dump(exclude_unset=True).items():
        setattr(item, key, value)
    session.add(item)
    session.commit()
    return item

@router.post("/items/", response_model=ItemPublic, status_code=201)
def create_item(*, session: SessionDep, current_user: CurrentUser, item_in: ItemCreate):
    item = Item.model_validate(item_in, update={"owner_id": current_user.id})
    session.add(item)
    session.commit()
    return item
""",
        """
from fastapi import APIRouter, Request
router = APIRouter()

@router.post("/notes", status_code=201)
async def create_note(request: Request, session: SessionDep, current_user: CurrentUser):
    data = NoteCreate(**(await request.json()))
    note = Note(**data.model_dump(), owner_id=current_user.id)
    session.add(note)
    return note

@router.post("/echo")
def echo(payload: dict):
    settings = {**payload}
    return settings
""",
    )
    INVALID = (
        """
from fastapi import APIRouter, Request
router = APIRouter()

@router.patch("/users/me")
async def update_me(request: Request, current_user: CurrentUser, session: SessionDep):
    data = await request.json()
    for key, value in data.items():
        setattr(current_user, key, value)
    session.commit()
    return current_user
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/items", status_code=201)
def create_item(body: dict, session: SessionDep):
    item = Item(**body)
    session.add(item)
    session.commit()
    return item
""",
        """
from typing import Any
from fastapi import APIRouter, Body
router = APIRouter()

@router.patch("/items/{item_id}")
def patch_item(item_id: int, session: SessionDep, changes: dict[str, Any] = Body(...)):
    item = session.get(Item, item_id)
    item.sqlmodel_update(changes)
    session.commit()
    return item
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in unique_handlers(ctx):
            raw = _raw_client_data(ctx, func, route.path)
            if not raw:
                continue
            is_table = _table_test(ctx, func)
            for node in walk_body(func):
                target = _copy_target(node, raw, is_table)
                if target is not None:
                    yield self.finding(
                        ctx,
                        node,
                        f"{func.name} copies unvalidated client data onto {target}; the client "
                        "picks the columns (owner_id, is_superuser, ...): validate it with an update schema",
                        line=node.lineno,
                    )


def _raw_client_data(ctx: FileContext, func: FunctionNode, path: str) -> set[str]:
    """Names holding untyped client data: `dict`/`Any` body params and request.json() results."""
    params = {arg.arg for arg in untyped_body_args(func, path)}
    readers = body_readers(ctx, func)
    # Only the request parameters whose body the handler reads matter to `body_read` below.
    requests = request_names(func) & readers if readers else set()
    used = bool(params) and any(isinstance(n, ast.Name) and n.id in params for n in walk_body(func))
    if not requests and not used:
        return set()
    derived = tainted_names(func, lambda n: body_read(n, requests) or (isinstance(n, ast.Name) and n.id in params))
    return params | _whole_copies(func, derived | params, requests)


def _whole_copies(func: FunctionNode, names: set[str], requests: set[str]) -> set[str]:
    """Keep only names assigned the data itself (`data = await request.json()`, `d = json.loads(...)`,
    `changes = payload`), not values picked out of it or rebuilt through a schema."""
    kept = set(names)
    for stmt in walk_body(func):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if stmt.targets[0].id in kept and not _whole(stmt.value, names, requests):
                kept.discard(stmt.targets[0].id)
    return kept


def _whole(value: ast.AST, names: set[str], requests: set[str]) -> bool:
    if isinstance(value, ast.Await):
        return body_read(value, requests)
    if isinstance(value, ast.Name):
        return value.id in names
    if isinstance(value, ast.Call) and (call_name(value) or "").rsplit(".", 1)[-1] in {"loads", "dict"}:
        return bool(value.args) and _whole(value.args[0], names, requests)
    return False


def _raw(expr: ast.AST | None, raw: set[str]) -> bool:
    """`data`, `await request.json()` or `dict(data)`: the client data as a whole."""
    if expr is None:
        return False
    if isinstance(expr, ast.Name):
        return expr.id in raw
    if isinstance(expr, ast.Await) and isinstance(expr.value, ast.Call):
        callee = expr.value.func
        return isinstance(callee, ast.Attribute) and callee.attr in {"json", "form"}
    if isinstance(expr, ast.Call) and (call_name(expr) or "").rsplit(".", 1)[-1] in {"loads", "dict"} and expr.args:
        return _raw(expr.args[0], raw)
    return False


def _copy_target(node: ast.AST, raw: set[str], is_table: Callable[[str], bool]) -> str | None:
    """What `node` copies raw client data onto, or None."""
    if isinstance(node, (ast.For, ast.AsyncFor)) and _items_of_raw(node.iter, raw):
        for inner in walk_body(node):
            if isinstance(inner, ast.Call) and call_name(inner) == "setattr" and len(inner.args) == 3:
                return ast.unparse(inner.args[0])
        return None
    if not isinstance(node, ast.Call):
        return None
    name = call_name(node) or ""
    last = name.rsplit(".", 1)[-1]
    if is_table(last) and any(k.arg is None and _raw(k.value, raw) for k in node.keywords):
        return last
    if last in {"model_validate", "parse_obj"} and "." in name and node.args and _raw(node.args[0], raw):
        model = name.rsplit(".", 2)[-2]
        return model if is_table(model) else None
    if isinstance(node.func, ast.Attribute) and node.func.attr in UPDATE_METHODS:
        spread = [k.value for k in node.keywords if k.arg is None]
        if any(_raw(a, raw) for a in [*node.args, *spread]):
            return ast.unparse(node.func.value)
    return None


def _items_of_raw(expr: ast.AST, raw: set[str]) -> bool:
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "items"
        and _raw(expr.func.value, raw)
    )


def _table_test(ctx: FileContext, func: FunctionNode) -> Callable[[str], bool]:
    """Is a class name a table model? The index knows the project's classes; a name bound inside
    the handler (`Valves = module.Valves`) is not one; otherwise a schema-like name is a schema."""
    local = {n.id for n in walk_body(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}

    def is_table(name: str) -> bool:
        info = ctx.index.model(ctx.path, name)
        if info is not None:
            return info.table
        if name in local:
            return False
        return name[:1].isupper() and name not in NOT_MODELS and not SCHEMA_NAME.search(name)

    return is_table


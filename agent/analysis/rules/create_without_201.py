from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.rules._responses import sets_status_code
from agent.analysis.rules.base import FileContext, Rule, route_label
from agent.analysis.walk import subtree_nodes
from agent.types import Finding, Severity

CREATE_VERBS = ("create", "add", "register", "new", "insert", "upload", "post_")
NOT_CREATE_VERBS = ("login", "token", "search", "query", "verify", "refresh", "logout", "reset", "send",
                    "run", "execute", "validate", "check", "preview", "calculate", "webhook", "callback",
                    "import", "export", "batch", "bulk", "recover", "test", "signin", "sign_in", "or_update", "upsert")


class CreateWithoutCreated(Rule):
    """Create endpoint that answers 200 instead of 201.

    **What it does**
    Flags `POST` routes whose handler creates a resource (its name says create/add/register, or it
    calls `session.add(...)` and returns the new object) but whose decorator sets no
    `status_code`, so FastAPI answers `200 OK`.

    **Why is this bad?**
    HTTP semantics (and the agent's checklist) say a successful create answers `201 Created`.
    Clients, generated SDKs and API gateways rely on it to tell creation from other actions.

    **Example**
    ```python
    @router.post("/items")
    def create_item(item: ItemCreate, session: SessionDep): ...
    ```

    **Use instead**
    ```python
    @router.post("/items", status_code=status.HTTP_201_CREATED)
    def create_item(item: ItemCreate, session: SessionDep): ...
    ```

    **Known problems**
    Action endpoints that use POST without creating anything (login, search, webhooks) are not
    flagged when their name says so; others that add rows as a side effect may be. Upserts
    (`create_or_update_*`), handlers that set `response.status_code` themselves and `add_*`
    handlers under an existing parent (`POST /channels/{id}/members/add`) are left alone.
    """

    code = "FBA203"
    name = "create-without-201"
    category = "status-code"
    severity = Severity.LOW
    title = "Create endpoint does not answer 201 Created"
    fixable = True

    VALID = (
        """
from fastapi import APIRouter, status
router = APIRouter()

@router.post("/items", status_code=status.HTTP_201_CREATED)
def create_item(item: dict):
    return item
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/login/access-token")
def login_access_token(form: dict):
    return {"access_token": "..."}

@router.post("/items/search")
def search_items(query: dict):
    return []
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/items", status_code=201)
async def create_item(item: dict):
    return item
""",
        # Items added to an existing parent, and an upsert, are not creates.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/channels/{id}/members/add")
async def add_members_by_id(id: str, form: dict, db):
    db.add(Membership(channel_id=id, user_ids=form["user_ids"]))
    return {"ok": True}

@router.post("/projects/{name}/secrets/create_or_update")
async def create_or_update_secret(name: str, body: dict):
    return await upsert_secret(name, body)
""",
        # An upsert answers 201 only when the row is new.
        """
from fastapi import APIRouter, Response, status
router = APIRouter()

@router.post("/flows/")
async def create_flow(flow: dict, response: Response, session):
    model = await upsert_flow(session, flow)
    if model.created >= now():
        response.status_code = status.HTTP_201_CREATED
    return model
""",
    )
    INVALID = (
        # Adding a new top-level item, or creating a child under a parent, is a create.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/memories/add")
async def add_memory(form: dict, db):
    db.add(Memory(**form))
    return form

@router.post("/knowledge/{id}/dirs/create")
async def create_knowledge_directory(id: str, form: dict):
    return await Directories.insert(id, form)
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/items")
def create_item(item: dict):
    return item
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/notes")
def save_note(note: dict, session):
    session.add(note)
    session.commit()
    return note
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if route.methods != ("POST",) or route.status_code is not None:
                continue
            if _creates(func) and not sets_status_code(func) and not _adds_to_parent(func, route.path):
                yield self.finding(
                    ctx,
                    func,
                    f"{route_label(route, 'POST')} creates a resource but answers 200; "
                    "set status_code=status.HTTP_201_CREATED",
                    line=route.decorator_line,
                )


def _adds_to_parent(func: ast.FunctionDef | ast.AsyncFunctionDef, path: str) -> bool:
    """`add_members_by_id` on `POST /channels/{id}/members/add`: existing items linked to an
    existing parent (members, tags, files), where 200 fits as well as 201."""
    return func.name.lower().startswith("add_") and "{" in path


def _creates(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    name = func.name.lower()
    if any(word in name for word in NOT_CREATE_VERBS):
        return False
    if name.startswith(CREATE_VERBS) or "_create" in name:
        return True
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add"
        and isinstance(n.func.value, (ast.Name, ast.Attribute))
        and (getattr(n.func.value, "id", "") or getattr(n.func.value, "attr", "")) in {"session", "db", "s"}
        for n in subtree_nodes(func)
    )

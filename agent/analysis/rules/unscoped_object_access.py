from __future__ import annotations

from typing import Iterator

from agent.analysis.rules._ownership import (
    client_names,
    fetches,
    helper_client_names,
    mentions,
    owner_checked,
    owner_scoped,
    receives_user,
    requires_admin,
    same_file_helpers,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity

MODELS = """
import uuid
from sqlmodel import Field, SQLModel

class User(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    is_superuser: bool = False

class Item(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str
    owner_id: uuid.UUID = Field(foreign_key="user.id")
"""
DEPS = """
from typing import Annotated
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")

def get_session():
    yield Session()

SessionDep = Annotated[Session, Depends(get_session)]

def get_current_user(token: Annotated[str, Depends(oauth2)]):
    return token

CurrentUser = Annotated[object, Depends(get_current_user)]

def get_current_active_superuser(current_user: CurrentUser):
    if not current_user.is_superuser:
        raise HTTPException(status_code=403)
    return current_user
"""


class UnscopedObjectAccess(Rule):
    """Object fetched by a client-supplied id without checking who owns it (IDOR/BOLA).

    **What it does**
    In an authenticated route, flags a query over a user-owned table model (a table with an
    owner column such as `owner_id`/`user_id`/`created_by` pointing at the user table) that
    looks a row up by a value the client chose (`session.get(Item, id)`,
    `select(Item).where(Item.id == id)`, `db.query(Item).filter(Item.id == item_id)`) when the
    handler neither filters by the owner column nor compares the row's owner with the caller
    afterwards. Helpers of the same file that the handler passes the id to are followed.

    **Why is this bad?**
    Any logged-in user can read, change or delete any other user's rows by guessing or
    enumerating ids: Broken Object Level Authorization, the top API risk (OWASP API1:2023).

    **Example**
    ```python
    @router.get("/items/{id}")
    def read_item(id: uuid.UUID, session: SessionDep, current_user: CurrentUser) -> ItemPublic:
        return session.get(Item, id)
    ```

    **Use instead**
    ```python
    item = session.get(Item, id)
    if not item or item.owner_id != current_user.id:
        raise HTTPException(status_code=404, detail="Item not found")
    ```
    or filter in the query: `select(Item).where(Item.id == id, Item.owner_id == current_user.id)`.

    **Known problems**
    Only tables whose owner column the index can see are checked; rows owned through a parent
    (an item of a project the user belongs to) or checked in a helper of another module are
    not. Routes that require a superuser/admin (dependency or an `is_superuser` guard at the
    top of the handler) are skipped. Any comparison of the row's owner attribute counts as a
    check, even a wrong one.
    """

    code = "FBA102"
    name = "unscoped-object-access"
    category = "ownership"
    severity = Severity.HIGH
    title = "Object fetched by id without an owner check"
    config_keys = ("auth-dependencies",)

    VALID = (
        # full-stack-fastapi-template: owner check right after session.get, superuser bypass.
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
import uuid
from fastapi import APIRouter, HTTPException
from app.api.deps import CurrentUser, SessionDep
from app.models import Item

router = APIRouter(prefix="/items")

@router.get("/{id}")
def read_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> Item:
    item = session.get(Item, id)
    if not item:
        raise HTTPException(status_code=404, detail="Item not found")
    if not current_user.is_superuser and (item.owner_id != current_user.id):
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return item
""",
        },
        # Owner predicate in the query (select ... where, and Query.filter_by).
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
import uuid
from fastapi import APIRouter, HTTPException
from sqlmodel import select
from app.api.deps import CurrentUser, SessionDep
from app.models import Item

router = APIRouter(prefix="/items")

@router.delete("/{id}", status_code=204)
def delete_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> None:
    item = session.exec(select(Item).where(Item.id == id, Item.owner_id == current_user.id)).first()
    if not item:
        raise HTTPException(status_code=404)
    session.delete(item)
    session.commit()

@router.get("/{id}/legacy")
def read_legacy(db: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> dict:
    item = db.query(Item).filter_by(id=id, owner_id=current_user.id).first()
    return {"title": item.title}
""",
        },
        # Superuser-only route, and a helper that scopes by owner.
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/admin.py": """
import uuid
from fastapi import APIRouter, Depends
from sqlmodel import select
from app.api.deps import CurrentUser, SessionDep, get_current_active_superuser
from app.models import Item

router = APIRouter(prefix="/admin", dependencies=[Depends(get_current_active_superuser)])

@router.get("/items/{id}")
def read_any_item(session: SessionDep, id: uuid.UUID) -> dict:
    item = session.get(Item, id)
    return {"title": item.title}

def get_owned(session, item_id, owner_id):
    return session.exec(select(Item).where(Item.id == item_id, Item.owner_id == owner_id)).first()

mine = APIRouter(prefix="/mine")

@mine.get("/{id}")
def read_mine(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> dict:
    item = get_owned(session, id, current_user.id)
    return {"title": item.title}
""",
        },
    )
    INVALID = (
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
import uuid
from fastapi import APIRouter, HTTPException
from app.api.deps import CurrentUser, SessionDep
from app.models import Item

router = APIRouter(prefix="/items")

@router.get("/{id}")
def read_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> Item:
    item = session.get(Item, id)
    if not item:
        raise HTTPException(status_code=404, detail="Item not found")
    return item
""",
        },
        # SQLAlchemy 2.0 style, id from the body, change through a helper of the same file.
        {
            "app/models.py": """
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
""",
            "app/api/deps.py": DEPS,
            "app/api/routes/notes.py": """
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from app.api.deps import CurrentUser, SessionDep
from app.models import Note

router = APIRouter()

class NoteEdit(BaseModel):
    note_id: int
    body: str

def load_note(db, note_id):
    return db.execute(select(Note).where(Note.id == note_id)).scalar_one()

@router.put("/notes")
def edit_note(edit: NoteEdit, db: SessionDep, current_user: CurrentUser) -> dict:
    note = load_note(db, edit.note_id)
    note.body = edit.body
    db.commit()
    return {"id": note.id}
""",
        },
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if not route.auth or route.admin or requires_admin(func):
                continue
            client = client_names(route)
            for fetch in fetches(ctx, func):
                if not any(mentions(p, client) for p in fetch.predicates):
                    continue
                if owner_scoped(func, fetch.model) or owner_checked(func, fetch.model, route.user_param):
                    continue
                yield self._finding(ctx, fetch.node, fetch.model.name, route.function)
            for call, helper in same_file_helpers(ctx, func, client):
                if receives_user(call, route.user_param):
                    continue
                names = helper_client_names(helper)
                for fetch in fetches(ctx, helper):
                    if not any(mentions(p, names) for p in fetch.predicates):
                        continue
                    if owner_scoped(helper, fetch.model) or owner_checked(helper, fetch.model, None):
                        continue
                    if owner_checked(func, fetch.model, route.user_param):
                        continue
                    yield self._finding(ctx, call, fetch.model.name, route.function, via=helper.name)

    def _finding(self, ctx: FileContext, node, model: str, handler: str, via: str | None = None) -> Finding:
        where = f" (through {via}())" if via else ""
        return self.finding(
            ctx,
            node,
            f"{handler} fetches a {model} by a client-supplied id{where} without an owner filter or "
            f"owner check; any logged-in user can reach other users' {model} rows. Filter by the owner "
            "column or compare it with the current user and answer 404/403",
        )

from __future__ import annotations

from typing import Iterator

from agent.analysis.rules._ownership import (
    Fetch,
    client_names,
    fetches,
    helper_client_names,
    mentions,
    owner_checked,
    owner_scoped,
    principal_columns,
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
# A shop whose principal is a customer, and a multi-tenant app whose rows belong to an org.
PRINCIPAL_MODELS = """
import uuid
from sqlmodel import Field, SQLModel

class Customer(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)

class Order(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    total: int
    customer_id: uuid.UUID = Field(foreign_key="customer.id")

class OrderCreate(SQLModel):
    total: int
    customer_id: uuid.UUID

class Org(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)

class Member(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(foreign_key="org.id")
    role: str

class Project(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    org_id: uuid.UUID = Field(foreign_key="org.id")

class Invoice(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    amount: int
    org_id: uuid.UUID = Field(foreign_key="org.id")
    project_id: uuid.UUID = Field(foreign_key="project.id")
"""
PRINCIPAL_DEPS = """
import uuid
from typing import Annotated
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session, select
from app.models import Customer, Member

oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")

def get_session():
    yield Session()

SessionDep = Annotated[Session, Depends(get_session)]

def get_current_customer(token: Annotated[str, Depends(oauth2)], session: SessionDep) -> Customer:
    return session.get(Customer, token)

CurrentCustomer = Annotated[Customer, Depends(get_current_customer)]

def get_current_member(token: Annotated[str, Depends(oauth2)], session: SessionDep) -> Member:
    return session.get(Member, token)

CurrentMember = Annotated[Member, Depends(get_current_member)]

def get_org_member(org_id: uuid.UUID, member: CurrentMember) -> Member:
    if member.org_id != org_id:
        raise HTTPException(status_code=403)
    return member

OrgMember = Annotated[Member, Depends(get_org_member)]
"""


class UnscopedObjectAccess(Rule):
    """Object fetched by a client-supplied id without checking who owns it (IDOR/BOLA).

    **What it does**
    In an authenticated route, flags a query over an owned table model that looks a row up by
    a value the client chose (`session.get(Item, id)`,
    `select(Item).where(Item.id == id)`, `db.query(Item).filter(Item.id == item_id)`) when the
    handler neither filters by the owner column nor compares the row's owner with the caller
    afterwards. Helpers of the same file that the handler passes the id to are followed.

    A table is owned when a column links its rows to the authenticated principal: an owner
    column (`owner_id`, `user_id`, `created_by`... pointing at the user table), a tenant
    column (`tenant_id`, `org_id`, `organization_id`, `workspace_id`), or a column named after
    the principal the route receives (`customer_id` for `customer: CurrentCustomer`,
    `member_id` for `CurrentMember`). A filter on such a column of a joined table
    (`.join(Project).where(Project.org_id == member.org_id)`) or on the principal scopes the query.

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
    Only tables whose link column the index can see are checked; rows owned through a parent
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
        # Principals other than a user: the customer's own order checked after session.get, an
        # invoice compared with the member's org, a lookup scoped through a joined project.
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/shop.py": """
import uuid
from fastapi import APIRouter, HTTPException
from sqlmodel import select
from app.api.deps import CurrentCustomer, CurrentMember, SessionDep
from app.models import Invoice, Order, Project

router = APIRouter()

@router.get("/orders/{order_id}")
def read_order(order_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer) -> dict:
    order = session.get(Order, order_id)
    if order is None or order.customer_id != customer.id:
        raise HTTPException(status_code=404)
    return {"total": order.total}

@router.get("/invoices/{invoice_id}")
def read_invoice(invoice_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> dict:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.org_id != member.org_id:
        raise HTTPException(status_code=404)
    return {"amount": invoice.amount}

@router.delete("/invoices/{invoice_id}", status_code=204)
def delete_invoice(invoice_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> None:
    invoice = session.exec(
        select(Invoice).join(Project).where(Invoice.id == invoice_id, Project.org_id == member.org_id)
    ).first()
    if invoice is None:
        raise HTTPException(status_code=404)
    session.delete(invoice)
    session.commit()
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
        # The principal is a customer: its orders are linked by customer_id.
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/orders.py": """
import uuid
from fastapi import APIRouter, HTTPException
from app.api.deps import CurrentCustomer, SessionDep
from app.models import Order

router = APIRouter()

@router.get("/orders/{order_id}")
def read_order(order_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer) -> dict:
    order = session.get(Order, order_id)
    if order is None:
        raise HTTPException(status_code=404)
    return {"total": order.total}
""",
        },
        # A tenant's row fetched by id, never compared with the member's org.
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/invoices.py": """
import uuid
from fastapi import APIRouter
from sqlmodel import select
from app.api.deps import CurrentMember, SessionDep
from app.models import Invoice

router = APIRouter()

@router.get("/invoices/{invoice_id}")
def read_invoice(invoice_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> dict:
    invoice = session.exec(select(Invoice).where(Invoice.id == invoice_id)).one()
    return {"amount": invoice.amount}
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
            principal = principal_columns(route.principal, route.user_param)
            for fetch in fetches(ctx, func, principal):
                if not any(mentions(p, client) for p in fetch.predicates):
                    continue
                if owner_scoped(func, fetch.columns, route.user_param) \
                        or owner_checked(func, fetch.model, fetch.columns, route.user_param):
                    continue
                yield self._finding(ctx, fetch.node, fetch, route.function)
            for call, helper in same_file_helpers(ctx, func, client):
                if receives_user(call, route.user_param):
                    continue
                names = helper_client_names(helper)
                for fetch in fetches(ctx, helper, principal):
                    if not any(mentions(p, names) for p in fetch.predicates):
                        continue
                    if owner_scoped(helper, fetch.columns) or owner_checked(helper, fetch.model, fetch.columns, None):
                        continue
                    if owner_checked(func, fetch.model, fetch.columns, route.user_param):
                        continue
                    yield self._finding(ctx, call, fetch, route.function, via=helper.name)

    def _finding(self, ctx: FileContext, node, fetch: Fetch, handler: str, via: str | None = None) -> Finding:
        where = f" (through {via}())" if via else ""
        model, column = fetch.model.name, fetch.columns[0]
        return self.finding(
            ctx,
            node,
            f"{handler} fetches a row of {model} by a client-supplied id{where} with no filter or check on "
            f"{model}.{column}; any logged-in caller can reach other {fetch.owners} rows. Filter by it "
            "or compare it with the authenticated principal and answer 404/403",
        )

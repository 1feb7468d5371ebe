from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import Param, Route, call_name
from agent.analysis.models import OWNER_COLUMNS
from agent.analysis.rules._db import tainted_names, walk_body
from agent.analysis.rules._ownership import (
    CHECK_WORDS,
    FILTER_METHODS,
    TENANT_COLUMNS,
    manages_members,
    mentions,
    principal_columns,
    requires_admin,
)
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.analysis.rules.unscoped_object_access import DEPS, MODELS, PRINCIPAL_DEPS, PRINCIPAL_MODELS
from agent.types import Finding, Severity


class OwnerIdFromClient(Rule):
    """Owner or user id taken from the client instead of the token.

    **What it does**
    In an authenticated, non-admin route, flags
    - a request body schema with an owner field (`owner_id`, `user_id`, `created_by`,
      `author_id`, ...) when the handler does not overwrite it with the current user, and
    - a path or query parameter with such a name that scopes a query (`where(Item.owner_id ==
      user_id)`, `filter_by(user_id=user_id)`, `owner_id=user_id`) without being compared with
      the current user.

    The principal is not always a user: a field or parameter named after the principal the
    route receives (`customer_id` for `customer: CurrentCustomer`, `member_id` for
    `CurrentMember`) is its id too, and a tenant taken from the URL (`/orgs/{org_id}/invoices`:
    `tenant_id`, `org_id`, `organization_id`, `workspace_id`) that scopes a query must be
    compared with the credential's tenant (`if org_id != member.org_id: raise`, a check call
    such as `ensure_member(member, org_id)` or `authorize(member, policy(row))` on a row read
    with it, or a dependency of the route that takes the same parameter and checks it).

    **Why is this bad?**
    The caller picks whose data is read or written: create rows in someone else's name or list
    their data, although the server already knows who the caller is from the token.

    **Example**
    ```python
    class ItemCreate(SQLModel):
        title: str
        owner_id: uuid.UUID

    @router.post("/items", status_code=201)
    def create_item(item_in: ItemCreate, session: SessionDep, current_user: CurrentUser) -> ItemPublic:
        item = Item.model_validate(item_in)
    ```

    **Use instead**
    ```python
    item = Item.model_validate(item_in, update={"owner_id": current_user.id})
    ```
    and drop `owner_id` from the request schema.

    A filter or search schema (`FlowRunFilter`, `ItemSearch`, a body of `POST /items/filter`)
    only chooses which rows are read, so its owner fields are not flagged. Neither is the user id
    of a membership route (a member collection under a parent: `/teams/{team_id}/members`,
    `/workspaces/{id}/users/{user_id}`), which names the member added or removed (the parent's
    tenant id and who acts, `created_by`, are still checked), nor a route whose only caller is a service holding a machine
    credential (`_: None = Depends(gateway_token_auth)`): there is no user to take the id from.

    **Known problems**
    Admin routes (a superuser/admin dependency or an `is_superuser` guard at the top of the
    handler) that manage users by id are not flagged. A body schema imported from a package
    outside the reviewed files is not seen.
    """

    code = "FBA103"
    name = "owner-id-from-client"
    category = "client-identity"
    severity = Severity.HIGH
    title = "Owner id taken from the client"
    config_keys = ("auth-dependencies",)

    VALID = (
        {
            "app/models.py": MODELS + """
class ItemCreate(SQLModel):
    title: str
""",
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
import uuid
from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import col, delete, select
from app.api.deps import CurrentUser, SessionDep, get_current_active_superuser
from app.models import Item, ItemCreate

router = APIRouter()

@router.post("/items", status_code=201)
def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemCreate) -> Item:
    item = Item.model_validate(item_in, update={"owner_id": current_user.id})
    session.add(item)
    session.commit()
    return item

@router.delete("/users/{user_id}", dependencies=[Depends(get_current_active_superuser)], status_code=204)
def delete_user(session: SessionDep, user_id: uuid.UUID) -> None:
    session.exec(delete(Item).where(col(Item.owner_id) == user_id))
    session.commit()

@router.get("/users/{user_id}/items")
def read_user_items(session: SessionDep, current_user: CurrentUser, user_id: uuid.UUID) -> list[Item]:
    if user_id != current_user.id and not current_user.is_superuser:
        raise HTTPException(status_code=403)
    return session.exec(select(Item).where(Item.owner_id == user_id).limit(100)).all()
""",
        },
        # A schema with owner_id whose value the handler overwrites.
        {
            "app/models.py": MODELS + """
class ItemIn(SQLModel):
    title: str
    owner_id: uuid.UUID | None = None
""",
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
from fastapi import APIRouter
from app.api.deps import CurrentUser, SessionDep
from app.models import Item, ItemIn

router = APIRouter()

@router.post("/items", status_code=201)
def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemIn) -> Item:
    item_in.owner_id = current_user.id
    item = Item.model_validate(item_in)
    session.add(item)
    session.commit()
    return item
""",
        },
        # A filter schema: the owner field picks what is read, it is never written.
        {
            "app/models.py": MODELS + """
class ItemFilter(SQLModel):
    title: str | None = None
    owner_id: uuid.UUID | None = None
""",
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
from fastapi import APIRouter
from app.api.deps import CurrentUser, SessionDep
from app.models import ItemFilter
from app import crud

router = APIRouter()

@router.post("/items/filter")
def filter_items(session: SessionDep, current_user: CurrentUser, items: ItemFilter) -> list:
    return crud.read_items(session, item_filter=items, limit=100)
""",
        },
        # The tenant in the URL compared with the member's, or checked by a dependency that takes it.
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/invoices.py": """
import uuid
from fastapi import APIRouter, HTTPException
from sqlmodel import select
from app.api.deps import CurrentMember, OrgMember, SessionDep
from app.models import Invoice

router = APIRouter()

@router.get("/orgs/{org_id}/invoices")
def list_invoices(org_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> list[Invoice]:
    if org_id != member.org_id:
        raise HTTPException(status_code=403)
    return session.exec(select(Invoice).where(Invoice.org_id == org_id).limit(100)).all()

@router.get("/orgs/{org_id}/invoices/latest")
def latest_invoices(org_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> list[Invoice]:
    invoices = session.exec(select(Invoice).where(Invoice.org_id == org_id).limit(10)).all()
    authorize(member, InvoicePolicy.list(invoices))
    return invoices

@router.get("/orgs/{org_id}/invoices/oldest")
def oldest_invoices(org_id: uuid.UUID, session: SessionDep, member: OrgMember) -> list[Invoice]:
    return session.exec(select(Invoice).where(Invoice.org_id == org_id).limit(10)).all()
""",
        },
        # Membership routes: the user id names the member added or removed, not the caller;
        # and a service holding a machine credential (no user principal) reporting usage per user.
        {
            "app/models.py": MODELS + """
class Membership(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID
    user_id: uuid.UUID = Field(foreign_key="user.id")

class MemberAdd(SQLModel):
    user_id: uuid.UUID

class UsageReport(SQLModel):
    user_id: uuid.UUID
    tokens: int
""",
            "app/api/deps.py": DEPS + """
def gateway_token_auth(token: Annotated[str, Depends(oauth2)]) -> None:
    if token != "configured":
        raise HTTPException(status_code=401)
""",
            "app/api/routes/teams.py": """
import uuid
from fastapi import APIRouter, Depends
from sqlmodel import delete
from app.api.deps import CurrentUser, SessionDep, gateway_token_auth
from app.models import MemberAdd, Membership, UsageReport

router = APIRouter()

@router.post("/teams/{team_id}/members", status_code=201)
def add_member(team_id: uuid.UUID, body: MemberAdd, session: SessionDep, current_user: CurrentUser) -> None:
    session.add(Membership(team_id=team_id, user_id=body.user_id))
    session.commit()

@router.delete("/teams/{team_id}/members/{user_id}", status_code=204)
def remove_member(team_id: uuid.UUID, user_id: uuid.UUID, session: SessionDep, current_user: CurrentUser) -> None:
    session.exec(delete(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id))
    session.commit()

@router.post("/usage", status_code=201)
def report_usage(report: UsageReport, session: SessionDep, _: None = Depends(gateway_token_auth)) -> None:
    session.add(report)
""",
        },
    )
    INVALID = (
        # Look-alikes: a customer's own collection (`/customers/{customer_id}/orders`) is not a
        # membership route, a membership route still checks the tenant in its URL and takes who
        # acts (`created_by`) from the credential, and a machine-named dependency does not excuse
        # a handler that receives the user.
        {
            "app/models.py": PRINCIPAL_MODELS + """
class MemberAdd(SQLModel):
    user_id: uuid.UUID
    created_by: uuid.UUID
""",
            "app/api/deps.py": PRINCIPAL_DEPS + """
def service_token_auth(token: Annotated[str, Depends(oauth2)]) -> None:
    if token != "configured":
        raise HTTPException(status_code=401)
""",
            "app/api/routes/members.py": """
import uuid
from fastapi import APIRouter, Depends
from sqlmodel import select
from app.api.deps import CurrentCustomer, CurrentMember, SessionDep, get_org_member, service_token_auth
from app.models import Member, MemberAdd, Order, OrderCreate

router = APIRouter()

@router.post("/orgs/{org_id}/members", status_code=201, dependencies=[Depends(get_org_member)])
def add_member(org_id: uuid.UUID, body: MemberAdd, session: SessionDep, member: CurrentMember) -> Member:
    row = Member(org_id=org_id, id=body.user_id, role="member", invited_by=body.created_by)
    session.add(row)
    return row

@router.get("/orgs/{org_id}/members")
def list_members(org_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> list[Member]:
    return session.exec(select(Member).where(Member.org_id == org_id).limit(100)).all()

@router.get("/customers/{customer_id}/orders")
def list_orders(customer_id: uuid.UUID, session: SessionDep, customer: CurrentCustomer) -> list[Order]:
    return session.exec(select(Order).where(Order.customer_id == customer_id).limit(100)).all()

@router.post("/orders", status_code=201, dependencies=[Depends(service_token_auth)])
def place_order(order_in: OrderCreate, session: SessionDep, customer: CurrentCustomer) -> Order:
    order = Order.model_validate(order_in)
    session.add(order)
    return order
""",
        },
        # A tenant taken from the URL and never compared with the credential's tenant.
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

@router.get("/orgs/{org_id}/invoices")
def list_invoices(org_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> list[Invoice]:
    return session.exec(select(Invoice).where(Invoice.org_id == org_id).limit(100)).all()
""",
        },
        # The customer placing an order named by the body instead of the credential.
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/orders.py": """
from fastapi import APIRouter
from app.api.deps import CurrentCustomer, SessionDep
from app.models import Order, OrderCreate

router = APIRouter()

@router.post("/orders", status_code=201)
def place_order(order_in: OrderCreate, session: SessionDep, customer: CurrentCustomer) -> Order:
    order = Order.model_validate(order_in)
    session.add(order)
    session.commit()
    return order
""",
        },
        {
            "app/models.py": MODELS + """
class ItemCreate(SQLModel):
    title: str
    owner_id: uuid.UUID
""",
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
from fastapi import APIRouter
from app.api.deps import CurrentUser, SessionDep
from app.models import Item, ItemCreate

router = APIRouter()

@router.post("/items", status_code=201)
def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemCreate) -> Item:
    item = Item.model_validate(item_in)
    session.add(item)
    session.commit()
    return item
""",
        },
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
import uuid
from fastapi import APIRouter
from sqlmodel import select
from app.api.deps import CurrentUser, SessionDep
from app.models import Item

router = APIRouter()

@router.get("/items")
def read_items(session: SessionDep, current_user: CurrentUser, user_id: uuid.UUID) -> list[Item]:
    return session.exec(select(Item).where(Item.owner_id == user_id).limit(100)).all()
""",
        },
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if not route.auth or route.admin or requires_admin(func) or _machine_caller(route):
                continue
            principal = principal_columns(route.principal, route.user_param)
            links = {*OWNER_COLUMNS, *TENANT_COLUMNS, *principal}
            if manages_members(route):  # the user id names the member added or removed, not the caller
                links -= _member_ids(principal)
            for param in route.params:
                if param.source == "body":
                    yield from self._body_owner(ctx, route, func, param, principal)
                elif param.source in {"path", "query"} and param.name in links:
                    if _scopes_query(func, param.name, links) and not _compared_with_user(func, param.name, route.user_param) \
                            and not _checked_by_dependency(ctx, route, param.name):
                        yield self.finding(
                            ctx,
                            func,
                            f"{route.function} scopes data by the client-supplied {param.source} parameter "
                            f"'{param.name}' without comparing it with the authenticated principal's; "
                            "take it from the credential or check it (403/404) first",
                            line=param.line or func.lineno,
                        )

    def _body_owner(
        self, ctx: FileContext, route: Route, func: FunctionNode, param: Param, principal: tuple[str, ...]
    ) -> Iterator[Finding]:
        if _searches(route):
            return
        targets = _member_ids(principal) if manages_members(route) else set()
        claims = [f for f in (*OWNER_COLUMNS, *principal) if f not in targets]
        for schema in ctx.index.models_in(ctx.path, param.annotation):
            if schema.table or FILTER_SCHEMA.search(schema.name):
                continue  # a table model as body is FBA222's (mass assignment) concern; a filter is read only
            for field in (f for f in claims if f in schema.field_names):
                if not _overwritten(func, field, route.user_param):
                    read = _first_read(func, param.name, field)
                    yield self.finding(
                        ctx,
                        read or func,
                        f"{route.function} takes '{field}' from the request body ({schema.name}); "
                        "set it from the authenticated user and remove it from the schema",
                        line=None if read else (param.line or func.lineno),
                    )


# Schemas and endpoints that choose which rows are read: their owner fields are criteria, not identity.
FILTER_SCHEMA = re.compile(r"(?:Filter|Criteria|Search|Query|Sort)s?$")
SEARCH_SEGMENTS = frozenset({"filter", "search", "query", "count", "find"})


# Dependencies that authenticate a service rather than a person (`gateway_token_auth`,
# `verify_service_key`, `internal_api_key`): a shared machine credential.
MACHINE_CREDENTIAL = re.compile(r"(gateway|service|machine|worker|internal|cluster|node)_?(token|key|secret|auth|credential)",
                                re.IGNORECASE)


def _member_ids(principal: tuple[str, ...]) -> set[str]:
    """The ids that name a member in a membership route; `created_by` or `author_id` still name the caller."""
    return {"user_id", "member_id", *principal}


def _machine_caller(route: Route) -> bool:
    """Is the only caller a service holding a machine credential? The handler receives no principal
    (none, or one typed `None`) and every authenticating dependency is a machine credential check:
    there is no user to set the id from."""
    receives = next((p for p in route.params if p.name == route.user_param), None)
    if receives is not None and receives.annotation not in {None, "None"}:
        return False
    return bool(route.auth_chain) and all(MACHINE_CREDENTIAL.search(via.dependency) for via in route.auth_chain)


def _searches(route: Route) -> bool:
    """A search endpoint (`POST /flow_runs/filter`): its body is the query."""
    last = route.path.rstrip("/").rsplit("/", 1)[-1].lower()
    return last in SEARCH_SEGMENTS


def _first_read(func: ast.AST, param: str, field: str) -> ast.Attribute | None:
    """The first `param.field` the handler reads (where the client's value enters), if any."""
    reads = [n for n in walk_body(func) if isinstance(n, ast.Attribute) and n.attr == field
             and isinstance(n.value, ast.Name) and n.value.id == param and isinstance(n.ctx, ast.Load)]
    return min(reads, key=lambda n: (n.lineno, n.col_offset), default=None)


def _scopes_query(func: ast.AST, name: str, links: set[str]) -> bool:
    """Is `name` used in a where/filter predicate or passed as a link column keyword?"""
    for node in walk_body(func):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in FILTER_METHODS and mentions(node, {name}):
            return True
        if any(kw.arg in links and mentions(kw.value, {name}) for kw in node.keywords):
            return True
    return False


def _compared_with_user(func: ast.AST, name: str, user_param: str | None) -> bool:
    """`if org_id != user.org_id: raise`, `ensure_member(user, org_id)`, `authorize(user,
    Policy.delete(row))` on a row read with it: the handler checks the client's value against
    the principal."""
    if not user_param:
        return False
    # The value or a row read with it: `authorize(user, Policy.delete(workspace_user))`.
    derived = {name} | tainted_names(func, lambda n: isinstance(n, ast.Name) and n.id == name)
    for node in walk_body(func):
        if isinstance(node, ast.Compare) and mentions(node, {name}) and mentions(node, {user_param}):
            return True
        if isinstance(node, ast.Call) and mentions(node, derived) and mentions(node, {user_param}):
            callee = (call_name(node) or "").rsplit(".", 1)[-1].lower()
            if any(word in callee for word in CHECK_WORDS):
                return True
    return False


def _checked_by_dependency(ctx: FileContext, route: Route, name: str) -> bool:
    """A dependency of the route takes the same path or query parameter (`Depends(get_org_member)`
    reading `org_id`): FastAPI passes it the client's value, and checking it is its job."""
    deps = [*((ctx.path, p.dependency) for p in route.params if p.dependency),
            *((ctx.path, d) for d in route.dependencies), *((via.file, via.dependency) for via in route.auth_chain)]
    for path, dependency in deps:
        symbol = ctx.index.symbols.get(ctx.index.resolve(path, dependency))
        if symbol is not None and symbol.kind == "alias":  # `OrgMember = Annotated[Member, Depends(get_org_member)]`
            symbol = ctx.index.symbols.get(ctx.index.resolve(symbol.path, str(symbol.value)))
        if symbol is not None and symbol.kind == "function" and any(p.name == name for p in symbol.value.params):
            return True
    return False



def _overwritten(func: ast.AST, field: str, user_param: str | None) -> bool:
    """Does the handler set `field` from the current user (`update={"owner_id": user.id}`,
    `owner_id=user.id`, `row.owner_id = user.id`)?"""
    user = {user_param} if user_param else set()
    for node in walk_body(func):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == field and (not user or mentions(value, user)):
                    return True
        elif isinstance(node, ast.keyword) and node.arg == field and (not user or mentions(node.value, user)):
            return True
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == field for t in node.targets):
            if not user or mentions(node.value, user):
                return True
    return False

from __future__ import annotations

from typing import Iterator

from agent.analysis.rules._ownership import (
    client_names,
    fetches,
    is_listing,
    mentions,
    owner_scoped,
    principal_columns,
    requires_admin,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.rules.unscoped_object_access import DEPS, MODELS, PRINCIPAL_DEPS, PRINCIPAL_MODELS
from agent.types import Finding, Severity


class UnscopedListQuery(Rule):
    """List endpoint returning every user's rows.

    **What it does**
    In an authenticated, non-admin route, flags a query that lists rows of a user-owned table
    model (`select(Item).offset(skip).limit(limit)`, `db.query(Item).all()`) when no
    `where`/`filter` in the handler names the table's owner column. Owned tables and the
    principals they belong to (a customer, an org's member) are as for FBA102.

    **Why is this bad?**
    Every logged-in user sees everybody's rows: a data leak across tenants that no id
    guessing is even needed for.

    **Example**
    ```python
    @router.get("/items/")
    def read_items(session: SessionDep, current_user: CurrentUser) -> list[ItemPublic]:
        return session.exec(select(Item).limit(100)).all()
    ```

    **Use instead**
    ```python
    statement = select(Item).where(Item.owner_id == current_user.id).limit(100)
    return session.exec(statement).all()
    ```

    **Known problems**
    A handler that lists all rows for superusers and scoped rows for others (the
    full-stack-fastapi-template idiom) passes because one of its queries is scoped, whichever
    branch is taken. Ownership through a parent table is not followed. Shared catalogue
    tables without an owner column are never flagged.
    """

    code = "FBA104"
    name = "unscoped-list-query"
    category = "ownership"
    severity = Severity.HIGH
    title = "List query not filtered by owner"
    config_keys = ("auth-dependencies",)

    VALID = (
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
from fastapi import APIRouter, Depends, Query
from sqlmodel import func, select
from app.api.deps import CurrentUser, SessionDep, get_current_active_superuser
from app.models import Item

router = APIRouter(prefix="/items")

@router.get("/")
def read_items(session: SessionDep, current_user: CurrentUser, skip: int = 0, limit: int = Query(100, le=100)) -> list[Item]:
    if current_user.is_superuser:
        statement = select(Item)
    else:
        statement = select(Item).where(Item.owner_id == current_user.id)
    return session.exec(statement.offset(skip).limit(limit)).all()

@router.get("/all", dependencies=[Depends(get_current_active_superuser)])
def read_all_items(session: SessionDep, limit: int = Query(100, le=100)) -> list[Item]:
    return session.exec(select(Item).limit(limit)).all()
""",
        },
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/invoices.py": """
from fastapi import APIRouter
from sqlmodel import select
from app.api.deps import CurrentMember, SessionDep
from app.models import Invoice, Project

router = APIRouter()

@router.get("/invoices")
def list_invoices(session: SessionDep, member: CurrentMember) -> list[Invoice]:
    return session.exec(select(Invoice).where(Invoice.org_id == member.org_id).limit(100)).all()

@router.get("/projects/invoices")
def list_project_invoices(session: SessionDep, member: CurrentMember) -> list[Invoice]:
    statement = select(Invoice).join(Project).where(Project.org_id == member.org_id)
    return session.exec(statement.limit(100)).all()
""",
        },
    )
    INVALID = (
        # A tenant's rows listed for any member, of any org.
        {
            "app/models.py": PRINCIPAL_MODELS,
            "app/api/deps.py": PRINCIPAL_DEPS,
            "app/api/routes/invoices.py": """
from fastapi import APIRouter
from sqlmodel import select
from app.api.deps import CurrentMember, SessionDep
from app.models import Invoice

router = APIRouter()

@router.get("/invoices")
def list_invoices(session: SessionDep, member: CurrentMember) -> list[Invoice]:
    return session.exec(select(Invoice).limit(100)).all()
""",
        },
        {
            "app/models.py": MODELS,
            "app/api/deps.py": DEPS,
            "app/api/routes/items.py": """
from fastapi import APIRouter, Query
from sqlmodel import select
from app.api.deps import CurrentUser, SessionDep
from app.models import Item

router = APIRouter(prefix="/items")

@router.get("/")
def read_items(session: SessionDep, current_user: CurrentUser, limit: int = Query(100, le=100)) -> list[Item]:
    return session.exec(select(Item).limit(limit)).all()
""",
        },
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if not route.auth or route.admin or requires_admin(func):
                continue
            client = client_names(route)
            for fetch in fetches(ctx, func, principal_columns(route.principal, route.user_param)):
                if any(mentions(p, client & set(route.path_params())) for p in fetch.predicates):
                    continue  # a lookup by id: FBA102's business
                if not is_listing(ctx, fetch, func) or owner_scoped(func, fetch.columns, route.user_param):
                    continue
                model, column = fetch.model.name, fetch.columns[0]
                yield self.finding(
                    ctx,
                    fetch.node,
                    f"{route.function} lists {model} rows without filtering by {column}; every caller "
                    f"sees all {fetch.owners} rows. Add .where({model}.{column} == <the authenticated principal's id>)",
                )

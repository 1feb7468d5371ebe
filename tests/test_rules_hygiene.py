"""Focused cases for the API hygiene rules (pagination, validation, transaction, N+1, rate-limit,
blocking-async): look-alikes of real idioms that must stay clean, and the variants that must not."""

from __future__ import annotations

import textwrap

import pytest

from agent.analysis.runner import ReviewOptions, review_sources


def findings(code: str, source, path: str = "app/main.py"):
    sources = {path: textwrap.dedent(source)} if isinstance(source, str) else {
        p: textwrap.dedent(t) for p, t in source.items()
    }
    result = review_sources(sources, ReviewOptions(select=(code,)))
    return [f for f in result.findings if f.rule == code]


ROUTER = "from fastapi import APIRouter, Depends, Query, Request\nrouter = APIRouter()\n"

# --- FBA210 unbounded-list ------------------------------------------------------------------


def test_unbounded_list_reports_the_collection_call_line():
    found = findings("FBA210", ROUTER + textwrap.dedent("""
        @router.get("/items", response_model=list[ItemPublic])
        def read_items(session: SessionDep):
            statement = select(Item)
            items = session.exec(statement).all()
            return items
        """))
    assert [(f.line, f.category) for f in found] == [(7, "pagination")]


@pytest.mark.parametrize("handler", [
    # full-stack-fastapi-template: the limit is applied to the statement built in a branch
    """
    @router.get("/items/")
    def read_items(session: SessionDep, skip: int = 0, limit: int = Query(100, le=100)):
        query = select(Item)
        items = session.exec(query.offset(skip).limit(limit)).all()
        return ItemsPublic(data=items, count=0)
    """,
    # single resource: a nested list is bounded by its parent
    """
    @router.get("/orders/{order_id}")
    def read_order(order_id: int, session: SessionDep):
        lines = session.exec(select(OrderLine).where(OrderLine.order_id == order_id)).all()
        return {"id": order_id, "lines": lines}
    """,
    # a query model page type
    """
    @router.get("/items/")
    async def read_items(db: AsyncSession = Depends(get_db)) -> LimitOffsetPage[ItemOut]:
        return await apaginate(db, select(Item))
    """,
    # slicing the query bounds it
    """
    @router.get("/top")
    def top(db: Session = Depends(get_db)):
        return db.query(Score).order_by(Score.points.desc())[:10]
    """,
])
def test_unbounded_list_negatives(handler):
    assert findings("FBA210", ROUTER + textwrap.dedent(handler)) == []


def test_unbounded_list_databases_fetch_all():
    found = findings("FBA210", ROUTER + textwrap.dedent("""
        @router.get("/notes/")
        async def read_notes():
            return await database.fetch_all(notes.select())
        """))
    assert len(found) == 1


# --- FBA211 limit-without-bound --------------------------------------------------------------


def test_limit_without_bound_in_dependency_function_used_elsewhere():
    found = findings("FBA211", {
        "app/deps.py": """
            from fastapi import Query
            def pagination(skip: int = 0, per_page: int = Query(20, ge=1)):
                return {"skip": skip, "per_page": per_page}
        """,
        "app/routes.py": ROUTER + textwrap.dedent("""
            from app.deps import pagination
            @router.get("/items")
            def read_items(page: dict = Depends(pagination)):
                return []
        """),
    })
    assert [(f.path, f.line) for f in found] == [("app/deps.py", 3)]


def test_limit_lower_bound_check_is_not_a_cap():
    found = findings("FBA211", ROUTER + textwrap.dedent("""
        @router.get("/items")
        def read_items(limit: int = 50):
            if limit < 1:
                raise HTTPException(400)
            return []
        """))
    assert len(found) == 1


def test_limit_with_annotated_types_bounds_is_clean():
    assert findings("FBA211", ROUTER + textwrap.dedent("""
        from annotated_types import Ge, Le
        @router.get("/items")
        def read_items(limit: Annotated[int, Ge(1), Le(100)] = 50, size: Annotated[int, Query(gt=0, lt=500)] = 10):
            return []
        """)) == []


# --- FBA220 / FBA221 / FBA222 validation -----------------------------------------------------


def test_untyped_body_handler_with_two_routes_is_reported_once():
    found = findings("FBA220", ROUTER + textwrap.dedent("""
        @router.post("/items")
        @router.post("/items/")
        def create_item(item: dict):
            return item
        """))
    assert len(found) == 1


def test_untyped_body_optional_dict_and_any_list():
    found = findings("FBA220", ROUTER + textwrap.dedent("""
        from typing import Any, Optional
        @router.post("/a")
        def a(data: Optional[dict] = None):
            return data
        @router.post("/b")
        def b(rows: list[Any]):
            return rows
        @router.post("/c")
        def c(item: Union[ItemCreate, dict]):
            return item
        """))
    assert sorted(f.line for f in found) == [6, 9]


def test_raw_request_body_catch_all_proxy_is_skipped():
    assert findings("FBA221", ROUTER + textwrap.dedent("""
        @router.api_route("/{path:path}", methods=["GET", "POST"])
        async def proxy(path: str, request: Request):
            body = await request.body()
            return await forward(path, body)
        """)) == []


def test_raw_request_body_validated_through_json_loads_variable():
    assert findings("FBA221", ROUTER + textwrap.dedent("""
        import json
        @router.post("/events", status_code=201)
        async def create_event(request: Request):
            raw = json.loads(await request.body())
            return EventIn.model_validate(raw)
        """)) == []


def test_mass_assignment_uses_index_to_tell_tables_from_schemas():
    app = {
        "app/models.py": """
            from sqlmodel import Field, SQLModel
            class Account(SQLModel, table=True):
                id: int | None = Field(default=None, primary_key=True)
                balance: int = 0
            class Settings(SQLModel):
                theme: str = "light"
        """,
        "app/routes.py": ROUTER + textwrap.dedent("""
            from app.models import Account, Settings
            @router.post("/accounts", status_code=201)
            def create_account(body: dict, session: SessionDep):
                account = Account(**body)
                session.add(account)
                return account
            @router.put("/settings")
            def save_settings(body: dict):
                return Settings(**body)
        """),
    }
    found = findings("FBA222", app)
    assert [(f.path, f.line, f.severity.value) for f in found] == [("app/routes.py", 7, "high")]


def test_mass_assignment_form_data_setattr_loop():
    found = findings("FBA222", ROUTER + textwrap.dedent("""
        @router.post("/profile")
        async def save_profile(request: Request, current_user: CurrentUser, session: SessionDep):
            form = await request.form()
            for field, value in dict(form).items():
                setattr(current_user, field, value)
            session.commit()
            return current_user
        """))
    assert len(found) == 1


def test_mass_assignment_picked_fields_are_not_wholesale():
    assert findings("FBA222", ROUTER + textwrap.dedent("""
        @router.post("/items", status_code=201)
        async def create_item(request: Request, session: SessionDep):
            data = await request.json()
            title = data["title"]
            item = Item(title=title)
            session.add(item)
            return item
        """)) == []


# --- FBA301 non-atomic-writes ----------------------------------------------------------------


def test_non_atomic_points_at_second_commit_and_names_the_first():
    found = findings("FBA301", """
        def register(session, user, profile):
            session.add(user)
            session.commit()
            profile.user_id = user.id
            session.add(profile)
            session.commit()
        """)
    assert [f.line for f in found] == [7]
    assert "line 4" in found[0].message


@pytest.mark.parametrize("source", [
    # two separate sessions, each with one commit
    """
    def sync_all(engine, a, b):
        with Session(engine) as session:
            session.add(a)
            session.commit()
        with Session(engine) as session:
            session.add(b)
            session.commit()
    """,
    # commit, then only reads and a refresh
    """
    async def create(session, item):
        session.add(item)
        await session.commit()
        await session.refresh(item)
        audit = await session.get(Audit, 1)
        return item, audit
    """,
    # alternative branches
    """
    def save(session, obj, publish):
        if publish:
            obj.published = True
            session.commit()
        else:
            session.add(obj)
            session.commit()
    """,
    # nested transaction with begin_nested
    """
    def transfer(session, a, b):
        with session.begin_nested():
            a.balance -= 1
        b.balance += 1
        session.commit()
        b.note = "done"
        session.commit()
    """,
])
def test_non_atomic_negatives(source):
    assert findings("FBA301", source) == []


def test_non_atomic_reads_identifiers_as_python_does():
    # Python normalises identifiers (NFKC): `ｃommit` is `commit`, so the rule's text prefilter must be too.
    found = findings("FBA301", """
        def place_order(session, order, lines):
            session.add(order)
            session.ｃommit()
            for line in lines:
                session.add(line)
            session.ｃommit()
        """)
    assert [f.line for f in found] == [7]


def test_non_atomic_skips_alembic_migrations():
    assert findings("FBA301", """
        from alembic import op
        def upgrade():
            conn = op.get_bind()
            for row in rows:
                conn.execute(update(t).values(x=1))
                conn.commit()
        """, path="migrations/versions/001_x.py") == []


# --- FBA302 query-in-loop --------------------------------------------------------------------


def test_query_in_loop_reports_each_inner_query_once():
    found = findings("FBA302", """
        def report(session):
            users = session.exec(select(User)).all()
            for user in users:
                orders = session.exec(select(Order).where(Order.user_id == user.id)).all()
                for order in orders:
                    session.get(Product, order.product_id)
        """)
    assert sorted(f.line for f in found) == [5, 7]


def test_query_in_loop_ignores_dict_get_and_writes():
    assert findings("FBA302", """
        def touch(session, request):
            rows = session.exec(select(Row)).all()
            for row in rows:
                request.session.get("x")
                session.execute(update(Row).where(Row.id == row.id).values(seen=True))
                cache.get(row.id)
        """) == []


# --- FBA407 auth-endpoint-without-rate-limit -------------------------------------------------


def test_rate_limit_middleware_in_another_module_covers_the_project():
    app = {
        "app/middleware.py": "class RateLimitMiddleware:\n    pass\n",
        "app/main.py": "from fastapi import FastAPI\nfrom app.middleware import RateLimitMiddleware\n"
                       "app = FastAPI()\napp.add_middleware(RateLimitMiddleware)\n",
        "app/auth.py": ROUTER + "@router.post('/token')\ndef token(form: OAuth2PasswordRequestForm = Depends()):\n    return {}\n",
    }
    assert findings("FBA407", app) == []
    del app["app/main.py"]
    assert len(findings("FBA407", app)) == 1


def test_rate_limit_handler_counting_attempts_and_webhook_tokens():
    assert findings("FBA407", ROUTER + textwrap.dedent("""
        @router.post("/login")
        async def login(form: LoginForm):
            await check_login_attempts(form.username)
            return {}

        @router.post("/webhooks/{hook_id}/{token}")
        async def incoming(hook_id: str, token: str):
            return {}
        """)) == []


def test_rate_limit_otp_verify_without_limit_is_found():
    found = findings("FBA407", ROUTER + textwrap.dedent("""
        @router.post("/2fa/verify")
        async def verify_code(body: OtpIn):
            return {}
        """))
    assert [f.category for f in found] == ["rate-limit"]


# --- FBA501 blocking-call-in-async -----------------------------------------------------------


def test_blocking_resolves_from_imports():
    found = findings("FBA501", """
        from time import sleep
        from subprocess import check_output as run_cmd
        import urllib.request

        async def job():
            sleep(1)
            run_cmd(["ls"])
            urllib.request.urlopen("https://example.com")
        """)
    assert sorted(f.line for f in found) == [7, 8, 9]


def test_blocking_ignores_unimported_lookalikes_and_sync_functions():
    assert findings("FBA501", """
        import time

        async def handler(requests, session):
            requests.get("x")           # a parameter named like the library
            await session.execute(q)
            async with session.begin():
                pass

        def sync_handler(session):
            time.sleep(1)
            return session.exec(q).all()
        """) == []


def test_blocking_sync_session_from_with_block_in_async_def():
    found = findings("FBA501", """
        from sqlmodel import Session

        async def count_items(engine):
            with Session(engine) as session:
                return session.exec(select(func.count()).select_from(Item)).one()
        """)
    assert len(found) == 1 and found[0].category == "blocking-async"

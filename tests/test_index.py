"""The project index: auth resolution across files, include chains, full paths, public routes,
models and owner columns, and `fingerprint_for` changing exactly when cross-file facts change."""

from __future__ import annotations

import ast
import pickle
import textwrap
from pathlib import Path

from agent.analysis.facts import extract_facts, is_credential_name, module_name
from agent.analysis.index import ProjectIndex

APP = Path(__file__).parent / "fixtures" / "clean_app"


def build(sources: dict[str, str], root: str = "", **options) -> ProjectIndex:
    facts = []
    for path, text in sources.items():
        module = module_name(path[len(root):] if root and path.startswith(root) else path)
        facts.append(extract_facts(ast.parse(textwrap.dedent(text)), path, module))
    return ProjectIndex.build(facts, **options)


def clean_app() -> dict[str, str]:
    return {p.relative_to(APP).as_posix(): p.read_text() for p in sorted(APP.rglob("*.py"))}


def route(index: ProjectIndex, function: str):
    return next(r for r in index.routes if r.function == function)


DEPS = """
from typing import Annotated
import jwt
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")
TokenDep = Annotated[str, Depends(reusable_oauth2)]

def get_db():
    yield None

SessionDep = Annotated[object, Depends(get_db)]

def get_current_user(token: TokenDep):
    return token

CurrentUser = Annotated[object, Depends(get_current_user)]

def get_current_active_superuser(current_user: CurrentUser):
    if not current_user.is_superuser:
        raise HTTPException(status_code=403)
    return current_user
"""


def test_clean_app_auth_levels_full_paths_and_public_routes():
    index = build(clean_app())
    read_item = route(index, "read_item")
    assert (read_item.auth, read_item.auth_via, read_item.full_path) == ("handler", "CurrentUser", "/api/v1/items/{id}")
    assert read_item.user_param == "current_user" and not read_item.admin
    tags = route(index, "read_tags")
    assert (tags.auth, tags.auth_via, tags.full_path) == ("include", "get_current_active_user", "/api/v1/tags/")
    assert route(index, "read_users").admin
    for public in ("login_access_token", "recover_password", "reset_password", "register_user", "health_check"):
        assert route(index, public).public and route(index, public).auth is None, public
    assert not route(index, "read_item").public


def test_alias_params_become_dependencies_not_bodies():
    index = build(clean_app())
    params = {p.name: p for p in route(index, "create_item").params}
    assert (params["session"].source, params["session"].dependency) == ("depends", "SessionDep")
    assert (params["current_user"].source, params["current_user"].dependency) == ("depends", "CurrentUser")
    assert params["item_in"].source == "body"
    assert index.is_auth_dependency("app/api/routes/items.py", "CurrentUser")
    assert not index.is_auth_dependency("app/api/routes/items.py", "SessionDep")


def test_relative_imports_router_level_and_app_level_auth():
    index = build({
        "app/__init__.py": "",
        "app/api/__init__.py": "from .deps import CurrentUser\n",
        "app/api/deps.py": DEPS,
        "app/api/routes/notes.py": """
            from fastapi import APIRouter, Depends
            from ..deps import get_current_user
            router = APIRouter(prefix="/notes", dependencies=[Depends(get_current_user)])

            @router.get("/")
            def list_notes(): ...
            """,
        "app/api/routes/me.py": """
            from fastapi import APIRouter
            from app.api import CurrentUser
            router = APIRouter()

            @router.get("/me")
            def me(user: CurrentUser): ...
            """,
        "app/internal.py": """
            from fastapi import Depends, FastAPI
            from app.api.deps import get_current_active_superuser
            internal = FastAPI(dependencies=[Depends(get_current_active_superuser)])

            @internal.get("/jobs")
            def jobs(): ...
            """,
    })
    assert (route(index, "list_notes").auth, route(index, "list_notes").full_path) == ("router", "/notes/")
    assert route(index, "me").auth == "handler"  # CurrentUser re-exported by app/api/__init__.py
    jobs = route(index, "jobs")
    assert (jobs.auth, jobs.admin) == ("app", True)


def test_absolute_imports_rooted_above_the_review_root_match_by_suffix():
    index = build({
        "backend/app/api/deps.py": DEPS,
        "backend/app/api/routes/items.py": """
            from fastapi import APIRouter
            from app.api.deps import CurrentUser
            router = APIRouter(prefix="/items")

            @router.get("/")
            def read_items(current_user: CurrentUser): ...
            """,
        "backend/app/main.py": """
            from fastapi import FastAPI
            from app.api.routes import items
            API_PREFIX = "/api"
            app = FastAPI()
            app.include_router(items.router, prefix=API_PREFIX)
            """,
    })
    read_items = route(index, "read_items")
    assert read_items.auth == "handler"
    assert read_items.full_path == "/api/items/"


def test_a_router_mounted_twice_needs_auth_on_every_mount():
    sources = {
        "app/deps.py": DEPS,
        "app/reports.py": """
            from fastapi import APIRouter
            router = APIRouter(prefix="/reports")

            @router.get("/")
            def read_reports(): ...
            """,
        "app/main.py": """
            from fastapi import Depends, FastAPI
            from app import reports
            from app.deps import get_current_user
            app = FastAPI()
            app.include_router(reports.router, prefix="/v1", dependencies=[Depends(get_current_user)])
            app.include_router(reports.router, prefix="/v2", dependencies=[Depends(get_current_user)])
            """,
    }
    assert route(build(sources), "read_reports").auth == "include"
    sources["app/main.py"] = sources["app/main.py"].replace(
        'prefix="/v2", dependencies=[Depends(get_current_user)]', 'prefix="/v2"')
    assert route(build(sources), "read_reports").auth is None


def test_auth_evidence_security_fastapi_users_and_class_checkers():
    index = build({
        "app/auth.py": """
            from fastapi import HTTPException, Security
            from fastapi.security import APIKeyHeader
            from app.users import fastapi_users

            current_active_user = fastapi_users.current_user(active=True)
            api_key = APIKeyHeader(name="X-Key")

            class KeyChecker:
                def __call__(self, key: str = Security(api_key)):
                    return key

            def decode_only(token: str):
                import jwt
                return jwt.decode(token, "k", algorithms=["HS256"])

            def not_auth(limit: int = 10):
                return limit
            """,
    })
    for name in ("current_active_user", "api_key", "KeyChecker", "decode_only"):
        assert index.is_auth_dependency("app/auth.py", name), name
    assert not index.is_auth_dependency("app/auth.py", "not_auth")


def test_config_auth_dependencies_and_public_route_patterns():
    sources = {
        "app/main.py": """
            from fastapi import Depends, FastAPI
            from app.gateway import gateway_user
            app = FastAPI()

            @app.get("/orders")
            def orders(user=Depends(gateway_user)): ...

            @app.get("/catalog/{sku}")
            def catalog(sku: str): ...
            """,
    }
    plain = build(sources)
    assert route(plain, "orders").auth is None and not route(plain, "orders").app_has_auth
    configured = build(sources, auth_dependencies=["gateway_user"], public_routes=["/catalog/*"])
    assert route(configured, "orders").auth == "handler" and route(configured, "catalog").app_has_auth
    assert route(configured, "catalog").public


def test_table_models_owner_columns_and_sensitive_fields():
    index = build({
        "app/models.py": """
            import uuid
            from sqlalchemy import Column, ForeignKey, Integer
            from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
            from sqlmodel import Field, SQLModel

            class UserBase(SQLModel):
                email: str

            class User(UserBase, table=True):
                id: uuid.UUID = Field(primary_key=True)
                hashed_password: str

            class UserPublic(UserBase):
                id: uuid.UUID

            class ItemBase(SQLModel):
                title: str

            class Item(ItemBase, table=True):
                id: uuid.UUID = Field(primary_key=True)
                owner_id: uuid.UUID = Field(foreign_key="user.id")

            class Base(DeclarativeBase):
                pass

            class Comment(Base):
                __tablename__ = "comments"
                id: Mapped[int] = mapped_column(primary_key=True)
                author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

            class Membership(Base):
                __tablename__ = "memberships"
                id = Column(Integer, primary_key=True)
                user_id = Column(Integer, ForeignKey("projects.id"))
            """,
    })
    path = "app/models.py"
    assert index.owned_table(path, "Item").owner_column == "owner_id"
    assert index.model(path, "Item").field_names == ("title", "id", "owner_id")
    assert index.owned_table(path, "Comment").owner_column == "author_id"
    assert index.owned_table(path, "Membership") is None  # user_id points at a non-user table
    assert index.model(path, "User").table and index.model(path, "User").sensitive_fields == ("hashed_password",)
    assert index.model(path, "UserPublic").schema and not index.model(path, "UserPublic").sensitive_fields
    assert index.model(path, "Base") is None
    assert [m.name for m in index.models_in(path, "list[UserPublic] | None")] == ["UserPublic"]


def test_fingerprint_changes_with_the_auth_status_of_imported_dependencies():
    sources = clean_app()
    base = build(sources)
    items = "app/api/routes/items.py"
    before = base.fingerprint_for(items)
    assert build(sources).fingerprint_for(items) == before

    # An unrelated edit in deps.py (a new helper, shifted lines) does not change it.
    unrelated = dict(sources)
    unrelated["app/api/deps.py"] = "import os\n\n\n" + sources["app/api/deps.py"] + "\n\ndef helper():\n    return 1\n"
    assert build(unrelated).fingerprint_for(items) == before

    # get_current_user no longer authenticates: items.py's findings may change.
    broken = dict(sources)
    broken["app/api/deps.py"] = (
        sources["app/api/deps.py"]
        .replace("def get_current_user(session: SessionDep, token: TokenDep)", "def get_current_user(session: SessionDep, token: str)")
        .replace("payload = jwt.decode(token, settings.SECRET_KEY, algorithms=[security.ALGORITHM])", "payload = {}")
        .replace("status.HTTP_401_UNAUTHORIZED", "400")
        .replace("status.HTTP_403_FORBIDDEN", "400")
    )
    assert build(broken).fingerprint_for(items) != before


def test_fingerprint_follows_include_chains_and_models_only_where_used():
    sources = clean_app()
    base = build(sources)
    dropped = dict(sources)
    dropped["app/api/main.py"] = sources["app/api/main.py"].replace(
        "tags.router, dependencies=[Depends(get_current_active_user)]", "tags.router")
    changed = build(dropped)
    assert changed.fingerprint_for("app/api/routes/tags.py") != base.fingerprint_for("app/api/routes/tags.py")
    assert changed.fingerprint_for("app/api/routes/items.py") == base.fingerprint_for("app/api/routes/items.py")

    unowned = dict(sources)
    unowned["app/models.py"] = sources["app/models.py"].replace("    owner_id: uuid.UUID = Field(", "    holder_id: uuid.UUID = Field(")
    changed = build(unowned)
    assert changed.fingerprint_for("app/api/routes/items.py") != base.fingerprint_for("app/api/routes/items.py")
    assert changed.fingerprint_for("app/api/routes/login.py") == base.fingerprint_for("app/api/routes/login.py")


def test_facts_and_index_are_picklable():
    index = build(clean_app())
    copy = pickle.loads(pickle.dumps(index))
    assert copy.routes == index.routes
    assert copy.fingerprint_for("app/api/routes/items.py") == index.fingerprint_for("app/api/routes/items.py")


def test_credential_checks_that_reject_with_a_4xx_authenticate():
    index = build({
        "app/deps.py": """
            from typing import Annotated
            from fastapi import Cookie, Header, HTTPException, Query

            async def get_token_header(x_token: Annotated[str, Header()]):
                if x_token != "fake-super-secret-token":
                    raise HTTPException(status_code=400, detail="X-Token header invalid")

            async def get_query_token(token: str):
                if token != "jessica":
                    raise HTTPException(status_code=400, detail="No Jessica token provided")

            def session_user(session_id: str | None = Cookie(None)):
                user = SESSIONS.get(session_id)
                if user is None:
                    raise HTTPException(status_code=419)
                return user

            def verified_key(apiKey: str = Header()):
                invalid = HTTPException(status_code=400, detail="Bad key")
                try:
                    return KEYS.verify(apiKey)
                except KeyError:
                    raise invalid

            def pagination(page_token: str | None = None, limit: int = 50):
                return page_token, limit

            def checked_page(page_token: str | None = Query(None)):
                if page_token and not page_token.isalnum():
                    raise HTTPException(status_code=400, detail="Bad page token")
                return page_token

            def valid_region(region: str):
                if region not in {"eu", "us"}:
                    raise HTTPException(status_code=400, detail="Unknown region")

            def keyword_filter(keyword: str, token: str | None = None):
                if len(keyword) < 3:
                    raise HTTPException(status_code=400, detail="Too short")

            def known_setting(key: str):
                if key not in SETTINGS:
                    raise HTTPException(status_code=404)
            """,
    })
    for name in ("get_token_header", "get_query_token", "session_user", "verified_key"):
        assert index.is_auth_dependency("app/deps.py", name), name
    for name in ("pagination", "checked_page", "valid_region", "keyword_filter", "known_setting"):
        assert not index.is_auth_dependency("app/deps.py", name), name


def test_is_credential_name():
    for name in ("x_token", "x_api_key", "token", "apiKey", "authorization", "session_id", "accesstoken", "password"):
        assert is_credential_name(name), name
    for name in ("page_token", "next_token", "sort_key", "keyword", "author", "new_password", "limit"):
        assert not is_credential_name(name), name


TUTORIAL_WITH_AUTH = """
    from fastapi import Depends, FastAPI
    from fastapi.security import OAuth2PasswordBearer
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
    app = FastAPI()

    @app.get("/users/me")
    def read_me(token: str = Depends(oauth2_scheme)): ...
    """
TUTORIAL_PUBLIC = """
    from fastapi import FastAPI
    app = FastAPI()

    @app.get("/heroes/")
    def read_heroes(): ...
    """


def test_applications_are_fastapi_objects_and_top_packages_of_unmounted_routers():
    index = build({
        "security/tutorial.py": TUTORIAL_WITH_AUTH,
        "sql/tutorial.py": TUTORIAL_PUBLIC,
        "svc/routes/orders.py": """
            from fastapi import APIRouter
            router = APIRouter(prefix="/orders")
            inner = APIRouter()
            router.include_router(inner)

            @inner.get("/")
            def list_orders(): ...
            """,
        "svc/main.py": """
            from fastapi import FastAPI
            from svc.routes import orders
            app = FastAPI()
            admin_app = FastAPI()
            app.include_router(orders.router)
            admin_app.include_router(orders.router, prefix="/admin")
            """,
        "tools/routes.py": """
            from fastapi import APIRouter
            router = APIRouter()

            @router.get("/ping-tools")
            def ping(): ...
            """,
    })
    assert route(index, "read_me").apps == ("security.tutorial.app",)
    assert route(index, "read_heroes").apps == ("sql.tutorial.app",)
    assert route(index, "list_orders").apps == ("svc.main.admin_app", "svc.main.app")
    assert route(index, "ping").apps == ("tools.*",)
    assert route(index, "read_me").app_has_auth
    for public in ("read_heroes", "list_orders", "ping"):
        assert not route(index, public).app_has_auth, public


def test_an_application_has_auth_through_its_imports_or_a_stray_file_of_its_package():
    sources = {
        "app/main.py": """
            from fastapi import FastAPI
            from app.routes import router
            app = FastAPI()
            app.include_router(router)
            """,
        "app/routes.py": """
            from fastapi import APIRouter, Depends
            from app.deps import get_db
            router = APIRouter()

            @router.get("/items")
            def items(db=Depends(get_db)): ...
            """,
        "app/deps.py": """
            def get_db():
                yield None
            """,
        "app/auth.py": """
            import jwt

            def get_current_user(token: str):
                return jwt.decode(token, "k", algorithms=["HS256"])
            """,
        "other/main.py": TUTORIAL_PUBLIC,
    }
    # auth.py is imported by nobody: it still says the `app` package's application has auth.
    index = build(sources)
    assert route(index, "items").app_has_auth and not route(index, "read_heroes").app_has_auth
    # Imported (even indirectly, through deps.py), it counts for the importing application only.
    sources["app/deps.py"] = "            from app.auth import get_current_user" + sources["app/deps.py"]
    sources["other/main.py"] = "    import app.deps" + TUTORIAL_PUBLIC
    index = build(sources)
    assert route(index, "items").app_has_auth and route(index, "read_heroes").app_has_auth
    # Moved to another package and imported by no one, it says nothing about `app`.
    moved = {k: v for k, v in sources.items() if k not in {"app/auth.py", "other/main.py"}}
    moved["app/deps.py"] = "def get_db():\n    yield None\n"
    moved["lib/auth.py"] = sources["app/auth.py"]
    assert not route(build(moved), "items").app_has_auth


def test_fingerprint_follows_the_auth_of_the_routes_own_application():
    sources = {"security/tutorial.py": TUTORIAL_PUBLIC.replace("read_heroes", "read_me"),
               "sql/tutorial.py": TUTORIAL_PUBLIC}
    before = build(sources).fingerprint_for("sql/tutorial.py")
    other_gains_auth = build({**sources, "security/tutorial.py": TUTORIAL_WITH_AUTH})
    assert other_gains_auth.fingerprint_for("sql/tutorial.py") == before
    assert other_gains_auth.fingerprint_for("security/tutorial.py") != build(sources).fingerprint_for("security/tutorial.py")
    own_gains_auth = build({**sources, "sql/auth.py": "import jwt\n\ndef verify(token: str):\n    return jwt.decode(token)\n"})
    assert own_gains_auth.fingerprint_for("sql/tutorial.py") != before


def test_a_stored_index_answers_alike_and_reads_only_the_files_asked_about():
    index = build(clean_app())
    stored = pickle.loads(pickle.dumps(index))
    loaded = stored.files._loaded  # the facts unpickled so far
    assert loaded == {}
    some_path = next(path for path in index.files if index.routes_in(path))
    assert stored.routes_in(some_path) == index.routes_in(some_path)
    assert stored.files.get(some_path) == index.files[some_path]
    assert 0 < len(loaded) < len(index.files)
    for path in index.files:  # every cross-file answer, through lazily read symbols
        assert stored.fingerprint_for(path) == index.fingerprint_for(path)
        for route in index.routes_in(path):
            for name in route.dependencies:
                assert stored.is_auth_dependency(path, name) == index.is_auth_dependency(path, name)
                assert stored.is_admin_dependency(path, name) == index.is_admin_dependency(path, name)
    assert stored.table_models() == index.table_models()
    assert {q: s.value for q, s in stored.symbols.items()} == {q: s.value for q, s in index.symbols.items()}


def test_project_wide_rule_values_are_stored_with_the_index():
    from agent.analysis.rules import all_rules
    from agent.analysis.rules.base import PerIndex

    all_rules()  # rule modules register their project-wide values
    index = build(clean_app())
    expected = PerIndex.digest_all(index)
    assert set(index.per_index) == {p.name for p in PerIndex.registry}
    stored = pickle.loads(pickle.dumps(index))
    assert PerIndex.digest_all(stored) == expected
    assert stored.files._loaded == {}  # answered from the stored values, no file's facts read

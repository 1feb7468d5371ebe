"""The project index: auth resolution across files, include chains, full paths, public routes,
models and owner columns, and `fingerprint_for` changing exactly when cross-file facts change."""

from __future__ import annotations

import ast
import pickle
import textwrap
from pathlib import Path

from agent.analysis.facts import extract_facts, module_name
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
    assert route(plain, "orders").auth is None and not plain.has_auth
    configured = build(sources, auth_dependencies=["gateway_user"], public_routes=["/catalog/*"])
    assert route(configured, "orders").auth == "handler" and configured.has_auth
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

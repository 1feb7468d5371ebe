from __future__ import annotations

import re
from typing import Iterator

from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.rules.unscoped_object_access import MODELS
from agent.types import Finding, Severity

SCHEMAS = MODELS + """
class UserPublic(SQLModel):
    id: uuid.UUID
    email: str

class UserWithHash(SQLModel):
    id: uuid.UUID
    email: str
    hashed_password: str

class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"

class ApiKey(SQLModel):
    name: str
    api_key: str

class WebhookSecret(SQLModel):
    id: uuid.UUID
    secret: str

class LdapServer(SQLModel):
    host: str
    app_dn_password: str

class UserStatus(SQLModel):
    id: uuid.UUID
    has_password: bool
    is_secret: bool
"""


class UnsafeResponseModel(Rule):
    """Response model is a table model or exposes sensitive fields.

    **What it does**
    Flags routes whose effective response model (`response_model=`, else the return
    annotation) is a database table model (SQLModel `table=True`, SQLAlchemy declarative
    class), or a schema with sensitive fields (`password`, `hashed_password`, `secret`,
    `api_key`, ...; token fields outside login/token endpoints). Models inside `list[...]`,
    `Optional[...]` and generic pages count too.

    **Why is this bad?**
    Table models carry every column, today and after each migration: password hashes,
    internal flags, other users' foreign keys. Responses should be explicit public schemas.

    **Example**
    ```python
    @router.get("/users/me", response_model=User)
    def read_me(current_user: CurrentUser): ...
    ```

    **Use instead**
    ```python
    @router.get("/users/me", response_model=UserPublic)
    def read_me(current_user: CurrentUser) -> Any: ...
    ```

    **Known problems**
    Only models defined in the reviewed files are known. A table model whose columns are all
    harmless is still reported (it will not stay that way). A key, token or secret field is not
    reported where the handler's name or path says that is what it hands out
    (`generate_api_key` answering `api_key`, `rotate_webhook_secret` answering `secret`, a
    `session` endpoint answering the caller's session `token`), or where a create endpoint
    answers the new object's own key, token or secret once (`create_webhook`, `add_user`
    answering `token`); reading it back later (`/webhooks`, `/sessions`) is still reported.
    """

    code = "FBA202"
    name = "unsafe-response-model"
    category = "response-model"
    severity = Severity.HIGH
    title = "Response exposes a table model or sensitive fields"

    VALID = (
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/users.py": """
from typing import Any
from fastapi import APIRouter
from app.models import Token, User, UserPublic

router = APIRouter()

@router.get("/users/me", response_model=UserPublic)
def read_me() -> Any:
    return {}

@router.get("/users", response_model=list[UserPublic])
def read_users() -> list[User]:
    return []

@router.post("/login/access-token")
def login_access_token() -> Token:
    return Token(access_token="...")
""",
        },
        # The credential is what the endpoint hands out: a new API key, a rotated secret, a token.
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/keys.py": """
from fastapi import APIRouter, Depends
from app.models import ApiKey, Token, WebhookSecret

router = APIRouter()

@router.post("/api_key", response_model=ApiKey)
def generate_api_key(user=Depends(get_current_user)):
    return ApiKey(name="default", api_key=new_key())

@router.put("/webhooks/{webhook_id}/secret")
def rotate_webhook_secret(webhook_id: str, user=Depends(get_current_user)) -> WebhookSecret:
    return rotate(webhook_id)

@router.post("/token", response_model=Token)
def token(user=Depends(get_current_user)):
    return issue(user)

@router.post("/integrations/create", response_model=ApiKey)
def create_integration(user=Depends(get_current_user)):
    return ApiKey(name="ci", api_key=new_key())
""",
        },
        # An admin adding a user receives its token once; the session endpoint answers the
        # caller's own session.
        {
            "app/models.py": SCHEMAS + """
class AddUserResponse(SQLModel):
    id: uuid.UUID
    token: str

class SessionUserResponse(SQLModel):
    id: uuid.UUID
    token: str
    expires_at: int | None = None
""",
            "app/api/routes/auths.py": """
from fastapi import APIRouter, Depends
from app.models import AddUserResponse, SessionUserResponse

router = APIRouter()

@router.post("/add", response_model=AddUserResponse)
def add_user(form: AddUserForm, admin=Depends(get_admin_user)):
    return signup_and_issue(form)

@router.get("/", response_model=SessionUserResponse)
def get_session_user(user=Depends(get_current_user)):
    return session_of(user)
""",
        },
        # Boolean flags about a secret are not the secret.
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/me.py": """
from fastapi import APIRouter, Depends
from app.models import UserStatus

router = APIRouter()

@router.get("/me/status", response_model=UserStatus)
def read_status(user=Depends(get_current_user)):
    return user
""",
        },
    )
    INVALID = (
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/users.py": """
from fastapi import APIRouter
from app.models import User

router = APIRouter()

@router.get("/users/me", response_model=User)
def read_me():
    return {}
""",
        },
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/users.py": """
from fastapi import APIRouter
from app.models import UserWithHash

router = APIRouter()

@router.get("/users")
def read_users() -> list[UserWithHash]:
    return []
""",
        },
        # A password is never what an endpoint is for; a key outside its own endpoint leaks.
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/admin.py": """
from fastapi import APIRouter, Depends
from app.models import ApiKey, LdapServer

router = APIRouter()

@router.get("/admin/config/ldap/server", response_model=LdapServer)
def get_ldap_server(user=Depends(get_admin_user)):
    return load_ldap()

@router.get("/admin/integrations", response_model=list[ApiKey])
def list_integrations(user=Depends(get_admin_user)):
    return load_integrations()

@router.post("/admin/integrations/{name}/update", response_model=ApiKey)
def update_integration(name: str, user=Depends(get_admin_user)):
    return save_integration(name)
""",
        },
        # Look-alikes: every session's token listed back; a password answered by an add.
        {
            "app/models.py": SCHEMAS + """
class SessionModel(SQLModel):
    id: uuid.UUID
    token: str
""",
            "app/api/routes/sessions.py": """
from fastapi import APIRouter, Depends
from app.models import SessionModel

router = APIRouter()

@router.get("/admin/sessions", response_model=list[SessionModel])
def list_sessions(admin=Depends(get_admin_user)):
    return all_sessions()
""",
        },
        {
            "app/models.py": SCHEMAS,
            "app/api/routes/users.py": """
from fastapi import APIRouter, Depends
from app.models import UserWithHash

router = APIRouter()

@router.post("/users/add", response_model=UserWithHash)
def add_user(form: AddUserForm, admin=Depends(get_admin_user)):
    return create_user(form)
""",
        },
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            declared = route.response_model or (ctx.segment(func.returns) if func.returns is not None else None)
            if not declared or declared == "None":
                continue
            for model in ctx.index.models_in(ctx.path, declared):
                problem = _problem(model, route.public, _purpose_words(route))
                if problem:
                    yield self.finding(
                        ctx,
                        func,
                        f"{route.function} responds with {model.name}, {problem}; declare a public schema "
                        "with only the fields clients need",
                        line=route.decorator_line,
                    )


# Credentials an endpoint may exist to hand out; a password never is.
ISSUED_WORDS = frozenset({"key", "token", "secret"})
# A create endpoint hands out the new object's own credential once (the client must store it).
CREATE_WORDS = frozenset({"create", "new", "add"})
# A session endpoint answers the caller's own session, whose token the client holds anyway.
SESSION_WORDS = frozenset({"session"})


def _flag(field) -> bool:
    """`has_password: bool` says whether a secret exists, not what it is."""
    annotation = field.annotation.replace(" ", "")
    return annotation in ("bool", "Optional[bool]", "bool|None") or field.name.lower().startswith(("has_", "is_"))


def _purpose_words(route) -> frozenset[str]:
    """The words of the handler's name and path: `generate_api_key`, `/webhooks/{id}/secret`."""
    return frozenset(w for w in re.split(r"[^a-z0-9]+", f"{route.function} {route.path}".lower()) if w)


def _issued(field: str, purpose: frozenset[str]) -> bool:
    """The field is what the endpoint is for: `api_key` from `generate_api_key`, `secret` from
    `rotate_webhook_secret`, `access_token` from the token endpoint."""
    last = field.lower().rsplit("_", 1)[-1]
    if last == "token" and SESSION_WORDS & purpose:
        return True
    return last in ISSUED_WORDS and (last in purpose or bool(CREATE_WORDS & purpose))


def _problem(model, public_route: bool, purpose: frozenset[str] = frozenset()) -> str | None:
    if model.table:
        return "a database table model"
    exposed = model.sensitive_fields + (() if public_route else model.token_fields)
    flags = {f.name for f in model.fields if _flag(f)}
    exposed = tuple(f for f in exposed if not _issued(f, purpose) and f not in flags)
    if exposed:
        return "which exposes " + ", ".join(exposed)
    return None

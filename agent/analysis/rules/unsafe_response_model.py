from __future__ import annotations

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
    harmless is still reported (it will not stay that way).
    """

    code = "FBA202"
    name = "unsafe-response-model"
    category = "response-model"
    severity = Severity.HIGH
    title = "Response exposes a table model or sensitive fields"
    preview = True  # precision on real code (bench/precision) below the default set's 0.80

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
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            declared = route.response_model or (ctx.segment(func.returns) if func.returns is not None else None)
            if not declared or declared == "None":
                continue
            for model in ctx.index.models_in(ctx.path, declared):
                problem = _problem(model, route.public)
                if problem:
                    yield self.finding(
                        ctx,
                        func,
                        f"{route.function} responds with {model.name}, {problem}; declare a public schema "
                        "with only the fields clients need",
                        line=route.decorator_line,
                    )


def _problem(model, public_route: bool) -> str | None:
    if model.table:
        return "a database table model"
    exposed = model.sensitive_fields + (() if public_route else model.token_fields)
    if exposed:
        return "which exposes " + ", ".join(exposed)
    return None

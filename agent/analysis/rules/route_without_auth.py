from __future__ import annotations

from typing import Iterator

from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity


class RouteWithoutAuth(Rule):
    """Route reachable without authentication.

    **What it does**
    Flags path operations that get no authentication dependency at any level: not on the
    handler (a parameter such as `current_user: CurrentUser` or `Depends(get_current_user)`,
    or `dependencies=[...]` on the decorator), not on its `APIRouter(dependencies=[...])`, not on
    any `include_router(..., dependencies=[...])` chain that mounts the router, and not on
    `FastAPI(dependencies=[...])`. Auth dependencies are resolved across files and
    transitively: a dependency authenticates if it (or one it depends on) uses a
    `fastapi.security` scheme, decodes a JWT, raises 401/403, is a fastapi-users
    `current_user(...)`, or is named in the `auth-dependencies` setting.

    **Why is this bad?**
    Anyone on the network can call the endpoint. Missing auth is the most common and most
    damaging API flaw (OWASP API2:2023 Broken Authentication).

    **Example**
    ```python
    router = APIRouter(prefix="/items")

    @router.get("/{item_id}")
    def read_item(item_id: int, session: SessionDep): ...
    ```

    **Use instead**
    ```python
    @router.get("/{item_id}")
    def read_item(item_id: int, session: SessionDep, current_user: CurrentUser): ...
    ```

    **Known problems**
    Routes that are public on purpose are recognised by path and function name: login, signup/
    register, password recovery, health/readiness/liveness, docs, openapi, webhooks, callbacks and
    `.well-known/` anywhere; token/refresh/reset/verify/confirm only next to an authentication word
    (`/auth/refresh`, `/password-reset/confirm`, `/email/verify`); ping, status, metrics, version,
    `/token`, `manifest.json`, `robots.txt` and similar as the whole path (after `/api/v1`); and
    `GET /`. List others in `public-routes` (glob patterns over the full path). A project with no authentication anywhere is treated as a
    deliberately public API and not flagged at all. Authentication done by middleware or an API
    gateway is invisible to the index: name its dependency in `auth-dependencies` or suppress.
    WebSocket routes are not checked.
    """

    code = "FBA101"
    name = "route-without-auth"
    category = "auth-missing"
    severity = Severity.HIGH
    title = "Route without authentication"

    VALID = (
        # Handler-level auth through an Annotated alias defined in another file.
        {
            "app/api/deps.py": """
from typing import Annotated
import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")
TokenDep = Annotated[str, Depends(reusable_oauth2)]

def get_current_user(token: TokenDep):
    try:
        return jwt.decode(token, "k", algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED)

CurrentUser = Annotated[dict, Depends(get_current_user)]
""",
            "app/api/routes/items.py": """
from fastapi import APIRouter
from app.api.deps import CurrentUser

router = APIRouter(prefix="/items")

@router.get("/")
def read_items(current_user: CurrentUser) -> list[str]:
    return []
""",
        },
        # Include-level auth (FastAPI "Bigger Applications") and public login/health routes.
        {
            "app/dependencies.py": """
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

async def get_current_active_user(token: str = Depends(oauth2_scheme)):
    return token
""",
            "app/routers/items.py": """
from fastapi import APIRouter
router = APIRouter()

@router.get("/items/")
async def read_items() -> list[str]:
    return []
""",
            "app/main.py": """
from fastapi import Depends, FastAPI
from .dependencies import get_current_active_user
from .routers import items

app = FastAPI()
app.include_router(items.router, prefix="/api", dependencies=[Depends(get_current_active_user)])

@app.post("/token")
async def login() -> dict:
    return {}

@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}
""",
        },
        # Conventional public endpoints: auth flows, metadata files, version probes.
        """
from fastapi import APIRouter, Depends
from app.deps import get_current_user

router = APIRouter()

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.post("/auth/refresh")
def refresh_access_token(body: RefreshIn) -> dict:
    return {}

@router.post("/password-reset/confirm")
def confirm_password_reset(body: NewPassword) -> dict:
    return {}

@router.get("/api/v1/version")
def version() -> dict:
    return {}

@router.get("/manifest.json")
def manifest() -> dict:
    return {}

@router.get("/.well-known/jwks.json")
def jwks() -> dict:
    return {}
""",
        # Router-level dependencies and fastapi-users' current_user.
        """
from fastapi import APIRouter, Depends
from app.users import fastapi_users

current_active_user = fastapi_users.current_user(active=True)
router = APIRouter(prefix="/notes", dependencies=[Depends(current_active_user)])

@router.get("/")
async def list_notes() -> list[str]:
    return []
""",
        # A project with no authentication at all is a public API.
        """
from fastapi import FastAPI
app = FastAPI()

@app.get("/quotes/{quote_id}")
def read_quote(quote_id: int) -> dict:
    return {}
""",
        # Security(...) with scopes and a class-based checker.
        """
from fastapi import APIRouter, Depends, HTTPException, Security
from fastapi.security import APIKeyHeader

api_key_header = APIKeyHeader(name="X-API-Key")

class RoleChecker:
    def __init__(self, role: str):
        self.role = role

    def __call__(self, key: str = Security(api_key_header)):
        if key != "expected":
            raise HTTPException(status_code=403)

router = APIRouter()

@router.get("/reports", dependencies=[Depends(RoleChecker("analyst"))])
def reports() -> list[str]:
    return []

@router.get("/stats")
def stats(key: str = Security(api_key_header)) -> dict:
    return {}
""",
    )
    INVALID = (
        # One router forgets the dependency the other one has.
        {
            "app/api/deps.py": """
from typing import Annotated
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")

def get_current_user(token: Annotated[str, Depends(reusable_oauth2)]):
    return token

CurrentUser = Annotated[str, Depends(get_current_user)]
""",
            "app/api/routes/items.py": """
from fastapi import APIRouter
from app.api.deps import CurrentUser

router = APIRouter(prefix="/items")

@router.get("/mine")
def read_mine(current_user: CurrentUser) -> list[str]:
    return []

@router.delete("/{item_id}")
def delete_item(item_id: int) -> None:
    return None
""",
        },
        # Include-level auth on one mount but not on the other.
        {
            "app/main.py": """
from fastapi import Depends, FastAPI
from app.auth import get_current_user
from app.routers import admin

app = FastAPI()
app.include_router(admin.router, prefix="/v1", dependencies=[Depends(get_current_user)])
app.include_router(admin.router, prefix="/v2")
""",
            "app/auth.py": """
from fastapi import HTTPException, Request

def get_current_user(request: Request):
    if "authorization" not in request.headers:
        raise HTTPException(status_code=401)
""",
            "app/routers/admin.py": """
from fastapi import APIRouter
router = APIRouter()

@router.post("/invoices/{invoice_id}/refund")
def refund_invoice(invoice_id: int) -> dict:
    return {}
""",
        },
        # "confirm" and "token" are public words only next to an authentication word.
        """
from fastapi import APIRouter, Depends
from app.deps import get_current_user

router = APIRouter(prefix="/orders")

@router.get("/mine")
def my_orders(user=Depends(get_current_user)) -> list[str]:
    return []

@router.post("/{order_id}/confirm")
def confirm_order(order_id: int) -> dict:
    return {}

@router.get("/{order_id}/download-token")
def download_token(order_id: int) -> dict:
    return {}
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if not ctx.index.has_auth:
            return
        for route, func in ctx.route_handlers():
            if route.auth or route.public or "WEBSOCKET" in route.methods:
                continue
            if ctx.index.authenticates_in_body(ctx.path, func.name):
                continue
            methods = ",".join(route.methods)
            yield self.finding(
                ctx,
                func,
                f"{methods} {route.full_path or route.path} has no authentication at handler, router, "
                "include_router or app level; add an auth dependency (e.g. `current_user: CurrentUser`) "
                "or list it in `public-routes` if it is public on purpose",
                line=route.decorator_line,
            )

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
    `fastapi.security` scheme, decodes a JWT, raises 401/403, rejects a credential-like
    header/query/cookie parameter (`x_token`, `x_api_key`, `authorization`, `session_id`) with any
    4xx but 404/429 in a branch that tests it (FastAPI's docs answer 400 to a wrong `X-Token`), is
    a fastapi-users `current_user(...)`, or is named in the `auth-dependencies` setting.

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
    `GET /`. List others in `public-routes` (glob patterns over the full path).

    An application with no authentication anywhere is treated as a deliberately public API and
    not flagged at all; this is decided per application, so a public app reviewed next to one
    with auth (a monorepo, a folder of tutorials) stays clean. An application is the `FastAPI()`
    object at the root of a route's `include_router` chains; routers that no reviewed app includes
    are grouped by the top package of their file (`app.*`). It has authentication when one of its
    routes does, or when a file it reaches (its route files, its app's file and their imports,
    transitively) defines an auth dependency; a file no application reaches counts for the
    applications of its top package. A router mounted in two apps is checked when either has auth.
    A parameter named like a credential but used otherwise (`key` as a lookup name checked with
    400) makes its dependency count as auth.

    Authentication done by middleware or an API gateway is invisible to the index: name its
    dependency in `auth-dependencies` (which also marks every application as authenticated) or
    suppress. WebSocket routes are not checked.
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
        # FastAPI "Bigger Applications": token checks that answer 400, at app and router level.
        {
            "app/dependencies.py": """
from typing import Annotated
from fastapi import Header, HTTPException

async def get_token_header(x_token: Annotated[str, Header()]):
    if x_token != "fake-super-secret-token":
        raise HTTPException(status_code=400, detail="X-Token header invalid")

async def get_query_token(token: str):
    if token != "jessica":
        raise HTTPException(status_code=400, detail="No Jessica token provided")
""",
            "app/routers/items.py": """
from fastapi import APIRouter, Depends, HTTPException
from ..dependencies import get_token_header

router = APIRouter(prefix="/items", dependencies=[Depends(get_token_header)])

@router.put("/{item_id}")
async def update_item(item_id: str) -> dict:
    if item_id != "plumbus":
        raise HTTPException(status_code=403, detail="You can only update the item: plumbus")
    return {}
""",
            "app/main.py": """
from fastapi import Depends, FastAPI
from .dependencies import get_query_token
from .routers import items

app = FastAPI(dependencies=[Depends(get_query_token)])
app.include_router(items.router)

@app.get("/reports")
async def reports() -> list[str]:
    return []
""",
        },
        # Two applications reviewed together: the public catalog is not judged by billing's auth.
        {
            "billing/main.py": """
from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
app = FastAPI(dependencies=[Depends(oauth2_scheme)])

@app.get("/invoices")
def invoices() -> list[str]:
    return []
""",
            "catalog/main.py": """
from fastapi import FastAPI
app = FastAPI()

@app.get("/products/{sku}")
def product(sku: str) -> dict:
    return {}
""",
        },
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
        # A dependency that reads a pagination `page_token` does not authenticate.
        """
from fastapi import APIRouter, Depends
from app.deps import get_current_user

router = APIRouter()

def pagination(page_token: str | None = None, limit: int = 50):
    return page_token, limit

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.get("/orders")
def list_orders(page=Depends(pagination)) -> list[str]:
    return []
""",
        # Rejecting a non-credential parameter with 400 is validation, not authentication.
        """
from fastapi import APIRouter, Depends, HTTPException
from app.deps import get_current_user

router = APIRouter()

def valid_region(region: str):
    if region not in {"eu", "us"}:
        raise HTTPException(status_code=400, detail="Unknown region")
    return region

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.get("/prices", dependencies=[Depends(valid_region)])
def list_prices() -> list[str]:
    return []
""",
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
        for route, func in ctx.route_handlers():
            if route.auth_status != "missing" or not route.app_has_auth or "WEBSOCKET" in route.methods:
                continue
            methods = ",".join(route.methods)
            yield self.finding(
                ctx,
                func,
                f"{methods} {route.full_path or route.path} has no authentication ({route.auth_reason}); "
                "add an auth dependency (e.g. `current_user: CurrentUser`) "
                "or list it in `public-routes` if it is public on purpose",
                line=route.decorator_line,
            )

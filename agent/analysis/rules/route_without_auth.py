from __future__ import annotations

from typing import Iterator

from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity


class RouteWithoutAuth(Rule):
    """Route reachable without authentication.

    **What it does**
    Flags path operations whose authentication is `missing` under the route auth policy
    (`agent/analysis/auth_policy.py`, shared with `fba routes`): no authenticating dependency on
    the handler (a parameter such as `current_user: CurrentUser`, `Depends(get_current_user)`, a
    default bound to `CURRENT = Depends(...)`, or the decorator's `dependencies=[...]`), on its
    router (also a project's or library's `APIRouter` subclass), on every `include_router` /
    `mount` chain that serves it (also when a helper function adds the include, or when the
    include spreads a dict literal, `include_router(**spec)`, alone, bound to a name, or the loop
    variable over a module-level list of them), or on the app;
    no auth decorator (`@requires("authenticated")`); no credential check in the handler itself
    (401/403, a JWT decode, a rejected token header, a verified webhook signature); no HTTP
    middleware answering 401/403. A dependency authenticates (transitively, across files) when
    it uses a `fastapi.security` scheme (also inline: `Security(HTTPBearer())`, `HTTPBasic`),
    decodes a JWT, raises 401/403, rejects a credential-like header/query/cookie parameter with
    a 4xx (FastAPI's docs answer 400 to a wrong `X-Token`), redirects an anonymous session to the
    login page, is fastapi-users' `current_user(...)`, depends on, calls or returns one that does
    (dependency factories such as `Depends(require_role("admin"))`, also when the function that
    registers the routes binds the built dependency to a local name first:
    `check = make_key_check(api_key)`, then `dependencies=[Depends(check)]`), or is named in the
    `auth-dependencies` setting. Dependencies imported from outside the reviewed files are judged
    by name (`CurrentUser`, `CurrentCustomer`, `get_current_*`, `require_*`, `verify_token`):
    status `unknown`, never reported.

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
    Routes that are public by design are recognised (`fba routes` shows the reason): sign-in
    flows, also with a suffix (`/login-ldap`, `signin_oauth`) or only a sign-in form as the body
    (`POST /token/cli` taking `body: LoginBody`), signup/register/logout, password
    recovery (a recovery word only next to an account word: `/password-recovery`, not
    `/jobs/recovery`); OAuth authorize/callback/redirect/providers steps and verify/reset/confirm/token
    requests next to an authentication word or each other (`/auth/refresh`,
    `/request-verify-token`); health/readiness/docs/openapi/webhooks/`.well-known/`; a `public`
    path segment; ping/status/metrics/version/`/token`/`manifest.json` as the whole path;
    `GET /`; a read-only `{path:path}` catch-all (a page shell); redirects; read-only handlers
    that only render a template from the request; fixed discovery/status documents
    (`/scim/v2/ServiceProviderConfig`); stateless utilities (no parameters, no data access,
    `POST /api/server/get_info`); handlers that serve anonymous callers on purpose (they read
    `request.user.is_authenticated`). `app.webhooks.post(...)` documents an outgoing webhook and
    is not a served route. List others in `public-routes` (glob patterns over the full path).
    A read-only listing over models without an owner column (a shared catalogue of tags,
    articles, lookups) is still reported in an application that authenticates elsewhere: in the
    code it looks exactly like a catalogue whose `include_router` lost its `dependencies=[...]`;
    a `public` path segment or `public-routes` says it is public on purpose.

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

    Authentication done by an API gateway, or by middleware that does not answer 401/403 itself,
    is invisible to the index: name its dependency in `auth-dependencies` (which also marks every
    application as authenticated) or suppress. WebSocket routes are not checked. With
    `fba review --app module:attr`, paths and dependencies come from FastAPI's own route table.
    """

    code = "FBA101"
    name = "route-without-auth"
    category = "auth-missing"
    severity = Severity.HIGH
    title = "Route without authentication"
    config_keys = ("public-routes", "auth-dependencies")

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
        # A project's APIRouter subclass is a router: its `dependencies=` authenticate its routes;
        # a library's router class (`*Router`) too.
        {
            "app/routing.py": """
from fastapi import APIRouter

class VersionedRouter(APIRouter):
    pass
""",
            "app/routers/orders.py": """
from fastapi import Depends
from app.routing import VersionedRouter
from app.security import get_current_user
from prefect.server.utilities.server import PrefectRouter

router = VersionedRouter(prefix="/orders", dependencies=[Depends(get_current_user)])
flows = PrefectRouter(prefix="/flows", dependencies=[Depends(get_current_user)])

@router.get("/")
def list_orders() -> list[dict]:
    return []

@flows.delete("/{flow_id}")
def delete_flow(flow_id: int) -> None:
    return None
""",
            "app/security.py": """
from fastapi import Depends, HTTPException
from fastapi.security import HTTPBearer

def get_current_user(credentials=Depends(HTTPBearer())):
    if credentials.credentials != "secret":
        raise HTTPException(status_code=401)
""",
        },
        # A module-level `CURRENT = Depends(auth)` default, a dependency factory whose inner
        # checker authenticates through its own dependency, a class dependency with an inline
        # `Security(HTTPBearer())`, and HTTP Basic client authentication.
        {
            "app/security.py": """
from fastapi import Depends, HTTPException, Security
from fastapi.security import HTTPBasic, HTTPBearer, OAuth2PasswordBearer

oauth2 = OAuth2PasswordBearer(tokenUrl="/login")

def get_current_user(token: str = Depends(oauth2)):
    return token

CURRENT = Depends(get_current_user)

def require_role(role: str):
    def checker(user=Depends(get_current_user)):
        if role not in user:
            raise HTTPException(status_code=403)
    return checker

class ProjectMember:
    async def __call__(self, project: str, token=Security(HTTPBearer())):
        return token

def verify_client(credentials=Security(HTTPBasic())):
    return credentials.username
""",
            "app/routes.py": """
from fastapi import APIRouter, Depends
from app.security import CURRENT, ProjectMember, require_role, verify_client

router = APIRouter()

@router.get("/me")
def me(user=CURRENT) -> dict:
    return {}

@router.delete("/items/{item_id}", dependencies=[Depends(require_role("admin"))])
def delete_item(item_id: int) -> None:
    return None

@router.post("/projects/{project}/runs")
def create_run(project: str, member=Depends(ProjectMember())) -> dict:
    return {}

@router.get("/clients/usage")
def client_usage(client: str = Depends(verify_client)) -> dict:
    return {}
""",
        },
        # Auth dependencies imported from outside the reviewed tree, judged by name (status
        # unknown, not missing), also for principals that are not a "user".
        """
from fastapi import APIRouter, Depends
from myservice.security import CurrentCustomer, CurrentMember, get_current_user, require_scope, verify_token

router = APIRouter()

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.get("/orders")
def orders(customer: CurrentCustomer) -> list[dict]:
    return []

@router.get("/team")
def team(member: CurrentMember) -> list[dict]:
    return []

@router.post("/exports", dependencies=[Depends(require_scope("exports")), Depends(verify_token)])
def export() -> dict:
    return {}
""",
        # Public by design: sign-in variants, OAuth authorize/callback, verification and reset
        # requests, a `public` segment, a page-shell catch-all, redirects, discovery documents,
        # and `app.webhooks.post` (documents an outgoing webhook: not a served route).
        """
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse
from app.deps import get_current_user

app = FastAPI()
router = APIRouter()

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.post("/login-ldap")
def login_ldap(body: LdapForm) -> dict:
    return {}

@router.get("/oauth/{provider}/authorize")
def oauth_authorize(provider: str) -> dict:
    return {}

@router.get("/sso/{provider}/callback")
def sso_callback(provider: str, code: str) -> dict:
    return {}

@router.post("/request-verify-token")
def request_verify_token(email: str) -> None:
    return None

@router.get("/api/v1/public/articles/{slug}")
def public_article(slug: str, session: SessionDep) -> dict:
    return {}

@router.get("/{full_path:path}")
def spa(full_path: str):
    return FileResponse("index.html")

@router.post("/go/{code}")
def go(code: str):
    return RedirectResponse(f"/links/{code}")

@router.get("/scim/v2/ServiceProviderConfig")
def service_provider_config() -> dict:
    return {"patch": {"supported": True}}

@app.webhooks.post("new-subscription")
def new_subscription(body: Subscription) -> None:
    return None
""",
        # The handler checks the credential itself; an HTTP middleware answers 401; Starlette's
        # `@requires("authenticated")`; a session dependency that redirects to the login page;
        # a webhook that verifies its signature.
        {
            "app/main.py": """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()

@app.middleware("http")
async def check_key(request: Request, call_next):
    if request.headers.get("x-api-key") != KEY:
        return JSONResponse({"detail": "Unauthorized"}, status_code=401)
    return await call_next(request)

@app.get("/reports")
def reports() -> list[dict]:
    return []
""",
            "web/pages.py": """
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.authentication import requires

router = APIRouter()

def session_user(request: Request):
    user = request.session.get("user")
    if user is None:
        raise HTTPException(status_code=307, headers={"Location": "/login?next=/settings"})
    return user

@router.get("/settings")
def settings_page(user=Depends(session_user)):
    return {}

@router.get("/automations")
@requires(["authenticated"])
def automations(request: Request):
    return {}

@router.delete("/cache")
def clear_cache(x_admin_token: str = Header()):
    if x_admin_token != ADMIN_TOKEN:
        raise HTTPException(status_code=403)
    return None

@router.post("/stripe")
async def stripe_events(request: Request):
    event = stripe.Webhook.construct_event(await request.body(), request.headers["stripe-signature"], SECRET)
    return {"received": event["id"]}
""",
        },
        # A prefix and include-level auth added by a helper function (`register(app)`), an auth
        # dependency chosen at import time, a provider factory returning the scheme it picked,
        # and a sub-application mounted under a prefix.
        {
            "app/main.py": """
from fastapi import Depends, FastAPI
from app.auth import get_current_user, authorize
from app.routers import items, admin

def register(app: FastAPI) -> None:
    app.include_router(items.router, prefix="/items", dependencies=[Depends(get_current_user)])

app = FastAPI()
register(app)
sub = FastAPI(dependencies=[Depends(authorize)])
sub.include_router(admin.router)
app.mount("/admin", sub)
""",
            "app/auth.py": """
from fastapi import Depends, HTTPException, Security
from fastapi.security import HTTPBasic, OAuth2PasswordBearer

if SETTINGS.service_token:
    get_current_user = ServiceAccount(SETTINGS.service_token)
else:
    get_current_user = AlwaysForbidden()

class ServiceAccount:
    def __init__(self, token):
        self.token = token

    def __call__(self, credentials=Security(HTTPBasic())):
        return credentials

class AlwaysForbidden:
    def __call__(self):
        raise HTTPException(status_code=403)

def basic_auth(credentials=Security(HTTPBasic())):
    return credentials

def token_auth(token: str = Depends(OAuth2PasswordBearer(tokenUrl="/token"))):
    return token

def provider():
    if SETTINGS.basic:
        return basic_auth
    return token_auth

authorize = provider()
""",
            "app/routers/items.py": """
from fastapi import APIRouter
router = APIRouter()

@router.delete("/{item_id}")
def delete_item(item_id: int) -> None:
    return None
""",
            "app/routers/admin.py": """
from fastapi import APIRouter
router = APIRouter(prefix="/reports")

@router.get("/daily")
def daily(session: SessionDep) -> list[dict]:
    return []
""",
        },
        # A handler that calls a credential check itself (an activation token), and read-only
        # lookup lists of reference data.
        """
from fastapi import APIRouter, Depends
from app.auth import authenticate_credentials, get_current_user

router = APIRouter()

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.put("/users/{name}/activate")
def activate_user(name: str, body: UserUpdate) -> dict:
    authenticate_credentials(user_name=name, activation_token=body.activation_token)
    return {}

@router.get("/chat/options")
def chat_options(request: Request) -> dict:
    return {command.name: command.value for command in Command}

@router.get("/triggers/supported-events")
def supported_events(source: str) -> list[str]:
    return REGISTRY.get(source, [])
""",
        # Includes spelled as dict literals spread into `include_router(**spec)`, looped over
        # module-level lists (one built from another with `+`), with auth on the parent router, in
        # a dict's `dependencies` naming a module-level list, and on the include of the parent.
        # And a sign-in route named only by its body (`LoginBody`).
        {
            "app/deps.py": """
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

def get_current_user(token: str = Depends(oauth2_scheme)):
    return token

def get_admin_user(user=Depends(get_current_user)):
    if user != "admin":
        raise HTTPException(status_code=403)
    return user
""",
            "app/routes/users.py": """
from fastapi import APIRouter
router = APIRouter()

@router.get("")
def list_users() -> list[str]:
    return []

@router.delete("/{id}")
def delete_user(id: int) -> None:
    return None
""",
            "app/routes/models.py": """
from fastapi import APIRouter
router = APIRouter()

@router.post("")
def create_model(name: str) -> dict:
    return {"name": name}
""",
            "app/routes/jobs.py": """
from fastapi import APIRouter
router = APIRouter()

@router.post("/{id}/stop")
def stop_job(id: int) -> dict:
    return {"id": id}
""",
            "app/routes/login.py": """
from fastapi import APIRouter
from pydantic import BaseModel
router = APIRouter()

class LoginBody(BaseModel):
    username: str
    password: str

@router.post("/token/cli")
def create_token_cli(body: LoginBody) -> dict:
    return {"access_token": issue(body)}
""",
            "app/main.py": """
from fastapi import APIRouter, Depends, FastAPI
from app.deps import get_admin_user, get_current_user
from app.routes import jobs, login, models, users

OWNER_ONLY = [Depends(get_current_user)]
model_routers = [{"router": models.router, "prefix": "/models", "dependencies": OWNER_ONLY}]
tenant_routers = model_routers + [{"router": jobs.router, "prefix": "/jobs", "tags": ["Jobs"]}]
admin_routers = ({"router": users.router, "prefix": "/users", "tags": ["Users"]},)

app = FastAPI()
worker_router = APIRouter()
for spec in model_routers:
    worker_router.include_router(**spec)
app.include_router(worker_router)

base_router = APIRouter(dependencies=[Depends(get_current_user)])
for tr in tenant_routers:
    base_router.include_router(**tr)
app.include_router(base_router, prefix="/v1")

admin_router = APIRouter()
for spec in admin_routers:
    admin_router.include_router(**spec)
app.include_router(admin_router, prefix="/v1", dependencies=[Depends(get_admin_user)])
app.include_router(login.router)
""",
        },
        # A router factory that builds its auth dependency in a local variable (the API key is
        # only known when the app is created) and attaches it per route.
        {
            "app/security.py": """
from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

def make_api_key_check(api_key: str | None):
    header = APIKeyHeader(name="X-API-Key", auto_error=False)

    async def check(value: str | None = Security(header)):
        if api_key and value != api_key:
            raise HTTPException(status_code=401)

    return check
""",
            "app/routes.py": """
from fastapi import APIRouter, Depends
from app.security import make_api_key_check

def create_item_routes(api_key: str | None) -> APIRouter:
    router = APIRouter(prefix="/items")
    key_check = make_api_key_check(api_key)

    @router.delete("/{item_id}", dependencies=[Depends(key_check)])
    async def delete_item(item_id: int) -> None:
        return None

    return router
""",
        },
    )
    INVALID = (
        # "recovery" outside an account context names no sign-in step: a pipeline's forced
        # recovery is private; the account recovery next to it is public.
        """
from fastapi import APIRouter, Depends
from app.deps import get_current_user

router = APIRouter()

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.post("/account/recover")
def recover_account(body: RecoverIn) -> dict:
    return {}

@router.post("/jobs/recovery/force_reset")
def force_reset_recovery(job_id: int) -> dict:
    return {}
""",
        # A router factory whose local dependency is built by a helper that checks nothing
        # (pagination), next to a route that authenticates.
        {
            "app/deps.py": """
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

def get_current_user(token: str = Depends(oauth2_scheme)):
    return token

def make_paginator(limit: int):
    def paginate(page: int = 0):
        return page * limit, limit
    return paginate
""",
            "app/routes.py": """
from fastapi import APIRouter, Depends
from app.deps import get_current_user, make_paginator

def create_order_routes() -> APIRouter:
    router = APIRouter(prefix="/orders")
    paginate = make_paginator(50)

    @router.get("/mine")
    def my_orders(user=Depends(get_current_user)) -> list[str]:
        return []

    @router.delete("/{order_id}", dependencies=[Depends(paginate)])
    def delete_order(order_id: int) -> None:
        return None

    return router
""",
        },
        # A shared catalogue (GET only, a model without an owner column) whose include has no
        # auth, next to includes that have it: public on purpose or forgotten, the code is the same.
        {
            "app/deps.py": """
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

def get_current_user(token: str = Depends(oauth2_scheme)):
    return token
""",
            "app/models.py": """
from sqlmodel import Field, SQLModel

class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
""",
            "app/routes/tags.py": """
from fastapi import APIRouter
from sqlmodel import select
from app.models import Tag

router = APIRouter(prefix="/tags")

@router.get("/")
def read_tags(session: SessionDep) -> list[Tag]:
    return session.exec(select(Tag).limit(100)).all()
""",
            "app/routes/items.py": """
from fastapi import APIRouter
router = APIRouter(prefix="/items")

@router.get("/")
def read_items() -> list[str]:
    return []
""",
            "app/main.py": """
from fastapi import Depends, FastAPI
from app.deps import get_current_user
from app.routes import items, tags

app = FastAPI()
app.include_router(items.router, dependencies=[Depends(get_current_user)])
app.include_router(tags.router)
""",
        },
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
        # A route of a sub-application mounted without auth, in an app that authenticates
        # elsewhere; a fixed literal that is not a discovery document; a stub is no utility.
        {
            "app/main.py": """
from fastapi import Depends, FastAPI
from app.deps import get_current_user
from app.routers import reports

app = FastAPI()
admin = FastAPI()
admin.include_router(reports.router)
app.mount("/admin", admin)

@app.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}
""",
            "app/routers/reports.py": """
from fastapi import APIRouter
router = APIRouter(prefix="/reports")

@router.get("/daily")
def daily_report() -> dict:
    return {"orders": 3}

@router.post("/rebuild")
def rebuild() -> dict:
    return []
""",
        },
        # A handler that reads `request.user` but never refuses anyone, in a router mounted
        # without auth: the user attribute is not a check.
        """
from fastapi import APIRouter, Depends, Request
from app.deps import get_current_user

router = APIRouter()

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.delete("/conversations/{conversation_id}")
def delete_conversation(conversation_id: int, request: Request) -> None:
    log(request.user)
    return None
""",
        # Look-alikes of spread includes: a dict without `dependencies` spread into a router
        # without auth; and a body whose class only mentions a sign-in (`LoginEvent`).
        {
            "app/deps.py": """
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

def get_current_user(token: str = Depends(oauth2_scheme)):
    return token
""",
            "app/routes/users.py": """
from fastapi import APIRouter
router = APIRouter()

@router.delete("/{id}")
def delete_user(id: int) -> None:
    return None

@router.post("/{id}/audit")
def import_audit(id: int, events: LoginEvent) -> None:
    return None
""",
            "app/routes/items.py": """
from fastapi import APIRouter, Depends
from app.deps import get_current_user
router = APIRouter()

@router.get("/")
def read_items(user=Depends(get_current_user)) -> list[str]:
    return []
""",
            "app/main.py": """
from fastapi import APIRouter, Depends, FastAPI
from app.deps import get_current_user
from app.routes import items, users

ROUTERS = [{"router": users.router, "prefix": "/users", "tags": ["Users"]}]

app = FastAPI()
app.include_router(**{"router": items.router, "prefix": "/items"})
open_router = APIRouter()
for spec in ROUTERS:
    open_router.include_router(**spec)
app.include_router(open_router)
""",
        },
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if route.auth_status != "missing" or not route.app_has_auth or "WEBSOCKET" in route.methods:
                continue
            methods = ",".join(route.methods)
            yield self.finding(
                ctx,
                func,
                f"{methods} {route.full_path or route.path} has {route.auth_reason}; "
                "add an auth dependency (e.g. `current_user: CurrentUser`) "
                "or list it in `public-routes` if it is public on purpose",
                line=route.decorator_line,
            )

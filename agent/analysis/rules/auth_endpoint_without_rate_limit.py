from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.auth_policy import AUTH_ENDPOINT_WORDS, is_auth_endpoint
from agent.analysis.facts import Route, call_name, dotted_name
from agent.analysis.rules._db import PerIndex, walk_body
from agent.analysis.rules.base import FileContext, FunctionNode, Rule, route_label
from agent.types import Finding

# Throttling in decorators, dependencies or router declarations: slowapi's `@limiter.limit(...)`,
# fastapi-limiter's `Depends(RateLimiter(...))`, home-grown `rate_limit` / `throttle` helpers.
THROTTLE = re.compile(r"limiter\b|\.limit\(|rate_?limit|throttl", re.IGNORECASE)
# Calls in the handler body that count failures or throttle by hand.
THROTTLE_CALL = re.compile(r"rate_?limit|limiter|throttl|attempt|lockout|too_many", re.IGNORECASE)
# What `register_<word>` may register and still be a sign-up: an account or a second factor.
ACCOUNT_WORDS = frozenset({"user", "users", "account", "accounts", "me", "member", "email", "device", "passkey",
                           "webauthn", "credential", "credentials", "otp", "totp", "mfa", "2fa"})
# Project-wide throttling: slowapi's middleware, asgi-ratelimit, a project's own rate-limit middleware.
APP_THROTTLE = re.compile(r"SlowAPI(ASGI)?Middleware|RateLimit\w*Middleware|Throttl\w*Middleware|RateLimiterMiddleware")


class AuthEndpointWithoutRateLimit(Rule):
    """Login, token, signup, password-reset or OTP endpoint without throttling.

    **What it does**
    Flags non-GET routes whose path or function name says login / token / signup / register /
    password / OTP / verify / magic link / account recovery (`recover` only next to an account
    word: `/password-recovery`, not `/jobs/{id}/recovery`; `register` only when it names an account: `/register-peer`
    registers a machine; a token refresh takes a server-issued token, not a guessable secret),
    that anonymous clients may call by design (their authentication is `public` under the route
    auth policy, or their application has none; a route FBA101 reports for missing
    authentication is not reported again here, and a route behind a user or a client credential
    such as HTTP Basic is not anonymous), when nothing throttles them: no slowapi
    `@limiter.limit(...)` decorator, no fastapi-limiter `Depends(RateLimiter(...))` on the route
    or its router, no rate-limit call in the handler, and no project-wide rate-limit middleware
    (`SlowAPIMiddleware`, a `RateLimit...Middleware`).

    **Why is this bad?**
    These endpoints take secrets from anonymous clients. Without throttling an attacker can try
    passwords, OTP codes and reset tokens as fast as the server answers (credential stuffing,
    6-digit OTPs fall in minutes) and can spam users with reset or signup mails.

    **Example**
    ```python
    @router.post("/login/access-token")
    def login_access_token(session: SessionDep, form_data: Annotated[OAuth2PasswordRequestForm, Depends()]): ...
    ```

    **Use instead**
    ```python
    @router.post("/login/access-token")
    @limiter.limit("5/minute")
    def login_access_token(request: Request, session: SessionDep,
                           form_data: Annotated[OAuth2PasswordRequestForm, Depends()]): ...
    ```

    **Known problems**
    Throttling outside the application (a gateway, nginx `limit_req`, a WAF) is invisible; suppress
    with `# fba: ignore[FBA407]` or the `rate-limit` category in `ignore`. Limits set through
    `include_router(..., dependencies=[...])` in another file are not seen yet.
    """

    code = "FBA407"
    name = "auth-endpoint-without-rate-limit"
    category = "rate-limit"
    title = "Authentication endpoint has no rate limiting"
    config_keys = ("auth-dependencies",)

    VALID = (
        # "recovery" of a job or pipeline is no account recovery: no secret is taken.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/jobs/{job_id}/recovery/force_reset")
def force_reset_recovery(job_id: int) -> dict:
    return {}
""",
        """
from fastapi import APIRouter, Depends, Request
from slowapi import Limiter
from slowapi.util import get_remote_address
from fastapi_limiter.depends import RateLimiter

limiter = Limiter(key_func=get_remote_address)
router = APIRouter()

@router.post("/login/access-token")
@limiter.limit("5/minute")
def login_access_token(request: Request, form_data: Annotated[OAuth2PasswordRequestForm, Depends()]):
    return {}

@router.post("/password-recovery/{email}", dependencies=[Depends(RateLimiter(times=3, seconds=60))])
def recover_password(email: str):
    return {}

@router.post("/login/test-token")
def test_token(current_user: CurrentUser):
    return current_user

@router.get("/users/me")
def read_me(current_user: CurrentUser):
    return current_user
""",
        {
            "app/main.py": '''
from fastapi import FastAPI
from slowapi import Limiter
from slowapi.middleware import SlowAPIMiddleware
from slowapi.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=["60/minute"])
app = FastAPI()
app.state.limiter = limiter
app.add_middleware(SlowAPIMiddleware)
''',
            "app/routes/auth.py": '''
from fastapi import APIRouter
router = APIRouter()

@router.post("/signup", status_code=201)
def signup(user_in: UserRegister):
    return {}
''',
        },
        """
from fastapi import APIRouter, Depends
from fastapi_limiter.depends import RateLimiter

router = APIRouter(prefix="/auth", dependencies=[Depends(RateLimiter(times=5, seconds=60))])

@router.post("/otp/verify")
async def verify_otp(body: OtpIn):
    return {}

@router.post("/logout")
async def logout(body: LogoutIn):
    return {}
""",
        """
from fastapi import APIRouter, HTTPException, Request
from fastapi.routing import APIRoute

from app.limits import ip_limiter


class MfaRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request):
            if ip_limiter.is_limited(request.client.host):
                raise HTTPException(status_code=429)
            return await handler(request)

        return guarded


router = APIRouter(prefix="/mfa", route_class=MfaRoute)

@router.post("/verify")
async def verify_mfa(body: MfaIn):
    return {}
""",
        # A route FBA101 reports (no auth in an app that has it) is not also an open login endpoint;
        # a token endpoint behind HTTP Basic client authentication is not anonymous.
        {
            "app/security.py": """
from fastapi import Security
from fastapi.security import HTTPBasic, OAuth2PasswordBearer

oauth2 = OAuth2PasswordBearer(tokenUrl="/oauth/token")

def verify_client(credentials=Security(HTTPBasic())):
    return credentials.username
""",
            "app/routes.py": """
from fastapi import APIRouter, Depends
from app.security import oauth2, verify_client

router = APIRouter()

@router.get("/me")
def me(token: str = Depends(oauth2)) -> dict:
    return {}

@router.put("/users/{user_id}/password")
def set_password(user_id: int, body: PasswordIn) -> None:
    return None

@router.post("/oauth/token")
def issue_token(form: TokenForm, client: str = Depends(verify_client)) -> dict:
    return {}
""",
        },
        # A login route that only starts the OAuth redirect takes no secret.
        """
from fastapi import APIRouter, Request
router = APIRouter(prefix="/auth")

@router.post("/login")
async def login(request: Request):
    redirect_uri = str(request.app.url_path_for("auth"))
    return await oauth.google.authorize_redirect(request, redirect_uri)
""",
        # Exchanging a refresh token the server issued: nothing to guess.
        """
from fastapi import APIRouter, Request
router = APIRouter(prefix="/auth")

@router.post("/refresh")
async def refresh_token(request: Request):
    return await issue_tokens(request.cookies.get("refresh_token"))
""",
        # Registering a peer server or a node takes no secret from a person.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/register-peer")
async def register_peer(body: PeerIn):
    return {}

@router.delete("/register-peer/{peer_id}")
async def remove_peer(peer_id: str):
    return {}
""",
    )
    INVALID = (
        # Account recovery takes an e-mail or a code from anonymous callers.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/account/recover")
def recover_account(body: RecoverIn) -> dict:
    return {}
""",
        """
from fastapi import APIRouter, Depends
router = APIRouter()

@router.post("/login/access-token")
def login_access_token(session: SessionDep, form_data: Annotated[OAuth2PasswordRequestForm, Depends()]):
    return {}
""",
        """
from fastapi import APIRouter
router = APIRouter(prefix="/auth")

@router.post("/password/reset")
async def reset_password(body: NewPassword):
    return {}

@router.post("/sign-up", status_code=201)
async def create_account(body: UserRegister):
    return {}
""",
        # A sign-in variant with a suffix in an application that authenticates elsewhere.
        """
from fastapi import APIRouter, Depends
from app.deps import get_current_user

router = APIRouter(prefix="/auth")

@router.get("/me")
def me(user=Depends(get_current_user)) -> dict:
    return {}

@router.post("/login-ldap")
def login_ldap(form: LdapForm) -> dict:
    return {}
""",
        # Registering an account, whichever way the route spells it.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/register-user")
def register_user(body: UserIn) -> dict:
    return {}
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/accounts/register")
def create_account(body: AccountIn) -> dict:
    return {}
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        candidates = [(r, f) for r, f in ctx.route_handlers()
                      if is_auth_endpoint(r) and not _takes_no_guessable_secret(r) and _anonymous(r)]
        if not candidates or _project_throttled(ctx):
            return
        for route, func in candidates:
            router = _router_declaration(ctx, route.owner)
            if _throttled(route, func) or THROTTLE.search(router) or _throttling_route_class(ctx, router):
                continue
            yield self.finding(
                ctx,
                func,
                f"{route_label(route)} is an authentication endpoint open to anonymous clients "
                "with no rate limit; add @limiter.limit(...) (slowapi) or Depends(RateLimiter(...))",
                line=route.decorator_line,
            )


def _takes_no_guessable_secret(route: Route) -> bool:
    """An authentication word that here names no secret a person could guess: `/register-peer`
    registers a machine (each "register" names something other than an account), `/refresh`
    or `refresh_token` exchanges a token the server issued, too long to guess."""
    names = [*route.path.lower().split("/"), route.function.lower()]
    words = [[w for w in re.split(r"[^a-z0-9]+", name) if w] for name in names]
    said = {w for ws in words for w in ws} | {a + b for ws in words for a, b in zip(ws, ws[1:])}
    auth_words = said & AUTH_ENDPOINT_WORDS
    if auth_words == {"token"}:
        return "refresh" in said
    if auth_words != {"register"}:
        return False
    followers = [ws[i + 1] if i + 1 < len(ws) else "" for ws in words for i, w in enumerate(ws) if w == "register"]
    return all(f and f not in ACCOUNT_WORDS for f in followers)


def _anonymous(route: Route) -> bool:
    """Open to anonymous callers by design: not authenticated (changing one's own password,
    testing a token) and not a route FBA101 reports for its missing authentication."""
    if route.auth_status in {"authenticated", "unknown"}:
        return False
    return route.auth_status == "public" or not route.app_has_auth


def _throttled(route: Route, func: FunctionNode) -> bool:
    if any(THROTTLE.search(ast.unparse(d)) for d in func.decorator_list):
        return True
    if any(THROTTLE.search(f"{p.annotation} {p.default}") for p in route.params):
        return True
    return any(
        THROTTLE_CALL.search(call_name(n) or "") for n in walk_body(func) if isinstance(n, ast.Call)
    )


def _router_declaration(ctx: FileContext, owner: str) -> str:
    """The source of `owner = APIRouter(...)` (or `FastAPI(...)`) in this file, else ""."""
    for node in ctx.tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if any(dotted_name(target) == owner for target in node.targets):
                return ast.unparse(node.value)
    return ""


def _throttling_route_class(ctx: FileContext, router_source: str) -> bool:
    """`APIRouter(route_class=GuardedRoute)` where this file's `GuardedRoute` throttles in its handler."""
    match = re.search(r"route_class\s*=\s*([A-Za-z_]\w*)", router_source)
    if match is None:
        return False
    for node in ctx.tree.body:
        if isinstance(node, ast.ClassDef) and node.name == match.group(1):
            return any(THROTTLE_CALL.search(call_name(n) or "") for n in ast.walk(node) if isinstance(n, ast.Call))
    return False


def _imports_app_throttle(index) -> bool:
    imported = (name for facts in index.files.values() for name in facts.imports.values())
    return any(APP_THROTTLE.search(name.rsplit(".", 1)[-1]) for name in imported)


_APP_THROTTLE_IMPORTED = PerIndex(_imports_app_throttle)


def _project_throttled(ctx: FileContext) -> bool:
    """Some module of the project installs a rate-limit middleware for the whole app."""
    if _APP_THROTTLE_IMPORTED(ctx.index):
        return True
    return any(isinstance(n, ast.ClassDef) and APP_THROTTLE.search(n.name) for n in ctx.tree.body)

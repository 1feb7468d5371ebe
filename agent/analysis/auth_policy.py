"""The route authentication policy: what counts as authentication, what is public by design, and why.

`FBA101` (route without auth), `FBA407` (auth endpoint without rate limit), `fba routes` and the
context given to the model all read the decisions made here, through the project index: the
index stores facts and resolves names (`ProjectIndex._lookup`), this module judges them.

A route is

* `authenticated` when a dependency that authenticates is attached to it (handler parameter,
  the decorator's `dependencies=`, its router, every `include_router` chain mounting it, or the
  app), a decorator such as `@requires("authenticated")` guards it, its handler checks a
  credential itself (answers 401/403, decodes a JWT, rejects a bad token header), or a middleware
  of the application answers 401/403;
* `unknown` when the only candidate is a dependency defined outside the reviewed files, judged
  by its name (`CurrentUser`, `get_current_*`, `require_*`, `verify_token`);
* `public` (checked before the handler's own checks: a login handler answers 401 to a wrong
  password) when configured (`public-routes`) or of a kind that is public by design (login and
  signup flows, OAuth authorize/callback, token verification and reset requests, health and
  metadata probes, a `public` path segment, a page-shell catch-all, a redirect);
* `missing` otherwise.

A dependency authenticates (transitively, across files) when it uses a `fastapi.security` scheme
(also called inline: `Security(HTTPBearer())`), decodes a JWT, answers 401/403, rejects a
credential-like header/query/cookie parameter, redirects an anonymous session to the login
page, is fastapi-users' `current_user(...)`, depends on one that does (also from a function
defined inside a dependency factory), calls one, returns one (a factory picking the scheme), or
is named in `auth-dependencies`. A route dependency bound to a local name by the function that
registers the route (`check = make_key_check(api_key)`) is judged as the callable that builds it
(`facts.route_of_function`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.analysis.facts import JWT_DECODERS, FileFacts, FunctionFacts, Include, Param, Route, RuntimeRoute, Via

if TYPE_CHECKING:
    from agent.analysis.index import ProjectIndex

SECURITY_SCHEMES = frozenset({
    "OAuth2PasswordBearer", "OAuth2AuthorizationCodeBearer", "OAuth2", "HTTPBearer", "HTTPBasic",
    "HTTPDigest", "APIKeyHeader", "APIKeyQuery", "APIKeyCookie", "OpenIdConnect",
})
# Names of dependencies that authenticate, for dependencies defined outside the reviewed files.
AUTH_NAME = re.compile(
    r"current_(active_)?(super)?user|get_current_|authenticat|authoriz|auth_user|require_\w+|login_required"
    r"|verify_(token|jwt|api_key|user|access|session|signature)|(oauth2|bearer|api_key|apikey|token)_scheme"
    r"|get_token_header|get_api_key|user_from_token|valid_token|check_token|current_principal",
    re.IGNORECASE,
)
# Annotation names that are (unresolved) auth aliases: `CurrentUser`, `CurrentCustomer`,
# `AuthUserDep`, `CurrentTenantDep`, `TokenDep`.
PRINCIPALS = r"(User|Customer|Member|Tenant|Principal|Account|Admin|Superuser|Org|Organization|Workspace)"
AUTH_ALIAS_NAME = re.compile(rf"^(Current|Auth(enticated)?|Active|Verified|Requir(ed|e))\w*{PRINCIPALS}\w*$"
                             rf"|^\w*{PRINCIPALS}Dep$|^TokenDep$")
ADMIN_NAME = re.compile(r"superuser|admin|staff", re.IGNORECASE)
# Decorators that refuse anonymous callers: Starlette's `@requires("authenticated")`, Flask-style
# `@login_required`, project `@authenticated` / `@auth_required`.
AUTH_DECORATOR = re.compile(r"^(requires|login_required|auth_required|authenticated|require_auth\w*|jwt_required)$")

# Calls that check a request signature or shared secret (Stripe/GitHub webhooks, HMAC tokens).
SIGNATURE_CALL = re.compile(r"construct_event|verify_?signature|verify_webhook|compare_digest|validate_signature", re.IGNORECASE)
# Calls whose name says they check the caller's credential (`authenticate_credentials(activation_token=...)`).
CREDENTIAL_CALL = re.compile(r"^(authenticate\w*|verify_(token|jwt|api_key|credentials?|access_token|activation_token)"
                             r"|check_(token|credentials?|api_key)|decode_(token|jwt|access_token))$")
# Calls that read stored data: a handler making one is not a stateless utility.
DATA_CALL = re.compile(r"(^|\.)(all|filter|filter_by|get|query|execute|scalars?|scalar_one\w*|first|find\w*|select|"
                       r"fetch\w*|objects\.\w+|aggregate|count|exists)$")

READ_CALL = re.compile(r"(^|\.)((get|list|load|read)_\w+|[A-Z]\w*)$")
# Names of things that belong to someone: a utility reading them is not stateless.
PRIVATE_WORDS = re.compile(r"user|account|member|customer|tenant|secret|token|key|password|credential|session"
                           r"|order|payment|invoice|message|file|document|profile", re.IGNORECASE)

# Last path segments of read-only lookup lists (reference data, enum choices).
LOOKUP_WORDS = frozenset({"options", "choices", "types", "supported", "languages", "currencies", "countries",
                          "timezones", "locales", "capabilities"})

# Why a dependency authenticates (the codes `dependency_auth` answers), in words.
REASONS = {
    "config": "named in the auth-dependencies setting",
    "security-scheme": "a fastapi.security scheme",
    "fastapi-users": "fastapi-users current_user()",
    "jwt-decode": "decodes a JWT",
    "http-401": "answers 401 when the credential is missing or wrong",
    "http-403": "answers 403 to callers it refuses",
    "credential-check": "rejects a wrong credential header/query/cookie",
    "login-redirect": "sends an anonymous session to the login page",
    "dependency": "depends on an authenticating dependency",
    "calls": "calls a function that authenticates",
    "factory": "returns or builds an authenticating dependency",
    "signature": "verifies a request signature or shared secret",
    "credential-call": "calls a credential check (authenticate_*, verify_token, ...)",
    "decorator": "a decorator that refuses anonymous callers",
    "by-name": "defined outside the reviewed files (or resting on one); judged by its name",
}

# Words that make a route deliberately public, anywhere in its path or function name.
PUBLIC_WORDS = frozenset({
    "forgot", "health", "healthz", "healthcheck", "readiness", "readyz", "liveness",
    "livez", "webhook", "webhooks", "openapi", "docs", "redoc", "callback", "wellknown", "public",
})
# Word prefixes of sign-in flows, also with a suffix (`login_ldap`, `/signin-oauth`, `loginWithEmail`).
SIGN_IN_PREFIXES = ("login", "signin", "signup", "register", "logout", "logon", "signout")
# Words that make a route public only next to an authentication word (`/auth/refresh`,
# `/password-reset`, `/email/verify`) or a second one of them (`/request-verify-token`):
# `/orders/{id}/confirm` or `/reports/refresh` stay private.
PUBLIC_IN_AUTH_CONTEXT = frozenset({"token", "refresh", "reset", "verify", "verification", "confirm", "activate",
                                    "authorize", "authorization", "redirect", "providers", "metadata", "magic"})
AUTH_CONTEXT = frozenset({"auth", "oauth", "oauth2", "password", "email", "account", "session", "jwt", "sso",
                          "oidc", "saml", "magic", "otp", "mfa", "2fa", "invite", "invitation", "provider", "device"})
# Recovery words name an account's recovery only next to an authentication word (`/password-recovery`,
# `/account/recover`): `/jobs/recovery/force_reset` recovers a pipeline, and takes no secret.
RECOVERY_WORDS = frozenset({"recover", "recovery"})
# Words that make a route public only when they are the route's whole path (`/ping`, `/api/v1/version`).
PUBLIC_ALONE = frozenset({
    "ping", "status", "metrics", "ready", "live", "alive", "version", "info", "token", "changelog",
    "manifest.json", "robots.txt", "favicon.ico", "opensearch.xml", "sitemap.xml", "security.txt",
})
# Words of discovery and status documents (`/scim/v2/ServiceProviderConfig`, `/ResourceTypes`):
# public when the handler answers a fixed literal.
DISCOVERY_WORDS = frozenset({"config", "configuration", "schema", "schemas", "types", "capabilities", "discovery",
                             "metadata", "status", "features"})
MOUNT_SEGMENTS = re.compile(r"api|v\d+(\.\d+)?")

# FBA407: non-GET routes whose path or function name says they take a secret from a caller.
AUTH_ENDPOINT_WORDS = frozenset({
    "login", "signin", "logon", "token", "signup", "register", "password", "otp", "totp", "2fa", "mfa",
    "verify", "verification", "magic", "forgot",
})
NOT_AUTH_ENDPOINT_WORDS = frozenset({"logout", "signout", "revoke", "webhook", "webhooks", "hook", "hooks"})


@dataclass(frozen=True)
class AuthDecision:
    status: str  # authenticated | public | missing | unknown
    reason: str
    via: tuple[Via, ...] = ()

    @property
    def level(self) -> str | None:
        """The `Route.auth` level: where the first authenticating dependency is attached."""
        if self.status not in {"authenticated", "unknown"} or not self.via:
            return None
        attached = self.via[0].attached
        return "handler" if attached == "route" else attached


# --- dependencies --------------------------------------------------------------------------------


def dependency_auth(index: ProjectIndex, path: str, name: str) -> str | None:
    """The reason code (`REASONS`) that makes dependency `name` (as written in `path`) authenticate, else None."""
    if name in index.extra_auth_dependencies or name.rsplit(".", 1)[-1] in index.extra_auth_dependencies:
        return "config"
    last = name.rsplit(".", 1)[-1]
    if last in SECURITY_SCHEMES:
        return "security-scheme"
    facts = index.files.get(path)
    qual = index._lookup(facts, name) if facts is not None else None
    if qual is None:
        return "by-name" if AUTH_NAME.search(last) or AUTH_ALIAS_NAME.search(last) else None
    return symbol_auth(index, qual)


def symbol_auth(index: ProjectIndex, qual: str) -> str | None:
    memo = index._auth_memo
    if qual not in memo:
        memo[qual] = None  # cycle guard: a dependency cycle proves nothing
        memo[qual] = _compute_auth(index, qual)
    return memo[qual]


def _compute_auth(index: ProjectIndex, qual: str) -> str | None:
    symbol = index.symbols[qual]
    if symbol.name in index.extra_auth_dependencies or qual in index.extra_auth_dependencies:
        return "config"
    if symbol.kind == "function":
        return _function_auth(index, symbol.path, symbol.value)
    if symbol.kind == "alias":
        return dependency_auth(index, symbol.path, symbol.value)
    if symbol.kind == "instance":
        callee = symbol.value
        last = callee.rsplit(".", 1)[-1]
        if last in SECURITY_SCHEMES:
            return "security-scheme"
        if last == "current_user":
            return "fastapi-users"
        class_qual = index._lookup(index.files[symbol.path], callee)
        if class_qual is None:
            return None
        found = symbol_auth(index, class_qual)
        return "factory" if found and index.symbols[class_qual].kind == "function" else found
    if symbol.kind == "class":
        call = qual + ".__call__"
        return symbol_auth(index, call) if call in index.symbols else None
    return None


def _function_auth(index: ProjectIndex, path: str, function: FunctionFacts) -> str | None:
    """Why a function authenticates; "by-name" when its only evidence is an unresolved dependency."""
    if function.signals:
        return function.signals[0]
    facts = index.files[path]
    by_name = False
    for param in function.params:
        dependency = param_dependency(index, facts, param)
        code = dependency_auth(index, path, dependency) if dependency is not None else None
        if code is not None and code != "by-name":
            return "dependency"
        by_name = by_name or code == "by-name"
    if any(dependency_auth(index, path, d) not in {None, "by-name"} for d in function.inner_dependencies):
        return "factory"
    for call in function.calls:
        if index._qualified_guess(facts, call).endswith(JWT_DECODERS):
            return "jwt-decode"
        callee = index._lookup(facts, call)
        if callee is not None and index.symbols[callee].kind == "function" and symbol_auth(index, callee) not in {None, "by-name"}:
            return "calls"
    for returned in function.returns:
        callee = index._lookup(facts, returned)
        if callee is not None and index.symbols[callee].kind == "function" and symbol_auth(index, callee):
            return "factory"
    return "by-name" if by_name else None


def param_dependency(index: ProjectIndex, facts: FileFacts, param: Param) -> str | None:
    """The dependency a parameter names: `Depends(x)`, an `Annotated` alias annotation, or a
    default bound to a module-level `Depends(x)` (`user=CURRENT`)."""
    if param.dependency:
        return param.dependency
    if param.default and re.fullmatch(r"[\w.]+", param.default):
        qual = index._lookup(facts, param.default)
        if qual is not None and index.symbols[qual].kind == "alias":
            return param.default
    if not param.annotation or not re.fullmatch(r"[\w.]+", param.annotation):
        return None
    qual = index._lookup(facts, param.annotation)
    if qual is not None:
        return param.annotation if index.symbols[qual].kind == "alias" else None
    return param.annotation if AUTH_ALIAS_NAME.search(param.annotation.rsplit(".", 1)[-1]) else None


def is_admin_dependency(index: ProjectIndex, path: str, name: str) -> bool:
    """Does the dependency `name` require a superuser/admin (directly or through its own dependencies)?"""
    facts = index.files.get(path)
    qual = index._lookup(facts, name) if facts is not None else None
    return symbol_admin(index, qual) if qual is not None else bool(ADMIN_NAME.search(name.rsplit(".", 1)[-1]))


def symbol_admin(index: ProjectIndex, qual: str) -> bool:
    memo = index._admin_memo
    if qual not in memo:
        memo[qual] = False
        memo[qual] = _compute_admin(index, qual)
    return memo[qual]


def _compute_admin(index: ProjectIndex, qual: str) -> bool:
    symbol = index.symbols[qual]
    if ADMIN_NAME.search(symbol.name) and symbol.kind in {"function", "alias", "instance"}:
        return True
    if symbol.kind == "function":
        if symbol.value.admin_check:
            return True
        facts = index.files[symbol.path]
        return any(is_admin_dependency(index, symbol.path, d) for p in symbol.value.params
                   if (d := param_dependency(index, facts, p)))
    if symbol.kind in {"alias", "instance"}:
        return is_admin_dependency(index, symbol.path, symbol.value)
    if symbol.kind == "class":
        return qual + ".__call__" in index.symbols and symbol_admin(index, qual + ".__call__")
    return False


def authenticates_in_body(index: ProjectIndex, facts: FileFacts, signals: tuple[str, ...], calls: tuple[str, ...]) -> str | None:
    """Does a handler check a credential itself (answer 401/403, decode a JWT, reject a bad token,
    or call a function that authenticates)? The reason code, else None."""
    found = [s for s in signals if s != "optional-auth"]
    if found:
        return found[0]
    for call in calls:
        if SIGNATURE_CALL.search(call):
            return "signature"
        if CREDENTIAL_CALL.search(call.rsplit(".", 1)[-1]):
            return "credential-call"
        if index._qualified_guess(facts, call).endswith(JWT_DECODERS):
            return "jwt-decode"
        callee = index._lookup(facts, call)
        if callee is not None and index.symbols[callee].kind == "function" and symbol_auth(index, callee) not in {None, "by-name"}:
            return "calls"
    return None


# --- routes --------------------------------------------------------------------------------------

Chain = list[tuple[str, Include, str]]


def decide(index: ProjectIndex, facts: FileFacts, route: Route, router_qual: str | None,
           chains: list[Chain], full_paths: list[str]) -> AuthDecision:
    """The authentication of one route (its dependencies already resolved by the index)."""
    found = _attached_auth(index, facts, route, router_qual, chains)
    confirmed = [v for v, code in found if code != "by-name"]
    if confirmed:
        code = next(code for v, code in found if code != "by-name")
        return AuthDecision("authenticated", f"{confirmed[0].dependency}: {REASONS.get(code, code)}", tuple(v for v, _ in found))
    if found:
        return AuthDecision("unknown", f"{found[0][0].dependency}: {REASONS['by-name']}", tuple(v for v, _ in found))
    reason = next((r for full in full_paths if (r := public_reason(route, full, index.public_routes))), None)
    if reason is not None:
        return AuthDecision("public", reason)
    body = authenticates_in_body(index, facts, route.signals, route.calls)
    middleware = _auth_middleware(index, route)
    if middleware is not None and body in {None, "http-403"}:  # a 403 alone may refuse a value, not a caller
        return AuthDecision("authenticated", "an HTTP middleware of the application answers 401/403", (middleware,))
    if body is not None:
        via = Via(route.function, "handler", route.file, route.line)
        return AuthDecision("authenticated", f"the handler itself {REASONS.get(body, body)}", (via,))
    if "optional-auth" in route.signals:
        return AuthDecision("public", "optional authentication: the handler serves anonymous callers on purpose "
                                      "(it reads request.user.is_authenticated)")
    if _stateless(index, facts, route):
        return AuthDecision("public", "a stateless utility (no input naming a resource, no session, no data access)")
    catalogue = _catalogue(index, facts, route)
    if catalogue is not None:
        return AuthDecision("public", catalogue)
    if router_qual is not None and len(chains) > 1:
        return AuthDecision("missing", "no authentication on one of the include_router chains mounting it")
    return AuthDecision("missing", "no authentication at handler, router, include_router or app level")


def _attached_auth(index: ProjectIndex, facts: FileFacts, route: Route, router_qual: str | None,
                   chains: list[Chain]) -> list[tuple[Via, str]]:
    """Every authenticating dependency attached to the route, nearest first, with its reason code."""
    found: list[tuple[Via, str]] = []
    params = {p.dependency: p for p in route.params if p.dependency}
    for dependency in route.dependencies:
        code = dependency_auth(index, facts.path, dependency)
        if code is not None:
            param = params.get(dependency)
            attached, line = ("handler", param.line) if param is not None else ("route", route.decorator_line)
            found.append((Via(dependency, attached, route.file, line), code))
    for decorator in route.decorators:
        if AUTH_DECORATOR.match(decorator.rsplit(".", 1)[-1]):
            found.append((Via(decorator, "handler", route.file, route.decorator_line), "decorator"))
    if router_qual is None or index.symbols[router_qual].kind != "router":
        return found
    own = _router_auth(index, router_qual)
    if own is not None:
        found.append(own)
    per_chain = [_chain_auth(index, chain) for chain in chains]
    if per_chain and all(r is not None for r in per_chain):
        found.append(per_chain[0])  # type: ignore[arg-type]
    return found


def _router_auth(index: ProjectIndex, qual: str) -> tuple[Via, str] | None:
    symbol = index.symbols[qual]
    router = symbol.value
    for dependency in router.dependencies:
        code = dependency_auth(index, symbol.path, dependency)
        if code is not None:
            attached = "app" if router.kind == "FastAPI" else "router"
            return Via(dependency, attached, symbol.path, router.line), code
    return None


def _chain_auth(index: ProjectIndex, chain: Chain) -> tuple[Via, str] | None:
    """Auth along one mount chain (outermost include first): include deps or a parent's own deps."""
    for path, include, parent in chain:
        if index.symbols[parent].kind == "router" and (own := _router_auth(index, parent)) is not None:
            via, code = own
            return (via if via.attached == "app" else Via(via.dependency, "include", via.file, via.line)), code
        for dependency in include.dependencies:
            code = dependency_auth(index, path, dependency)
            if code is not None:
                return Via(dependency, "include", path, include.line), code
    return None


def _auth_middleware(index: ProjectIndex, route: Route) -> Via | None:
    """An authenticating HTTP middleware in a file of one of the route's applications (the file
    defining its `FastAPI()` object, or, for an application known only by its top package, any
    file of that package)."""
    for path, facts in index.files.items():
        if not facts.auth_middleware:
            continue
        module = facts.module
        for app in route.apps:
            same_app = app in index.symbols and index.symbols[app].path == path
            same_package = app.endswith(".*") and (module == app[:-2] or module.startswith(app[:-1]))
            if same_app or same_package:
                return Via("middleware", "app", path, facts.auth_middleware[0])
    return None


def _catalogue(index: ProjectIndex, facts: FileFacts, route: Route) -> str | None:
    """A read-only lookup list, public by design (`GET /chat/options`, `/supported-events`,
    `/countries`): reference data with no path parameter naming a resource.

    A read over owner-less table models (`GET /tags`) is not taken as public: whether a shared
    catalogue is meant for anonymous callers is not in the code (the clean app's tag catalogue
    sits behind include-level auth), so it stays a finding to confirm or list in `public-routes`."""
    if not set(route.methods) <= {"GET", "HEAD"} or route.path_params():
        return None
    static = [s for s in route.path.strip("/").split("/") if s and not s.startswith("{")]
    if static and _words(static[-1]) & LOOKUP_WORDS:
        return f"a read-only lookup list ({static[-1]})"
    return None


def _stateless(index: ProjectIndex, facts: FileFacts, route: Route) -> bool:
    """A utility that can answer nobody's data (`POST /api/server/get_info`): no parameters and
    no dependencies, it only reads (`get_*`/`list_*`/`load_*` calls, constructors of answers),
    no data access call, no table model named in its body. A stub (`return []`) is not one."""
    if route.params or route.dependencies or not route.calls:
        return False
    if any(DATA_CALL.search(call) or not READ_CALL.search(call) or PRIVATE_WORDS.search(call) for call in route.calls):
        return False
    return not any((model := index.model(facts.path, name)) is not None and model.table for name in route.names)


def runtime_decision(index: ProjectIndex, served: RuntimeRoute, route: Route | None) -> AuthDecision:
    """The authentication of a route FastAPI serves (`--app`), judged over FastAPI's own
    dependency graph. What the graph cannot hold (a check in the handler body, an auth decorator,
    an authenticating middleware, a public kind found in the handler) comes from the static
    `route` of the same handler, when there is one."""
    found = []
    for dependency in served.dependencies:
        via = Via(dependency.name, dependency.attached, dependency.file, dependency.line)
        code = "security-scheme" if dependency.scheme else dependency_auth(index, dependency.file, dependency.name)
        if code is not None:
            found.append((via, code))
    confirmed = [(v, code) for v, code in found if code != "by-name"]
    if confirmed:
        return AuthDecision("authenticated", f"{confirmed[0][0].dependency}: {REASONS.get(confirmed[0][1], confirmed[0][1])}"
                                             " (FastAPI's dependency graph)", tuple(v for v, _ in found))
    if found:
        return AuthDecision("unknown", f"{found[0][0].dependency}: {REASONS['by-name']}", tuple(v for v, _ in found))
    if route is not None:
        outside = tuple(v for v in route.auth_chain if v.dependency in {route.function, "middleware"}
                        or AUTH_DECORATOR.match(v.dependency.rsplit(".", 1)[-1]))
        if route.auth_status == "authenticated" and outside:
            return AuthDecision("authenticated", route.auth_reason, outside)
        reason = public_reason(route, served.path, index.public_routes)
        if reason is None and route.auth_status == "public":
            reason = route.auth_reason  # a kind found in the handler (optional auth, stateless utility)
        if reason is not None:
            return AuthDecision("public", reason)
    return AuthDecision("missing", "no authenticating dependency in FastAPI's dependency graph")


def principal(index: ProjectIndex, facts: FileFacts, route: Route) -> tuple[str | None, str | None]:
    """(parameter name, its annotation or dependency) of the authenticated caller the handler receives."""
    for param in route.params:
        if param.dependency and dependency_auth(index, facts.path, param.dependency) is not None \
                and param.annotation not in {"str", "TokenDep"}:
            shown = param.annotation or param.dependency
            return param.name, shown.rsplit("[", 1)[0] if shown.startswith("Annotated[") else shown
    return None, None


# --- public by design ----------------------------------------------------------------------------


def public_reason(route: Route, full_path: str, patterns: tuple[str, ...] = ()) -> str | None:
    """Why a route without authentication is public by design, or None."""
    for pattern in patterns:
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in (full_path, full_path.rstrip("/") or "/", route.path)):
            return f"configured public (public-routes: {pattern})"
    path_words = _words(full_path.replace(".well-known", "wellknown"))
    words = path_words | _words(route.function) | _camel_words(route.function)
    if "public" in path_words:
        return "a `public` path segment"
    sign_in = next((w for w in words if w.startswith(SIGN_IN_PREFIXES)), None)
    if sign_in is not None:
        return f"sign-in flow ({sign_in})"
    if (form := _sign_in_body(route)) is not None:
        return f"sign-in flow (takes a {form} body)"
    if words & PUBLIC_WORDS:
        return f"public by design ({sorted(words & PUBLIC_WORDS)[0]})"
    if words & RECOVERY_WORDS and words & AUTH_CONTEXT:
        return f"account recovery ({'/'.join(sorted(words & (RECOVERY_WORDS | AUTH_CONTEXT)))})"
    in_context = words & PUBLIC_IN_AUTH_CONTEXT
    if in_context and (words & AUTH_CONTEXT or len(in_context) > 1):
        return f"authentication flow ({'/'.join(sorted(in_context | (words & AUTH_CONTEXT)))})"
    static = [s for s in full_path.strip("/").split("/") if s and not s.startswith("{")]
    while len(static) > 1 and MOUNT_SEGMENTS.fullmatch(static[0].lower()):
        static.pop(0)
    if len(static) == 1 and static[0].lower() in PUBLIC_ALONE:
        return f"service probe or metadata ({static[0]})"
    read_only = set(route.methods) <= {"GET", "HEAD"}
    if full_path.rstrip("/") == "" and read_only:
        return "the site root"
    if read_only and re.search(r"\{\w+:path\}$", full_path) and not re.sub(r"\{\w+:path\}$", "", full_path).count("{"):
        return "a catch-all page shell ({path:path})"
    if route.answer == "redirect":
        return "a redirect"
    if read_only and route.answer == "template" and all(p.source == "request" for p in route.params):
        return "a page shell (renders a template from the request alone)"
    if read_only and route.answer == "literal" and all(p.source == "request" for p in route.params) \
            and (route.path.strip("/") == "" or words & DISCOVERY_WORDS):
        return "a discovery or status document (a fixed literal)"
    return None


def _sign_in_body(route: Route) -> str | None:
    """The sign-in form a non-GET route takes as its body (`body: LoginBody`, `form: SignInRequest`):
    it exchanges credentials for a session, whatever its path says (`POST /token/cli`)."""
    if set(route.methods) <= {"GET", "HEAD", "OPTIONS"}:
        return None
    for param in route.params:
        if param.source not in {"body", "form"} or not re.fullmatch(r"[A-Za-z_][\w.]*", param.annotation):
            continue
        words = _camel_words(param.annotation.rsplit(".", 1)[-1])
        signing = {w for w in words if w.startswith(SIGN_IN_PREFIXES)}
        if signing and words - signing <= SIGN_IN_FORM_WORDS:
            return param.annotation
    return None


# The other words a sign-in form's class name may have (`LoginBody`, `UserLoginRequest`); not
# `LoginEvent` or `RegisterWebhookBody`, which only mention one.
SIGN_IN_FORM_WORDS = frozenset({"body", "form", "request", "req", "input", "in", "data", "credentials", "payload",
                                "params", "schema", "user", "password", "email", "model"})


def is_auth_endpoint(route: Route) -> bool:
    """A non-GET route that takes a secret from its caller: login, token, signup, password, OTP,
    verify. A handler that only starts an OAuth redirect (`authorize_redirect`) takes none."""
    if set(route.methods) <= {"GET", "HEAD", "OPTIONS"} or route.answer == "redirect":
        return False
    if route.calls and all(c.endswith(("authorize_redirect", "url_path_for", "str")) for c in route.calls):
        return False
    tokens = [t for t in re.split(r"[^a-z0-9]+", f"{route.path} {route.function}".lower()) if t]
    words = set(tokens) | {a + b for a, b in zip(tokens, tokens[1:])}
    recovery = bool(words & RECOVERY_WORDS and words & AUTH_CONTEXT)
    return bool(words & AUTH_ENDPOINT_WORDS or recovery) and not words & NOT_AUTH_ENDPOINT_WORDS


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}


def _camel_words(name: str) -> set[str]:
    return _words(re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name))

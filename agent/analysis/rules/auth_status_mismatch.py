from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import (ADMIN_ATTRIBUTES, call_name, http_exception_status, is_credential_name, keyword,
                                  literal_str)
from agent.analysis.models import OWNER_COLUMNS
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity

CREDENTIAL_DETAIL = re.compile(
    r"credential|not authenticated|unauthenticated|invalid (auth|token|jwt|api key)|(token|jwt|signature) "
    r"(has )?expired|could not validate|missing (token|api key|authorization)|bad token|invalid bearer",
    re.IGNORECASE,
)
PERMISSION_DETAIL = re.compile(
    r"permission|privilege|not allowed|forbidden|not enough|access denied|insufficient|admins? only|not an admin",
    re.IGNORECASE,
)
CREDENTIAL_NAMES = frozenset({"user", "token", "payload", "credentials", "username", "sub", "email", "user_id",
                              "token_data", "api_key", "key", "decoded", "claims", "current_user", "db_user"})
TOKEN_ERRORS = re.compile(r"Token|JWT|JWS|Jose|Decode|Signature|Expired|Validation|Credential")


class AuthStatusMismatch(Rule):
    """401 and 403 swapped.

    **What it does**
    Flags `HTTPException(403)` raised for missing or invalid credentials (a detail such as
    "Could not validate credentials", or, inside an auth dependency, after a failed token
    decode or when the token's user is not found) and `HTTPException(401)` raised for an
    authorization failure (an `is_superuser`/role/owner test, or a detail such as "Not enough
    permissions"). `status.HTTP_401_UNAUTHORIZED` and friends count like literals.

    **Why is this bad?**
    401 tells the client to (re)authenticate, 403 that authenticating again will not help.
    Swapping them breaks token refresh logic in clients and hides real permission problems.

    **Example**
    ```python
    except InvalidTokenError:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Could not validate credentials")
    ```

    **Use instead**
    ```python
    except InvalidTokenError:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    ```

    **Known problems**
    Decided from the condition around the raise and the detail text; an exception object
    built far from where it is raised is judged by where it is raised. Only an auth dependency
    that receives a credential (a token, a header, a request, a dependency) is judged by its
    structure: a route handler, or a permission check given the id of an already signed-in
    user, answers 403 for a missing row by choice. FastAPI's own
    `HTTPBearer` answered 403 for a missing header before 0.115; that is not flagged.
    """

    code = "FBA205"
    name = "auth-status-mismatch"
    category = "status-code"
    severity = Severity.MEDIUM
    title = "401 and 403 swapped"

    VALID = (
        """
import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

def get_current_user(token: str = Depends(oauth2_scheme)):
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(token, "k", algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise credentials_exception
    if payload.get("sub") is None:
        raise credentials_exception
    return payload

def get_current_active_user(current_user=Depends(get_current_user)):
    if not current_user.is_active:
        raise HTTPException(status_code=403, detail="Inactive user")
    return current_user

def get_current_active_superuser(current_user=Depends(get_current_active_user)):
    if not current_user.is_superuser:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="The user doesn't have enough privileges")
    return current_user
""",
        # One branch for a missing user and for a user without the role: either answer fits.
        """
from fastapi import Depends, HTTPException
from app.deps import get_current_user

def get_approved_user(user=Depends(get_current_user)):
    if user is None or user.role not in {"admin", "member"}:
        raise HTTPException(403, "Account is awaiting approval")
    return user

def get_admin(user=Depends(get_current_user)):
    if user is None or user.role != "admin":
        raise HTTPException(status_code=401, detail="Sign in as an administrator")
    return user
""",
        # A permission check given a signed-in user's id, and a route handler refusing a caller
        # without a local account: no credential is judged there, a 403 is a decision.
        """
from fastapi import APIRouter, HTTPException

router = APIRouter()

class ChatTable:
    async def require_chat_creation_permission(self, user_id: str, db=None) -> None:
        user = await Users.get_user_by_id(user_id, db=db)
        if not user:
            raise HTTPException(status_code=403, detail=ERROR_MESSAGES.ACCESS_PROHIBITED)

@router.post("/oauth/{provider}/token/exchange")
async def token_exchange(provider: str, form: TokenExchangeForm):
    claims = await verify_with_provider(provider, form.token)
    user = await Users.get_user_by_oauth_sub(provider, claims["sub"])
    if not user:
        raise HTTPException(status_code=403, detail="Sign in via the web interface first.")
    return issue_session(user)
""",
    )
    INVALID = (
        # full-stack-fastapi-template's older deps.py answered 403 for a bad token.
        """
import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")

def get_current_user(token: str = Depends(reusable_oauth2)):
    try:
        payload = jwt.decode(token, "k", algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Could not validate credentials")
    return payload
""",
        """
from fastapi import HTTPException

def get_current_active_superuser(current_user):
    if not current_user.is_superuser:
        raise HTTPException(status_code=401, detail="Admins only")
    return current_user
""",
        """
import fastapi

def get_token(token: str | None):
    if token is None:
        raise fastapi.HTTPException(status_code=fastapi.status.HTTP_403_FORBIDDEN, detail="Not authenticated")
    return token
""",
        # An auth dependency given the token: its user not found is a bad credential.
        """
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

scheme = OAuth2PasswordBearer(tokenUrl="token")

async def get_current_user(token: str = Depends(scheme), db=Depends(get_db)):
    user = await db.get(User, decode_subject(token))
    if not user:
        raise HTTPException(status_code=403, detail=ERROR_MESSAGES.ACCESS_PROHIBITED)
    return user
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        # Cheap text prefilter: every finding is at a call whose callee's name ends in `HTTPException`.
        if not ctx.may_name("HTTPException"):
            return
        for node in ctx.nodes_of(ast.Call):
            if not _names_http_exception(node.func):
                continue
            code = http_exception_status(node)
            if code not in (401, 403):
                continue
            detail = literal_str(keyword(node, "detail") or (node.args[1] if len(node.args) > 1 else None)) or ""
            sites = self._raise_sites(ctx, node)
            if code == 403 and (CREDENTIAL_DETAIL.search(detail) or any(self._credential_failure(ctx, s) for s in sites)):
                yield self.finding(ctx, node, "403 Forbidden for missing or invalid credentials; answer 401 "
                                   "Unauthorized (with a WWW-Authenticate header) so clients re-authenticate")
            elif code == 401 and (PERMISSION_DETAIL.search(detail) or any(_permission_test(ctx, s) for s in sites)):
                yield self.finding(ctx, node, "401 Unauthorized for an authenticated caller who lacks permission; "
                                   "answer 403 Forbidden")

    def _raise_sites(self, ctx: FileContext, node: ast.Call) -> list[ast.AST]:
        """Where the exception is raised: at `node`, or at each `raise name` of the variable it is bound to."""
        parent = ctx.parent(node)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            name = parent.targets[0].id
            scope = ctx.enclosing_function(node) or ctx.tree
            return [n for n in ctx.walk.subtree_of_type(scope, ast.Raise) if isinstance(n.exc, ast.Name) and n.exc.id == name]
        return [node]

    def _credential_failure(self, ctx: FileContext, site: ast.AST) -> bool:
        func = ctx.enclosing_function(site)
        if (func is None or ctx.route_of(func) is not None or not _takes_credential(func)
                or not ctx.index.is_auth_dependency(ctx.path, func.name)):
            return False
        for ancestor in ctx.ancestors(site):
            if isinstance(ancestor, ast.ExceptHandler):
                return ancestor.type is None or bool(TOKEN_ERRORS.search(ast.unparse(ancestor.type)))
            if isinstance(ancestor, ast.If):
                return _missing_test(ancestor.test)
            if ancestor is func:
                return False
        return False


def _takes_credential(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A parameter that can carry what the caller presented: named like a credential (`token`,
    `x_api_key`), a request or connection, or a FastAPI marker (`Depends`, `Security`, `Header`,
    `Cookie`). A function given `user_id` checks a user someone else authenticated."""
    args = func.args
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        if is_credential_name(arg.arg) or arg.arg in CONNECTION_NAMES or CONNECTION_TYPES.search(annotation):
            return True
    defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None),
                *(a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs] if a.annotation is not None)]
    return any(isinstance(n, ast.Call) and (call_name(n) or "").rsplit(".", 1)[-1] in CREDENTIAL_MARKERS
               for node in defaults for n in ast.walk(node))


CONNECTION_NAMES = frozenset({"request", "req", "websocket", "ws", "connection", "conn", "scope"})
CONNECTION_TYPES = re.compile(r"Request|WebSocket|HTTPConnection|Credentials|Scope")
CREDENTIAL_MARKERS = frozenset({"Depends", "Security", "Header", "Cookie"})


def _names_http_exception(callee: ast.expr) -> bool:
    """The last part of the callee's name ends in `HTTPException` (what `http_exception_status`
    requires), tested without building the dotted name."""
    if isinstance(callee, ast.Attribute):
        return callee.attr.endswith("HTTPException")
    return isinstance(callee, ast.Name) and callee.id.endswith("HTTPException")


def _missing_test(test: ast.AST) -> bool:
    """`not user`, `user is None`, `payload.get("sub") is None`, `not token_data.sub`. Of `a or b`
    every part must be one (each way into the branch is a missing credential: `user is None or
    user.role != "admin"` also rejects an authenticated user), of `a and b` one part."""
    if isinstance(test, ast.BoolOp):
        found = [_missing_test(v) for v in test.values]
        return all(found) if isinstance(test.op, ast.Or) else any(found)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _credential_name(test.operand)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is):
        right = test.comparators[0]
        return isinstance(right, ast.Constant) and right.value is None and _credential_name(test.left)
    return False


def _either_missing(test: ast.AST) -> bool:
    """`a or b` where one part is a missing credential (`_missing_test`)."""
    return isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and any(_missing_test(v) for v in test.values)


def _credential_name(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and (call_name(node) or "").endswith(".get") and node.args:
        return (literal_str(node.args[0]) or "") in CREDENTIAL_NAMES
    if isinstance(node, ast.Name):
        return node.id in CREDENTIAL_NAMES
    return isinstance(node, ast.Attribute) and node.attr in CREDENTIAL_NAMES


def _permission_test(ctx: FileContext, site: ast.AST) -> bool:
    for ancestor in ctx.ancestors(site):
        if isinstance(ancestor, ast.If):
            if _either_missing(ancestor.test):
                return False  # `user is None or user.role != "admin"`: 401 fits the missing user
            return any(isinstance(n, ast.Attribute) and (n.attr in ADMIN_ATTRIBUTES or n.attr in OWNER_COLUMNS)
                       for n in ast.walk(ancestor.test))
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
    return False

from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, keyword
from agent.analysis.rules._security import AUTHLIB, argument, jwcrypto_tokens, jwt_calls, local_values
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity


class JwtWithoutExpiry(Rule):
    """JWT issued without an `exp` claim.

    **What it does**
    Flags `jwt.encode(payload, ...)` (PyJWT, python-jose, authlib, also through an authlib
    `JsonWebToken(...)` instance) and jwcrypto `JWT(header=..., claims=...)` (unless its
    `default_claims` adds `exp`) when the payload is a dict built in the same function (a literal, `dict(...)`, or a name assigned one) and nothing adds an `"exp"`
    key: not the literal, not `payload.update({"exp": ...})` / `update(exp=...)`, not
    `payload["exp"] = ...`, not `{**data, "exp": ...}`.

    **Why is this bad?**
    A token without expiry is valid forever: a leaked or stolen token cannot be revoked by time,
    and logging out or changing the password does not end the session it grants.

    **Example**
    ```python
    def create_access_token(user_id: str) -> str:
        return jwt.encode({"sub": user_id}, settings.SECRET_KEY, algorithm="HS256")
    ```

    **Use instead**
    ```python
    def create_access_token(user_id: str, expires_delta: timedelta) -> str:
        expire = datetime.now(timezone.utc) + expires_delta
        return jwt.encode({"exp": expire, "sub": user_id}, settings.SECRET_KEY, algorithm="HS256")
    ```

    **Known problems**
    Payloads that come from a parameter or another module (e.g. `data.copy()` of the caller's dict)
    are not flagged: the caller may have set `exp`. Tokens meant to be long-lived (API keys signed as
    JWTs) are reported too; suppress those with `# fba: ignore[FBA114]`.
    """

    code = "FBA114"
    name = "jwt-without-expiry"
    category = "jwt"
    severity = Severity.MEDIUM
    title = "JWT issued without expiry"

    VALID = (
        """
from datetime import datetime, timedelta, timezone
import jwt

def create_access_token(subject: str, expires_delta: timedelta) -> str:
    expire = datetime.now(timezone.utc) + expires_delta
    to_encode = {"exp": expire, "sub": str(subject)}
    return jwt.encode(to_encode, "k", algorithm="HS256")
""",
        """
from datetime import datetime, timedelta, timezone
from jose import jwt

def create_access_token(data: dict, expires_delta: timedelta | None = None):
    to_encode = data.copy()
    expire = datetime.now(timezone.utc) + (expires_delta or timedelta(minutes=15))
    to_encode.update({"exp": expire})
    return jwt.encode(to_encode, "k", algorithm="HS256")
""",
        """
import jwt

def sign(claims: dict, key: str) -> str:
    return jwt.encode(claims, key, algorithm="HS256")
""",
        """
import time
import jwt

def refresh_token(user_id: str, key: str) -> str:
    payload = dict(sub=user_id)
    payload["exp"] = int(time.time()) + 3600
    return jwt.encode(payload, key, algorithm="HS256")
""",
        # jwcrypto with an exp claim or default_claims that add one; authlib's JsonWebToken with exp.
        """
import time
from authlib.jose import JsonWebToken
from jwcrypto import jwt

signer = JsonWebToken(["HS256"])

def access_token(user_id: str, key) -> str:
    token = jwt.JWT(header={"alg": "HS256"}, claims={"sub": user_id, "exp": int(time.time()) + 900})
    token.make_signed_token(key)
    return token.serialize()

def session_token(user_id: str, key) -> str:
    token = jwt.JWT(header={"alg": "HS256"}, claims={"sub": user_id}, default_claims={"exp": None, "iat": None})
    token.make_signed_token(key)
    return token.serialize()

def authlib_token(user_id: str, key: bytes) -> bytes:
    return signer.encode({"alg": "HS256"}, {"sub": user_id, "exp": int(time.time()) + 900}, key)
""",
    )
    INVALID = (
        """
import jwt

def create_access_token(user_id: str, key: str) -> str:
    return jwt.encode({"sub": user_id}, key, algorithm="HS256")
""",
        """
from jose import jwt

def create_access_token(user, key: str) -> str:
    to_encode = {"sub": str(user.id), "scopes": user.scopes}
    to_encode.update({"name": user.name})
    return jwt.encode(to_encode, key, algorithm="HS256")
""",
        """
from authlib.jose import jwt

def issue(user_id: str, key: bytes) -> bytes:
    return jwt.encode({"alg": "HS256"}, {"sub": user_id}, key)
""",
        """
from jwcrypto import jwk, jwt

def issue(user_id: str, key: jwk.JWK) -> str:
    claims = {"sub": user_id, "role": "member"}
    token = jwt.JWT(header={"alg": "RS256"}, claims=claims)
    token.make_signed_token(key)
    return token.serialize()
""",
        """
import json
from jwcrypto.jwt import JWT

def issue(user_id: str, key) -> str:
    token = JWT(header=json.dumps({"alg": "HS256"}), claims=json.dumps({"sub": user_id}))
    token.make_signed_token(key)
    return token.serialize()
""",
        """
from authlib.jose import JsonWebToken

signer = JsonWebToken(["HS256"])

def issue(user_id: str, key: bytes) -> bytes:
    return signer.encode({"alg": "HS256"}, {"sub": user_id}, key)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for call, library, _ in jwt_calls(ctx, "encode"):
            payload = argument(call, 1, "payload") if library == AUTHLIB else (
                argument(call, 0, "payload") or argument(call, 0, "claims"))
            if payload is None:
                continue
            scope = ctx.enclosing_function(call) or ctx.tree
            if _built_without_exp(payload, scope):
                yield self.finding(ctx, call, "jwt.encode() payload has no \"exp\" claim, so the token never "
                                   "expires; add \"exp\": now + timedelta(...)")
        for call in jwcrypto_tokens(ctx):
            claims = argument(call, 1, "claims")
            if claims is None or _defaults_exp(keyword(call, "default_claims")):
                continue
            if _built_without_exp(_json_encoded(claims), ctx.enclosing_function(call) or ctx.tree):
                yield self.finding(ctx, call, "jwcrypto JWT(claims=...) has no \"exp\" claim, so the token never "
                                   "expires; add \"exp\" or default_claims={\"exp\": None}")


def _json_encoded(claims: ast.expr) -> ast.expr:
    """jwcrypto also takes the claims as JSON text: `json.dumps({...})` is the dict inside."""
    if isinstance(claims, ast.Call) and (call_name(claims) or "").endswith(("json.dumps", "json_encode")) and claims.args:
        return claims.args[0]
    return claims


def _defaults_exp(default_claims: ast.expr | None) -> bool:
    """jwcrypto `default_claims={"exp": None}` adds an expiry; one fba cannot read may too."""
    if default_claims is None:
        return False
    return not isinstance(default_claims, ast.Dict) or _has_exp(default_claims)


def _built_without_exp(payload: ast.expr, scope: ast.AST) -> bool:
    """True when the payload is visibly built here as a dict and no "exp" key is ever added."""
    if _is_dict_build(payload):
        return not _has_exp(payload)
    if not isinstance(payload, ast.Name):
        return False
    values = local_values(scope, payload.id)
    if not values or not all(_is_dict_build(v) for v in values):
        return False
    return not any(_has_exp(v) for v in values) and not _exp_added_later(payload.id, scope)


def _is_dict_build(node: ast.expr) -> bool:
    return isinstance(node, ast.Dict) or (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict")


def _has_exp(node: ast.expr) -> bool:
    if isinstance(node, ast.Dict):
        # `{**data}` spreads may carry exp from the caller: give it the benefit of the doubt.
        return any(k is None or (isinstance(k, ast.Constant) and k.value == "exp") for k in node.keys)
    if isinstance(node, ast.Call):
        return any(kw.arg in ("exp", None) for kw in node.keywords) or bool(node.args)
    return False


def _exp_added_later(name: str, scope: ast.AST) -> bool:
    for node in ast.walk(scope):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name
                and isinstance(node.slice, ast.Constant) and node.slice.value == "exp"
                and isinstance(node.ctx, ast.Store)):
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("update", "setdefault")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == name):
            if node.func.attr == "setdefault":
                if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == "exp":
                    return True
            elif any(_has_exp(a) or not isinstance(a, ast.Dict) for a in node.args) or any(kw.arg in ("exp", None) for kw in node.keywords):
                return True
    return False

from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import keyword
from agent.analysis.rules._security import (
    AUTHLIB,
    JOSE,
    JWCRYPTO_JWS,
    JWCRYPTO_JWT,
    PYJWT,
    argument,
    imports_of,
    jwcrypto_tokens,
    jwt_calls,
    resolve,
    skips_signature,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity

DECODERS = ("decode", "decode_complete")
# Claims that only say when a token is valid: reading them unverified schedules a refresh.
TIMING_CLAIMS = frozenset({"exp", "iat", "nbf"})


class JwtDecodeUnverified(Rule):
    """JWT decoded without verifying its signature (or its claims).

    **What it does**
    Flags PyJWT / python-jose `jwt.decode(...)` with `options={"verify_signature": False}` (or
    PyJWT 1.x `verify=False`) and python-jose `jwt.get_unverified_claims(...)`, in a function that
    never verifies the token (peeking at `iss`/`kid` to choose the key, then verifying, is fine), and authlib `jwt.decode(...)` (also through a
    `JsonWebToken(...)` instance) whose claims are never `.validate()`d. jwcrypto tokens parsed
    without a key (`JWT(jwt=raw)`, `token.deserialize(raw)`) in a function that never verifies one,
    and `JWT(..., check_claims=False)`, are flagged too.
    `jwt` is resolved through the file's imports, so unrelated `decode` calls are ignored.

    **Why is this bad?**
    An unverified token is just JSON the client wrote: anyone can mint `{"sub": "admin"}` and be
    treated as that user. authlib checks the signature but leaves `exp`/`nbf` to `claims.validate()`,
    so expired tokens keep working forever.

    **Example**
    ```python
    payload = jwt.decode(token, options={"verify_signature": False})
    ```

    **Use instead**
    ```python
    payload = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM])
    ```

    **Known problems**
    `get_unverified_header` is not flagged: reading `kid` to pick a JWKS key is its normal use;
    neither are claims read only for `exp`/`iat`/`nbf` (scheduling a refresh of a held token).
    Options built in another module (or passed through `**kwargs`) are not followed.
    """

    code = "FBA111"
    name = "jwt-decode-unverified"
    category = "jwt"
    severity = Severity.CRITICAL
    title = "JWT decoded without signature verification"

    VALID = (
        """
import jwt
from app.core.config import settings

def current_user_id(token: str) -> str:
    payload = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    return payload["sub"]
""",
        """
from jose import jwt

def kid_of(token: str) -> str:
    # choosing the JWKS key by kid, then verifying with it
    return jwt.get_unverified_header(token)["kid"]

def verify(token: str, keys: dict) -> dict:
    claims = jwt.get_unverified_claims(token)
    key = keys[claims["iss"]]
    return jwt.decode(token, key, algorithms=["RS256"])
""",
        """
from authlib.jose import jwt

def read(token: str, key: bytes) -> dict:
    claims = jwt.decode(token, key)
    claims.validate()
    return claims
""",
        """
import base64

def decode(data: str, options: dict) -> bytes:
    return base64.b64decode(data)

def check(token):
    return decode(token, options={"verify_signature": False})
""",
        # Only the expiry of a token the server holds, to refresh it in time.
        """
import jwt

def refresh_due(session) -> int | None:
    exp = jwt.decode(session.id_token, options={"verify_signature": False}).get("exp")
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    return min(exp, claims["exp"]) if exp else claims["exp"]
""",
        # jwcrypto verifying with a key; authlib's JsonWebToken whose claims are validated.
        """
from authlib.jose import JsonWebToken
from jwcrypto import jwk, jwt

jwt_rs256 = JsonWebToken(["RS256"])

def read(token: str, key: jwk.JWK) -> dict:
    verified = jwt.JWT(jwt=token, key=key, algs=["RS256"])
    return verified.claims

def read_authlib(token: str, public_key: bytes) -> dict:
    claims = jwt_rs256.decode(token, public_key)
    claims.validate()
    return claims

def read_with_kid(raw: str, keys: jwk.JWKSet) -> str:
    token = jwt.JWT()
    token.deserialize(raw, keys)
    return token.claims
""",
        """
import jwt

def verify_id_token(token: str, jwks_client, audience: str) -> dict:
    # Peek at the issuer to pick the key set, then verify for real.
    issuer = jwt.decode(token, options={"verify_signature": False})["iss"]
    key = jwks_client(issuer).get_signing_key_from_jwt(token).key
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience)
""",
    )
    INVALID = (
        """
import jwt

def current_user_id(token: str) -> str:
    payload = jwt.decode(token, options={"verify_signature": False})
    return payload["sub"]
""",
        """
from jose import jwt as jose_jwt

def current_user_id(token: str) -> str:
    return jose_jwt.get_unverified_claims(token)["sub"]
""",
        """
import jwt

def current_user_id(token: str) -> str:
    return jwt.decode(token, "ignored", verify=False)["sub"]
""",
        """
import jwt

NO_VERIFY = {"verify_signature": False, "verify_exp": False}

def current_user_id(token: str) -> str:
    return jwt.decode(token, algorithms=["HS256"], options=NO_VERIFY)["sub"]
""",
        """
from authlib.jose import jwt

def read(token: str, key: bytes) -> dict:
    return jwt.decode(token, key)
""",
        # jwcrypto: parsed without a key.
        """
import json
from jwcrypto import jwt

def current_user_id(raw: str) -> str:
    token = jwt.JWT(jwt=raw)
    return json.loads(token.token.objects["payload"])["sub"]
""",
        """
from jwcrypto.jwt import JWT

def claims_of(raw: str) -> dict:
    token = JWT()
    token.deserialize(raw)
    return token.token.objects["payload"]
""",
        """
import json
from jwcrypto import jws

def subject_of(raw: str) -> str:
    token = jws.JWS()
    token.deserialize(raw)
    return json.loads(token.objects["payload"])["sub"]
""",
        # authlib through a JsonWebToken instance, claims never validated.
        """
from authlib.jose import JsonWebToken

jwt = JsonWebToken(["HS256"])

def read(token: str, key: bytes) -> dict:
    claims = jwt.decode(token, key)
    return dict(claims)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for call, library, function in jwt_calls(ctx, *DECODERS, "get_unverified_claims"):
            scope = ctx.enclosing_function(call)
            if _reads_only_timing(ctx, call, scope):
                continue  # `jwt.decode(held, options=...)["exp"]`: when to refresh, not who the caller is
            if function == "get_unverified_claims":
                if library == JOSE and not _verifies_elsewhere(ctx, scope):
                    yield self.finding(ctx, call, "jwt.get_unverified_claims() trusts a token whose signature "
                                       "was never checked; decode it with the key and algorithms= instead")
            elif library in (PYJWT, JOSE) and skips_signature(ctx, call, scope) and not _verifies_elsewhere(ctx, scope):
                yield self.finding(ctx, call, "jwt.decode() with signature verification turned off accepts "
                                   "forged tokens; verify with the key and algorithms=[...]")
            elif library == AUTHLIB and function == "decode" and not _validates(ctx, call, scope):
                yield self.finding(ctx, call, "authlib jwt.decode() checks the signature but not exp/nbf; "
                                   "call claims.validate() before trusting the claims")
        for call, message in _jwcrypto_unverified(ctx):
            yield self.finding(ctx, call, message)


def _reads_only_timing(ctx: FileContext, call: ast.Call, scope) -> bool:
    """The decoded claims are only read for `exp`/`iat`/`nbf`, directly or through the name they
    are bound to: nothing about the caller's identity is taken from the unverified token."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        name = parent.targets[0].id
        uses = [n for n in ast.walk(scope if scope is not None else ctx.tree)
                if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
        return bool(uses) and all(_timing_read(ctx, use) for use in uses)
    return _timing_read(ctx, call)


def _timing_read(ctx: FileContext, node: ast.AST) -> bool:
    """`node["exp"]` or `node.get("exp")`."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Subscript) and parent.value is node:
        key = parent.slice
    elif isinstance(parent, ast.Attribute) and parent.attr == "get" and isinstance(ctx.parent(parent), ast.Call):
        getter = ctx.parent(parent)
        key = getter.args[0] if getter.args else None
    else:
        return False
    return isinstance(key, ast.Constant) and key.value in TIMING_CLAIMS


def _verifies_elsewhere(ctx: FileContext, scope) -> bool:
    """True when the same function also decodes the token with verification (key lookup by claims)."""
    if scope is None:
        return False
    return any(not skips_signature(ctx, call, scope)
               for call, _, function in jwt_calls(ctx, *DECODERS)
               if ctx.enclosing_function(call) is scope)


def _validates(ctx: FileContext, call: ast.Call, scope) -> bool:
    """authlib: the decoded claims get `.validate()` in the same function (or are returned to a caller that might)."""
    parent = ctx.parent(call)
    if isinstance(parent, ast.Attribute) and parent.attr == "validate":
        return True
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)):
        return False
    name = parent.targets[0].id
    body = scope if scope is not None else ctx.tree
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "validate"
               and isinstance(n.func.value, ast.Name) and n.func.value.id == name for n in ast.walk(body))


def _jwcrypto_unverified(ctx: FileContext) -> Iterator[tuple[ast.Call, str]]:
    """jwcrypto: `JWT(jwt=raw)` or `token.deserialize(raw)` without a key (parsed, never verified)
    in a function that never verifies with one, and `check_claims=False` (exp/nbf unchecked)."""
    for call in jwcrypto_tokens(ctx, JWCRYPTO_JWT | JWCRYPTO_JWS):
        scope = ctx.enclosing_function(call) or ctx.tree
        check_claims = keyword(call, "check_claims")
        is_jwt = argument(call, 2, "jwt") is not None and resolve(call.func, imports_of(ctx)) in JWCRYPTO_JWT
        if is_jwt:
            if argument(call, 3, "key") is None and not _jwcrypto_verifies(scope):
                yield call, ("jwcrypto JWT(jwt=...) without key= only parses the token, its signature is never "
                             "checked; pass key= (a JWK or JWKSet)")
            elif isinstance(check_claims, ast.Constant) and check_claims.value is False:
                yield call, "jwcrypto JWT(..., check_claims=False) accepts expired tokens; drop check_claims=False"
        for later in _deserialized_without_key(ctx, call, scope):
            if not _jwcrypto_verifies(scope):
                yield later, ("jwcrypto deserialize() without a key only parses the token, its signature is never "
                              "checked; pass the key")


def _deserialized_without_key(ctx: FileContext, call: ast.Call, scope: ast.AST) -> list[ast.Call]:
    """`token = JWT(); token.deserialize(raw)` (or a `JWS()`): the name `call` is bound to, deserialized with no key."""
    parent = ctx.parent(call)
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)):
        return []
    name = parent.targets[0].id
    return [n for n in ast.walk(scope) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "deserialize" and isinstance(n.func.value, ast.Name) and n.func.value.id == name
            and argument(n, 1, "key") is None]


def _jwcrypto_verifies(scope: ast.AST) -> bool:
    """The function also deserializes with a key or calls `verify(key)` (peek at `kid`, then verify)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and (
        (n.func.attr == "deserialize" and argument(n, 1, "key") is not None)
        or (n.func.attr == "verify" and (n.args or n.keywords)))
        for n in ast.walk(scope))

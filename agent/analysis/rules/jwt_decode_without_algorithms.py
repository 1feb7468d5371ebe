from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.rules._security import JOSE, PYJWT, argument, has_star_kwargs, jwt_calls, skips_signature
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity


class JwtDecodeWithoutAlgorithms(Rule):
    """JWT decoded without pinning the accepted algorithms.

    **What it does**
    Flags PyJWT and python-jose `jwt.decode(token, key)` calls with no `algorithms=` (keyword or
    third positional argument), or `algorithms=None`. `jwt` is resolved through the file's imports
    (`import jwt`, `from jose import jwt`, aliases); other `decode` functions are not looked at.

    **Why is this bad?**
    Without an allow-list the token's own header chooses the algorithm. That enables algorithm
    confusion: a token signed with HS256 using the server's *public* RSA key as the HMAC secret
    verifies, and older library versions accept `alg: none`. PyJWT 2 refuses to decode without
    `algorithms`; python-jose silently accepts any algorithm.

    **Example**
    ```python
    payload = jwt.decode(token, settings.SECRET_KEY)
    ```

    **Use instead**
    ```python
    payload = jwt.decode(token, settings.SECRET_KEY, algorithms=[settings.ALGORITHM])
    ```

    **Known problems**
    Calls that pass `**kwargs` are skipped (the algorithms may be in them). Decodes with signature
    verification turned off are left to FBA111.
    """

    code = "FBA112"
    name = "jwt-decode-without-algorithms"
    category = "jwt"
    severity = Severity.HIGH
    title = "JWT decoded without algorithms="

    VALID = (
        """
import jwt
from app.core import security
from app.core.config import settings

def read(token: str) -> dict:
    return jwt.decode(token, settings.SECRET_KEY, algorithms=[security.ALGORITHM])
""",
        """
from jose import jwt

def read(token: str, key: str) -> dict:
    return jwt.decode(token, key, ["HS256"])
""",
        """
import base64
import codecs

def read(data: bytes) -> str:
    return codecs.decode(data, "rot13") + base64.b64decode(data).decode("utf-8")
""",
        """
import jwt

def read(token: str, **kwargs) -> dict:
    return jwt.decode(token, "key-from-caller", **kwargs)
""",
    )
    INVALID = (
        """
import jwt

def read(token: str, key: str) -> dict:
    return jwt.decode(token, key)
""",
        """
from jose import jwt as jose_jwt

def read(token: str, key: str) -> dict:
    return jose_jwt.decode(token, key, algorithms=None)
""",
        """
from jwt import decode

def read(token: str, key: str) -> dict:
    return decode(token, key=key, options={"require": ["exp"]})
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for call, library, _ in jwt_calls(ctx, "decode", "decode_complete"):
            if library not in (PYJWT, JOSE) or has_star_kwargs(call):
                continue
            algorithms = argument(call, 2, "algorithms")
            unpinned = algorithms is None or (isinstance(algorithms, ast.Constant) and algorithms.value is None)
            if unpinned and not skips_signature(ctx, call, ctx.enclosing_function(call)):
                yield self.finding(ctx, call, "jwt.decode() without algorithms= lets the token header pick the "
                                   "algorithm; pass algorithms=[\"HS256\"] (or your algorithm)")

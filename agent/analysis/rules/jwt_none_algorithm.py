from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.rules._security import AUTHLIB, argument, jwt_calls, resolve_value
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity


class JwtNoneAlgorithm(Rule):
    """JWT encoded with, or decoded accepting, the `none` algorithm.

    **What it does**
    Flags `jwt.decode(..., algorithms=[..., "none"])` and `jwt.encode(..., algorithm="none")`
    (PyJWT, python-jose; authlib headers `{"alg": "none"}`), case-insensitively, also when the
    list or name is a constant of the same module or function.

    **Why is this bad?**
    `none` means "no signature": a server that accepts it lets anyone forge tokens by deleting the
    signature and setting `alg` to `none`; a server that issues such tokens hands out forgeable ones.

    **Example**
    ```python
    ALGORITHMS = ["HS256", "none"]
    payload = jwt.decode(token, key, algorithms=ALGORITHMS)
    ```

    **Use instead**
    ```python
    payload = jwt.decode(token, key, algorithms=["HS256"])
    ```

    **Known problems**
    Algorithms read from settings or other modules are not followed.
    """

    code = "FBA113"
    name = "jwt-none-algorithm"
    category = "jwt"
    severity = Severity.CRITICAL
    title = "JWT 'none' algorithm allowed"

    VALID = (
        """
import jwt

ALGORITHM = "HS256"

def issue(claims: dict, key: str) -> str:
    return jwt.encode(claims, key, algorithm=ALGORITHM)

def read(token: str, key: str) -> dict:
    return jwt.decode(token, key, algorithms=[ALGORITHM])
""",
        """
from jose import jwt

def read(token: str, key: str, settings) -> dict:
    mode = "none"  # a log level, not an algorithm
    print(mode)
    return jwt.decode(token, key, algorithms=settings.JWT_ALGORITHMS)
""",
    )
    INVALID = (
        """
import jwt

def read(token: str, key: str) -> dict:
    return jwt.decode(token, key, algorithms=["HS256", "none"])
""",
        """
import jwt

ALGORITHM = "None"

def issue(claims: dict) -> str:
    return jwt.encode(claims, "", algorithm=ALGORITHM)
""",
        """
from jose import jwt

def read(token: str, key: str) -> dict:
    allowed = ["none"]
    return jwt.decode(token, key, allowed)
""",
        """
from authlib.jose import jwt

def issue(claims: dict, key: str) -> bytes:
    return jwt.encode({"alg": "none"}, claims, key)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for call, library, function in jwt_calls(ctx, "decode", "decode_complete", "encode"):
            scope = ctx.enclosing_function(call)
            if library == AUTHLIB:
                value = argument(call, 0, "header") if function == "encode" else None
            elif function == "encode":
                value = argument(call, 2, "algorithm")
            else:
                value = argument(call, 2, "algorithms")
            if value is not None and any(_names_none(v, library == AUTHLIB) for v in resolve_value(ctx, value, scope)):
                verb = "issues" if function == "encode" else "accepts"
                yield self.finding(ctx, call, f"jwt.{function}() {verb} unsigned tokens (algorithm 'none'); "
                                   "use a real algorithm such as HS256 or RS256")


def _names_none(node: ast.expr, header: bool) -> bool:
    if header:
        return isinstance(node, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value == "alg" and _is_none(v) for k, v in zip(node.keys, node.values))
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return any(_is_none(e) for e in node.elts)
    return _is_none(node)


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip().lower() == "none"

from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import keyword
from agent.analysis.rules._security import import_paths, imports_of, is_true, resolve, resolve_value
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity

CORS_CLASSES = frozenset({"fastapi.middleware.cors.CORSMiddleware", "starlette.middleware.cors.CORSMiddleware"})
MIDDLEWARE_WRAPPERS = frozenset({"starlette.middleware.Middleware", "fastapi.middleware.Middleware"})
# The import targets through which a name can resolve to a CORS class: the class and the modules on its path.
CORS_IMPORTS = import_paths(CORS_CLASSES)


class CorsWildcardCredentials(Rule):
    """CORS allows any origin together with credentials.

    **What it does**
    Flags `CORSMiddleware` set up with `allow_credentials=True` and `allow_origins=["*"]` (or an
    `allow_origin_regex` matching everything, like `".*"` or `"https://.*"`), whether added with
    `app.add_middleware(CORSMiddleware, ...)`, `Middleware(CORSMiddleware, ...)` or by wrapping the
    app. Origins from a module constant are followed; origins from settings are trusted.

    **Why is this bad?**
    With credentials allowed, Starlette answers a wildcard configuration by echoing the caller's
    `Origin`, so any web site a logged-in user visits can send authenticated requests (cookies,
    HTTP auth) to the API and read the responses.

    **Example**
    ```python
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True)
    ```

    **Use instead**
    ```python
    app.add_middleware(CORSMiddleware, allow_origins=settings.all_cors_origins, allow_credentials=True)
    ```

    **Known problems**
    A settings value that defaults to `["*"]` is not seen. Bearer-token APIs that never use cookies
    are less exposed, but the configuration is still wrong.
    """

    code = "FBA403"
    name = "cors-wildcard-credentials"
    category = "cors"
    severity = Severity.HIGH
    title = "CORS wildcard origin with credentials"

    VALID = (
        """
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from app.core.config import settings

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=settings.all_cors_origins,
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)
""",
        """
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

origins = ["https://app.example.com", "http://localhost:5173"]
app = FastAPI()
app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True)
""",
        """
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"])
""",
    )
    INVALID = (
        """
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True, allow_methods=["*"])
""",
        """
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware as Cors

ORIGINS = ["*"]
app = FastAPI(middleware=[Middleware(Cors, allow_origins=ORIGINS, allow_credentials=True)])
""",
        """
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(CORSMiddleware, allow_origin_regex="https://.*", allow_credentials=True)
""",
        """
import fastapi
import starlette.middleware.cors as cors

app = fastapi.FastAPI()
app.add_middleware(cors.CORSMiddleware, allow_origins=["*"], allow_credentials=True)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        imports = imports_of(ctx)
        # Cheap prefilter: a call configures CORS only through a name resolved to a CORS class by an import.
        if CORS_IMPORTS.isdisjoint(imports.values()):
            return
        for node in ctx.nodes_of(ast.Call):
            if _configures_cors(node, imports):
                if is_true(keyword(node, "allow_credentials")) and _any_origin(ctx, node):
                    yield self.finding(ctx, node, "CORS allows every origin with allow_credentials=True: any site "
                                       "can make authenticated requests; list the allowed origins explicitly")


def _configures_cors(call: ast.Call, imports: dict[str, str]) -> bool:
    callee = resolve(call.func, imports)
    if callee in CORS_CLASSES:
        return True
    is_add = isinstance(call.func, ast.Attribute) and call.func.attr == "add_middleware"
    if (is_add or callee in MIDDLEWARE_WRAPPERS) and call.args:
        return resolve(call.args[0], imports) in CORS_CLASSES
    return False


def _any_origin(ctx: FileContext, call: ast.Call) -> bool:
    scope = ctx.enclosing_function(call)
    origins = keyword(call, "allow_origins")
    if origins is not None:
        for value in resolve_value(ctx, origins, scope):
            if isinstance(value, (ast.List, ast.Tuple, ast.Set)) and any(
                    isinstance(e, ast.Constant) and e.value == "*" for e in value.elts):
                return True
    pattern = keyword(call, "allow_origin_regex")
    if pattern is not None:
        for value in resolve_value(ctx, pattern, scope):
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and _matches_anything(value.value):
                return True
    return False


def _matches_anything(pattern: str) -> bool:
    """True when the regex accepts arbitrary hosts: `.*`, `.+`, `https://.*`, `https?://.*`."""
    core = pattern.strip().removeprefix("^").removesuffix("$")
    core = re.sub(r"^\(?https?\??(?:\|https?)?\)?:(?://|\\/\\/)", "", core)
    return core in (".*", ".+", "(.*)", "(.+)")

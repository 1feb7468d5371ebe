from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import keyword
from agent.analysis.rules._security import (
    import_paths, imports_of, is_test_file, is_true, module_constants, resolve,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity

APP_CLASSES = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette"})
SERVERS = frozenset({"uvicorn.run"})
DEBUG_CALLEES = APP_CLASSES | SERVERS
# The import targets through which a name can resolve to an app class or server: each of them and
# the modules on its path.
DEBUG_IMPORTS = import_paths(DEBUG_CALLEES)


class DebugEnabled(Rule):
    """Debug mode switched on in application code.

    **What it does**
    Flags `FastAPI(debug=True)` / `Starlette(debug=True)`, `uvicorn.run(..., debug=True)` and
    `app.debug = True` on an app created in the same file, also when the value is a module
    constant set to `True`. Values read from settings (`debug=settings.DEBUG`) pass, and test files
    are not checked. A file whose HTTP middleware answers every exception itself (`try: return
    await call_next(request)` / `except Exception: return JSONResponse(...)`, registered with
    `app.middleware("http")`) passes: route errors never reach the traceback page.

    **Why is this bad?**
    In debug mode Starlette answers unhandled errors with the full traceback, local source lines and
    exception text: internals, paths and sometimes secrets served to whoever triggers an error.

    **Example**
    ```python
    app = FastAPI(debug=True)
    ```

    **Use instead**
    ```python
    app = FastAPI(debug=settings.DEBUG)  # False unless the environment turns it on
    ```

    **Known problems**
    A settings field that defaults to `True` is not seen. An error raised in a middleware added
    outside such a catch-all still gets the traceback page. Debug turned on inside an `if` on a
    run-time condition (`if in_debug_mode(): app = FastAPI(debug=True)`) is left alone.
    """

    code = "FBA405"
    name = "debug-enabled"
    category = "error-leak"
    severity = Severity.MEDIUM
    title = "Debug mode enabled"

    VALID = (
        """
from fastapi import FastAPI
from app.core.config import settings

app = FastAPI(title="Items", debug=settings.DEBUG)
""",
        """
from fastapi import FastAPI

app = FastAPI()

class Config:
    debug = True  # a plain attribute, not the app
""",
        {"tests/conftest.py": """
from fastapi import FastAPI

app = FastAPI(debug=True)
"""},
        # The deployment decides: debug only when its setting says so.
        """
from fastapi import FastAPI
from app.utils import in_debug_mode

if in_debug_mode():
    app = FastAPI(debug=True)
else:
    app = FastAPI(docs_url=None)
""",
        # Every error is answered by the middleware before Starlette's debug page could render it.
        """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

async def catch_exceptions(request: Request, call_next):
    try:
        return await call_next(request)
    except Exception:
        return JSONResponse({"error": "internal"}, status_code=500)

app = FastAPI(debug=True)
app.middleware("http")(catch_exceptions)
""",
        """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI(debug=True)

@app.middleware("http")
async def catch_exceptions(request: Request, call_next):
    try:
        return await call_next(request)
    except BaseException:
        return JSONResponse({"error": "internal"}, status_code=500)
""",
    )
    INVALID = (
        """
from fastapi import FastAPI

app = FastAPI(debug=True)
""",
        # The `else` branch (or a constant test) is not a setting turning debug on.
        """
from fastapi import FastAPI
from app.utils import in_production

if in_production():
    app = FastAPI()
else:
    app = FastAPI(debug=True)
""",
        """
import uvicorn
from fastapi import FastAPI

DEBUG = True
app = FastAPI()

if __name__ == "__main__":
    uvicorn.run("app.main:app", host="0.0.0.0", debug=DEBUG)
""",
        """
from fastapi import FastAPI as Api

application = Api()
application.debug = True
""",
        """
import fastapi

app = fastapi.FastAPI(debug=True)
""",
        # The middleware logs and re-raises: the traceback page still answers.
        """
from fastapi import FastAPI, Request

app = FastAPI(debug=True)

@app.middleware("http")
async def log_errors(request: Request, call_next):
    try:
        return await call_next(request)
    except Exception:
        logger.exception("request failed")
        raise
""",
        # It answers only ValueError; every other error gets the traceback page.
        """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

async def bad_input(request: Request, call_next):
    try:
        return await call_next(request)
    except ValueError:
        return JSONResponse({"error": "bad input"}, status_code=400)

app = FastAPI(debug=True)
app.middleware("http")(bad_input)
""",
        # A catch-all that is never registered protects nothing.
        """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

async def catch_exceptions(request: Request, call_next):
    try:
        return await call_next(request)
    except Exception:
        return JSONResponse({"error": "internal"}, status_code=500)

app = FastAPI(debug=True)
""",
        # An exception handler does not help: Starlette serves the debug page before calling it.
        """
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI(debug=True)

@app.exception_handler(Exception)
async def internal_error(request: Request, exc: Exception):
    return JSONResponse({"error": "internal"}, status_code=500)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if is_test_file(ctx):
            return
        imports = imports_of(ctx)
        # Cheap prefilter: without such an import no call resolves to an app or server, and no app exists.
        if DEBUG_IMPORTS.isdisjoint(imports.values()) or _middleware_answers_every_error(ctx):
            return
        constants = module_constants(ctx.tree)
        apps: set[str] = set()
        for node in ctx.nodes_of(ast.Assign):
            if isinstance(node.value, ast.Call) and resolve(node.value.func, imports) in APP_CLASSES:
                apps.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for node in ctx.nodes_of(ast.Call, ast.Assign):
            if _behind_a_setting(ctx, node):
                continue
            if isinstance(node, ast.Call):
                if _true(keyword(node, "debug"), constants) and resolve(node.func, imports) in DEBUG_CALLEES:
                    yield self.finding(ctx, node, "debug=True serves tracebacks and source to clients; "
                                       "read it from settings and keep it off in production")
            elif isinstance(node, ast.Assign) and _true(node.value, constants):
                for target in node.targets:
                    if (isinstance(target, ast.Attribute) and target.attr == "debug"
                            and isinstance(target.value, ast.Name) and target.value.id in apps):
                        yield self.finding(ctx, node, f"{target.value.id}.debug = True serves tracebacks and "
                                           "source to clients; keep it off in production")


def _middleware_answers_every_error(ctx: FileContext) -> bool:
    """An HTTP middleware of this file answers every exception of `call_next` with a response: route
    errors never reach Starlette's ServerErrorMiddleware, so debug mode has no traceback to serve."""
    catch_alls = {f.name for f in ctx.functions if _answers_every_error(f)}
    if not catch_alls:
        return False
    decorated = any(_http_middleware(d) for f in ctx.functions if f.name in catch_alls for d in f.decorator_list)
    registered = any(
        _http_middleware(node.func) and any(isinstance(a, ast.Name) and a.id in catch_alls for a in node.args)
        for node in ctx.nodes_of(ast.Call))
    return decorated or registered


def _http_middleware(node: ast.expr) -> bool:
    """`app.middleware("http")`, as a decorator or called on a function."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "middleware"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and node.args[0].value == "http")


def _answers_every_error(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`try: ... call_next(request) ... except Exception: ... return <response>` with no re-raise."""
    if len(func.args.args) < 2:
        return False
    call_next = func.args.args[1].arg
    for node in ast.walk(func):
        if not isinstance(node, ast.Try) or not any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == call_next
                for statement in node.body for n in ast.walk(statement)):
            continue
        for handler in node.handlers:
            inside = [n for statement in handler.body for n in ast.walk(statement)]
            if (_catches_everything(handler) and any(isinstance(n, ast.Return) for n in inside)
                    and not any(isinstance(n, ast.Raise) for n in inside)):
                return True
    return False


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    return handler.type is None or (isinstance(handler.type, ast.Name)
                                    and handler.type.id in ("Exception", "BaseException"))


def _behind_a_setting(ctx: FileContext, node: ast.AST) -> bool:
    """Inside the body of an `if` decided at run time (`if in_debug_mode():`, `if settings.DEBUG:`):
    debug is on only where the deployment turns it on."""
    child = node
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, ast.If) and child in ancestor.body and _setting(ancestor.test):
            return True
        child = ancestor
    return False


def _setting(test: ast.expr) -> bool:
    """A run-time condition: not a constant, nor the script guard `__name__ == "__main__"`."""
    return not isinstance(test, ast.Constant) and not any(
        isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(test))


def _true(node: ast.expr | None, constants: dict[str, ast.expr]) -> bool:
    if isinstance(node, ast.Name):
        node = constants.get(node.id)
    return is_true(node)

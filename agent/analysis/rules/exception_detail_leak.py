from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, callee_attr, dotted_name
from agent.analysis.rules._security import argument, imports_of, local_values, resolve
from agent.analysis.walk import subtree_nodes, walk_body
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.types import Finding, Severity

# Exceptions whose text is about the client's own input: showing it is the point.
CLIENT_FACING = frozenset({"RequestValidationError", "WebSocketRequestValidationError", "ValidationError",
                           "HTTPException", "StarletteHTTPException", "ValidationException"})
# Errors about a value (the client's data, a document being parsed): their text names the value,
# not the server's internals (no SQL, paths or hosts). JSONDecodeError is a ValueError too.
# Lookup and type errors describe a value's shape (a missing key, a wrong type), not the server.
VALUE_ERRORS = frozenset({"ValueError", "UnicodeError", "UnicodeDecodeError", "JSONDecodeError", "BadZipFile",
                          "KeyError", "IndexError", "TypeError"})
BROAD = frozenset({"Exception", "BaseException"})
TRACEBACK_FUNCTIONS = frozenset({"traceback.format_exc", "traceback.format_exception", "traceback.format_tb",
                                 "traceback.format_stack", "traceback.extract_tb"})
# Parts of an exception that carry internals: its arguments, the driver error, the path of an OSError
# (not `message` or `strerror`: an HTTP reason phrase, the errno text).
LEAKY_ATTRIBUTES = frozenset({"args", "orig", "__traceback__", "filename"})
# Calls that put a value into a container the handler answers with later (a batch's error list).
COLLECTING_METHODS = frozenset({"append", "extend", "add", "insert", "update"})
# Every module or function path a traceback function is reached through (`traceback`, `traceback.format_exc`).
_TRACEBACK_PATHS = frozenset({"traceback", *TRACEBACK_FUNCTIONS})
_RESPONSE_SUFFIXES = ("HTTPException", "WebSocketException", "Response")
# What a websocket sends to its client, and the receivers that are websockets.
WEBSOCKET_SENDS = frozenset({"send_json", "send_text", "send_bytes"})
WEBSOCKET_NAMES = frozenset({"websocket", "ws", "socket", "websocket_connection"})
# Responses whose content is a generator: what it yields is streamed to the client.
_STREAMING_SUFFIXES = ("StreamingResponse", "EventSourceResponse")


class ExceptionDetailLeak(Rule):
    """Exception text or a traceback sent to the client.

    **What it does**
    Flags `HTTPException(detail=...)`, `JSONResponse`/`PlainTextResponse`/... content, and values
    returned by route handlers or exception handlers that contain the caught exception's text:
    `str(e)`, `repr(e)`, `f"...{e}"`, `"%s" % e`, `"{}".format(e)`, `e.args`, `e.orig`, `e.message`, or
    `traceback.format_exc()`, also inside a dict, list or template context (`TemplateResponse`),
    sent over a websocket (`send_json`, `send_text`, `close(reason=...)`), yielded by a generator
    that a `StreamingResponse` / `EventSourceResponse` streams, collected into a list or dict the
    handler returns later (`errors.append(str(e))` per item of a batch), through a local of the
    same `except` clause (`body = {"error": str(e)}` ... `JSONResponse(body)`), through a helper of
    the same file that returns its argument's text (`detail=format_error(e)`), and in the returns
    of a helper of the file whose result a handler returns as is. The exception is the
    `except ... as e` name or the `exc` parameter of an `@app.exception_handler(...)` /
    `add_exception_handler` function.

    **Why is this bad?**
    Exception messages carry SQL statements, table and column names, file paths, hostnames and
    library versions: a map of the internals for an attacker, and sometimes data of other users
    (an IntegrityError quotes the conflicting row).

    **Example**
    ```python
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
    ```

    **Use instead**
    ```python
    except Exception as e:
        logger.exception("creating item failed")
        raise HTTPException(status_code=500, detail="Internal server error") from e
    ```

    **Known problems**
    Validation and HTTP exceptions (`RequestValidationError`, pydantic `ValidationError`,
    `HTTPException`) are exempt: their text describes the client's input, as FastAPI's own docs
    show. So are errors about a value (`ValueError`, `JSONDecodeError`, `UnicodeError`, `KeyError`,
    `IndexError`, `TypeError`) and the project's own exception classes (domain errors whose messages
    are written for callers): a project exception that wraps another error's text
    (`raise StorageError(str(e))`) is missed. A `try` whose body can only fail with messages written
    in the code (it calls only conversions, pydantic `model_validate`, `json.loads`, checks of the
    same file whose every `raise` has its own message, and functions of another file that call
    nothing but such safe operations and exception classes) is not reported. Other specific
    exceptions (`RuntimeError`, a library's) are reported with lower confidence.
    """

    code = "FBA404"
    name = "exception-detail-leak"
    category = "error-leak"
    severity = Severity.MEDIUM
    title = "Exception details leaked to the client"

    VALID = (
        """
import logging
from fastapi import APIRouter, HTTPException

router = APIRouter()
logger = logging.getLogger(__name__)

@router.get("/items/{item_id}")
def read_item(item_id: int, session):
    try:
        item = session.get("Item", item_id)
    except Exception as e:
        logger.error("lookup failed: %s", str(e))
        raise HTTPException(status_code=500, detail="Internal server error") from e
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    return item
""",
        """
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI()

@app.exception_handler(StarletteHTTPException)
async def http_exception_handler(request: Request, exc: StarletteHTTPException):
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

@app.exception_handler(RequestValidationError)
async def validation_exception_handler(request: Request, exc: RequestValidationError):
    return JSONResponse(status_code=422, content=jsonable_encoder({"detail": exc.errors(), "text": str(exc)}))
""",
        """
from pydantic import ValidationError
from fastapi import HTTPException

def parse(model, data):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise HTTPException(status_code=422, detail=e.errors())
""",
        # The project's own exception class: its messages are written for the caller.
        {
            "app/errors.py": """
class GroupHierarchyError(Exception):
    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code
""",
            "app/main.py": """
from fastapi import APIRouter, HTTPException
from app.errors import GroupHierarchyError

router = APIRouter()

@router.post("/groups")
def create_group(form: dict, service):
    try:
        return service.create(form)
    except GroupHierarchyError as e:
        raise HTTPException(status_code=e.status_code, detail=str(e)) from e
""",
        },
        # A project class named `*Response` that is not an HTTP response (a NamedTuple status).
        {
            "app/schemas.py": """
from typing import NamedTuple

class SetStateResponse(NamedTuple):
    reason: str
    accepted: bool
""",
            "app/orchestration.py": """
from app.schemas import SetStateResponse

def set_state(run, state):
    try:
        run.transition(state)
    except RuntimeError as e:
        return SetStateResponse(str(e), False)
    return SetStateResponse("", True)
""",
        },
        # A ValueError describes a value; the exception only picks one of fixed messages; its text
        # is only the key of a table of fixed messages.
        """
from fastapi import APIRouter, HTTPException

router = APIRouter()
EMPTY = "The file is empty"
MESSAGES = {"timeout": "The app did not answer in time"}

@router.post("/targets")
def create_target(form: dict, service):
    try:
        return service.create_target(form)
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e))

@router.post("/files")
def upload(file, service):
    try:
        return service.store(file)
    except Exception as e:
        raise HTTPException(
            status_code=400,
            detail=EMPTY if isinstance(e, ValueError) and e.args == (EMPTY,) else "Error uploading file",
        )

@router.post("/apps/{app_id}/call")
def call_app(app_id: str, client):
    try:
        return client.call(app_id)
    except RuntimeError as exc:
        raise HTTPException(502, MESSAGES.get(str(exc), "The app returned an invalid response")) from None
""",
        # A helper that answers a fixed message; logging only; a try whose body can only raise
        # messages written here (a check of this file, pydantic validation, lookups of the input).
        """
import logging
import re
from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter()
logger = logging.getLogger(__name__)
PASSWORD_PATTERN = re.compile(r".{12,}")

class EventFilter(BaseModel):
    kinds: list[str] = []

def public_message(error: Exception) -> str:
    return "The report could not be built"

def check_password(password: str) -> None:
    if len(password.encode("utf-8")) > 72:
        raise Exception("Password is longer than 72 bytes")
    if not PASSWORD_PATTERN.match(password):
        raise Exception(f"Password needs at least {12} characters")

@router.get("/report")
def report(service):
    try:
        return service.build()
    except Exception as e:
        logger.exception("report failed: %s", str(e))
        raise HTTPException(status_code=500, detail=public_message(e))

@router.post("/password")
def change_password(form: dict, service):
    try:
        check_password(form["password"])
    except Exception as e:
        raise HTTPException(status_code=400, detail=str(e))
    return service.change(form)

@router.post("/events/filter")
async def filter_events(message: dict):
    try:
        event_filter = EventFilter.model_validate(message["filter"])
    except Exception as e:
        return JSONResponse({"detail": f"Invalid filter: {e}"}, status_code=400)
    return event_filter

@router.post("/skills/import")
def import_skill(package: dict, service):
    try:
        return service.import_package(package)
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(400, str(error))
""",
        # The exception's text only when the test narrowed it to an error about a value.
        """
from fastapi import APIRouter, WebSocket

router = APIRouter()

@router.websocket("/calls")
async def call(ws: WebSocket, bridge):
    await ws.accept()
    try:
        await bridge.run(ws)
    except Exception as exc:
        detail = str(exc) if type(exc) is ValueError else "Voice connection failed"
        await ws.send_json({"type": "error", "message": detail})
""",
        # A check of another file that raises only its own messages (a table of fixed texts).
        {
            "app/utils/auth.py": """
import re
from app.constants import ERROR_MESSAGES

PASSWORD_PATTERN = re.compile(r"^(?=.*[A-Z])(?=.*\\d).{12,}$")

def validate_password(password: str) -> bool:
    if len(password.encode("utf-8")) > 72:
        raise Exception(ERROR_MESSAGES.PASSWORD_TOO_LONG)
    if not PASSWORD_PATTERN.match(password):
        raise Exception(ERROR_MESSAGES.INVALID_PASSWORD("12 characters, a capital and a digit"))
    return True
""",
            "app/routers/users.py": """
from fastapi import APIRouter, HTTPException
from app.utils.auth import validate_password

router = APIRouter()

@router.post("/users/{user_id}/password")
def set_password(user_id: str, form: dict, service):
    try:
        validate_password(form["password"])
    except Exception as e:
        raise HTTPException(400, detail=str(e))
    return service.set_password(user_id, form["password"])
""",
        },
    )
    INVALID = (
        # The project's own JSONResponse subclass is still a response.
        {
            "app/responses.py": """
from fastapi.responses import JSONResponse

class ErrorResponse(JSONResponse):
    media_type = "application/problem+json"
""",
            "app/main.py": """
from fastapi import APIRouter
from app.responses import ErrorResponse

router = APIRouter()

@router.get("/report")
async def report(service):
    try:
        return await service.build()
    except Exception as e:
        return ErrorResponse(status_code=500, content={"detail": str(e)})
""",
        },
        # A library's exception class (not the project's) and an OSError (paths) still leak.
        """
from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import IntegrityError

router = APIRouter()

@router.post("/users")
def create_user(user: dict, session):
    try:
        session.add(user)
        session.commit()
    except IntegrityError as e:
        raise HTTPException(status_code=409, detail=str(e.orig))

@router.post("/avatars")
def upload_avatar(file, storage):
    try:
        return storage.save(file)
    except (ValueError, OSError) as e:
        raise HTTPException(status_code=400, detail=str(e))
""",
        """
from fastapi import APIRouter, HTTPException

router = APIRouter()

@router.post("/items", status_code=201)
def create_item(item: dict, session):
    try:
        session.add(item)
        session.commit()
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
    return item
""",
        """
import traceback
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()

@app.exception_handler(Exception)
async def unhandled(request: Request, exc: Exception):
    return JSONResponse(status_code=500, content={"error": repr(exc), "trace": traceback.format_exc()})
""",
        """
from fastapi import APIRouter

router = APIRouter()

@router.get("/report")
async def report(service):
    try:
        return await service.build()
    except RuntimeError as err:
        return {"ok": False, "error": f"report failed: {err}"}
""",
        """
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

async def on_db_error(request, exc):
    return PlainTextResponse("database error: %s" % exc, status_code=500)

app = FastAPI()
app.add_exception_handler(Exception, on_db_error)
""",
        """
from traceback import format_exc
from fastapi import APIRouter

router = APIRouter()

@router.get("/debug")
def debug_info():
    return {"trace": format_exc()}
""",
        # Through a local of the except clause.
        """
from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

router = APIRouter()

@router.post("/imports")
def run_import(form: dict, service):
    try:
        return service.run(form)
    except Exception as e:
        body = {"error": str(e)}
        return JSONResponse(status_code=500, content=body)

@router.post("/imports/retry")
def retry_import(form: dict, service):
    try:
        return service.retry(form)
    except Exception as e:
        message = f"retry failed: {e}"
        raise HTTPException(500, detail=message)
""",
        # Through a helper one call away.
        """
from fastapi import APIRouter, HTTPException

router = APIRouter()

def format_error(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"

@router.post("/exports")
def export(service):
    try:
        return service.export()
    except Exception as e:
        raise HTTPException(500, detail=format_error(e))
""",
        # In a list.
        """
from fastapi import APIRouter

router = APIRouter()

@router.post("/batches")
def run_batch(items: list[dict], service):
    try:
        return service.run_all(items)
    except Exception as e:
        return [{"ok": False, "errors": [str(e)]}]
""",
        # Collected per item and answered after the loop.
        """
from fastapi import APIRouter, HTTPException

router = APIRouter()

@router.post("/imports/batch")
def import_batch(rows: list[dict], service):
    results = []
    for row in rows:
        try:
            service.import_row(row)
            results.append({"row": row["id"], "ok": True})
        except Exception as e:
            results.append({"row": row["id"], "ok": False, "error": f"{type(e).__name__}: {e}"})
    return {"results": results}
""",
        """
from fastapi import APIRouter, HTTPException

router = APIRouter()

@router.post("/accounts")
def create_account(form: dict, session):
    try:
        session.add(form)
        session.commit()
    except Exception as e:
        raise HTTPException(409, detail=str(getattr(e, "orig", e)))
""",
        """
from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates

router = APIRouter()
templates = Jinja2Templates(directory="templates")

@router.get("/dashboard")
def dashboard(request: Request, service):
    try:
        stats = service.stats()
    except Exception as e:
        return templates.TemplateResponse(request, "error.html", {"message": f"Failed: {e}"})
    return templates.TemplateResponse(request, "dashboard.html", {"stats": stats})
""",
        # A function of another file that does I/O: its errors can say anything.
        {
            "app/storage.py": """
import boto3

def store_avatar(user_id: str, data: bytes) -> str:
    boto3.client("s3").put_object(Bucket="avatars", Key=user_id, Body=data)
    return user_id
""",
            "app/routers/users.py": """
from fastapi import APIRouter, HTTPException
from app.storage import store_avatar

router = APIRouter()

@router.post("/users/{user_id}/avatar")
def upload_avatar(user_id: str, data: bytes):
    try:
        store_avatar(user_id, data)
    except Exception as e:
        raise HTTPException(500, detail=str(e))
    return {"ok": True}
""",
        },
        # Sent over a websocket, streamed by a generator, rendered by a template outside a handler.
        """
from fastapi import APIRouter, WebSocket

router = APIRouter()

@router.websocket("/jobs")
async def jobs(websocket: WebSocket, runner):
    await websocket.accept()
    try:
        await runner.run(await websocket.receive_json())
    except Exception as e:
        await websocket.send_json({"type": "error", "message": str(e)})
""",
        """
import json
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

router = APIRouter()

@router.post("/chat")
async def chat(body: dict, model):
    async def events():
        try:
            async for token in model.stream(body["messages"]):
                yield f"data: {json.dumps({'token': token})}\\n\\n"
        except Exception as e:
            yield f"data: {json.dumps({'error': str(e)})}\\n\\n"
    return StreamingResponse(events(), media_type="text/event-stream")
""",
        """
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory="templates")

def render_report(request, service):
    try:
        return templates.TemplateResponse(request, "report.html", {"report": service.build()})
    except Exception as e:
        return templates.TemplateResponse(request, "error.html", {"message": str(e)})
""",
        # A helper of the file whose answer the route returns as is.
        """
from fastapi import APIRouter

router = APIRouter()

async def sync_repository(repo_id: str, client):
    try:
        await client.sync(repo_id)
    except Exception as e:
        return {"ok": False, "error": repr(e)}
    return {"ok": True}

@router.post("/repos/{repo_id}/sync")
async def sync(repo_id: str, client):
    return await sync_repository(repo_id, client)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        imports = imports_of(ctx)
        handlers = _exception_handler_functions(ctx)
        traceback_imported = any(target in _TRACEBACK_PATHS for target in imports.values())
        if traceback_imported:
            within = None  # a traceback call may leak from anywhere
        else:
            within = _where_exceptions_are_named(ctx, handlers)
            if not within:
                return  # no exception variable is in scope anywhere in the file
        trace = _Trace(ctx, imports)
        reported: set[ast.AST] = set()
        for node, payload in _response_payloads(ctx, handlers, within, trace.helpers):
            if node in reported or (isinstance(node, ast.Return)
                                    and reported.intersection(ctx.walk.subtree_of_type(node, ast.Call))):
                continue  # `return JSONResponse(content=str(exc))`: the response call is the finding
            exceptions = _exceptions_in_scope(ctx, node, handlers, trace)
            if not exceptions and not traceback_imported:
                continue  # no exception name in scope and no traceback call to find in the payload
            leaked = trace.leaked(payload, exceptions, _local_scope(ctx, node))
            if leaked is not None:
                reported.add(node)
                broad = {_last(t) for t in exceptions.get(leaked, ())} & BROAD or not exceptions.get(leaked)
                yield self.finding(ctx, node, "exception text reaches the client; log it and answer a generic "
                                   "message instead", confidence=1.0 if broad or leaked == "traceback" else 0.7)


def _where_exceptions_are_named(ctx: FileContext, handlers: dict[str, set[str]]) -> dict[ast.AST, None]:
    """The calls and returns inside a named `except` clause or an exception handler function:
    the only places where `_exceptions_in_scope` can find an exception variable (a dict: an
    ordered set, as clauses may nest)."""
    scopes: list[ast.AST] = [clause for clause in ctx.nodes_of(ast.ExceptHandler) if clause.name]
    scopes += [function for function in ctx.functions if function.name in handlers]
    return dict.fromkeys(node for scope in scopes for node in ctx.walk.subtree_of_type(scope, ast.Call, ast.Return, ast.Yield))


def _exception_handler_functions(ctx: FileContext) -> dict[str, set[str]]:
    """Function name -> exception class names it handles (decorator or add_exception_handler)."""
    handlers: dict[str, set[str]] = {}
    if not ctx.may_name("exception_handler"):
        return handlers  # cheap text prefilter: both ways of registering a handler call a name ending in it
    for function in ctx.functions:
        for decorator in function.decorator_list:
            if isinstance(decorator, ast.Call) and _callee_ends_with(decorator, "exception_handler"):
                handlers.setdefault(function.name, set()).update(_written_names(decorator.args[:1]))
    for node in ctx.nodes_of(ast.Call):
        if len(node.args) == 2 and _callee_ends_with(node, "add_exception_handler"):
            target = dotted_name(node.args[1])
            if target:
                handlers.setdefault(target.rsplit(".", 1)[-1], set()).update(_written_names(node.args[:1]))
    return handlers


def _callee_ends_with(call: ast.Call, suffix: str) -> bool:
    """`(call_name(call) or "").endswith(suffix)`, testing the callee's own name first."""
    return (callee_attr(call) or "").endswith(suffix) and call_name(call) is not None


def _written_names(nodes) -> set[str]:
    """The exception classes as written (`exc.HydrationError`, `ValueError`)."""
    names: set[str] = set()
    for node in nodes:
        elements = node.elts if isinstance(node, ast.Tuple) else [node]
        names.update(dotted_name(e) or "?" for e in elements)
    return names


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _says_nothing_internal(ctx: FileContext, name: str) -> bool:
    """An exception class whose text is meant for (or harmless to) the client: a validation or
    HTTP error, an error about a value, or the project's own exception class (a domain error
    such as `GroupHierarchyError("a group cannot contain itself")`, written for callers)."""
    if _last(name) in CLIENT_FACING | VALUE_ERRORS:
        return True
    symbol = ctx.index.symbols.get(ctx.index.resolve(ctx.path, name))
    return symbol is not None and symbol.kind == "class"


def _response_payloads(
    ctx: FileContext, handlers: dict[str, set[str]], within: dict[ast.AST, None] | None,
    helpers: dict[str, FunctionNode],
) -> Iterator[tuple[ast.AST, ast.expr]]:
    """Each node that builds a response, with the part of it sent to the client: response and
    HTTP exception calls, the returns of route handlers and exception handlers, and the returns
    of a helper of this file whose result a handler returns as is (`return build_error(...)`).
    Only nodes `within` that set, when one is given."""
    calls = ctx.nodes_of(ast.Call) if within is None else [node for node in within if isinstance(node, ast.Call)]
    for node in calls:
        name = callee_attr(node) or ""  # the cheap first test: building every call's dotted name was this rule's main cost
        if name.endswith(_RESPONSE_SUFFIXES) and not _plain_project_class(ctx, node):
            payload = _call_payload(node, name)
            if payload is not None:
                yield node, payload
        elif name in WEBSOCKET_SENDS or name == "close":
            payload = _websocket_payload(ctx, node, name)
            if payload is not None:
                yield node, payload
    for generator in _streamed_generators(ctx):
        for node in ctx.walk.subtree_of_type(generator, ast.Yield):
            if (node.value is not None and (within is None or node in within)
                    and ctx.enclosing_function(node) is generator):
                yield node, node.value
    route_lines = {route.line for route in ctx.routes}  # `ctx.route_of(function)`, as one lookup
    answering = [f for f in ctx.functions if f.name in handlers or f.lineno in route_lines]
    returned_helpers = {helper for function in answering for helper in _returned_helpers(ctx, function, helpers)}
    for function in [*answering, *(h for h in helpers.values() if h in returned_helpers and h not in answering)]:
        for node in ctx.walk.subtree_of_type(function, ast.Return):
            if (node.value is not None and (within is None or node in within)
                    and ctx.enclosing_function(node) is function):  # not a nested def's return
                yield node, node.value
        yield from _collected_into_answer(ctx, function, within)


def _collected_into_answer(
    ctx: FileContext, function: FunctionNode, within: dict[ast.AST, None] | None
) -> Iterator[tuple[ast.AST, ast.expr]]:
    """`errors.append({"item": i, "error": str(e)})` in an `except` clause, where the handler
    returns `errors` later: the value collected is sent."""
    returned = {n.id for r in ctx.walk.subtree_of_type(function, ast.Return) if r.value is not None
                for n in ast.walk(r.value) if isinstance(n, ast.Name)}
    for node in ctx.walk.subtree_of_type(function, ast.Call):
        if (isinstance(node.func, ast.Attribute) and node.func.attr in COLLECTING_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in returned and (within is None or node in within)
                and ctx.enclosing_function(node) is function and (node.args or node.keywords)):
            yield node, ast.Tuple(elts=[*node.args, *(k.value for k in node.keywords)], ctx=ast.Load())


def _returned_helpers(ctx: FileContext, function: FunctionNode, helpers: dict[str, FunctionNode]) -> set[FunctionNode]:
    """The file's own functions whose result `function` returns as it is (`return await render_error(e)`)."""
    found = set()
    for node in ctx.walk.subtree_of_type(function, ast.Return):
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in helpers:
            found.add(helpers[value.func.id])
    return found


def _plain_project_class(ctx: FileContext, call: ast.Call) -> bool:
    """`SetStateResponse(status=..., details=...)`: a class of the project named `*Response` with
    no HTTP response or exception among its bases (a NamedTuple, a dataclass) is not an answer."""
    written = dotted_name(call.func)
    symbol = ctx.index.symbols.get(ctx.index.resolve(ctx.path, written)) if written else None
    if symbol is None or symbol.kind != "class":
        return False
    bases = getattr(symbol.value, "bases", ())
    return not any(_last(base).endswith(_RESPONSE_SUFFIXES) or _last(base) in BROAD for base in bases)


def _call_payload(node: ast.Call, name: str) -> ast.expr | None:
    """The argument an HTTP exception or a response call (callee's own name `name`) sends to the client."""
    if call_name(node) is None:
        return None  # `factory().JSONResponse(...)`: not a name the rule knows
    if name.endswith("HTTPException"):
        return argument(node, 1, "detail")
    if name == "WebSocketException":
        return argument(node, 1, "reason")
    if name == "TemplateResponse":  # `(name, context)` or `(request, name, context)`: all but the first
        sent = [*node.args[1:], *(k.value for k in node.keywords if k.arg in ("context", None))]
        return ast.Tuple(elts=sent, ctx=ast.Load()) if sent else None
    return argument(node, 0, "content") if name.endswith("Response") else None


def _websocket_payload(ctx: FileContext, call: ast.Call, method: str) -> ast.expr | None:
    """What `websocket.send_json(...)` / `send_text` / `close(reason=...)` sends, when the receiver
    is a websocket: named like one or a parameter annotated `WebSocket`."""
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    if not isinstance(receiver, ast.Name) or not _is_websocket(ctx, call, receiver.id):
        return None
    return argument(call, 1, "reason") if method == "close" else argument(call, 0, "data") or argument(call, 0, "text")


def _is_websocket(ctx: FileContext, node: ast.AST, name: str) -> bool:
    if name.lower() in WEBSOCKET_NAMES:
        return True
    function = ctx.enclosing_function(node)
    params = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs] if function else []
    return any(p.arg == name and p.annotation is not None and (dotted_name(p.annotation) or "").endswith("WebSocket")
               for p in params)


def _streamed_generators(ctx: FileContext) -> list[FunctionNode]:
    """The file's functions whose generator a `StreamingResponse(gen(...))` / `EventSourceResponse` streams."""
    if not ctx.may_name(*_STREAMING_SUFFIXES):
        return []
    names = set()
    for call in ctx.nodes_of(ast.Call):
        if (callee_attr(call) or "").endswith(_STREAMING_SUFFIXES):
            content = argument(call, 0, "content")
            if isinstance(content, ast.Call) and isinstance(content.func, ast.Name):
                names.add(content.func.id)
    return [function for function in ctx.functions if function.name in names]


def _exceptions_in_scope(
    ctx: FileContext, node: ast.AST, handlers: dict[str, set[str]], trace: "_Trace"
) -> dict[str, set[str]]:
    """Exception variable -> the classes it may hold, for every `except ... as x` around `node`
    whose `try` can raise something other than messages written for the client."""
    found: dict[str, set[str]] = {}
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, ast.ExceptHandler) and ancestor.name:
            if not trace.raises_only_fixed_text(ctx.parent(ancestor)):
                found.setdefault(ancestor.name, _written_names([ancestor.type]) if ancestor.type else set())
        elif isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if ancestor.name in handlers:
                exc = _exception_parameter(ancestor)
                if exc:
                    found.setdefault(exc, handlers[ancestor.name])
            break
    return {name: types for name, types in found.items()
            if not types or not all(_says_nothing_internal(ctx, t) for t in types)}


def _local_scope(ctx: FileContext, node: ast.AST) -> ast.AST | None:
    """Where a local of the payload is looked up: the innermost `except` clause (or function) around `node`."""
    return next((a for a in ctx.ancestors(node)
                 if isinstance(a, (ast.ExceptHandler, ast.FunctionDef, ast.AsyncFunctionDef))), None)


def _exception_parameter(function: FunctionNode) -> str | None:
    params = [*function.args.posonlyargs, *function.args.args]
    return params[1].arg if len(params) >= 2 else None


# What a `try` body may call without raising anything but text about a value: builtins that
# convert or measure, pydantic validation (its errors describe the client's input), JSON parsing.
SAFE_BUILTINS = frozenset({"len", "int", "float", "str", "bool", "isinstance", "min", "max", "sum", "any", "all",
                           "sorted", "list", "dict", "set", "tuple", "range", "enumerate", "zip", "abs", "round"})
VALIDATION_METHODS = frozenset({"model_validate", "model_validate_json", "model_validate_strings", "parse_obj",
                                "parse_raw", "validate_python", "validate_json"})
SAFE_FUNCTIONS = frozenset({"json.loads", "re.match", "re.fullmatch", "re.search"})
STRING_METHODS = frozenset({"strip", "lower", "upper", "split", "startswith", "endswith", "encode", "decode",
                            "replace", "isdigit", "isalnum", "join", "format"})
PATTERN_METHODS = frozenset({"match", "fullmatch", "search"})


class _Trace:
    """Follows what a payload is made of (locals of the same `except` clause, the file's own
    helpers one call away) and what a `try` body can raise."""

    def __init__(self, ctx: FileContext, imports: dict[str, str]) -> None:
        self.ctx, self.imports = ctx, imports
        self.helpers: dict[str, FunctionNode] = {
            f.name: f for f in ctx.tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def leaked(self, payload: ast.expr, exceptions: dict[str, set[str]], scope: ast.AST | None,
               follow_helpers: bool = True) -> str | None:
        """The exception name (or "traceback") whose text ends up in `payload`, else None."""
        pending, followed = [payload], set(exceptions)
        while pending:
            for node in _sent(pending.pop(), lambda test: self._narrows_to_harmless(test, exceptions)):
                hit = _leak_at(node, exceptions, self.imports)
                if hit is None and follow_helpers and isinstance(node, ast.Call):
                    hit = self._through_helper(node, exceptions)
                if hit is not None:
                    return hit
                if isinstance(node, ast.Name) and node.id not in followed and scope is not None:
                    followed.add(node.id)  # `body = {"error": str(e)}` ... `JSONResponse(content=body)`
                    pending += local_values(scope, node.id)
        return None

    def _narrows_to_harmless(self, test: ast.AST, exceptions: dict[str, set[str]]) -> bool:
        classes = _narrowed_classes(test, exceptions)
        return bool(classes) and all(_says_nothing_internal(self.ctx, name) for name in classes)

    def _through_helper(self, call: ast.Call, exceptions: dict[str, set[str]]) -> str | None:
        """`format_error(e)` where the file's `format_error` returns its argument's text."""
        helper = self.helpers.get(call.func.id) if isinstance(call.func, ast.Name) else None
        if helper is None:
            return None
        params = [a.arg for a in (*helper.args.posonlyargs, *helper.args.args)]
        passed = {params[i]: a.id for i, a in enumerate(call.args[:len(params)])
                  if isinstance(a, ast.Name) and a.id in exceptions}
        passed.update({k.arg: k.value.id for k in call.keywords
                       if k.arg and isinstance(k.value, ast.Name) and k.value.id in exceptions})
        inside = {param: exceptions[name] for param, name in passed.items()}
        for node in walk_body(helper):
            if isinstance(node, ast.Return) and node.value is not None:
                hit = self.leaked(node.value, inside, helper, follow_helpers=False)
                if hit is not None:
                    return hit if hit == "traceback" else passed[hit]
        return None

    def raises_only_fixed_text(self, try_node: ast.AST | None) -> bool:
        """The `try` body can only fail with text about a value or messages written in the code:
        it calls nothing but safe builtins, validation, JSON parsing and the file's own checks
        whose every `raise` has its own message (`validate_password(form.password)`)."""
        if not isinstance(try_node, (ast.Try, ast.TryStar)):
            return False
        nodes = [n for statement in try_node.body for n in subtree_nodes(statement)]
        return self._only_fixed_raises(nodes, follow_helpers=True)

    def _only_fixed_raises(self, nodes: list[ast.AST], follow_helpers: bool) -> bool:
        raised = {node.exc for node in nodes if isinstance(node, ast.Raise)}  # built here, arguments checked below
        for node in nodes:
            if isinstance(node, (ast.Try, ast.Await, ast.With, ast.AsyncWith)):
                return False  # nested handlers re-raise, awaits and contexts do I/O
            if isinstance(node, ast.Raise) and not isinstance(node.exc, ast.Call):
                return False  # `raise` / `raise err`: some other error's text
            if isinstance(node, ast.Call) and node not in raised and not self._safe_call(node, follow_helpers):
                return False
        return True

    def _safe_call(self, call: ast.Call, follow_helpers: bool) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in SAFE_BUILTINS:
                return True
            helper = self.helpers.get(func.id) if follow_helpers else None
            if helper is not None:
                return self._only_fixed_raises(walk_body(helper), follow_helpers=False)
        written = dotted_name(func)
        if written is None:
            return False
        if isinstance(func, ast.Attribute) and (
                func.attr in VALIDATION_METHODS or resolve(func, self.imports) in SAFE_FUNCTIONS):
            return True
        if follow_helpers and self._checks_of_another_file(written):
            return True
        return isinstance(func, ast.Attribute) and _safe_method(written, lambda head: head in self.imports)

    def _checks_of_another_file(self, written: str) -> bool:
        """A function of another file that calls nothing but what `_safe_method` and `SAFE_BUILTINS`
        allow, and exception classes: whatever it raises, the message is its own
        (`validate_password`: `len`, `password.encode`, `PATTERN.match`, `ERROR_MESSAGES.TOO_LONG`)."""
        index = self.ctx.index
        symbol = index.symbols.get(index.resolve(self.ctx.path, written))
        if symbol is None or symbol.kind != "function":
            return False
        return all(name in SAFE_BUILTINS or name.endswith(("Error", "Exception"))
                   or ("." in name and _safe_method(name, lambda head: False))
                   for name in symbol.value.calls)


def _safe_method(written: str, imported) -> bool:
    """`text.strip()` on a local, `PATTERN.match(...)` on a compiled pattern constant, or
    `MESSAGES.NOT_FOUND(...)` from a table of messages: calls that fail with nothing internal.
    `imported(head)` tells a module (`requests.get`) from a local."""
    receiver, _, method = written.rpartition(".")
    last = receiver.rsplit(".", 1)[-1]
    if method in PATTERN_METHODS or method.isupper():
        return last.isupper()
    return method in STRING_METHODS and not imported(receiver.split(".", 1)[0])


def _leak_at(node: ast.AST, exceptions: dict[str, set[str]], imports: dict[str, str]) -> str | None:
    """The exception name (or "traceback") whose text `node` itself carries, else None."""
    def is_exc(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in exceptions

    if isinstance(node, ast.Call):
        if resolve(node.func, imports) in TRACEBACK_FUNCTIONS:
            return "traceback"
        name = call_name(node)
        if name in ("str", "repr") and node.args and is_exc(node.args[0]):
            return node.args[0].id
        if (name == "getattr" and len(node.args) >= 2 and is_exc(node.args[0])
                and isinstance(node.args[1], ast.Constant) and node.args[1].value in LEAKY_ATTRIBUTES):
            return node.args[0].id
        if isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            hit = next((a for a in [*node.args, *(k.value for k in node.keywords)] if is_exc(a)), None)
            if hit is not None:
                return hit.id
    elif isinstance(node, ast.FormattedValue) and is_exc(node.value):
        return node.value.id
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        hit = next((v for v in values if is_exc(v)), None)
        if hit is not None:
            return hit.id
    elif isinstance(node, ast.Attribute) and node.attr in LEAKY_ATTRIBUTES and is_exc(node.value):
        return node.value.id
    return None


def _sent(payload: ast.expr, narrows=lambda test: False) -> Iterator[ast.AST]:
    """The nodes of `payload` whose value can reach the client: not a test that only chooses
    between messages (`A if isinstance(e, X) and e.args == (...) else B`, a comparison), not the
    key of a lookup (`MESSAGES.get(str(e), "generic")` sends the table's text), and not the branch
    of a test that `narrows` the exception to a harmless class (`str(e) if type(e) is ValueError`)."""
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Compare) or (isinstance(node, ast.Call) and call_name(node) == "isinstance"):
            continue
        yield node
        if isinstance(node, ast.IfExp):
            stack += [node.orelse] if narrows(node.test) else [node.body, node.orelse]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            stack += [node.func, *node.args[1:], *(k.value for k in node.keywords)]
        else:
            stack += list(ast.iter_child_nodes(node))


def _narrowed_classes(test: ast.AST, exceptions: dict[str, set[str]]) -> list[str] | None:
    """The classes `isinstance(e, C)` / `type(e) is C` (or an `and` holding one) narrows an
    exception variable to, else None."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return next((found for value in test.values if (found := _narrowed_classes(value, exceptions))), None)
    subject, classes = None, None
    if isinstance(test, ast.Call) and call_name(test) == "isinstance" and len(test.args) == 2:
        subject, classes = test.args
    elif (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Is, ast.Eq))
          and isinstance(test.left, ast.Call) and call_name(test.left) == "type" and test.left.args):
        subject, classes = test.left.args[0], test.comparators[0]
    if not (isinstance(subject, ast.Name) and subject.id in exceptions):
        return None
    return sorted(_written_names([classes]))

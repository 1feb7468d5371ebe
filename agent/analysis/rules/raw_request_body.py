from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, dotted_name
from agent.analysis.rules._db import (
    ASSIGNMENTS,
    assigned_names,
    body_read,
    body_readers,
    in_order,
    request_names,
    tainted_names,
    unique_handlers,
    walk_body,
)
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.types import Finding

VALIDATORS = frozenset({
    "model_validate", "model_validate_json", "model_validate_strings", "parse_obj", "parse_raw",
    "validate_python", "validate_json", "parse_obj_as", "from_json",
})
# Methods that reshape a text value without letting anything new in (`body.decode().strip().upper()`).
TEXT_METHODS = frozenset({"decode", "strip", "lower", "upper", "casefold", "lstrip", "rstrip"})
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
# Calls that show the handler authenticates the raw body (Stripe, GitHub, Slack-style webhooks).
SIGNATURE_WORDS = ("signature", "hmac", "construct_event", "compare_digest", "verify", "authenticate")


class RawRequestBody(Rule):
    """Handler reads `request.json()` / `.body()` / `.form()` and uses it without a schema.

    **What it does**
    Flags `await request.json()`, `await request.body()` and `await request.form()` in route
    handlers when the data never goes through a Pydantic model (`Model.model_validate(...)`,
    `Model(**data)`, `TypeAdapter(...).validate_python(...)`, `model_validate_json(...)`).
    Webhook handlers that verify a signature over the raw body (`hmac.compare_digest`,
    `stripe.Webhook.construct_event`, a `verify_signature(...)` helper) are not flagged, nor is a
    text body used only as a key into a fixed table (`LEVELS.get(body.decode().upper())`, then
    the table's value), and in the error raised or the line logged.

    **Why is this bad?**
    Reading the body by hand bypasses FastAPI's validation and documentation: missing keys
    raise `KeyError` (a 500), wrong types flow into queries and storage, and clients get no
    schema.

    **Example**
    ```python
    @router.post("/items")
    async def create_item(request: Request, session: SessionDep):
        data = await request.json()
        item = Item(title=data["title"], price=data["price"])
    ```

    **Use instead**
    ```python
    @router.post("/items", status_code=201)
    async def create_item(item_in: ItemCreate, session: SessionDep):
        item = Item.model_validate(item_in)
    ```

    **Known problems**
    Validation done in another function that receives the raw dict is not seen. Catch-all
    proxy routes (`/{path:path}`) are skipped; other proxies that forward the body are flagged.
    """

    code = "FBA221"
    name = "raw-request-body"
    category = "validation"
    title = "Raw request body used without validation"

    VALID = (
        """
from fastapi import APIRouter, Request
router = APIRouter()

@router.post("/items", status_code=201)
async def create_item(request: Request):
    item_in = ItemCreate.model_validate(await request.json())
    return item_in

@router.post("/events", status_code=201)
async def create_event(request: Request):
    payload = await request.json()
    event = EventIn(**payload)
    return event
""",
        """
import hmac
import stripe
from fastapi import APIRouter, Header, Request
router = APIRouter()

@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request, stripe_signature: str = Header(None)):
    payload = await request.body()
    event = stripe.Webhook.construct_event(payload, stripe_signature, settings.STRIPE_WEBHOOK_SECRET)
    return {"received": event["type"]}

@router.post("/webhooks/github")
async def github_webhook(request: Request):
    body = await request.body()
    digest = hmac.new(settings.GITHUB_SECRET.encode(), body, "sha256").hexdigest()
    if not hmac.compare_digest(digest, request.headers.get("X-Hub-Signature-256", "")[7:]):
        raise HTTPException(401)
    return {"ok": True}
""",
        """
from fastapi import APIRouter, Request
router = APIRouter()

@router.post("/upload")
async def upload(request: Request):
    async for chunk in request.stream():
        store(chunk)
    return {"ok": True}
""",
        # The signature over the raw bytes is checked one call away, in the same file.
        """
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
router = APIRouter()

@router.post("/webhooks/{webhook_id}")
async def receive_webhook_event(webhook_id: str, request: Request):
    body = await request.body()
    return await run_in_threadpool(_receive_event, webhook_id=webhook_id, body=body, headers=request.headers)

def _receive_event(webhook_id: str, body: bytes, headers):
    provider = get_provider(webhook_id)
    provider.authenticate(body=body, headers=headers, secret=load_secret(webhook_id))
    return provider.handle(body)
""",
        # A plain-text body that is only a key into a fixed table: the table's value is used.
        """
from fastapi import APIRouter, HTTPException, Request
router = APIRouter()
THEMES = {"DARK": Theme.dark, "LIGHT": Theme.light}

@router.put("/theme")
async def set_theme(request: Request):
    raw = await request.body()
    name = raw.decode("utf-8").strip().upper()
    theme = THEMES.get(name)
    if theme is None:
        raise HTTPException(400, f"unknown theme {name}")
    settings.theme = theme
    logger.info("theme set to %s", name)
    return {"theme": theme.value}
""",
    )
    INVALID = (
        # A helper of the same file that only stores the body verifies nothing.
        """
from fastapi import APIRouter, Request
router = APIRouter()

@router.post("/events")
async def receive_event(request: Request):
    body = await request.body()
    return _store_event(body)

def _store_event(body: bytes):
    events.append(json.loads(body))
    return {"ok": True}
""",
        """
from fastapi import APIRouter, Request
router = APIRouter()

@router.post("/items")
async def create_item(request: Request, session: SessionDep):
    data = await request.json()
    item = Item(title=data["title"], price=data["price"])
    session.add(item)
    session.commit()
    return item
""",
        """
import json
from fastapi import APIRouter, Request
router = APIRouter()

@router.put("/settings")
async def save_settings(req: Request):
    settings = json.loads(await req.body())
    store.save(settings)
    return settings

@router.post("/contact")
async def contact(request: Request):
    form = await request.form()
    send_mail(form["email"], form["message"])
    return {"ok": True}
""",
        # Checked against a table, then stored as the client sent it.
        """
from fastapi import APIRouter, HTTPException, Request
router = APIRouter()

@router.put("/theme")
async def set_theme(request: Request):
    name = (await request.body()).decode()
    if name not in THEMES:
        raise HTTPException(400, "unknown theme")
    store.save({"theme": name})
    return {"ok": True}
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in unique_handlers(ctx):
            readers = body_readers(ctx, func)
            # `request_names` unparses annotations: asked only of handlers that await some body.
            requests = request_names(func) & readers if readers else set()
            if not requests:
                continue
            reads = [n for n in walk_body(func) if body_read(n, requests)]
            if not reads or ":path}" in route.path or _verifies_signature(func, _local_functions(ctx)):
                continue
            for read in reads:
                if not _validated(func, read) and not _only_looked_up(func, read):
                    method = read.value.func.attr
                    yield self.finding(
                        ctx,
                        read,
                        f"{func.name} reads request.{method}() and uses it without a schema; "
                        "declare a Pydantic model parameter (or Model.model_validate the data)",
                        line=read.lineno,
                    )


def _validating_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = call_name(node) or ""
    last = name.rsplit(".", 1)[-1]
    if last in VALIDATORS:
        return True
    # `ItemCreate(**data)` / `ItemCreate(data=...)`: a model constructor validates its input.
    return last[:1].isupper() and last not in {"Response", "JSONResponse", "HTMLResponse", "PlainTextResponse"}


def _validated(func: FunctionNode, read: ast.Await) -> bool:
    validators = [n for n in walk_body(func) if _validating_call(n)]
    if any(_inside_args(v, read) for v in validators):
        return True
    tainted = tainted_names(func, lambda n: n is read)
    return any(_argument_names(v) & tainted for v in validators)


def _only_looked_up(func: FunctionNode, read: ast.Await) -> bool:
    """`level = await request.body()` then `LEVELS.get(level.decode().upper())` and nothing else:
    the body is a key looked up in a fixed table (what the table holds is the handler's own data),
    or text in the error it raises or the line it logs. A schema would add nothing."""
    parents = {child: node for node in ast.walk(func) for child in ast.iter_child_nodes(node)}
    tainted: set[str] = set()
    for stmt in in_order(n for n in walk_body(func) if isinstance(n, ASSIGNMENTS) and n.value is not None):
        sourced = any(n is read for n in ast.walk(stmt.value))
        reads_tainted = any(isinstance(n, ast.Name) and n.id in tainted for n in ast.walk(stmt.value))
        if (sourced or reads_tainted) and not _is_lookup(stmt.value):
            tainted.update(assigned_names(stmt))
    if not tainted:
        return False
    looked_up = False
    for node in walk_body(func):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in tainted):
            continue
        statement = _statement_of(node, parents)
        if _lookup_key(_text_of(node, parents), parents):
            looked_up = True
        elif isinstance(statement, ast.Raise) or _in_log_call(node, parents):
            continue
        elif not (isinstance(statement, ASSIGNMENTS) and set(assigned_names(statement)) <= tainted):
            return False
    return looked_up


def _is_lookup(value: ast.AST) -> bool:
    """`TABLE.get(key)`: what it answers comes from the table, not from the key."""
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "get"


def _text_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    """The outermost `node.decode().strip()...` chain around `node`."""
    while True:
        attribute = parents.get(node)
        call = parents.get(attribute)
        if not (isinstance(attribute, ast.Attribute) and attribute.attr in TEXT_METHODS
                and isinstance(call, ast.Call) and call.func is attribute):
            break
        node = call
    return node


def _lookup_key(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """`TABLE.get(node)` or `node in TABLE`: a lookup keyed by `node` in something else."""
    parent = parents.get(node)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr == "get":
        return bool(parent.args) and parent.args[0] is node
    return (isinstance(parent, ast.Compare) and parent.left is node and len(parent.ops) == 1
            and isinstance(parent.ops[0], (ast.In, ast.NotIn)))


def _in_log_call(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside `logger.info(...)` (any `*log*` receiver and level method): text for the log only."""
    while node is not None and not isinstance(node, ast.stmt):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS
                and "log" in (dotted_name(node.func.value) or "").lower()):
            return True
        node = parents.get(node)
    return False


def _statement_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    while node is not None and not isinstance(node, ast.stmt):
        node = parents.get(node)
    return node


def _inside_args(call: ast.Call, node: ast.AST) -> bool:
    return any(n is node for arg in [*call.args, *(k.value for k in call.keywords)] for n in ast.walk(arg))


def _argument_names(call: ast.Call) -> set[str]:
    names: set[str] = set()
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if isinstance(arg, ast.Starred):
            arg = arg.value
        if isinstance(arg, ast.Name):  # the data itself, not `data["title"]` picked apart
            names.add(arg.id)
    return names


def _verifies_signature(func: FunctionNode, local: dict[str, FunctionNode] | None = None) -> bool:
    """The handler checks a signature over the raw bytes, itself or in a function of the same file
    that it calls or hands to a runner (`run_in_threadpool(_receive_event, body=body)`): the
    reason a webhook receiver reads the raw body."""
    for node in walk_body(func):
        if isinstance(node, ast.Call):
            name = (dotted_name(node.func) or (node.func.attr if isinstance(node.func, ast.Attribute) else "")).lower()
            if any(word in name for word in SIGNATURE_WORDS):
                return True
        elif local and isinstance(node, ast.Name) and node.id in local and local[node.id] is not func:
            if _verifies_signature(local[node.id]):
                return True
    return False


def _local_functions(ctx: FileContext) -> dict[str, FunctionNode]:
    return {f.name: f for f in ctx.tree.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}

from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, dotted_name
from agent.analysis.rules._db import (
    body_read,
    body_readers,
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
# Calls that show the handler authenticates the raw body (Stripe, GitHub, Slack-style webhooks).
SIGNATURE_WORDS = ("signature", "hmac", "construct_event", "compare_digest", "verify", "authenticate")


class RawRequestBody(Rule):
    """Handler reads `request.json()` / `.body()` / `.form()` and uses it without a schema.

    **What it does**
    Flags `await request.json()`, `await request.body()` and `await request.form()` in route
    handlers when the data never goes through a Pydantic model (`Model.model_validate(...)`,
    `Model(**data)`, `TypeAdapter(...).validate_python(...)`, `model_validate_json(...)`).
    Webhook handlers that verify a signature over the raw body (`hmac.compare_digest`,
    `stripe.Webhook.construct_event`, a `verify_signature(...)` helper) are not flagged.

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
                if not _validated(func, read):
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

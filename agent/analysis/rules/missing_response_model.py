from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name
from agent.analysis.rules._db import walk_body
from agent.analysis.rules._responses import (
    RESPONSE_NAMES,
    declares_response_class,
    decorator_call,
    returned_values,
    returns_response,
    status_value_of,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity


class MissingResponseModel(Rule):
    """Route returning data without a declared response model.

    **What it does**
    Flags routes whose handler returns a value but that declare neither `response_model=` nor
    a return annotation. Handlers returning `Response` objects (redirects, files, streams,
    `JSONResponse`), routes with `response_class=`, `status_code=204` and WebSockets are
    skipped.

    **Why is this bad?**
    Without a response model FastAPI serialises whatever the handler returns: new columns,
    internal fields and password hashes reach clients as soon as they are added to the object,
    and the OpenAPI schema promises nothing to API consumers.

    **Example**
    ```python
    @router.get("/items/{id}")
    def read_item(id: int, session: SessionDep):
        return session.get(Item, id)
    ```

    **Use instead**
    ```python
    @router.get("/items/{id}", response_model=ItemPublic)
    def read_item(id: int, session: SessionDep) -> Any: ...
    ```

    **Known problems**
    `response_model=None` is taken as a deliberate choice. A return annotation of `Any` or
    `dict` counts as declared although it documents little.
    """

    code = "FBA201"
    name = "missing-response-model"
    category = "response-model"
    severity = Severity.LOW
    title = "Route without a response model"
    preview = True  # precision on real code (bench/precision) below the default set's 0.80

    VALID = (
        """
from typing import Any
from fastapi import APIRouter, status
from fastapi.responses import RedirectResponse, StreamingResponse
from app.models import ItemPublic, Message

router = APIRouter()

@router.get("/items/{id}", response_model=ItemPublic)
def read_item(id: int) -> Any:
    return {"id": id}

@router.delete("/items/{id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(id: int):
    return None

@router.get("/go")
def go():
    return RedirectResponse("/items")

@router.get("/export")
def export():
    return StreamingResponse(iter([b"a"]), media_type="text/csv")

@router.post("/ping")
def ping() -> Message:
    return Message(message="pong")
""",
        # A constant status exposes nothing; a redirect built by a helper or kept in a variable is
        # a Response.
        """
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

router = APIRouter()

@router.delete("/files/all")
async def delete_all_files():
    await Files.delete_all()
    return {"message": "All files deleted successfully"}

@router.post("/phone/verify")
async def verify_mobile_otp(code: str):
    if not await check(code):
        return {"success": False, "message": "Invalid code"}
    return True

@router.get("/auth/login")
async def login(request: Request):
    return await oauth.google.authorize_redirect(request, request.url_for("auth"))

@router.get("/logout")
async def logout(request: Request):
    response = RedirectResponse("/")
    response.delete_cookie("session")
    return response
""",
    )
    INVALID = (
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/items/{id}")
def read_item(id: int):
    return {"id": id, "secret": "..."}
""",
        # A data value among constant answers still goes out unmodelled.
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/tokens")
async def get_tokens(user=Depends(current_user)):
    tokens = await Tokens.of(user.id)
    if not tokens:
        return {"status": "ok"}
    return tokens
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if route.response_model is not None or func.returns is not None or "WEBSOCKET" in route.methods:
                continue
            if status_value_of(route.status_code) == 204 or not returned_values(func) or returns_response(func):
                continue
            if declares_response_class(decorator_call(func, route.decorator_line)):
                continue
            if all(_constant(v) or _response(func, v) for v in returned_values(func)):
                continue
            yield self.finding(
                ctx,
                func,
                f"{route.function} returns data but declares no response model; add response_model= "
                "or a return annotation with a public schema",
                line=route.decorator_line,
            )



def _constant(value: ast.expr) -> bool:
    """A literal answer (`True`, `{"status": "ok", "message": "..."}`): nothing to model or leak."""
    if isinstance(value, ast.Dict):
        return all(k is not None and _constant(k) and _constant(v) for k, v in zip(value.keys, value.values))
    return isinstance(value, ast.Constant)


def _response(func, value: ast.expr) -> bool:
    """A Response made one step away: a redirect helper (`oauth.authorize_redirect(...)`) or a
    variable assigned a Response (`response = RedirectResponse(...)`)."""
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Call):
        return "redirect" in (call_name(value) or "").rsplit(".", 1)[-1].lower()
    if isinstance(value, ast.Name):
        assigned = [n.value for n in walk_body(func) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == value.id for t in n.targets)]
        return bool(assigned) and all(
            isinstance(v, ast.Call) and (call_name(v) or "").rsplit(".", 1)[-1].endswith(RESPONSE_NAMES)
            for v in assigned)
    return False

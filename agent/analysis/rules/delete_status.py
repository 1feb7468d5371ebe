from __future__ import annotations

import ast
from dataclasses import replace
from typing import Iterator

from agent.analysis.facts import call_name
from agent.analysis.rules._responses import returned_values, returns_response, sets_status_code, status_value_of
from agent.analysis.rules.base import FileContext, FunctionNode, Rule, route_label
from agent.types import Finding, Severity


class DeleteStatus(Rule):
    """DELETE endpoint whose status code contradicts its body.

    **What it does**
    Flags `DELETE` routes
    - whose handler returns nothing (no `return` value, or `return None`) while the route does
      not set `status_code=204`;
    - that declare `status_code=204` but return a body (a dict, a variable, a schema);
    - that declare `201 Created` (or another 2xx a deletion never means).

    **Why is this bad?**
    A handler that returns nothing answers `200 OK` with a `null` JSON body: `204 No Content` is
    the documented answer for a delete without a body; clients and generated SDKs rely on it.
    With 204 FastAPI drops whatever the handler returns, so a client never sees the deleted
    row or message the code means to send. `201 Created` tells clients a resource was made.

    **Example**
    ```python
    @router.delete("/items/{id}")
    def delete_item(id: uuid.UUID, session: SessionDep, current_user: CurrentUser) -> None:
        ...
    ```

    **Use instead**
    ```python
    @router.delete("/items/{id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_item(id: uuid.UUID, session: SessionDep, current_user: CurrentUser) -> None:
        ...
    ```

    **Known problems**
    A delete that returns a body with 200 (the deleted row, or a message as in the
    full-stack-fastapi-template) is allowed by RFC 9110 (section 9.3.5: 200 when the response
    describes the outcome) and not flagged. A 204 handler returning a helper's result
    (`return await repo.delete(id)`) is not flagged: it may be None.
    """

    code = "FBA204"
    name = "delete-status"
    category = "status-code"
    severity = Severity.LOW
    title = "DELETE status code contradicts its body"
    fixable = True

    VALID = (
        """
from fastapi import APIRouter, Response, status
from app.models import Message

router = APIRouter()

@router.delete("/items/{id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(id: int) -> None:
    return None

@router.delete("/users/{id}", response_model=Message)
def delete_user(id: int):
    return Message(message="User deleted successfully")

@router.delete("/tags/{id}")
def delete_tag(id: int):
    return Response(status_code=204)

@router.delete("/owned-by/{resource_id}", status_code=status.HTTP_202_ACCEPTED)
async def delete_owned_by(resource_id: str) -> None:
    await queue_deletion(resource_id)

@router.delete("/notes/{id}")
async def delete_note(id: int, session: SessionDep) -> NotePublic:
    note = await session.get(Note, id)
    await session.delete(note)
    await session.commit()
    return note

@router.delete("/chats/{id}", status_code=200)
async def delete_chat(id: str) -> bool:
    return await chats.delete_chat_by_id(id)

@router.delete("/runs/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_run(id: str, repo: RunRepository) -> None:
    return await repo.delete(id)
""",
    )
    INVALID = (
        """
from fastapi import APIRouter
router = APIRouter()

@router.delete("/items/{id}")
def delete_item(id: int) -> None:
    pass
""",
        # 204 declared, the deleted row returned: FastAPI drops it.
        """
from fastapi import APIRouter, status
router = APIRouter()

@router.delete("/items/{id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(id: int, session: SessionDep):
    item = session.get(Item, id)
    session.delete(item)
    session.commit()
    return {"deleted": item.id}
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.delete("/files", status_code=201)
async def delete_files(names: list[str]):
    await storage.remove(names)
    return {"status": "ok"}
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.delete("/items/{id}", status_code=200)
async def delete_item(id: int):
    return None
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if "DELETE" not in route.methods or sets_status_code(func):
                continue
            status = status_value_of(route.status_code)
            label = route_label(route, "DELETE")
            if status == 204:
                body = _dropped_body(func)
                if body is not None:
                    yield self._unfixable(
                        ctx, func,
                        f"{label} declares 204 No Content but returns {ctx.segment(body)[:60]}: FastAPI drops "
                        "the body, so clients never see it; return nothing, or answer 200 with it",
                        line=route.decorator_line,
                    )
            elif status is not None and status in CREATED_LIKE:
                yield self._unfixable(
                    ctx, func,
                    f"{label} answers {status} {CREATED_LIKE[status]}, which a DELETE never means; answer "
                    "204 No Content (no body), 200 with a body, or 202 Accepted when the deletion is queued",
                    line=route.decorator_line,
                )
            elif (route.status_code is None or status == 200) and route.response_model in (None, "None") \
                    and not (returned_values(func) or returns_response(func)):
                message = f"{label} returns no body but answers 200; set status_code=status.HTTP_204_NO_CONTENT"
                yield self.finding(ctx, func, message, line=route.decorator_line)  # the fix adds or replaces the status

    def _unfixable(self, ctx: FileContext, func: FunctionNode, message: str, line: int) -> Finding:
        """The automatic fix only sets 204 on a route with no status (or 200) and no body: these need a person."""
        return replace(self.finding(ctx, func, message, line=line), fixable=False)


# 2xx statuses that contradict a deletion (202 Accepted and 204 No Content are its answers, and
# 200 with a body describing the outcome is allowed by RFC 9110 section 9.3.5).
CREATED_LIKE = {201: "Created", 203: "Non-Authoritative Information", 205: "Reset Content", 206: "Partial Content"}
# Returned expressions that are a body for sure (a call may return None: `return await repo.delete(id)`).
BODY_NODES = (ast.Dict, ast.List, ast.Set, ast.Tuple, ast.JoinedStr, ast.Constant, ast.DictComp, ast.ListComp, ast.Name)


def _dropped_body(func: FunctionNode) -> ast.expr | None:
    """The first value a 204 handler returns that FastAPI will drop: a literal, a variable, a
    schema built in place (`ItemPublic(...)`), never a Response."""
    if returns_response(func):
        return None
    for value in returned_values(func):
        if isinstance(value, BODY_NODES):
            return value
        name = (call_name(value) or "").rsplit(".", 1)[-1] if isinstance(value, ast.Call) else ""
        if name[:1].isupper() or name in {"model_dump", "dict", "jsonable_encoder"}:
            return value
    return None

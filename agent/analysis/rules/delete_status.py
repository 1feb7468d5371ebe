from __future__ import annotations

from typing import Iterator

from agent.analysis.rules._responses import returned_values, returns_response, sets_status_code, status_value_of
from agent.analysis.rules.base import FileContext, Rule, route_label
from agent.types import Finding, Severity


class DeleteStatus(Rule):
    """DELETE endpoint that returns nothing but answers 200.

    **What it does**
    Flags `DELETE` routes whose handler returns nothing (no `return` value, or `return None`)
    while the route does not set `status_code=204`.

    **Why is this bad?**
    FastAPI then answers `200 OK` with a `null` JSON body. `204 No Content` is the documented
    answer for a delete without a body; clients and generated SDKs rely on it.

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
    A delete that returns a message body with 200 (the full-stack-fastapi-template style) is
    fine and not flagged.
    """

    code = "FBA204"
    name = "delete-status"
    category = "status-code"
    severity = Severity.LOW
    title = "DELETE without a body does not answer 204"
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
            if "DELETE" not in route.methods or status_value_of(route.status_code) == 204:
                continue
            if route.status_code is not None and status_value_of(route.status_code) != 200:
                continue  # another status chosen on purpose (202 Accepted: the deletion is queued)
            if sets_status_code(func):
                continue
            if returned_values(func) or returns_response(func) or route.response_model not in (None, "None"):
                continue
            yield self.finding(
                ctx,
                func,
                f"{route_label(route, 'DELETE')} returns no body but answers 200; set "
                "status_code=status.HTTP_204_NO_CONTENT",
                line=route.decorator_line,
            )

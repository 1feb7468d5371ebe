from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.rules._db import unique_handlers, untyped_body_args
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding


class UntypedBody(Rule):
    """Request body accepted as `dict` / `Any` instead of a Pydantic model.

    **What it does**
    Flags route parameters that FastAPI reads from the JSON body and that are typed `dict`,
    `Dict[str, Any]`, `Any`, `list[dict]` (also inside `Optional`/`Annotated`), or declared
    with `Body()` and no type at all.

    **Why is this bad?**
    Such a body is not validated: any keys, any types, any size reach the handler, and from
    there often the database (mass assignment) or other services. The OpenAPI schema says
    nothing useful to clients either.

    **Example**
    ```python
    @router.post("/items")
    def create_item(item: dict, session: SessionDep): ...
    ```

    **Use instead**
    ```python
    class ItemCreate(BaseModel):
        title: str = Field(max_length=255)
        description: str | None = None

    @router.post("/items", status_code=201)
    def create_item(item: ItemCreate, session: SessionDep): ...
    ```

    **Known problems**
    Endpoints that must accept arbitrary JSON (a webhook relay, a user-defined metadata blob)
    are flagged too; suppress them with `# fba: ignore[FBA220]` on the parameter line.
    `dict[str, int]` and other dicts with typed values are accepted as validated.
    """

    code = "FBA220"
    name = "untyped-body"
    category = "validation"
    title = "Request body is not validated by a schema"
    preview = True  # precision on real code (bench/precision) below the default set's 0.80

    VALID = (
        """
from fastapi import APIRouter, File, Form, UploadFile
router = APIRouter()

@router.post("/items", status_code=201)
def create_item(item_in: ItemCreate, session: SessionDep):
    return item_in

@router.post("/files", status_code=201)
async def upload(file: UploadFile = File(...), title: str = Form(...), tags: list[str] = Form([])):
    return {"name": file.filename}

@router.put("/scores")
def set_scores(scores: dict[str, int]):
    return scores
""",
        """
from typing import Annotated
from fastapi import APIRouter, Body
router = APIRouter()

@router.put("/items/{item_id}")
def update_item(item_id: int, item: Annotated[ItemUpdate, Body(embed=True)], importance: int = Body(gt=0)):
    return item
""",
    )
    INVALID = (
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/items")
def create_item(item: dict, session: SessionDep):
    return item
""",
        """
from typing import Any, Dict
from fastapi import APIRouter, Body
router = APIRouter()

@router.patch("/users/{user_id}")
async def patch_user(user_id: int, changes: Dict[str, Any] = Body(...)):
    return changes
""",
        """
from typing import Annotated
from fastapi import APIRouter, Body
router = APIRouter()

@router.post("/bulk")
def bulk(rows: list[dict], meta=Body(None)):
    return rows
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in unique_handlers(ctx):
            for arg in untyped_body_args(func, route.path):
                shown = ast.unparse(arg.annotation) if arg.annotation is not None else "no type"
                yield self.finding(
                    ctx,
                    arg,
                    f"'{arg.arg}' takes the request body as {shown}: nothing is validated; "
                    "declare a Pydantic model for it",
                    line=arg.lineno,
                )

from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name
from agent.analysis.rules._db import unique_handlers, untyped_body_args, walk_body
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
    `dict[str, int]` and other dicts with typed values are accepted as validated, and so is a dict
    the handler validates itself (`Valves(**form_data)`, `Model.model_validate(data)`,
    `validate(data, schema)`).
    """

    code = "FBA220"
    name = "untyped-body"
    category = "validation"
    title = "Request body is not validated by a schema"

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
        # The handler validates the dict with a model picked at run time, or against a schema.
        """
from fastapi import APIRouter

router = APIRouter()

@router.post("/functions/{id}/valves")
async def update_valves(id: str, form_data: dict):
    Valves = load_module(id).Valves
    form_data = {k: v for k, v in form_data.items() if v is not None}
    valves = Valves(**form_data)
    return valves.model_dump()

@router.post("/runs/{id}/resume")
async def resume(id: str, run_input: dict | None = Body(None, embed=True)):
    schema_tools.validate(run_input, load_schema(id), raise_on_error=True)
    return {"ok": True}
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
                if _validated_in_body(func, arg.arg):
                    continue
                shown = ast.unparse(arg.annotation) if arg.annotation is not None else "no type"
                yield self.finding(
                    ctx,
                    arg,
                    f"'{arg.arg}' takes the request body as {shown}: nothing is validated; "
                    "declare a Pydantic model for it",
                    line=arg.lineno,
                )


def _validated_in_body(func, name: str) -> bool:
    """The handler validates the dict itself: `Valves(**form_data)` (a model class chosen at run
    time), `Model.model_validate(form_data)`, `schema_tools.validate(run_input, schema)`."""
    for node in walk_body(func):
        if not isinstance(node, ast.Call):
            continue
        callee = (call_name(node) or "").rsplit(".", 1)[-1]
        if callee[:1].isupper() and any(k.arg is None and _is_name(k.value, name) for k in node.keywords):
            return True
        if callee.endswith(VALIDATORS) and node.args and _is_name(node.args[0], name):
            return True
    return False


VALIDATORS = ("validate", "model_validate", "parse_obj", "validate_python")


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name

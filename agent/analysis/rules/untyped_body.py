from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, keyword, literal_str
from agent.analysis.rules._db import unique_handlers, untyped_body_args, walk_body
from agent.analysis.rules._upstream import forwards_upstream
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.analysis.walk import subtree_nodes
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
    Endpoints that must accept arbitrary JSON (a user-defined metadata blob) are flagged too;
    suppress them with `# fba: ignore[FBA220]` on the parameter line. Not flagged: `dict[str, int]`
    and other dicts with typed values; a dict the handler validates itself (`Valves(**form_data)`,
    `Model.model_validate(data)`, `validate(data, schema)`); a body declared open on purpose
    (`Body(json_schema_extra={"additionalProperties": True})`, or pydantic's `JsonValue`,
    `dict[str, JsonValue]`: explicitly any JSON value); and a proxy's body, sent whole
    (or copied) as the body of a request to another service, directly or through the project's
    functions (`client.post(url, json={**form_data})`): the service it is meant for validates it.
    A body the handler reads fields from to build a new request is still flagged.
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
        # A proxy: the client's JSON goes whole (or copied) to the upstream API, which validates it.
        """
import httpx
from fastapi import APIRouter, Depends

router = APIRouter()

@router.post("/v1/chat/completions")
async def chat_completions(form_data: dict, user=Depends(get_current_user)):
    payload = {**form_data, "user": user.id}
    payload["model"] = resolve_model(payload.get("model"))
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{UPSTREAM}/chat/completions", json=payload)
    return response.json()
""",
        # ... also through the project's own helpers, in another module.
        {
            "app/upstream.py": """
import json

async def send_request(url: str, payload: bytes, key: str):
    session = await get_session()
    response = await session.request("POST", url, data=payload, headers={"Authorization": key})
    return await response.json()

async def forward(request, form_data: dict):
    return await send_request(UPSTREAM, payload=json.dumps(form_data).encode(), key=KEY)
""",
            "app/main.py": """
from fastapi import FastAPI, Request
from app import upstream

app = FastAPI()

@app.post("/api/embeddings")
async def embeddings(request: Request, form_data: dict):
    return await upstream.forward(request, form_data)
""",
        },
        # A body declared open on purpose: the endpoint validates a client's JSON schema.
        """
from typing import Any
from fastapi import APIRouter, Body

router = APIRouter()

@router.post("/schemas/validate")
async def validate_values(
    json_schema: dict[str, Any] = Body(..., embed=True, json_schema_extra={"additionalProperties": True}),
):
    return check_schema(preprocess(json_schema))
""",
        # ... or typed as pydantic's `JsonValue`: any JSON value, by contract (a free-form value store).
        """
from typing import Annotated
from fastapi import APIRouter, Body
from pydantic import JsonValue

router = APIRouter()

@router.post("/xcoms/{key}")
def set_xcom(key: str, value: Annotated[JsonValue, Body()]):
    return {"key": key}

@router.put("/task-instances/{id}/rendered-fields")
def put_rendered_fields(id: str, fields: Annotated[dict[str, JsonValue], Body()]):
    return fields
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
        # Look-alikes of a proxy: fields read to build a new request, the body nested in another
        # payload, the body stored, or posted to a webhook but not as the request's body.
        """
import httpx
from fastapi import APIRouter

router = APIRouter()

@router.post("/title/completions")
async def generate_title(form_data: dict):
    payload = {"model": form_data["model"], "messages": [{"role": "user", "content": form_data["prompt"]}],
               "metadata": {"task_body": form_data}}
    async with httpx.AsyncClient() as client:
        response = await client.post(UPSTREAM, json=payload)
    return response.json()
""",
        """
import httpx
from fastapi import APIRouter

router = APIRouter()

@router.patch("/chats/{id}/params")
async def update_chat_params(id: str, form_data: dict, db: SessionDep):
    chat = await Chats.update_params(db, id, form_data)
    await httpx.AsyncClient().post(WEBHOOK, json={"chat": id}, params=form_data)
    return chat
""",
        """
from typing import Any
from fastapi import APIRouter, Body

router = APIRouter()

@router.put("/settings")
async def put_settings(settings: dict[str, Any] = Body(..., json_schema_extra={"examples": [{"theme": "dark"}]})):
    return save(settings)
""",
        # Look-alikes of `JsonValue`: pydantic's bare `Json` and a dict of `Any` values.
        """
from typing import Annotated, Any
from fastapi import APIRouter, Body
from pydantic import Json

router = APIRouter()

@router.post("/xcoms/{key}")
def set_xcom(key: str, value: Annotated[Json, Body()], meta: Annotated[dict[str, Any], Body()]):
    return {"key": key}
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in unique_handlers(ctx):
            for arg in untyped_body_args(func, route.path):
                if (_validated_in_body(func, arg.arg) or _declared_open(func, arg)
                        or forwards_upstream(ctx.index, ctx.path, func.lineno, arg.arg)):
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


def _declared_open(func: FunctionNode, arg: ast.arg) -> bool:
    """`Body(..., json_schema_extra={"additionalProperties": True})`: the schema says, on
    purpose, that any object is accepted (a JSON schema or values to validate against one)."""
    defaults = dict(zip(reversed([*func.args.posonlyargs, *func.args.args]), reversed(func.args.defaults)))
    defaults.update((a, d) for a, d in zip(func.args.kwonlyargs, func.args.kw_defaults) if d is not None)
    for node in [defaults.get(arg), arg.annotation]:
        for call in (n for n in subtree_nodes(node) if isinstance(n, ast.Call)) if node is not None else ():
            extra = keyword(call, "json_schema_extra")
            if isinstance(extra, ast.Dict) and any(
                    literal_str(k) == "additionalProperties" and isinstance(v, ast.Constant) and v.value is True
                    for k, v in zip(extra.keys, extra.values)):
                return True
    return False


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name

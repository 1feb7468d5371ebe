from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import FunctionFacts, call_name
from agent.analysis.rules._responses import sets_status_code
from agent.analysis.rules._upstream import relays_upstream
from agent.analysis.rules.base import FileContext, FunctionNode, Rule, route_label
from agent.analysis.walk import subtree_nodes, walk_body
from agent.types import Finding, Severity

CREATE_VERBS = ("create", "add", "register", "new", "insert", "upload", "post_")
NOT_CREATE_VERBS = ("login", "token", "search", "query", "verify", "refresh", "logout", "reset", "send",
                    "run", "execute", "validate", "check", "preview", "calculate", "webhook", "callback",
                    "import", "export", "batch", "bulk", "recover", "test", "signin", "sign_in", "or_update", "upsert")


class CreateWithoutCreated(Rule):
    """Create endpoint that answers 200 instead of 201.

    **What it does**
    Flags `POST` routes whose handler creates a resource (its name says create/add/register, or it
    calls `session.add(...)` and returns the new object) but whose decorator sets no
    `status_code`, so FastAPI answers `200 OK`.

    **Why is this bad?**
    HTTP semantics (and the agent's checklist) say a successful create answers `201 Created`.
    Clients, generated SDKs and API gateways rely on it to tell creation from other actions.

    **Example**
    ```python
    @router.post("/items")
    def create_item(item: ItemCreate, session: SessionDep): ...
    ```

    **Use instead**
    ```python
    @router.post("/items", status_code=status.HTTP_201_CREATED)
    def create_item(item: ItemCreate, session: SessionDep): ...
    ```

    **Known problems**
    Action endpoints that use POST without creating anything (login, search, webhooks) are not
    flagged when their name says so; others that add rows as a side effect may be. Left alone:
    upserts (`create_or_update_*`, or a row added only in the branch where a lookup found none
    and the other branch updates it), handlers that set `response.status_code` themselves,
    `add_*` handlers under an existing parent (`POST /channels/{id}/members/add`, or a
    `conversation_id` read from the body), proxies that return what the upstream service they post to answered (the resource is
    created there, and its status is relayed), streamed answers (`StreamingResponse`: the
    status is sent before the work is done), actions named by the last path segment
    (`POST /dags/{id}/clearTaskInstances`, `/runs/{id}/cancel`), and handlers named like a create
    that store nothing: no name they call or pass on says it writes (`add`, `create`, `insert`,
    `save`, `commit`, `update`, `acreate_*`, ...), nor does a call inside a project function they
    call (an evaluation that returns computed results). A handler that calls nothing at all is
    judged by its name.
    """

    code = "FBA203"
    name = "create-without-201"
    category = "status-code"
    severity = Severity.LOW
    title = "Create endpoint does not answer 201 Created"
    fixable = True

    VALID = (
        """
from fastapi import APIRouter, status
router = APIRouter()

@router.post("/items", status_code=status.HTTP_201_CREATED)
def create_item(item: dict):
    return item
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/login/access-token")
def login_access_token(form: dict):
    return {"access_token": "..."}

@router.post("/items/search")
def search_items(query: dict):
    return []
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/items", status_code=201)
async def create_item(item: dict):
    return item
""",
        # Items added to an existing parent, and an upsert, are not creates.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/channels/{id}/members/add")
async def add_members_by_id(id: str, form: dict, db):
    db.add(Membership(channel_id=id, user_ids=form["user_ids"]))
    return {"ok": True}

@router.post("/projects/{name}/secrets/create_or_update")
async def create_or_update_secret(name: str, body: dict):
    return await upsert_secret(name, body)
""",
        # An upsert answers 201 only when the row is new.
        """
from fastapi import APIRouter, Response, status
router = APIRouter()

@router.post("/flows/")
async def create_flow(flow: dict, response: Response, session):
    model = await upsert_flow(session, flow)
    if model.created >= now():
        response.status_code = status.HTTP_201_CREATED
    return model
""",
        # A proxy: the upstream service creates the pipeline and its answer is relayed as is.
        """
import aiohttp
from fastapi import APIRouter
router = APIRouter()

@router.post("/pipelines/add")
async def add_pipeline(form_data: AddPipelineForm):
    url, key = await get_connection(form_data.url_idx)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/pipelines/add", json={"url": form_data.url}) as response:
            response.raise_for_status()
            data = await response.json()
    return {**data}
""",
        # ... also through the project's own helper, in another module.
        {
            "app/upstream.py": """
async def send_request(url: str, payload: bytes):
    session = await get_session()
    r = await session.request(method="POST", url=url, data=payload)
    return r
""",
            "app/main.py": """
from fastapi import FastAPI
from app.upstream import send_request

app = FastAPI()

@app.post("/api/create")
async def create_model(form_data: CreateModelForm):
    return await send_request(f"{URL}/api/create", payload=form_data.model_dump_json().encode())
""",
        },
        # Items added to an existing parent named in the body; a streamed progress answer.
        """
import json
from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
router = APIRouter()

@router.post("/conversation/file-filters")
def add_file_filter(request: Request, filter: FileFilterRequest):
    try:
        filters = Conversations.add_files_to_filter(request.user, filter.conversation_id, [filter.filename])
        return Response(content=json.dumps(filters), media_type="application/json", status_code=200)
    except Exception as e:
        raise HTTPException(status_code=422, detail="cannot add the filter")
""",
        """
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
router = APIRouter()

@router.post("/models/upload")
async def upload_model(file: UploadFile):
    path = await save(file)
    return StreamingResponse(push_blob_with_progress(path), media_type="text/event-stream")
""",
        # An upsert: the row is added only when the lookup found none, else it is updated.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/channels/{channel_id}/apps")
async def invite_app(channel_id: str, form: AppInvitation, db: SessionDep):
    member = await db.scalar(select(ChannelMember).where(ChannelMember.app_id == form.app_id))
    if member:
        member.is_active, member.joined_at = True, now()
    else:
        db.add(ChannelMember(channel_id=channel_id, app_id=form.app_id))
    await db.commit()
    return {"ok": True}
""",
        # Named like a create, but it only computes an answer (nothing stored, here or in the
        # project function it calls), or acts on existing rows (the path ends in a verb).
        {
            "app/evaluator.py": """
async def evaluate_models(cluster, specs):
    workers = await Worker.all_by_fields(cluster_id=cluster.id)
    return [score(spec, workers) for spec in specs]
""",
            "app/main.py": """
from fastapi import APIRouter
from app.evaluator import evaluate_models
router = APIRouter()

@router.post("/evaluations")
async def create_evaluation(request: EvaluationRequest, session: SessionDep):
    cluster = await Cluster.one_by_id(session, request.cluster_id)
    return EvaluationResponse(results=await evaluate_models(cluster, request.specs))

@router.post("/dags/{dag_id}/clearTaskInstances")
def post_clear_task_instances(dag_id: str, body: ClearBody, session: SessionDep):
    return clear_task_instances(dag_id, body, session)
""",
        },
    )
    INVALID = (
        # Adding a new top-level item, or creating a child under a parent, is a create.
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/memories/add")
async def add_memory(form: dict, db):
    db.add(Memory(**form))
    return form

@router.post("/knowledge/{id}/dirs/create")
async def create_knowledge_directory(id: str, form: dict):
    return await Directories.insert(id, form)
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/items")
def create_item(item: dict):
    return item
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/notes")
def save_note(note: dict, session):
    session.add(note)
    session.commit()
    return note
""",
        # Look-alikes: a create that also notifies another service (its answer is not returned).
        """
import httpx
from fastapi import APIRouter
router = APIRouter()

@router.post("/items")
async def create_item(item: ItemCreate, db: SessionDep):
    row = Item(**item.model_dump())
    db.add(row)
    await db.commit()
    notified = await httpx.AsyncClient().post(SLACK_URL, json={"text": f"new item {row.id}"})
    return row
""",
        # ... a create that answers an explicit 200, and an add whose body names only its owner.
        """
import json
from fastapi import APIRouter, Response
router = APIRouter()

@router.post("/sessions")
async def create_chat_session(request: Request, agent_slug: str | None = None):
    conversation = await Conversations.create_session(request.user, agent_slug)
    return Response(content=json.dumps({"id": str(conversation.id)}), status_code=200)
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/memories/add")
async def add_memory(form: MemoryForm, db):
    db.add(Memory(user_id=form.user_id, content=form.content))
    return form
""",
        # ... a row added whatever the lookup found (a duplicate check that does not update).
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/channels/{channel_id}/apps")
async def invite_app(channel_id: str, form: AppInvitation, db: SessionDep):
    member = await db.scalar(select(ChannelMember).where(ChannelMember.app_id == form.app_id))
    if member:
        raise HTTPException(409, "already a member")
    else:
        db.add(ChannelMember(channel_id=channel_id, app_id=form.app_id))
    await db.commit()
    return {"ok": True}
""",
        # Look-alikes of a handler that stores nothing: the write is one call away in the
        # project, or in a Django-style async adapter (`acreate_*`).
        {
            "app/store.py": """
async def make_agent(user, body):
    agent = Agent(user=user, **body.model_dump())
    await agent.asave()
    return agent
""",
            "app/main.py": """
from fastapi import APIRouter
from app.store import make_agent
router = APIRouter()

@router.post("/agents")
async def create_agent(body: AgentBody, user: CurrentUser):
    return await make_agent(user, body)
""",
        },
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/sessions/new")
async def create_session(request: Request, slug: str):
    conversation = await Conversations.acreate_conversation(request.user, slug)
    return {"id": conversation.id}
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        for route, func in ctx.route_handlers():
            if route.methods != ("POST",) or route.status_code is not None:
                continue
            if (_creates(func) and not sets_status_code(func) and not _adds_to_parent(func, route.path)
                    and not _streams(func) and not _relays_upstream(ctx, func)
                    and not _action_path(route.path) and _may_store(ctx, func)):
                yield self.finding(
                    ctx,
                    func,
                    f"{route_label(route, 'POST')} creates a resource but answers 200; "
                    "set status_code=status.HTTP_201_CREATED",
                    line=route.decorator_line,
                )


def _action_path(path: str) -> bool:
    """The last path segment is an action verb (`POST /dags/{id}/clearTaskInstances`,
    `/runs/{id}/cancel`): the handler acts on rows that exist, it creates none."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", last).lower().replace("-", "_").split("_")
    return not last.startswith("{") and words[0] in ACTION_VERBS


ACTION_VERBS = frozenset({"clear", "cancel", "retry", "rerun", "restart", "stop", "start", "pause", "resume",
                          "abort", "kill", "approve", "reject", "sync", "archive", "unarchive", "restore",
                          "enable", "disable", "mark", "trigger", "evaluate", "compute", "estimate"})


def _may_store(ctx: FileContext, func: FunctionNode) -> bool:
    """Could the handler store something? Yes when a name it calls or passes on says it writes
    (`session.add`, `.create(`, `insert`, `acreate_session`, `create_method=store.create_tag`),
    or a function of the project it calls makes such a call; also when it calls nothing at all
    (its name is the only evidence). No when every call only reads and computes (an evaluation
    that returns its results)."""
    nodes = [n for stmt in func.body for n in ast.walk(stmt)]
    calls = [name for n in nodes if isinstance(n, ast.Call) and (name := call_name(n))]
    if not calls or any(_writes(n.attr if isinstance(n, ast.Attribute) else n.id)
                        for n in nodes if isinstance(n, (ast.Attribute, ast.Name))):
        return True
    return any(_writes(inner) for name in calls if (callee := _project_function(ctx, name)) is not None
               for inner in callee.calls)


WRITE_WORDS = frozenset({"add", "create", "insert", "save", "commit", "flush", "persist", "store", "upload", "register",
                         "new", "merge", "upsert", "bulk", "write", "post", "put", "submit", "enqueue", "copy",
                         "clone", "import", "update", "generate", "publish"})


def _writes(name: str) -> bool:
    """A name with a write verb among its words (`create_user`, `bulk_insert`), also in the async
    spelling of Django-style adapters (`acreate`, `aupdate_agent`)."""
    words = name.rsplit(".", 1)[-1].lower().split("_")
    return any(word in WRITE_WORDS or (word.startswith("a") and word[1:] in WRITE_WORDS) for word in words)


def _project_function(ctx: FileContext, name: str) -> FunctionFacts | None:
    symbol = ctx.index.symbols.get(ctx.index.resolve(ctx.path, name))
    return symbol.value if symbol is not None and symbol.kind == "function" else None  # type: ignore[return-value]


def _adds_to_parent(func: FunctionNode, path: str) -> bool:
    """`add_members_by_id` on `POST /channels/{id}/members/add`, or `add_file_filter` reading
    `filter.conversation_id`: existing items linked to an existing parent named by a path
    parameter or by an id field of the body (members, tags, files), where 200 fits as well as 201."""
    return func.name.lower().startswith("add_") and ("{" in path or _parent_id_in_body(func))


def _parent_id_in_body(func: FunctionNode) -> bool:
    """The handler reads `<param>.<parent>_id` from a parameter (not the owner's id: a row
    added for a user is still a new row)."""
    params = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in params
               and n.attr.endswith("_id") and n.attr not in OWNER_IDS for n in subtree_nodes(func))


OWNER_IDS = frozenset({"user_id", "owner_id", "account_id", "author_id", "created_by_id"})


def _creates(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    name = func.name.lower()
    if any(word in name for word in NOT_CREATE_VERBS):
        return False
    if name.startswith(CREATE_VERBS) or "_create" in name:
        return True
    return any(not _in_upsert_branch(func, add) for add in _session_adds(func))


def _session_adds(func: FunctionNode) -> list[ast.Call]:
    return [n for n in subtree_nodes(func)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add"
            and isinstance(n.func.value, (ast.Name, ast.Attribute))
            and (getattr(n.func.value, "id", "") or getattr(n.func.value, "attr", "")) in {"session", "db", "s"}]


def _in_upsert_branch(func: FunctionNode, add: ast.Call) -> bool:
    """`if member: member.is_active = True else: db.add(Member(...))`: the row is added only
    when a lookup found none; the other branch updates the one it found (201 only on one path)."""
    for branch in (n for n in subtree_nodes(func) if isinstance(n, ast.If)):
        tested = {n.id for n in ast.walk(branch.test) if isinstance(n, ast.Name)}
        for adding, other in ((branch.body, branch.orelse), (branch.orelse, branch.body)):
            if any(add in ast.walk(stmt) for stmt in adding) and _updates(other, tested):
                return True
    return False


def _updates(statements: list[ast.stmt], names: set[str]) -> bool:
    """Some statement sets an attribute of one of `names` (`member.is_active = True`)."""
    return any(isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in names
               for stmt in statements for node in ast.walk(stmt) if isinstance(node, ast.Assign)
               for element in node.targets for target in (element.elts if isinstance(element, ast.Tuple) else [element]))


def _streams(func: FunctionNode) -> bool:
    """Every answer is a stream (`StreamingResponse`, server-sent progress events): its status
    is sent before the work is done, so it cannot say whether something was created."""
    answers = [r.value for r in walk_body(func) if isinstance(r, ast.Return) and r.value is not None]
    return bool(answers) and all(
        isinstance(answer, ast.Call) and (call_name(answer) or "").endswith(STREAMED) for answer in answers)


STREAMED = ("StreamingResponse", "EventSourceResponse")


def _relays_upstream(ctx: FileContext, func: FunctionNode) -> bool:
    """A proxy: the handler returns what the service it posts to answered (there the resource
    is created; its status is relayed), and writes no row of its own."""
    return relays_upstream(ctx.index, ctx.path, func.lineno) and not _session_adds(func)

from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name
from agent.analysis.rules._calls import calls_named, imported_as, last_names
from agent.analysis.rules._db import NOT_SESSION_ROOTS, is_session, walk_body
from agent.analysis.rules._security import imports_of, resolve
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.types import Finding

BLOCKING = {
    "time.sleep": "await asyncio.sleep(...)",
    "urllib.request.urlopen": "httpx.AsyncClient",
    "subprocess.run": "asyncio.create_subprocess_exec or run_in_threadpool",
    "subprocess.call": "asyncio.create_subprocess_exec or run_in_threadpool",
    "subprocess.check_call": "asyncio.create_subprocess_exec or run_in_threadpool",
    "subprocess.check_output": "asyncio.create_subprocess_exec or run_in_threadpool",
    "os.system": "asyncio.create_subprocess_shell or run_in_threadpool",
    "smtplib.SMTP": "aiosmtplib, a background task, or run_in_threadpool",
    "smtplib.SMTP_SSL": "aiosmtplib, a background task, or run_in_threadpool",
    "httpx.Client": "httpx.AsyncClient",
}
HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
BLOCKING.update({f"requests.{verb}": "httpx.AsyncClient" for verb in HTTP_VERBS})
BLOCKING.update({f"httpx.{verb}": "httpx.AsyncClient" for verb in HTTP_VERBS})
BLOCKING["requests.Session"] = "httpx.AsyncClient"
# Each blocking callee with the module and function paths it is reached through (`urllib`,
# `urllib.request`, `urllib.request.urlopen`): what an import must name for a call to resolve to it.
_BLOCKING_PATHS = {
    name: frozenset(name.rsplit(".", depth)[0] for depth in range(name.count(".") + 1)) for name in BLOCKING
}
# Session methods that do I/O: an AsyncSession must await them, so un-awaited they are a sync Session.
SESSION_IO = frozenset({
    "exec", "execute", "get", "get_one", "query", "scalars", "scalar", "commit", "refresh", "flush", "merge",
})
# Calls that take a coroutine object and schedule it (it is awaited elsewhere).
SCHEDULERS = frozenset({
    "gather", "create_task", "ensure_future", "wait_for", "shield", "run_coroutine_threadsafe", "run",
})


class BlockingCallInAsync(Rule):
    """Blocking call inside an `async def`.

    **What it does**
    In `async def` functions (route handlers, dependencies and the services they await), flags
    calls that block the thread: `time.sleep`, `requests.*`, `urllib.request.urlopen`,
    `subprocess.run/call/check_output`, `os.system`, `smtplib.SMTP`, sync `httpx.Client` /
    `httpx.get`, and database calls on a synchronous session (`session.exec(...)`,
    `db.query(...)`, `session.commit()` not awaited). Code in nested plain functions or lambdas
    (handed to `run_in_threadpool` / `run_in_executor`) is not flagged.

    **Why is this bad?**
    FastAPI runs `async def` handlers on the event loop itself. One blocking call stalls every
    request the worker serves until it returns; plain `def` handlers, by contrast, run in a
    thread pool.

    **Example**
    ```python
    @router.get("/items")
    async def read_items(session: SessionDep):  # SessionDep = Annotated[Session, Depends(get_db)]
        return session.exec(select(Item).limit(100)).all()
    ```

    **Use instead**
    ```python
    @router.get("/items")
    def read_items(session: SessionDep):  # a plain def runs in the thread pool
        return session.exec(select(Item).limit(100)).all()
    ```
    or an `AsyncSession` with `await session.exec(...)`, `httpx.AsyncClient`, `await asyncio.sleep`.

    **Known problems**
    Local file I/O (`open(...).read()`) is not flagged: it is usually short and served from the
    page cache (use `aiofiles` or `run_in_threadpool` for large files). A sync session is told
    from an async one by the missing `await`, so a forgotten `await` on an `AsyncSession` is
    reported here too (it is a bug either way). Blocking calls in sync helpers that an async
    function calls are not followed.
    """

    code = "FBA501"
    name = "blocking-call-in-async"
    category = "blocking-async"
    title = "Blocking call inside async def"

    VALID = (
        """
import asyncio
import httpx
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
router = APIRouter()

@router.get("/proxy")
async def proxy(url: str):
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    return response.json()

@router.get("/items")
async def read_items(session: AsyncSession = Depends(get_session)):
    result = await session.execute(select(Item).limit(10))
    session.add(Item(title="x"))
    await session.commit()
    return result.scalars().all()

@router.get("/slow")
def slow(session: SessionDep):
    import time
    time.sleep(1)
    return session.exec(select(Item).limit(10)).all()
""",
        """
import asyncio
import requests
import subprocess
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
router = APIRouter()

@router.post("/report")
async def report(request: Request):
    def fetch():
        return requests.get("https://example.com/data", timeout=5).json()
    data = await run_in_threadpool(fetch)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: subprocess.run(["make", "report"], check=True))
    user_id = request.session.get("user_id")
    cart = request.session
    cart.get("items")
    await asyncio.gather(session_a.execute(q1), session_b.execute(q2))
    return {"user": user_id, "data": data}
""",
    )
    INVALID = (
        """
import time
from fastapi import APIRouter
router = APIRouter()

@router.post("/jobs")
async def run_job():
    time.sleep(2)
    return {"ok": True}
""",
        """
from fastapi import APIRouter
from sqlmodel import Session, select
router = APIRouter()

@router.get("/items")
async def read_items(session: SessionDep):
    return session.exec(select(Item).limit(100)).all()
""",
        """
import requests
from smtplib import SMTP
from fastapi import Depends

async def get_weather(city: str):
    return requests.get(f"https://api.example.com/weather/{city}", timeout=5).json()

async def notify(user):
    with SMTP("localhost") as smtp:
        smtp.sendmail("noreply@example.com", [user.email], "hi")
""",
        """
from time import sleep as pause

async def wait_for(job):
    while not job.done():
        pause(1)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if not any(isinstance(func, ast.AsyncFunctionDef) for func in ctx.functions):
            return  # only calls whose own scope is an `async def` are reported
        imports = imports_of(ctx)
        direct, blocking_methods = _blocking_names(imports)
        # One pass over the file's calls, the callee's own name tested first; the enclosing scope
        # (an ancestor walk) is looked up only for a blocking or session call. A call is in
        # `walk_body(f)` of exactly the function `f` that is its innermost scope.
        for node in calls_named(ctx, blocking_methods | SESSION_IO, direct):
            func = node.func
            maybe_blocking = not isinstance(func, ast.Attribute) or func.attr in blocking_methods
            qualified = resolve(func, imports) if maybe_blocking else None
            if qualified not in BLOCKING and not _session_io_call(node):
                continue
            scope = ctx.enclosing_scope(node)
            if not isinstance(scope, ast.AsyncFunctionDef):
                continue
            if qualified in BLOCKING:
                yield self.finding(
                    ctx, node,
                    f"{qualified}() blocks the event loop inside async def {scope.name}; "
                    f"use {BLOCKING[qualified]}, or make it a plain def",
                    line=node.lineno,
                )
            elif not _awaited_or_scheduled(ctx, node) and not _dict_session(scope, node):
                yield self.finding(
                    ctx, node,
                    f"{ast.unparse(node.func)}() on a synchronous session blocks the event loop inside async def "
                    f"{scope.name}; use an AsyncSession with await, or make it a plain def",
                    line=node.lineno,
                )


def _blocking_names(imports: dict[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    """(local names imported as a blocking function, last names of the blocking callees this file can reach).

    A callee qualifies into `BLOCKING` only through an import of the function itself or of a
    module on its path (`from time import sleep`, `import urllib.request`), and a method call
    ends in the callee's own name: after `import os` only `.system(...)` calls can block."""
    targets = set(imports.values())
    reachable = [name for name, paths in _BLOCKING_PATHS.items() if paths & targets]
    return imported_as(imports, BLOCKING), last_names(reachable)


def _dict_session(func: FunctionNode, call: ast.Call) -> bool:
    """The receiver is a local bound to Starlette's `request.session` dict (`cart = request.session`)."""
    receiver = call.func.value
    if not isinstance(receiver, ast.Name):
        return False
    for node in walk_body(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute):
            root = node.value.value
            if isinstance(root, ast.Name) and root.id in NOT_SESSION_ROOTS:
                if any(isinstance(t, ast.Name) and t.id == receiver.id for t in node.targets):
                    return True
    return False


def _session_io_call(call: ast.Call) -> bool:
    """An I/O method called on a session (`session.exec(...)`, not `session.get("key")`)."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in SESSION_IO or not is_session(func.value):
        return False
    return not (func.attr == "get" and call.args and isinstance(call.args[0], ast.Constant))


def _awaited_or_scheduled(ctx: FileContext, call: ast.Call) -> bool:
    """The call is awaited, handed to gather/create_task, or an `async with` item."""
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, ast.Await):
            return True
        if isinstance(ancestor, ast.Call) and (call_name(ancestor) or "").rsplit(".", 1)[-1] in SCHEDULERS:
            return True
        if isinstance(ancestor, ast.withitem) and isinstance(ctx.parent(ancestor), ast.AsyncWith):
            return True
        if isinstance(ancestor, ast.stmt):
            return False
    return False

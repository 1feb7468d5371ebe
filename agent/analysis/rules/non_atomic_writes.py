from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from agent.analysis.facts import call_name, callee_attr, dotted_name
from agent.analysis.rules._db import (
    WRITE_METHODS,
    WRITE_STATEMENTS,
    in_order,
    is_migration,
    is_session,
    is_write,
    session_calls,
    walk_body,
)
from agent.analysis.rules._security import is_test_file
from agent.analysis.rules.base import FileContext, FunctionNode, PerIndex, Rule
from agent.types import Finding

# A path state: ("clean", 0) before any write, ("pending", 0) after writes not committed yet,
# ("committed", line) right after the commit at `line` saved some writes, ("dirty", line) when
# rows were written after that commit and are not committed yet. A commit with nothing written
# before it (ending a read-only transaction, say before taking a lock) saves no first part.
State = tuple[str, int]
LOOPS = (ast.For, ast.AsyncFor, ast.While)
SAFE_METHODS = frozenset({"begin", "begin_nested", "rollback"})
# What `_Flow.events` reacts to: commits and writes are calls or attribute assignments.
EVENT_NODES = (ast.Call, ast.Assign, ast.AugAssign)
_AFTER_WRITE = {
    "clean": lambda line: ("pending", 0),
    "pending": lambda line: ("pending", 0),
    "committed": lambda line: ("dirty", line),
    "dirty": lambda line: ("dirty", line),
}


CRUD = """
def stage_order(session, order_in):
    order = Order(**order_in.model_dump(exclude={"lines"}))
    session.add(order)
    session.flush()
    return order

def stage_lines(session, order, lines):
    session.add_all([OrderLine(order_id=order.id, **line.model_dump()) for line in lines])

def create_order(session, order_in, commit=True):
    order = Order(**order_in.model_dump(exclude={"lines"}))
    session.add(order)
    if commit:
        session.commit()
    return order

def create_lines(session, order, lines, commit=True):
    for line in lines:
        session.add(OrderLine(order_id=order.id, **line.model_dump()))
    if commit:
        session.commit()
"""


class NonAtomicWrites(Rule):
    """One function commits several times with writes in between.

    **What it does**
    Flags a function (handler or service) in which a database session commits, the code then
    writes more rows, and commits again, on some path through the function; a commit inside a
    loop that writes is the same thing. Branches are followed: a commit in an `if` that returns
    and another after it are alternatives, not a sequence. Functions that use
    `session.begin()` / `begin_nested()` or roll back on failure are not flagged.

    **Why is this bad?**
    Each commit is its own transaction. When a later step fails, the earlier steps stay
    committed: an order without its lines, a transfer debited but not credited, half an import.

    **Example**
    ```python
    def place_order(session: Session, order: Order, lines: list[OrderLine]):
        session.add(order)
        session.commit()
        for line in lines:
            line.order_id = order.id
            session.add(line)
            session.commit()
    ```

    **Use instead**
    ```python
    def place_order(session: Session, order: Order, lines: list[OrderLine]):
        session.add(order)
        session.flush()  # assigns order.id inside the same transaction
        for line in lines:
            line.order_id = order.id
            session.add(line)
        session.commit()
    ```

    Calls one step away count as their writes and commit: a function of the project that gets
    the caller's session and writes rows and commits (`crud.create_order(session, ...)`), or a
    method of the same class that does (`self.add_member(...)`), unless the call passes
    `commit=False`. A loop whose commit sits in
    a `try` that logs and skips a failing row is best effort on purpose, and a commit that only
    saves timestamps (`updated_at`) leaves nothing half done: neither is flagged.

    **Known problems**
    Helpers are followed one call deep, and only module-level functions of the reviewed files
    and methods of the caller's own class: methods of a repository object of another module
    are not. Deliberate batch commits in long-running jobs are flagged; suppress them with
    `# fba: ignore[FBA301]` on the commit line.
    """

    code = "FBA301"
    name = "non-atomic-writes"
    category = "transaction"
    title = "Multi-step writes are committed separately"

    VALID = (
        # The first commit only ends a read-only transaction (to see rows committed by others
        # after taking a lock); the writes are committed once.
        """
async def create_volume(session, project, user, spec):
    if is_db_sqlite():
        await session.commit()
    else:
        await session.execute(select(func.pg_advisory_xact_lock(lock_id(project.name))))
    volume = VolumeModel(project_id=project.id, name=spec.name)
    session.add(volume)
    events.emit(session, "Volume created", actor=user)
    await session.commit()
    return volume
""",
        """
def create_item(*, session, current_user, item_in):
    item = Item.model_validate(item_in, update={"owner_id": current_user.id})
    session.add(item)
    session.commit()
    session.refresh(item)
    return item

def upsert_access(*, session, access_in):
    existing = session.exec(select(Access).where(Access.user_id == access_in.user_id)).first()
    if existing:
        existing.role = access_in.role
        session.add(existing)
        session.commit()
        return existing
    access = Access.model_validate(access_in)
    session.add(access)
    session.commit()
    return access
""",
        """
def transfer(session, source, target, amount):
    with session.begin():
        source.balance -= amount
        target.balance += amount

async def import_rows(session, rows):
    try:
        for row in rows:
            session.add(Row(**row))
            await session.commit()
    except Exception:
        await session.rollback()
        raise
""",
        # Helpers one call away that only add / flush, and one commit at the end; a helper told
        # not to commit; helpers called inside `session.begin()`; a unit of work committed once.
        {
            "app/crud.py": CRUD,
            "app/api/routes/orders.py": """
from fastapi import APIRouter
from app import crud
from app.api.deps import SessionDep

router = APIRouter()

@router.post("/orders", status_code=201)
def place_order(session: SessionDep, order_in: OrderIn):
    order = crud.stage_order(session, order_in)
    crud.stage_lines(session, order, order_in.lines)
    session.commit()
    return order

@router.post("/orders/quick", status_code=201)
def quick_order(session: SessionDep, order_in: OrderIn):
    order = crud.create_order(session, order_in, commit=False)
    crud.create_lines(session, order, order_in.lines, commit=False)
    session.commit()
    return order

@router.post("/orders/atomic", status_code=201)
async def atomic_order(session: SessionDep, order_in: OrderIn):
    async with session.begin():
        order = crud.stage_order(session, order_in)
        crud.stage_lines(session, order, order_in.lines)
    return order

@router.post("/orders/uow", status_code=201)
async def uow_order(uow: UnitOfWorkDep, order_in: OrderIn):
    async with uow:
        order = await uow.orders.add(Order(**order_in.model_dump()))
        await uow.lines.add_many(order, order_in.lines)
        await uow.commit()
    return order
""",
        },
        # Best effort per row on purpose: a failing row is logged and skipped, the others are
        # saved; batches that each open their own session; a second commit that only bumps a timestamp.
        """
async def create_groups(db, names):
    created = []
    for name in names:
        try:
            group = Group(name=name)
            db.add(group)
            await db.commit()
            created.append(group)
        except Exception as e:
            log.exception(e)
            continue
    return created

class Archiver:
    async def archive_once(self, cutoff):
        while True:
            if await self._archive_batch(cutoff) == 0:
                break

    async def _archive_batch(self, cutoff):
        async with async_session() as session:
            ids = (await session.exec(select(Usage.id).where(Usage.at < cutoff).limit(500))).all()
            await session.exec(delete(Usage).where(Usage.id.in_(ids)))
            await session.commit()
            return len(ids)

async def reset_knowledge(db, knowledge_id):
    await db.execute(delete(KnowledgeFile).filter_by(knowledge_id=knowledge_id))
    await db.commit()
    await db.execute(update(Knowledge).filter_by(id=knowledge_id).values(updated_at=int(time.time())))
    await db.commit()
""",
    )
    INVALID = (
        # A handler calling two helpers of another module that each write and commit.
        {
            "app/crud.py": CRUD,
            "app/api/routes/orders.py": """
from fastapi import APIRouter
from app.crud import create_lines, create_order
from app.api.deps import SessionDep

router = APIRouter()

@router.post("/orders", status_code=201)
def place_order(session: SessionDep, order_in: OrderIn):
    order = create_order(session, order_in)
    create_lines(session, order, order_in.lines, commit=True)
    return order
""",
        },
        # A repository whose methods each commit, called in sequence and in a loop by another method.
        """
class InviteRepository:
    def __init__(self, session):
        self.session = session

    async def create_team(self, name):
        team = Team(name=name)
        self.session.add(team)
        await self.session.commit()
        return team

    async def add_member(self, team, user_id):
        self.session.add(Member(team_id=team.id, user_id=user_id))
        await self.session.commit()

    async def create_team_with_members(self, name, user_ids):
        team = await self.create_team(name)
        for user_id in user_ids:
            await self.add_member(team, user_id)
        return team
""",
        """
def place_order(session, order, lines):
    session.add(order)
    session.commit()
    for line in lines:
        line.order_id = order.id
        session.add(line)
    session.commit()
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/imports", status_code=201)
async def import_items(items: list[ItemCreate], session: AsyncSessionDep):
    for item_in in items:
        session.add(Item.model_validate(item_in))
        await session.commit()
    return {"imported": len(items)}
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        # Cheap text prefilter: every finding is at a `<session>.commit(...)` call or at a call of
        # a helper that commits, and their names are written in the file.
        elsewhere = _COMMITTING_FUNCTIONS(ctx.index)
        if not ctx.may_name("commit", *{qual.rsplit(".", 1)[-1] for qual in elsewhere}):
            return
        if is_migration(ctx) or is_test_file(ctx):  # run once offline, or fixtures: no atomicity to keep
            return
        commits = set(session_calls(ctx, "commit"))
        helpers = _committing_helper_calls(ctx, commits, elsewhere)
        committing = _scopes_of(ctx, [*commits, *helpers])
        protected = _scopes_of(ctx, [call for method in SAFE_METHODS for call in session_calls(ctx, method)])
        for func in ctx.functions:
            if func not in committing or func in protected:
                continue
            events, holders = _events_of(ctx, func, commits, helpers)
            flow = _Flow(commits, events, holders, helpers)
            flow.run(func.body, {("clean", 0)})
            for commit, earlier in flow.violations.items():
                if not _isolated(ctx, func, commit):
                    yield self.finding(ctx, commit, _message(func, commit, earlier, helpers), line=commit.lineno)


def _message(func: FunctionNode, commit: ast.Call, earlier: int, helpers: dict[ast.Call, str]) -> str:
    helper = helpers.get(commit)
    if helper is not None:
        if earlier == commit.lineno:
            return (f"{func.name} calls {helper}(), which commits on its own, inside a loop: each iteration "
                    "is its own transaction; let the helper flush and commit once after the loop")
        return (f"{func.name} calls {helper}(), which commits on its own, after line {earlier} already "
                "committed: a failure leaves the first part saved; let the helpers flush and commit once "
                "(or wrap the steps in session.begin())")
    if earlier == commit.lineno:
        return (
            f"{func.name} commits inside a loop that writes: each iteration is its own transaction; "
            "commit once after the loop"
        )
    return (
        f"{func.name} commits at line {earlier} and again here with writes in between: a failure "
        "leaves the first part saved; use one transaction (flush + one commit, or session.begin())"
    )


def _isolated(ctx: FileContext, func: FunctionNode, commit: ast.Call) -> bool:
    """A commit in a loop inside a `try` whose handlers swallow the error (log, `continue`): each
    iteration is its own transaction on purpose, so that one failing row does not stop the others."""
    inside_try = None
    for node in ctx.ancestors(commit):
        if node is func:
            return False
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))) and inside_try is None:
            if any(isinstance(n, ast.Raise) for h in node.handlers for n in walk_body(h)) or not node.handlers:
                return False
            inside_try = node
        elif isinstance(node, LOOPS) and inside_try is not None:
            return True
    return False


def _scopes_of(ctx: FileContext, calls: Iterable[ast.Call]) -> set[ast.AST]:
    """The functions whose own body (nested scopes excluded) makes one of these calls: committing
    ones, and protected ones that manage their transaction (begin / begin_nested / rollback)."""
    return {ctx.enclosing_scope(call) for call in calls}


def _events_of(
    ctx: FileContext, func: FunctionNode, commits: set[ast.Call], helpers: dict[ast.Call, str]
) -> tuple[set[ast.AST], set[ast.AST]]:
    """`func`'s commits, writes and committing helper calls (its `_Flow` events), and the nodes at
    or above one of them: an expression or statement outside that set changes no state, so the
    flow skips it unwalked. Bookkeeping writes (`row.updated_at = now`) are no events: a second
    commit that only saves them leaves nothing half done."""
    events = {n for n in walk_body(func) if isinstance(n, EVENT_NODES)
              and (n in commits or n in helpers or (is_write(n) and not _bookkeeping(n)))}
    holders: set[ast.AST] = set()
    for event in events:
        node = event
        while node is not func and node not in holders:
            holders.add(node)
            node = ctx.parent(node)
    return events, holders


@dataclass
class _Flow:
    """A small forward analysis over the statements of one function, path-sensitive enough to
    tell alternative branches from sequences."""

    commits: set[ast.Call]  # the file's `<session>.commit()` calls
    writes_and_commits: set[ast.AST]  # the function's events
    holders: set[ast.AST]  # the nodes with an event at or below them
    helpers: dict[ast.Call, str]  # calls of helpers that write and commit on their own
    violations: dict[ast.Call, int] = field(default_factory=dict)
    loop_exits: list[set[State]] = field(default_factory=list)

    def run(self, statements: list[ast.stmt], states: set[State]) -> set[State]:
        for stmt in statements:
            if not states:
                break
            states = self.statement(stmt, states)
        return states

    def statement(self, stmt: ast.stmt, states: set[State]) -> set[State]:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return states
        if isinstance(stmt, (ast.Return, ast.Raise)):
            self.events(stmt, states)
            return set()
        if isinstance(stmt, (ast.Break, ast.Continue)):
            if self.loop_exits:
                self.loop_exits[-1] |= states
            return set()
        if isinstance(stmt, ast.If):
            states = self.events(stmt.test, states)
            return self.run(stmt.body, states) | self.run(stmt.orelse, states)
        if isinstance(stmt, LOOPS):
            return self.loop(stmt, states)
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                states = self.events(item.context_expr, states)
            if any(item.optional_vars is not None and is_session(item.optional_vars) for item in stmt.items):
                # `with Session(engine) as session:` opens its own transaction scope.
                self.run(stmt.body, {("clean", 0)})
                return states
            return self.run(stmt.body, states)
        if isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            body = self.run(stmt.body, states)
            handled = set().union(*(self.run(h.body, states | body) for h in stmt.handlers)) if stmt.handlers else set()
            after = self.run(stmt.orelse, body) | handled
            return self.run(stmt.finalbody, after) if stmt.finalbody else after
        if isinstance(stmt, ast.Match):
            states = self.events(stmt.subject, states)
            return states.union(*(self.run(case.body, states) for case in stmt.cases))
        return self.events(stmt, states)

    def loop(self, stmt: ast.For | ast.AsyncFor | ast.While, states: set[State]) -> set[State]:
        header = stmt.iter if isinstance(stmt, (ast.For, ast.AsyncFor)) else stmt.test
        states = self.events(header, states)
        seen = set(states)
        current = states
        self.loop_exits.append(set())
        for _ in range(2):  # a second pass sees what the first iteration left behind
            current = self.run(stmt.body, current) | self.loop_exits[-1]
            seen |= current
        self.loop_exits.pop()
        return self.run(stmt.orelse, seen) | seen

    def events(self, node: ast.AST, states: set[State]) -> set[State]:
        """Apply the commits and writes of one simple statement or expression, in source order."""
        if node not in self.holders:
            return states
        for event in in_order(n for n in [node, *walk_body(node)] if n in self.writes_and_commits):
            if event in self.helpers:  # the helper writes, then commits
                states = {_AFTER_WRITE[tag](line) for tag, line in states}
            if event in self.commits or event in self.helpers:
                dirty = [line for tag, line in states if tag == "dirty"]
                if dirty and event not in self.violations:
                    self.violations[event] = dirty[0]
                states = {("committed", event.lineno) if tag != "clean" else (tag, line) for tag, line in states}
            else:
                states = {_AFTER_WRITE[tag](line) for tag, line in states}
        return states


# Columns a second commit may save on its own without leaving anything half done.
BOOKKEEPING = re.compile(r"(updated|modified|last_(updated|modified|seen|active|activity|accessed|login|used))(_at|_on|_time|_ts)?")
# Keyword arguments that tell a committing helper to leave the commit to its caller.
NO_COMMIT_KEYWORDS = frozenset({"commit", "auto_commit", "autocommit", "do_commit", "should_commit"})


def _bookkeeping(node: ast.AST) -> bool:
    """`row.updated_at = now`, `execute(update(T).where(...).values(updated_at=now))`: a write of
    timestamps only."""
    if isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(t, ast.Attribute) and BOOKKEEPING.fullmatch(t.attr) for t in targets)
    values = [n for n in walk_body(node) if isinstance(n, ast.Call) and callee_attr(n) == "values"]
    return bool(values) and all(
        not v.args and v.keywords and all(kw.arg and BOOKKEEPING.fullmatch(kw.arg) for kw in v.keywords) for v in values
    )


def _commits_and_writes(calls: Iterable[str]) -> bool:
    """Do these callee names (a function's `FunctionFacts.calls`) commit a session and write rows?"""
    methods = {name.rsplit(".", 1)[-1] for name in calls if "." in name and _on_session(name)}
    writes_rows = bool(methods & WRITE_METHODS) or (
        bool(methods & {"execute", "exec"}) and any(name.rsplit(".", 1)[-1] in WRITE_STATEMENTS for name in calls)
    )
    return "commit" in methods and writes_rows


def _on_session(name: str) -> bool:
    receiver = name.rsplit(".", 1)[0]
    parts = receiver.split(".")
    node: ast.expr = ast.Name(parts[0])
    for part in parts[1:]:
        node = ast.Attribute(node, part)
    return is_session(node)


def _committing_functions(index) -> frozenset[str]:
    """Qualified names of the project's module-level functions that write rows and commit."""
    return frozenset(
        f"{facts.module}.{function.name}" if facts.module else function.name
        for facts in index.files.values()
        for function in facts.functions
        if "commit" in " ".join(function.calls) and _commits_and_writes(function.calls)
    )


_COMMITTING_FUNCTIONS = PerIndex(_committing_functions)


def _committing_helper_calls(ctx: FileContext, commits: set[ast.Call], elsewhere: frozenset[str]) -> dict[ast.Call, str]:
    """Calls one step away that write and commit on their own: a function of the project that
    gets the caller's session (`crud.create_user(session=session, ...)`) or a method of the
    caller's own class that commits the object's session or gets the caller's
    (`self.save_lines(...)`), by the name the message shows. A call that passes `commit=False` is
    not one; a helper that opens its own session (a batch job's step) runs apart on purpose."""
    methods = _committing_methods(ctx, commits)
    found: dict[ast.Call, str] = {}
    for call in ctx.nodes_of(ast.Call):
        name = call_name(call)
        if name is None or any(_commit_off(kw) for kw in call.keywords):
            continue
        head, _, last = name.rpartition(".")
        if head in {"self", "cls"}:
            cls = next((a for a in ctx.ancestors(call) if isinstance(a, ast.ClassDef)), None)
            shares = methods.get((cls.name, last)) if cls is not None else None
            if shares is not None and (shares or _passes_session(call)):
                found[call] = name
        elif _passes_session(call) and ctx.index.resolve(ctx.path, name) in elsewhere:
            found[call] = name
    return found


def _commit_off(keyword: ast.keyword) -> bool:
    """`commit=False`, `auto_commit=flag`: anything but a literal True leaves the commit to the caller."""
    value = keyword.value
    return keyword.arg in NO_COMMIT_KEYWORDS and not (isinstance(value, ast.Constant) and value.value is True)


def _passes_session(call: ast.Call) -> bool:
    return any(is_session(arg) for arg in [*call.args, *(kw.value for kw in call.keywords)])


def _committing_methods(ctx: FileContext, commits: set[ast.Call]) -> dict[tuple[str, str], bool]:
    """(class, method) of this file's methods that write rows and commit in their own body, and
    whether they commit the object's own session (`self.session.commit()`), which every method
    shares, rather than one they are given or open themselves."""
    found: dict[tuple[str, str], bool] = {}
    for commit in commits:
        method = ctx.enclosing_scope(commit)
        cls = ctx.parent(method) if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        if isinstance(cls, ast.ClassDef) and any(is_write(n) for n in walk_body(method)):
            receiver = (dotted_name(commit.func.value) or "").split(".", 1)[0]  # type: ignore[attr-defined]
            key = (cls.name, method.name)
            found[key] = found.get(key, False) or receiver in {"self", "cls"}
    return found

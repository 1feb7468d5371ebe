from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from agent.analysis.rules._db import (
    in_order,
    is_migration,
    is_session,
    is_write,
    session_calls,
    walk_body,
)
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
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

    **Known problems**
    Only commits and writes in the same function are seen: two service calls that each commit
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
    )
    INVALID = (
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
        # Cheap text prefilter: every finding is at a `<session>.commit(...)` call, and `commit`
        # is an attribute name written in the file.
        if not ctx.may_name("commit") or is_migration(ctx):
            return
        commits = set(session_calls(ctx, "commit"))
        committing = _scopes_of(ctx, commits)
        protected = _scopes_of(ctx, [call for method in SAFE_METHODS for call in session_calls(ctx, method)])
        for func in ctx.functions:
            if func not in committing or func in protected:
                continue
            events, holders = _events_of(ctx, func, commits)
            flow = _Flow(commits, events, holders)
            flow.run(func.body, {("clean", 0)})
            for commit, earlier in flow.violations.items():
                yield self.finding(ctx, commit, _message(func, commit, earlier), line=commit.lineno)


def _message(func: FunctionNode, commit: ast.Call, earlier: int) -> str:
    if earlier == commit.lineno:
        return (
            f"{func.name} commits inside a loop that writes: each iteration is its own transaction; "
            "commit once after the loop"
        )
    return (
        f"{func.name} commits at line {earlier} and again here with writes in between: a failure "
        "leaves the first part saved; use one transaction (flush + one commit, or session.begin())"
    )


def _scopes_of(ctx: FileContext, calls: Iterable[ast.Call]) -> set[ast.AST]:
    """The functions whose own body (nested scopes excluded) makes one of these calls: committing
    ones, and protected ones that manage their transaction (begin / begin_nested / rollback)."""
    return {ctx.enclosing_scope(call) for call in calls}


def _events_of(ctx: FileContext, func: FunctionNode, commits: set[ast.Call]) -> tuple[set[ast.AST], set[ast.AST]]:
    """`func`'s commits and writes (its `_Flow` events), and the nodes at or above one of them:
    an expression or statement outside that set changes no state, so the flow skips it unwalked."""
    events = {n for n in walk_body(func) if isinstance(n, EVENT_NODES) and (n in commits or is_write(n))}
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
            if event in self.commits:
                dirty = [line for tag, line in states if tag == "dirty"]
                if dirty and event not in self.violations:
                    self.violations[event] = dirty[0]
                states = {("committed", event.lineno) if tag != "clean" else (tag, line) for tag, line in states}
            else:
                states = {_AFTER_WRITE[tag](line) for tag, line in states}
        return states

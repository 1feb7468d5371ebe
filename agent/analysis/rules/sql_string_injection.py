from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.rules._calls import calls_named, imported_as
from agent.analysis.rules._security import (
    constant_strings, imports_of, local_values, module_constants, resolve,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.walk import walk_nodes
from agent.types import Finding, Severity

TEXT_FUNCTIONS = frozenset({"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text", "sqlmodel.text"})
EXECUTE_METHODS = frozenset({"execute", "executemany", "executescript", "exec_driver_sql", "read_sql",
                             "read_sql_query", "fetch", "fetchrow", "fetchval", "mogrify"})
SQL_WORDS = re.compile(r"\b(select|insert\s+into|update|delete\s+from|create\s+table|drop|alter\s+table|truncate|"
                       r"where|values|order\s+by|group\s+by|pragma)\b", re.IGNORECASE)
# Interpolations that cannot carry client input: identifiers of tables and columns taken from the model.
SAFE_ATTRIBUTES = frozenset({"__tablename__", "name", "fullname", "key"})
# The last name of every sink callee: the execute-like methods and `text`.
SINK_ATTRIBUTES = EXECUTE_METHODS | {"text"}
BOUND_KEYWORDS = frozenset({"params", "parameters", "args", "bind", "vars"})


class SqlStringInjection(Rule):
    """SQL built from strings and executed.

    **What it does**
    Flags SQL text built with f-strings, `%`, `.format()` or `+` that reaches `text(...)` or an
    `execute` / `executemany` / `exec_driver_sql` / `executescript` call (SQLAlchemy sessions,
    connections, DB-API cursors, asyncpg `fetch*`, pandas `read_sql`), directly or through a
    variable assigned in the same function.

    **Why is this bad?**
    Anything interpolated into SQL text can change the statement: `' OR 1=1 --` reads every row,
    `'; DROP TABLE users; --` destroys them. Bound parameters are sent separately from the SQL and
    are never parsed as SQL.

    **Example**
    ```python
    session.execute(text(f"SELECT * FROM item WHERE owner_id = {user_id}"))
    ```

    **Use instead**
    ```python
    session.execute(text("SELECT * FROM item WHERE owner_id = :owner_id"), {"owner_id": user_id})
    # or the ORM: select(Item).where(Item.owner_id == user_id)
    ```

    **Known problems**
    Interpolations that are known to be safe are accepted: literals, UPPER_CASE configuration
    constants (`TIMEOUT`, `settings.DB_TIMEOUT`), `Model.__tablename__` / `table.name`, names
    checked against an allow-list in the same function (`if column not in ALLOWED_COLUMNS: raise`),
    a generated bind-parameter name (`= :{param}`), `" AND ".join(...)` of safe pieces and names
    checked against a pattern (`if not re.fullmatch(r"[a-z_]+", column): raise`). A statement
    marked `# noqa: S608` or `# nosec` (ruff's and bandit's check for the same) is not reported.
    When the statement is executed with bound parameters (`execute(sql, params)`), interpolated
    local variables are taken as SQL structure (placeholder or column lists) and only the
    function's own parameters are reported; a value smuggled through a local variable is missed.
    Alembic migrations are skipped: they run from operators, not requests.
    """

    code = "FBA303"
    name = "sql-string-injection"
    category = "injection"
    severity = Severity.HIGH
    title = "SQL built from strings"
    preview = True  # precision on real code (bench/precision) below the default set's 0.80

    VALID = (
        """
from sqlalchemy import text
from sqlmodel import select

def items_of(session, owner_id: int):
    rows = session.execute(text("SELECT id, title FROM item WHERE owner_id = :owner_id"), {"owner_id": owner_id})
    orm = session.exec(select(Item).where(Item.owner_id == owner_id)).all()
    return rows, orm
""",
        """
from sqlalchemy import text

TABLE = "audit_log"
SORTABLE = {"created_at", "title"}

def recent(session, order_by: str):
    if order_by not in SORTABLE:
        raise ValueError("bad sort column")
    sql = f"SELECT * FROM {TABLE} ORDER BY {order_by} DESC LIMIT 10"
    return session.execute(text(sql)).all()

def count(session, model):
    return session.execute(text(f"SELECT count(*) FROM {model.__tablename__}")).scalar()
""",
        """
from app.core.config import DB_BUSY_TIMEOUT, settings

def tune(conn, ids: list[int]):
    conn.execute(f"PRAGMA busy_timeout = {DB_BUSY_TIMEOUT}")
    conn.execute(f"PRAGMA cache_size = {settings.SQLITE_CACHE_SIZE}")
    placeholders = ", ".join(["%s"] * len(ids))
    sql = f"SELECT id FROM item WHERE id IN ({placeholders})"
    return conn.execute(sql, ids).fetchall()
""",
        """
from sqlalchemy import and_, text

def with_tags(stmt, tag_ids: list[str]):
    return stmt.filter(and_(*[
        text(f"EXISTS (SELECT 1 FROM tag WHERE tag.value = :tag_{i})").bindparams(**{f"tag_{i}": tag})
        for i, tag in enumerate(tag_ids)
    ]))
""",
        # A generated placeholder name (`:{param}`) and WHERE fragments joined from placeholders:
        # the values are bound.
        """
from sqlalchemy import text

def with_tags(stmt, tag_ids: list[str]):
    for index, tag_id in enumerate(tag_ids):
        param = f"tag_id_{index}"
        stmt = stmt.filter(text(f"EXISTS (SELECT 1 FROM json_each(chat.meta, '$.tags') WHERE value = :{param})"))
        stmt = stmt.params(**{param: tag_id})
    return stmt

def delete(cur, ids: list[str], metadata: dict):
    where, params = [], []
    if ids:
        where.append("id IN (" + ", ".join(["%s"] * len(ids)) + ")")
        params.extend(ids)
    for key, value in metadata.items():
        where.append("JSON_EXTRACT(metadata, %s) = %s")
        params.extend([f"$.{key}", value])
    sql = "DELETE FROM document_chunk WHERE " + " AND ".join(where)
    cur.execute(sql, params)
""",
        # An identifier checked against a pattern; a build the project marked as reviewed.
        """
import re
from sqlalchemy import text

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

def by_column(session, column: str):
    if not IDENTIFIER.match(column):
        raise ValueError("bad column")
    return session.execute(text(f"SELECT {column} FROM item"))

def count_rows(session, table: str):
    if not table.isidentifier():
        return 0
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar()

def legacy(session, table: str):
    return session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
""",
        """
from alembic import op

def upgrade():
    for table in ("item", "user"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN created_at TIMESTAMP")
""",
        """
import sqlite3

def find(conn: sqlite3.Connection, email: str):
    cur = conn.cursor()
    cur.execute("SELECT id FROM user WHERE email = ?", (email,))
    print(f"looked up {email}")
    return cur.fetchone()
""",
    )
    INVALID = (
        """
from sqlalchemy import text

def items_of(session, owner_id: str):
    return session.execute(text(f"SELECT * FROM item WHERE owner_id = {owner_id}")).all()
""",
        """
def find(cursor, email: str):
    query = "SELECT id FROM users WHERE email = '%s'" % email
    cursor.execute(query)
    return cursor.fetchone()
""",
        """
def filtered(cursor, column: str, value: str):
    cursor.execute(f"SELECT id FROM item WHERE {column} = %s", (value,))
    return cursor.fetchall()
""",
        """
async def search(conn, term: str):
    sql = "SELECT * FROM item WHERE title LIKE '%" + term + "%'"
    return await conn.exec_driver_sql(sql)
""",
        """
from sqlmodel import text as sql_text

def delete(session, ids: str):
    statement = "DELETE FROM item WHERE id IN ({})".format(ids)
    session.exec(sql_text(statement))
""",
        """
def report(engine, year: str):
    with engine.connect() as conn:
        query = "SELECT * FROM sales WHERE 1=1"
        query += f" AND year = {year}"
        return conn.execute(query).all()
""",
        # A pattern check that does not reject (no raise), and a noqa for another code.
        """
import re
from sqlalchemy import text

def by_column(session, column: str):
    if not re.fullmatch(r"[a-z_]+", column):
        print("odd column")
    return session.execute(text(f"SELECT {column} FROM item"))  # noqa: E501
""",
        # A PostgreSQL cast (`::{kind}`) is not a placeholder; a joined client list is not bound.
        """
from sqlalchemy import text

def by_kind(session, kind: str, names: list[str]):
    session.execute(text(f"SELECT id FROM item WHERE payload::{kind} IS NOT NULL"))
    return session.execute(text("SELECT id FROM item WHERE name IN (" + ", ".join(names) + ")")).all()
""",
        """
import sqlalchemy as sa

def by_title(session, title: str):
    statement = sa.text(f"SELECT id FROM item WHERE title = '{title}'")
    return session.execute(statement).all()
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        imports = imports_of(ctx)
        if any(target.split(".")[0] == "alembic" for target in imports.values()):
            return  # migrations run by operators interpolate table and index names, not client input
        constants: dict[str, ast.expr] | None = None  # read only once a sink builds SQL from values
        for node, sql in _sinks(ctx, imports):
            if not isinstance(sql, ast.Name) and not _interpolations(sql):
                continue  # a literal, a call, ...: no string is built here (`_values` is `[sql]`)
            scope = ctx.enclosing_function(node)
            values = _values(sql, scope)
            builds = [value for value in values if _interpolations(value)]  # only these can be unsafe
            # A variable holds SQL when any of its pieces says so (`query += f" AND year = {year}"`).
            if not builds or not any(SQL_WORDS.search(text) for v in values for text in constant_strings(v)):
                continue
            if constants is None:
                constants = module_constants(ctx.tree)
            trusted = _structural_names(scope) if _binds_parameters(ctx, node) else frozenset()
            if any(_unsafe_build(value, scope, constants, trusted) for value in builds) and not _reviewed(ctx, node):
                yield self.finding(ctx, node, "SQL text is built from interpolated values; use bound parameters "
                                   "(text(\"... :name\"), {\"name\": value}) or ORM expressions")


# The ecosystem's markers of a reviewed SQL build: ruff/flake8-bandit S608, bandit B608, `nosec`.
_REVIEWED = re.compile(r"#.*\b(?:noqa:[^#]*\bS608\b|nosec\b)", re.IGNORECASE)


def _reviewed(ctx: FileContext, sink: ast.Call) -> bool:
    """A `# noqa: S608` or `# nosec` on a line of the statement: someone already judged it."""
    last = getattr(sink, "end_lineno", None) or sink.lineno
    return any(_REVIEWED.search(line) for line in ctx.lines[sink.lineno - 1:last])


def _sinks(ctx: FileContext, imports: dict[str, str]) -> Iterator[tuple[ast.Call, ast.expr]]:
    """Each `text(...)` or execute-like method call of the file, with its SQL argument.

    The callee's own name is tested before anything is resolved: resolving every call of the file
    was the rule's main cost. A call resolves into `TEXT_FUNCTIONS` only as `<module>.text(...)`
    or through a name imported from one (aliases included)."""
    for node in calls_named(ctx, SINK_ATTRIBUTES, imported_as(imports, TEXT_FUNCTIONS)):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "text" and resolve(func, imports) not in TEXT_FUNCTIONS:
            continue
        if node.args:
            yield node, node.args[0]


def _values(sql: ast.expr, scope) -> list[ast.expr]:
    """The expression itself, or everything assigned to the variable in the enclosing function."""
    if isinstance(sql, ast.Name) and scope is not None:
        return local_values(scope, sql.id)
    return [sql]


def _unsafe_build(node: ast.expr, scope, constants: dict[str, ast.expr], trusted: frozenset[str]) -> bool:
    """A string build that interpolates at least one value not known to be safe."""
    return any(not _safe(v, scope, constants, trusted) for v in _interpolations(node))


def _binds_parameters(ctx: FileContext, sink: ast.Call) -> bool:
    """The statement is executed with bound parameters: `execute(sql, params)` / `execute(text(sql), params)`."""
    calls = [sink]
    parent = ctx.parent(sink)
    if isinstance(parent, ast.Attribute) and parent.attr in ("params", "bindparams"):
        return True  # text(...).bindparams(...)
    if isinstance(parent, ast.Call) and sink in parent.args:
        calls.append(parent)
    return any(len(c.args) >= 2 or any(k.arg in BOUND_KEYWORDS for k in c.keywords) for c in calls)


def _structural_names(scope) -> frozenset[str]:
    """Local variables of the function that are not its parameters: with bound parameters they
    typically hold SQL structure (placeholder lists, column lists, WHERE clauses), not values."""
    if scope is None:
        return frozenset()
    params = {a.arg for a in (*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs)}
    params |= {a.arg for a in (scope.args.vararg, scope.args.kwarg) if a is not None}
    local: set[str] = set()
    for node in walk_nodes(scope):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.comprehension)):
            targets = [node.target]
        else:
            continue
        local |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return frozenset(local - params)


def _interpolations(node: ast.expr) -> list[ast.expr]:
    """The values interpolated by an f-string, `%`, `.format()` or `+` string build (empty for anything else)."""
    if isinstance(node, ast.JoinedStr):
        return [v.value for before, v in zip([None, *node.values], node.values)
                if isinstance(v, ast.FormattedValue) and not _placeholder_name(before)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_str(node.left):
        if isinstance(node.right, ast.Dict):
            return list(node.right.values)
        return list(node.right.elts) if isinstance(node.right, ast.Tuple) else [node.right]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = _flatten_add(node)
        return [p for p in parts if not _is_str(p)] if any(_is_str(p) for p in parts) else []
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and _is_str(node.func.value)):
        return [*node.args, *(k.value for k in node.keywords)]
    return []


def _placeholder_name(before: ast.expr | None) -> bool:
    """The interpolation right after `:` names a bind parameter (`= :{param}`), whose value is
    sent separately; `::` (a PostgreSQL cast) does not."""
    return (_is_str(before) and before.value.endswith(":") and not before.value.endswith("::"))


def _flatten_add(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _flatten_add(node.left) + _flatten_add(node.right)
    if isinstance(node, ast.JoinedStr):
        return [v if isinstance(v, ast.Constant) else v.value for v in node.values]
    return [node]


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _safe(value: ast.expr, scope, constants: dict[str, ast.expr], trusted: frozenset[str] = frozenset()) -> bool:
    if isinstance(value, ast.Constant):
        return True
    if _joined(value):  # `" AND ".join(clauses)`: as safe as the pieces
        return all(_safe(v, scope, constants, trusted) for v in value.args)
    if isinstance(value, ast.Attribute) and (value.attr in SAFE_ATTRIBUTES or _constant_name(value.attr)):
        return True  # `Model.__tablename__`, `settings.DB_BUSY_TIMEOUT`
    if isinstance(value, ast.Name):
        if _constant_name(value.id) and (value.id not in constants or not isinstance(constants[value.id], ast.JoinedStr)):
            return True  # configuration constants, defined here or imported
        if value.id in trusted:
            return True
        return scope is not None and _checked_against_allow_list(value.id, scope)
    return False


def _joined(value: ast.expr) -> bool:
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "join"
            and _is_str(value.func.value) and len(value.args) == 1 and not value.keywords)


def _pattern_rejects(test: ast.expr | None, name: str) -> bool:
    """`not re.fullmatch(PATTERN, name)` / `not PATTERN.match(name)` / `not name.isidentifier()`."""
    if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Call)):
        return False
    call = test.operand
    if not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr == "isidentifier":
        return isinstance(call.func.value, ast.Name) and call.func.value.id == name
    return call.func.attr in ("match", "fullmatch") and any(
        isinstance(a, ast.Name) and a.id == name for a in call.args)


def _constant_name(name: str) -> bool:
    return name.isupper() and any(c.isalpha() for c in name)


def _checked_against_allow_list(name: str, scope: ast.AST) -> bool:
    """`if name not in ALLOWED: raise/return`, `assert name in ALLOWED`, or a pattern check
    (`if not re.fullmatch(r"[a-z_]+", name): raise`, `if not name.isidentifier(): raise`)
    somewhere in the function."""
    for node in walk_nodes(scope):
        test = node.test if isinstance(node, (ast.If, ast.Assert)) else None
        if isinstance(node, ast.If) and _pattern_rejects(test, name) and any(
                isinstance(s, (ast.Raise, ast.Return)) for s in node.body):
            return True
        if not (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == name
                and len(test.ops) == 1):
            continue
        if isinstance(node, ast.Assert) and isinstance(test.ops[0], ast.In):
            return True
        if (isinstance(node, ast.If) and isinstance(test.ops[0], ast.NotIn)
                and any(isinstance(s, (ast.Raise, ast.Return)) for s in node.body)):
            return True
    return False

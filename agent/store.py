"""Sessions, messages, tool calls and token usage in SQLite, in a per-user data folder.

The folder is `$FBA_HOME`, else `$XDG_DATA_HOME/fba`, else `~/.local/share/fba`. The schema moves
forward only: `MIGRATIONS` is an ordered list of SQL scripts and `schema_version` records how many
have run; a database from a newer fba is refused rather than altered.

Statuses: one small set for every command and display (`STATUSES`): completed, applied, declined,
not verified, failed (stored as `failed: <why>`) and interrupted. A session is `running` while its
process lives (its pid and host are stored), `submitted` while a review batch waits to be collected;
a `running` row whose process is gone is shown as interrupted. Older rows' statuses (API stop
reasons such as `end_turn`, `ended`, `verified`) are shown in the same set.

Two interfaces:
- `Store`: plain methods that raise `StoreError` (used by `fba log`, where the store is the job);
- `SessionLog`: what a model command records through. A store failure becomes one warning and the
  command carries on unrecorded: history must never cost the user their answer.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from agent.errors import FbaError
from agent.home import data_home
from agent.types import Usage

DB_NAME = "fba.sqlite3"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        repo_root TEXT NOT NULL DEFAULT '',
        agent TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'running',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tool_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        input TEXT NOT NULL,
        is_error INTEGER NOT NULL,
        output_chars INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE usage (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_creation_input_tokens INTEGER NOT NULL,
        cache_read_input_tokens INTEGER NOT NULL,
        cost_usd REAL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_by_session ON messages(session_id, position);
    CREATE INDEX usage_by_session ON usage(session_id);
    CREATE INDEX sessions_by_time ON sessions(created_at);
    """,
    """
    ALTER TABLE sessions ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN host TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN patch TEXT NOT NULL DEFAULT '';
    ALTER TABLE usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
    """,
)

RUNNING, SUBMITTED = "running", "submitted"
COMPLETED, APPLIED, DECLINED, NOT_VERIFIED, FAILED, INTERRUPTED = (
    "completed", "applied", "declined", "not verified", "failed", "interrupted")
STATUSES = (COMPLETED, APPLIED, DECLINED, NOT_VERIFIED, FAILED, INTERRUPTED)
# What fba recorded before the status set existed (API stop reasons, workflow results).
LEGACY_STATUSES = {
    "ended": COMPLETED, "collected": COMPLETED, "end_turn": COMPLETED, "tool_use": COMPLETED,
    "max_tokens": COMPLETED, "max_turns": COMPLETED, "max_cost": COMPLETED, "refusal": COMPLETED,
    "stop_sequence": COMPLETED, "verified": COMPLETED, "unverified": NOT_VERIFIED, "questions": NOT_VERIFIED,
}
MAX_REASON_CHARS = 160


def failed(reason: str) -> str:
    """The `failed: <why>` status: the first line of the reason, shortened."""
    line = (reason.strip().splitlines() or [""])[0]
    line = line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"
    return f"{FAILED}: {line}" if line else FAILED


def ended_by(exc: BaseException) -> str:
    """How a run that raised `exc` ended: interrupted (Ctrl-C, a signal) or failed: <why>."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return INTERRUPTED
    return failed(str(exc) or type(exc).__name__)


def shown_status(status: str, pid: int = 0, host: str = "") -> str:
    """The status as displays show it: one of `STATUSES` (or `failed: ...`), `running` only while
    the recorded process is alive, `submitted` for a batch that waits."""
    if status == RUNNING:
        return RUNNING if _alive(pid, host) else INTERRUPTED
    return LEGACY_STATUSES.get(status, status)


def _alive(pid: int, host: str) -> bool:
    if not pid:
        return False  # recorded before fba stored pids: long gone
    if host and host != socket.gethostname():
        return True  # another machine's process (a shared home): cannot tell, trust the row
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


class StoreError(FbaError):
    """The history store cannot be opened, read or written."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunSummary:
    """One session as `fba log` shows it; `cost_usd` is None when a request's price was unknown."""

    id: str
    command: str
    model: str
    title: str
    status: str
    created_at: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_usd: float | None
    estimated: bool = False  # some request's tokens are fba's estimate (cut off before usage came)
    patch: str = ""  # a declined change set kept for `fba apply`

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "command": self.command, "model": self.model, "title": self.title,
            "status": self.status, "created_at": self.created_at, "requests": self.requests,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "estimated": self.estimated, "patch": self.patch or None,
        }


@dataclass(frozen=True)
class SessionSummary:
    """One stored session as `fba sessions` shows it; `cost_usd` is None when a price was unknown."""

    id: str
    repo_root: str
    agent: str
    model: str
    title: str
    status: str
    created_at: str
    updated_at: str
    turns: int
    requests: int
    cost_usd: float | None
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "repo_root": self.repo_root, "agent": self.agent,
            "model": self.model, "status": self.status, "created_at": self.created_at,
            "updated_at": self.updated_at, "turns": self.turns, "requests": self.requests,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "estimated": self.estimated,
        }


class Store:
    """The SQLite store. Every method raises StoreError on failure."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | None = None) -> "Store":
        path = path or data_home() / DB_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=5)
            connection.execute("PRAGMA foreign_keys = ON")
            migrate(connection)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the history store {path}: {exc}") from None
        return cls(connection, path)

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, rows: Iterable[tuple] | tuple = ()) -> None:
        try:
            with self._db:
                if isinstance(rows, tuple):
                    self._db.execute(sql, rows)
                else:
                    self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the history store {self.path}: {exc}") from None

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the history store {self.path}: {exc}") from None

    def start_session(self, command: str, repo_root: str = "", agent: str = "", model: str = "", title: str = "") -> str:
        session_id = uuid.uuid4().hex[:12]
        now = _now()
        self._write("INSERT INTO sessions (id, command, repo_root, agent, model, title, created_at, updated_at, pid, host) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (session_id, command, repo_root, agent, model, title[:200], now, now, os.getpid(), socket.gethostname()))
        return session_id

    def finish_session(self, session_id: str, status: str) -> None:
        self._write("UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?", (status, _now(), session_id))

    def reopen_session(self, session_id: str) -> None:
        """A resumed session runs again, in this process."""
        self._write("UPDATE sessions SET status = ?, pid = ?, host = ?, updated_at = ? WHERE id = ?",
                    (RUNNING, os.getpid(), socket.gethostname(), _now(), session_id))

    def set_patch(self, session_id: str, patch: str) -> None:
        self._write("UPDATE sessions SET patch = ? WHERE id = ?", (patch, session_id))

    def find_runs(self, id_prefix: str, limit: int = 2) -> list["RunSummary"]:
        """Runs whose id starts with `id_prefix` (any command)."""
        return self._runs("WHERE s.id LIKE ? || '%'", (id_prefix,), limit)

    def add_messages(self, session_id: str, messages: Iterable[Mapping[str, Any]]) -> None:
        start = self._read("SELECT COUNT(*) FROM messages WHERE session_id = ?", (session_id,))[0][0]
        now = _now()
        self._write("INSERT INTO messages (session_id, position, role, content, created_at) VALUES (?, ?, ?, ?, ?)",
                    [(session_id, start + n, m["role"], json.dumps(m["content"], ensure_ascii=False), now)
                     for n, m in enumerate(messages)])

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT role, content FROM messages WHERE session_id = ? ORDER BY position", (session_id,))
        return [{"role": role, "content": json.loads(content)} for role, content in rows]

    def add_tool_call(self, session_id: str, name: str, tool_input: Mapping[str, Any], is_error: bool, output_chars: int) -> None:
        self._write("INSERT INTO tool_calls (session_id, name, input, is_error, output_chars, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (session_id, name, json.dumps(dict(tool_input), ensure_ascii=False), int(is_error), output_chars, _now()))

    def add_usage(self, session_id: str, model: str, usage: Usage) -> None:
        self._write(
            "INSERT INTO usage (session_id, model, input_tokens, output_tokens, cache_creation_input_tokens, "
            "cache_read_input_tokens, cost_usd, estimated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, model, usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens,
             usage.cache_read_input_tokens, usage.cost_usd if usage.cost_known else None, int(usage.estimated), _now()))
        self._write("UPDATE sessions SET updated_at = ? WHERE id = ?", (_now(), session_id))

    def sessions(self, command: str, repo_root: str | None = None, id_prefix: str = "",
                 limit: int = 20) -> list["SessionSummary"]:
        """Sessions of `command` (in one repository, or whose id starts with `id_prefix`), most
        recently active first. A turn is a user message with text (tool results are not turns)."""
        rows = self._read(
            """
            SELECT s.id, s.repo_root, s.agent, s.model, s.title, s.status, s.created_at, s.updated_at,
                   (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id AND m.role = 'user'
                      AND m.content LIKE '%"type": "text"%'),
                   (SELECT COUNT(*) FROM usage u WHERE u.session_id = s.id),
                   (SELECT CASE WHEN COUNT(u.id) > COUNT(u.cost_usd) THEN NULL ELSE COALESCE(SUM(u.cost_usd), 0.0) END
                      FROM usage u WHERE u.session_id = s.id),
                   (SELECT COALESCE(MAX(u.estimated), 0) FROM usage u WHERE u.session_id = s.id),
                   s.pid, s.host
            FROM sessions s
            WHERE s.command = ? AND (? IS NULL OR s.repo_root = ?) AND s.id LIKE ? || '%'
            ORDER BY s.updated_at DESC, s.rowid DESC LIMIT ?
            """,
            (command, repo_root, repo_root, id_prefix, limit),
        )
        return [SessionSummary(*row[:5], shown_status(row[5], *row[-2:]), *row[6:11], bool(row[11])) for row in rows]

    def recent_runs(self, limit: int = 20) -> list[RunSummary]:
        return self._runs("", (), limit)

    def _runs(self, where: str, params: tuple, limit: int) -> list[RunSummary]:
        rows = self._read(
            f"""
            SELECT s.id, s.command, s.model, s.title, s.status, s.created_at, COUNT(u.id),
                   COALESCE(SUM(u.input_tokens), 0), COALESCE(SUM(u.output_tokens), 0),
                   COALESCE(SUM(u.cache_creation_input_tokens), 0), COALESCE(SUM(u.cache_read_input_tokens), 0),
                   CASE WHEN COUNT(u.id) > COUNT(u.cost_usd) THEN NULL ELSE COALESCE(SUM(u.cost_usd), 0.0) END,
                   COALESCE(MAX(u.estimated), 0), s.patch, s.pid, s.host
            FROM sessions s LEFT JOIN usage u ON u.session_id = s.id {where}
            GROUP BY s.id ORDER BY s.created_at DESC, s.rowid DESC LIMIT ?
            """,
            (*params, limit),
        )
        return [RunSummary(*row[:4], shown_status(row[4], *row[-2:]), *row[5:12], bool(row[12]), row[13])
                for row in rows]


def migrate(connection: sqlite3.Connection) -> int:
    """Run the migrations this database has not seen; returns the schema version."""
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    version = row[0] if row else 0
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(f"schema version {version} is newer than this fba knows ({len(MIGRATIONS)}); upgrade fba")
    for number in range(version, len(MIGRATIONS)):
        _apply(connection, number + 1, MIGRATIONS[number])
    return len(MIGRATIONS)


def _apply(connection: sqlite3.Connection, version: int, script: str) -> None:
    """One migration and its version bump in a single transaction."""
    statements = [s.strip() for s in script.split(";") if s.strip()]
    connection.execute("BEGIN")
    try:
        for statement in statements:
            connection.execute(statement)
        connection.execute("DELETE FROM schema_version")
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        connection.execute("COMMIT")
    except sqlite3.Error:
        connection.execute("ROLLBACK")
        raise


class SessionLog:
    """Records one command's session; a store failure warns once, then recording stops."""

    def __init__(self, store: Store | None, warn: Callable[[str], None]) -> None:
        self._store = store
        self._warn = warn
        self.session_id: str | None = None
        self.status = ""  # the last status this log recorded

    @classmethod
    def open(cls, warn: Callable[[str], None], path: Path | None = None) -> "SessionLog":
        try:
            return cls(Store.open(path), warn)
        except StoreError as exc:
            warn(f"{exc}; this run will not be recorded")
            return cls(None, warn)

    def _safely(self, action: Callable[[Store], Any]) -> Any:
        if self._store is None:
            return None
        try:
            return action(self._store)
        except StoreError as exc:
            self._warn(f"{exc}; the rest of this run will not be recorded")
            self._store = None
            return None

    def start(self, command: str, repo_root: str, agent: str, model: str, title: str) -> None:
        self.session_id = self._safely(lambda s: s.start_session(command, repo_root, agent, model, title))
        self.status = RUNNING

    def resume(self, session_id: str) -> None:
        """Record into an existing session (chat --continue / --resume); it is running again."""
        self.session_id = session_id if self._store is not None else None
        if self.session_id:
            self._safely(lambda s: s.reopen_session(session_id))
            self.status = RUNNING

    def usage(self, model: str, usage: Usage) -> None:
        if self.session_id:
            self._safely(lambda s: s.add_usage(self.session_id, model, usage))

    def tool_call(self, name: str, tool_input: Mapping[str, Any], is_error: bool, output_chars: int) -> None:
        if self.session_id:
            self._safely(lambda s: s.add_tool_call(self.session_id, name, tool_input, is_error, output_chars))

    def messages(self, messages: Iterable[Mapping[str, Any]]) -> None:
        if self.session_id:
            self._safely(lambda s: s.add_messages(self.session_id, list(messages)))

    def finish(self, status: str) -> None:
        if self.session_id:
            self._safely(lambda s: s.finish_session(self.session_id, status))
            self.status = status

    def keep_patch(self, path: str) -> None:
        """Record where a declined change set was kept (`fba log` lists it, `fba apply` takes it)."""
        if self.session_id:
            self._safely(lambda s: s.set_patch(self.session_id, path))

    def close(self, ended_by_exception: BaseException | None = None) -> None:
        """Close the store. A run still `running` ended without saying how: it is recorded as
        interrupted (or failed, with `ended_by_exception`), never left running."""
        if self.status == RUNNING:
            self.finish(ended_by(ended_by_exception) if ended_by_exception is not None else INTERRUPTED)
        if self._store is not None:
            self._store.close()
            self._store = None

"""The SQLite history store: migrations, sums per session, unknown costs, failures as warnings."""

from __future__ import annotations

import sqlite3

import pytest

from agent.home import data_home
from agent.store import MIGRATIONS, SessionLog, Store, StoreError
from agent.types import Usage


def test_data_home_prefers_fba_home_then_xdg(tmp_path):
    assert data_home({"FBA_HOME": str(tmp_path / "h")}) == tmp_path / "h"
    assert data_home({"XDG_DATA_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "fba"
    assert data_home({}).parts[-3:] == (".local", "share", "fba")


def test_migrations_run_once_and_record_the_version(tmp_path):
    path = tmp_path / "db.sqlite3"
    Store.open(path).close()
    Store.open(path).close()  # a second open must not re-run the migrations
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def test_recent_runs_sum_tokens_and_cost_per_session(tmp_path):
    store = Store.open(tmp_path / "db.sqlite3")
    first = store.start_session("ask", "/repo", "fastapi-backend", "claude-sonnet-5-5", "first question")
    store.add_usage(first, "claude-sonnet-5-5", Usage(100, 20, 30, 0, 0.25, 1))
    store.add_usage(first, "claude-sonnet-5-5", Usage(5, 7, 0, 30, 0.5, 1))
    store.finish_session(first, "end_turn")
    second = store.start_session("ask", "/repo", "fastapi-backend", "claude-x", "second")
    store.add_usage(second, "claude-x", Usage(1, 1, 0, 0, 0.0, 1, cost_known=False))
    runs = store.recent_runs()
    assert [r.id for r in runs] == [second, first]
    newest, oldest = runs
    assert (oldest.requests, oldest.input_tokens, oldest.output_tokens) == (2, 105, 27)
    assert (oldest.cache_creation_input_tokens, oldest.cache_read_input_tokens, oldest.total_tokens) == (30, 30, 192)
    assert oldest.cost_usd == pytest.approx(0.75)
    assert oldest.status == "completed"  # the API stop reason recorded by older fba, in the one status set
    assert newest.cost_usd is None and newest.to_dict()["cost_usd"] is None
    assert store.recent_runs(limit=1)[0].id == second


def test_messages_keep_their_order_across_calls(tmp_path):
    store = Store.open(tmp_path / "db.sqlite3")
    session = store.start_session("chat")
    store.add_messages(session, [{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    store.add_messages(session, [{"role": "assistant", "content": [{"type": "text", "text": "hello"}]}])
    assert [m["role"] for m in store.messages(session)] == ["user", "assistant"]


def test_session_log_warns_once_and_keeps_going_when_the_store_breaks(tmp_path):
    warnings: list[str] = []
    log = SessionLog.open(warnings.append, tmp_path / "db.sqlite3")
    log.start("ask", "/repo", "agent", "model", "title")
    log._store._db.execute("DROP TABLE usage")  # the store goes bad mid-run
    log.usage("model", Usage(1, 1))
    log.tool_call("read_file", {"path": "a"}, False, 10)
    log.finish("end_turn")
    log.close()
    assert len(warnings) == 1 and "will not be recorded" in warnings[0]


def test_session_log_without_a_usable_folder_warns_and_does_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    warnings: list[str] = []
    log = SessionLog.open(warnings.append, blocker / "db.sqlite3")
    log.start("ask", "/repo", "agent", "model", "title")
    log.usage("model", Usage(1, 1))
    log.close()
    assert log.session_id is None
    assert len(warnings) == 1 and "cannot open the history store" in warnings[0]

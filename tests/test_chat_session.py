"""The chat session's pure parts (history fitting, scope creep, command hints) and, in process
against the fake API, trimming a conversation that outgrows the context window."""

from __future__ import annotations

from pathlib import Path

from agent.config import load_config
from agent.llm.events import ignore_events
from tests.fakeapi import text_reply, tool_reply
from agent.llm.loop import Limits
from agent.store import SessionLog
from agent.types import ChangeSet, FileChange
from agent.workflows.chat import (
    ChatOptions,
    fit_history,
    is_turn_start,
    open_session,
    scope_creep,
    unknown_command_hint,
)

ROUTES = 'from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n@router.get("/items/{item_id}")\ndef read_item(item_id: int):\n    return {}\n'
MODELS = "from sqlmodel import Field, SQLModel\n\n\nclass Item(SQLModel, table=True):\n    id: int | None = Field(default=None, primary_key=True)\n"


def user(text: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def tool_round() -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "list_files", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "app/main.py"}]}]


def conversation(turns: int, size: int = 300) -> list[dict]:
    messages = []
    for number in range(1, turns + 1):
        messages += [user(f"question {number} " + "q" * size), *tool_round(), assistant("a" * size)]
    return messages


def test_a_history_that_fits_is_sent_whole():
    messages = conversation(3)
    assert fit_history(messages, 100_000) == (messages, 0)


def test_the_oldest_whole_turns_go_first_and_are_named_in_a_note():
    messages = conversation(5)
    history, dropped = fit_history(messages, 900)
    assert dropped >= 1
    assert is_turn_start(history[0])  # never starts with a tool result
    note = history[0]["content"][0]["text"]
    assert f"the {dropped} earliest turn(s)" in note
    assert all(f"question {n} " in note for n in range(1, dropped + 1))
    assert f"question {dropped + 1} " not in note
    assert history[1:] == messages[len(messages) - len(history) + 1:]
    assert history[0]["content"][1:] == messages[len(messages) - len(history)]["content"]


def test_when_nothing_fits_only_the_note_is_left():
    history, dropped = fit_history(conversation(2, size=3000), 500)
    assert dropped == 2
    assert len(history) == 1 and history[0]["role"] == "user"
    assert "question 1" in history[0]["content"][0]["text"] and "question 2" in history[0]["content"][0]["text"]


def test_turn_starts_are_user_messages_with_text():
    assert is_turn_start(user("hi")) and is_turn_start({"role": "user", "content": "plain"})
    assert not is_turn_start(tool_round()[1]) and not is_turn_start(assistant("hi"))


def change(path: str, before: str | None, after: str | None) -> FileChange:
    return FileChange(path, before, after)


def test_scope_creep_names_unrequested_files_routes_and_table_models():
    new_route = ROUTES + '\n\n@router.delete("/items/{item_id}", status_code=204)\ndef delete_item(item_id: int) -> None:\n    return None\n'
    new_column = MODELS + "    name: str\n"
    changeset = ChangeSet((change("app/models.py", MODELS, new_column), change("app/routes/items.py", ROUTES, new_route)))

    asked_for_route = scope_creep(changeset, ["Add DELETE /items/{id} to items.py"], [])
    assert asked_for_route == (
        "app/models.py: changes a file your request does not mention",
        "app/models.py: changes the columns of table model Item, which your request does not name",
    )
    assert scope_creep(changeset, ["Add a name column to the Item model and DELETE /items/{item_id}"],
                       ["app/models.py", "app/routes/items.py"]) == ()
    vague = scope_creep(changeset, ["make deleting possible"], ["app/models.py", "app/routes/items.py"])
    assert vague == (
        "app/models.py: changes the columns of table model Item, which your request does not name",
        "app/routes/items.py: new route DELETE /items/{item_id} (delete_item) that your request does not name",
    )


def test_scope_creep_new_table_model_in_a_new_file():
    changeset = ChangeSet((change("app/tags.py", None, MODELS.replace("Item", "Tag")),))
    assert scope_creep(changeset, ["anything"], []) == (
        "app/tags.py: creates a file your request does not mention",
        "app/tags.py: new table model Tag that your request does not name",
    )
    assert scope_creep(changeset, ["Add a Tag model in app/tags.py"], []) == ()


def test_a_file_is_named_by_a_class_or_function_it_defines():
    new_column = MODELS + "    priority: int = 0\n"
    changeset = ChangeSet((change("app/models.py", MODELS, new_column),))
    assert scope_creep(changeset, ["Add a priority field to the Item model"], []) == ()  # the one file it was about
    assert scope_creep(changeset, ["Add a priority field"], []) == (
        "app/models.py: changes a file your request does not mention",
        "app/models.py: changes the columns of table model Item, which your request does not name",
    )


def test_unknown_commands_get_the_nearest_one():
    assert unknown_command_hint("aply") == "unknown command /aply; did you mean /apply? (/help lists the commands)"
    assert unknown_command_hint("runtests").startswith("unknown command /runtests; did you mean /run-tests?")
    assert unknown_command_hint("zzz") == "unknown command /zzz (/help lists the commands)"


def test_a_conversation_that_outgrows_the_window_is_trimmed(fake_api, git_repo: Path, fba_home):
    (git_repo / "main.py").write_text("print('hi')\n")
    config = load_config(git_repo, environ={})
    session = open_session(config, ChatOptions(), SessionLog.open(lambda message: None), environ=fake_api.env())
    session.context_window = Limits().max_tokens + session.context_tokens() + 300  # ~900 characters of history
    fake_api.script(text_reply("A1"), text_reply("A2"), text_reply("A3"))

    assert session.send("first " + "x" * 1200, ignore_events).trimmed == 0
    second = session.send("second", ignore_events)
    assert second.trimmed == 1
    sent = fake_api.requests[1].body["messages"]
    assert "x" * 1200 not in fake_api.requests[1].text
    assert sent[0]["content"][0]["text"].startswith("[fba: the 1 earliest turn(s)")
    assert sent[0]["content"][1]["text"] == "second"

    third = session.send("third", ignore_events)
    assert third.trimmed == 1  # the first turn still does not fit; the second does
    user_texts = [b["text"] for m in fake_api.requests[2].body["messages"] if m["role"] == "user" for b in m["content"]]
    assert "second" in user_texts and "third" in user_texts
    assert session.turns == 3


def test_a_turn_stopped_by_max_cost_is_closed_before_the_next_one(fake_api, git_repo: Path, fba_home):
    (git_repo / "main.py").write_text("print('hi')\n")
    config = load_config(git_repo, environ={"FBA_MAX_COST": "0.3"})
    session = open_session(config, ChatOptions(), SessionLog.open(lambda message: None), environ=fake_api.env())
    fake_api.script(tool_reply(("list_files", {}), usage={"input_tokens": 100_000, "output_tokens": 1_000}),
                    text_reply("Fine."))
    assert session.send("look around", ignore_events).stop_reason == "max_cost"
    session.send("and now?", ignore_events)
    roles = [m["role"] for m in fake_api.requests[1].body["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert "stopped (max_cost)" in fake_api.requests[1].body["messages"][3]["content"][0]["text"]

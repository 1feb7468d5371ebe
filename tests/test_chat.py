"""`fba chat` end to end: scripted stdin (not a terminal), the CLI in a subprocess, the real SDK and
the loopback fake API, in a temporary git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import status_fault, text_reply, tool_reply
from agent.llm.models import ALIASES
from tests.sandbox_marks import needs_sandbox

MAIN = 'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/items")\ndef list_items():\n    return []\n'
DELETE_ROUTE = '\n\n@app.delete("/items/{item_id}", status_code=204)\ndef delete_item(item_id: int) -> None:\n    return None\n'
USAGE = {"input_tokens": 1000, "output_tokens": 100, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
TURN_COST = (1000 * 2.00 + 100 * 10.00) / 1_000_000  # sonnet prices


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "app").mkdir()
    (git_repo / "app" / "main.py").write_text(MAIN)
    (git_repo / "pyproject.toml").write_text("[tool.fba]\npreview = true\n")  # FBA201 is a preview rule
    (git_repo / ".env").write_text("SECRET_KEY=do-not-send\n")
    (git_repo / ".gitignore").write_text(".env\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "initial")
    return git_repo


@pytest.fixture
def chat(fba_home: Path, fake_api):
    """Run `fba chat ARGS` with `lines` on stdin: `chat(lines, cwd, *args)`."""

    def run(lines: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FBA_"))}
        env.update({"FBA_HOME": str(fba_home), "NO_COLOR": "1", "COLUMNS": "200", **fake_api.env()})
        return subprocess.run([sys.executable, "-m", "agent", "chat", *args], input="".join(f"{l}\n" for l in lines),
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=60)

    return run


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def texts(message: dict) -> list[str]:
    content = message["content"]
    return [content] if isinstance(content, str) else [b.get("text", "") for b in content if b.get("type") == "text"]


def conversation(request) -> str:
    return "\n".join(t for m in request.body["messages"] for t in texts(m))


def test_a_whole_session_then_continue(chat, fake_api, project, run_fba):
    fake_api.script(
        text_reply("It returns **an empty list**.", usage=USAGE),
        text_reply("FBA201 matters most: declare a response model.", usage=USAGE),
        tool_reply(("edit_file", {"path": "app/main.py", "old_string": "    return []\n",
                                  "new_string": "    return []\n" + DELETE_ROUTE}), usage=USAGE),
        text_reply("Added the route.", usage=USAGE),
    )
    done = chat(["What does GET /items return?", "/review", "Add a DELETE /items/{item_id} route to app/main.py",
                 "/apply", "/undo", "/cost", "/exit"], project)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    # a question answered with streaming
    assert "It returns **an empty list**." in done.stdout  # plain text when not a terminal
    assert fake_api.requests[0].body["stream"] is True
    system = "\n".join(b["text"] for b in fake_api.requests[0].body["system"])
    assert "Task: an interactive session about this repository" in system
    assert {"read_file", "edit_file", "create_file", "delete_file"} <= {t["name"] for t in fake_api.requests[0].body["tools"]}

    # /review: the static review is shown, then put into the conversation for the model
    assert "FBA201" in done.stdout and "FBA201 matters most" in done.stdout
    review_turn = texts(fake_api.requests[1].body["messages"][-1])[0]
    assert "I ran fba's review" in review_turn and "app/main.py:6" in review_turn and "FBA201" in review_turn

    # the edit: proposed through the tool, shown as a diff, applied and committed
    assert "Update app/main.py (+5 -0)" in done.stderr
    assert '+@app.delete("/items/{item_id}", status_code=204)' in done.stdout
    assert "M app/main.py  +5 -0" in done.stderr
    assert "possible scope creep" not in done.stderr  # the request named the file and the route
    assert "applied changes to 1 file(s)" in done.stderr
    log = git(project, "log", "--format=%s%n%b", "-n", "2")
    assert "fba chat: Add a DELETE /items/{item_id} route to app/main.py" in log
    assert f"Fba-Model: {ALIASES['sonnet']}" in log and "Fba-Agent: fastapi-backend" in log

    # /undo reverted fba's commit: the file is back, with a revert commit on top
    assert "reverted with" in done.stdout
    assert (project / "app" / "main.py").read_text() == MAIN
    assert git(project, "log", "--format=%s", "-n", "1").startswith('Revert "fba chat: Add a DELETE')

    # /cost: this session so far
    assert f"4 requests · 4,000 in · 400 out · 0 cache write · 0 cache read · ${4 * TURN_COST:.4f}" in done.stdout

    # leave, come back with --continue: the earlier turns are in the next request
    fake_api.script(text_reply("Yes, as discussed.", usage=USAGE))
    again = chat(["Does that still hold?"], project, "--continue")
    assert again.returncode == 0, again.stderr
    assert "Yes, as discussed." in again.stdout
    assert "resumed" in again.stderr and "3 turns" in again.stderr
    shown = again.stderr.split("of the earlier conversation:", 1)[1].split("fba chat ·", 1)[0]  # the last turns
    assert "› What does GET /items return?" in shown and "It returns **an empty list**." in shown
    assert "› I ran fba's review" in shown and "› Add a DELETE /items/{item_id} route" in shown
    assert "Added the route." in shown
    history = conversation(fake_api.requests[-1])
    for earlier in ("What does GET /items return?", "It returns **an empty list**.", "I ran fba's review",
                    "Add a DELETE /items/{item_id} route", "Added the route.", "Does that still hold?"):
        assert earlier in history
    assert all("do-not-send" not in r.text for r in fake_api.requests)

    sessions = json.loads(run_fba(["sessions", "--format", "json"], project).stdout)
    assert len(sessions) == 1
    stored = sessions[0]
    assert (stored["title"], stored["turns"], stored["requests"]) == ("What does GET /items return?", 4, 5)
    assert stored["cost_usd"] == pytest.approx(5 * TURN_COST)
    table = run_fba(["sessions"], project).stdout
    assert stored["id"] in table and "What does GET /items return?" in table


def test_resume_by_id_and_sessions_are_per_repository(chat, fake_api, project, run_fba, tmp_path):
    fake_api.script(text_reply("First.", usage=USAGE), text_reply("Second.", usage=USAGE))
    assert chat(["one"], project).returncode == 0
    assert chat(["two"], project).returncode == 0
    first, second = reversed(json.loads(run_fba(["sessions", "--format", "json"], project).stdout))
    assert (first["title"], second["title"]) == ("one", "two")

    fake_api.script(text_reply("Back to one.", usage=USAGE))
    done = chat(["more on one"], project, "--resume", first["id"][:6])
    assert done.returncode == 0, done.stderr
    history = conversation(fake_api.requests[-1])
    assert "one" in history and "First." in history and "Second." not in history

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert json.loads(run_fba(["sessions", "--format", "json"], elsewhere).stdout) == []
    assert len(json.loads(run_fba(["sessions", "--format", "json", "--all"], elsewhere).stdout)) == 2
    missing = chat([], elsewhere, "--continue")
    assert missing.returncode == 2 and "no earlier chat session in this repository" in missing.stderr
    unknown = chat([], project, "--resume", "nope")
    assert unknown.returncode == 2 and "no chat session with id 'nope'" in unknown.stderr
    assert "Traceback" not in missing.stderr + unknown.stderr


def test_scope_creep_is_listed_apart_before_applying(chat, fake_api, project):
    model_file = "from sqlmodel import Field, SQLModel\n\n\nclass Audit(SQLModel, table=True):\n    id: int | None = Field(default=None, primary_key=True)\n"
    stats_route = '\n\n@app.get("/stats")\ndef stats():\n    return {}\n'
    fake_api.script(
        tool_reply(("edit_file", {"path": "app/main.py", "old_string": "    return []\n",
                                  "new_string": "    return []\n" + DELETE_ROUTE + stats_route}),
                   ("create_file", {"path": "app/audit.py", "content": model_file})),
        text_reply("Done, and I added an audit table and a stats route."),
    )
    done = chat(["Add a DELETE /items/{item_id} route to app/main.py", "/diff"], project)
    assert done.returncode == 0, done.stderr
    creep = done.stderr.split("possible scope creep", 1)[1]
    assert "app/audit.py: creates a file your request does not mention" in creep
    assert "app/audit.py: new table model Audit that your request does not name" in creep
    assert "app/main.py: new route GET /stats (stats) that your request does not name" in creep
    assert "DELETE" not in creep and "app/main.py: changes a file" not in creep
    assert done.stderr.count("possible scope creep") == 2  # after the turn and with /diff
    assert "left with pending changes to 2 file(s) not applied" in done.stderr
    assert (project / "app" / "main.py").read_text() == MAIN and not (project / "app" / "audit.py").exists()


def test_commands_never_crash_and_keep_the_deny_list(chat, fake_api, project):
    fake_api.script(text_reply("Answer one."), text_reply("Answer two."))
    done = chat(["/aply", "/add .env", "/add app/main.py", "/files", "/model opus", "How is it?", "/drop app/main.py",
                 "/files", "/agent", "/tokens", "/clear", "Fresh start?", "/diff", "/apply", "/discard", "/help",
                 "/implement", "/review nowhere"], project)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "unknown command /aply; did you mean /apply?" in done.stderr
    assert "'.env' is on the secret deny-list" in done.stderr
    assert "added app/main.py to the conversation" in done.stdout
    assert "files in the conversation:\n  app/main.py" in done.stdout
    first, second = fake_api.requests
    assert first.body["model"] == ALIASES["opus"]
    context = "\n".join(b["text"] for b in first.body["system"])
    assert "# Files in the conversation" in context and "def list_items():" in context
    assert "do-not-send" not in first.text
    assert "no files in the conversation" in done.stdout
    assert "* fastapi-backend" in done.stdout
    assert "conversation: 1 turn(s), about" in done.stdout
    assert [texts(m)[0] for m in second.body["messages"] if m["role"] == "user"] == ["Fresh start?"]
    assert "# Files in the conversation" not in "\n".join(b["text"] for b in second.body["system"])
    assert done.stdout.count("no pending changes") == 3 and "no pending changes to apply" in done.stdout
    assert "/run-tests" in done.stdout and "/undo" in done.stdout  # /help
    assert "error: /implement needs a spec" in done.stderr
    assert "nowhere: no such file or folder" in done.stderr


@needs_sandbox
def test_implement_runs_the_implement_workflow_into_the_pending_changes(chat, fake_api, project):
    (project / "pyproject.toml").write_text(f"[tool.fba]\ntest-command = {json.dumps(sys.executable + ' -c pass')}\n")
    (project / "specs").mkdir()
    (project / "specs" / "tags.md").write_text("# Tags\n\nAdd `GET /tags` to app/main.py returning a list of tags.\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "spec")
    fake_api.script(
        tool_reply(("edit_file", {"path": "app/main.py", "old_string": "    return []\n",
                                  "new_string": "    return []\n\n\n@app.get(\"/tags\")\ndef list_tags():\n    return []\n"})),
        text_reply("Added GET /tags."),
    )
    done = chat(["/implement specs/tags.md", "/apply"], project)
    assert done.returncode == 0, done.stderr
    system = "\n".join(b["text"] for b in fake_api.requests[0].body["system"])
    assert "Add `GET /tags` to app/main.py" in fake_api.requests[0].text and "Task: implement" in system
    assert "verified after 1 round: ✓ parse" in done.stderr
    assert "possible scope creep" not in done.stderr
    assert "applied changes to 1 file(s)" in done.stderr
    assert "def list_tags" in (project / "app" / "main.py").read_text()
    assert "fba chat: implement Tags" in git(project, "log", "--format=%s", "-n", "1")


def test_implement_needs_a_clean_pending_set(chat, fake_api, project):
    fake_api.script(tool_reply(("create_file", {"path": "notes.md", "content": "hi\n"})), text_reply("Created."))
    done = chat(["Create notes.md", "/implement Add GET /tags"], project)
    assert "error: /implement starts from the files on disk" in done.stderr


def test_a_failed_answer_keeps_the_session(chat, fake_api, project):
    fake_api.script(status_fault(400), text_reply("Recovered."))
    done = chat(["Hello?", "Still there?"], project)
    assert done.returncode == 0
    assert "error: " in done.stderr and "Traceback" not in done.stderr
    assert "Recovered." in done.stdout
    assert [texts(m)[0] for m in fake_api.requests[1].body["messages"]] == ["Still there?"]  # the failed turn is gone

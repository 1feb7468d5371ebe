"""`fba chat` in a real pseudo-terminal (pexpect): prompt_toolkit input, Ctrl-C during a slow
streamed answer cancels it and keeps the session, Esc+Enter writes a multi-line message, and a turn
that edits ends with the apply prompt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import text_reply, tool_reply

pexpect = pytest.importorskip("pexpect")

SLOW = 0.5  # seconds before each streamed event of the answer that gets interrupted


@pytest.fixture
def spawn_chat(fba_home: Path, fake_api, git_repo: Path):
    children = []

    def spawn():
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FBA_"))}
        env.update({"FBA_HOME": str(fba_home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "PAGER": "cat",
                    **fake_api.env()})
        child = pexpect.spawn(sys.executable, ["-m", "agent", "chat"], cwd=str(git_repo), env=env,
                              encoding="utf-8", timeout=30, dimensions=(40, 120))
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.close(force=True)


def test_ctrl_c_cancels_the_answer_and_keeps_the_session(spawn_chat, fake_api):
    fake_api.script(text_reply("Thinking slowly about your question " + "and more " * 20, delay=SLOW),
                    text_reply("Second answer arrives."))
    child = spawn_chat()
    child.expect("›")
    child.sendline("Tell me slowly")
    child.expect("Thinking")  # the answer has started streaming
    child.sendcontrol("c")
    child.expect("cancelled: that answer is dropped; the session goes on")
    child.expect("›")

    child.send("line one")
    child.send("\x1b\r")  # Esc+Enter: a newline, not send
    child.sendline("line two")
    child.expect("Second answer arrives")
    child.expect("›")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    assert len(fake_api.requests) == 2
    messages = fake_api.requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["user"]  # the cancelled turn left no trace
    assert messages[0]["content"][0]["text"] == "line one\nline two"


def test_a_turn_with_edits_ends_with_the_apply_prompt(spawn_chat, fake_api, git_repo: Path):
    (git_repo / "app.py").write_text("VALUE = 1\n")
    for command in (["git", "add", "-A"], ["git", "commit", "-qm", "initial"]):
        subprocess.run(command, cwd=git_repo, check=True, capture_output=True)
    fake_api.script(tool_reply(("edit_file", {"path": "app.py", "old_string": "VALUE = 1", "new_string": "VALUE = 2"})),
                    text_reply("Changed VALUE in app.py."))
    child = spawn_chat()
    child.expect("›")
    child.sendline("Set VALUE to 2 in app.py")
    child.expect("Apply these changes to 1 file")
    assert (git_repo / "app.py").read_text() == "VALUE = 1\n"  # nothing written before the answer
    child.sendline("y")
    child.expect("committed")
    child.expect("›")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    assert (git_repo / "app.py").read_text() == "VALUE = 2\n"

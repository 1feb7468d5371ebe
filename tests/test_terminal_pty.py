"""What `fba chat` leaves on a real screen: the bytes from a pseudo-terminal are replayed through a
terminal emulator (pyte) with scrollback, and the screen plus the scrollback are checked — one copy
of a long streamed answer at 120 and 60 columns, no duplicated line after Ctrl-C or typing during
an answer, and a spinner while the model has not answered yet."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from tests.fakeapi import text_reply

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")

LONG_ANSWER = "\n\n".join(f"Paragraph {n:02d}: the answer goes on about routes, owners and tokens, "
                          "long enough to wrap at sixty columns." for n in range(1, 61))


@pytest.fixture
def spawn_chat(fba_home: Path, fake_api, git_repo: Path):
    children = []

    def spawn(rows: int = 40, columns: int = 120):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FBA_", "COLUMNS", "LINES"))}
        env.update({"FBA_HOME": str(fba_home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "PAGER": "cat",
                    **fake_api.env()})
        child = pexpect.spawn(sys.executable, ["-m", "agent", "chat"], cwd=str(git_repo), env=env,
                              encoding="utf-8", timeout=30, dimensions=(rows, columns))
        child.logfile_read = io.StringIO()
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.close(force=True)


def screen_lines(child, rows: int, columns: int) -> list[str]:
    """Every line the terminal shows or scrolled away: scrollback first, then the screen."""
    screen = pyte.HistoryScreen(columns, rows, history=10_000)
    pyte.Stream(screen).feed(child.logfile_read.getvalue())
    history = ["".join(line[x].data for x in range(columns)).rstrip() for line in screen.history.top]
    return history + [line.rstrip() for line in screen.display]


def leave(child) -> None:
    child.expect("›")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("rows, columns", [(24, 120), (16, 60)])
def test_a_long_streamed_answer_leaves_exactly_one_copy_in_the_scrollback(spawn_chat, fake_api, rows, columns):
    fake_api.script(text_reply(LONG_ANSWER))
    child = spawn_chat(rows, columns)
    child.expect("›")
    child.sendline("Explain everything")
    child.expect("Paragraph 60")
    child.expect("1 request")  # the usage line after the answer
    leave(child)
    lines = screen_lines(child, rows, columns)
    banner = " ".join(line.strip() for line in lines[:next(n for n, line in enumerate(lines) if line.startswith("›"))])
    assert "/help for commands, Ctrl-D to leave" in banner  # wrapped between words, never inside one
    for number in range(1, 61):
        copies = [line for line in lines if f"Paragraph {number:02d}:" in line]
        assert len(copies) == 1, (number, copies)
    assert not any("waiting for the model" in line or "the model is answering" in line for line in lines)


SLOW_FIRST_LINE = "First line of the slow answer."
SLOW_ANSWER = SLOW_FIRST_LINE + "\n\n" + " ".join(["and then it goes on slowly"] * 40)


def test_ctrl_c_during_an_answer_leaves_no_duplicate_line(spawn_chat, fake_api):
    fake_api.script(text_reply(SLOW_ANSWER, delay=0.5), text_reply("Second answer."))
    child = spawn_chat(20, 80)
    child.expect("›")
    child.sendline("Tell me slowly")
    child.expect(SLOW_FIRST_LINE)
    child.sendcontrol("c")
    child.expect("cancelled: that answer is dropped")
    child.expect("›")
    child.sendline("Again")
    child.expect("Second answer")
    child.expect("›")
    child.sendline("/cost")
    child.expect(r"this session: \S+ · 2 requests · 200 in")  # the cancelled request counts: it was sent
    leave(child)
    lines = screen_lines(child, 20, 80)
    assert sum(SLOW_FIRST_LINE in line for line in lines) == 1, lines
    assert not any("^C" in line for line in lines)


def test_typing_during_an_answer_leaves_no_duplicate_line_and_keeps_what_was_typed(spawn_chat, fake_api):
    fake_api.script(text_reply(SLOW_ANSWER, delay=0.3))
    child = spawn_chat(20, 80)
    child.expect("›")
    child.sendline("Tell me slowly")
    child.expect(SLOW_FIRST_LINE)
    child.send("next question")  # typed while the answer streams: not echoed into it
    child.expect("1 request")
    child.expect("next question")  # type-ahead: it waits at the next prompt
    child.sendcontrol("u")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    lines = screen_lines(child, 20, 80)
    assert sum(SLOW_FIRST_LINE in line for line in lines) == 1, lines
    assert not any("next question" in line for line in lines)  # never echoed into the answer; Ctrl-U cleared it


def test_a_spinner_shows_while_the_model_has_not_answered(spawn_chat, fake_api):
    fake_api.script(text_reply("The slow answer.", delay=1.0))  # nothing streams for a second
    child = spawn_chat()
    child.expect("›")
    child.sendline("Hello?")
    assert child.expect(["waiting for the model", "The slow answer"]) == 0
    child.expect(r"\d+\.\d s")  # with the elapsed time
    child.expect("The slow answer")
    leave(child)
    assert sum("The slow answer." in line for line in screen_lines(child, 40, 120)) == 1

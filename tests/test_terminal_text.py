"""Only text reaches the terminal: control sequences in model output, tool results, file contents and
diffs are shown as visible escapes, streamed or not, in every printed format."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.fakeapi import text_reply, tool_reply
from agent.textformats import printable

CLEAR = "\x1b[2J\x1b[H"
OSC52 = "\x1b]52;c;" + "cm0gLXJmIH4=" + "\x07"  # writes "rm -rf ~" to the clipboard
FAKE_VERDICT = "\x1b[1A\x1b[2K\r\x1b[32m✓ verified\x1b[0m"  # cursor up, erase the line, paint
IN_SOURCE = CLEAR + OSC52 + "\x1b[1A\x1b[2K\x1b[32m✓ verified\x1b[0m"  # CR would end a Python line


@pytest.mark.parametrize("raw, shown", [
    (CLEAR, "\\x1b[2J\\x1b[H"),
    (OSC52, "\\x1b]52;c;cm0gLXJmIH4=\\x07"),
    (FAKE_VERDICT, "\\x1b[1A\\x1b[2K\\r\\x1b[32m✓ verified\\x1b[0m"),
    ("a\x9b31mb", "a\\x9b31mb"),  # C1 CSI
    ("back\x08\x08\x7f", "back\\x08\\x08\\x7f"),
    ("if admin:\u202e\u2066 # ok", "if admin:\\u202e\\u2066 # ok"),  # bidi overrides
    ("line one\r\nline two\n\tindented ✓ é", "line one\nline two\n\tindented ✓ é"),
])
def test_printable_shows_control_characters_as_visible_escapes(raw, shown):
    assert printable(raw) == shown
    assert printable(shown) == shown


def test_plain_text_is_returned_unchanged():
    text = "def f():\n\treturn '✓'\n"
    assert printable(text) is text


def _no_escapes(*outputs: str) -> None:
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output


def test_a_model_cannot_clear_the_screen_set_the_clipboard_or_fake_a_verdict(fake_api, git_repo, run_fba):
    (git_repo / "app").mkdir()
    (git_repo / "app" / "main.py").write_text(f"x = 1  # {CLEAR}\n")
    fake_api.script(
        tool_reply(("read_file", {"path": f"app/{CLEAR}.py"}), text=f"Looking{CLEAR}"),
        text_reply(f"Answer.{OSC52}\n{FAKE_VERDICT}\n"),
    )
    done = run_fba(["ask", "Anything wrong?"], git_repo, fake_api.env())
    assert done.returncode == 0, done.stderr
    _no_escapes(done.stdout, done.stderr)
    assert "Looking\\x1b[2J\\x1b[H" in done.stdout
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in done.stdout
    assert "\\x1b[1A\\x1b[2K\\r\\x1b[32m✓ verified" in done.stdout
    assert "Read app/\\x1b[2J\\x1b[H.py ✗" in done.stderr  # the tool line and its error


def test_a_file_with_escapes_shows_them_visibly_in_a_finding_excerpt(git_repo, run_fba):
    (git_repo / "app.py").write_text(f"from fastapi import FastAPI\n\napp = FastAPI(debug=True)  # {IN_SOURCE}\n")
    for output_format in ("text", "markdown", "github"):
        done = run_fba(["review", "app.py", "--format", output_format, "--static-only"], git_repo)
        _no_escapes(done.stdout, done.stderr)
        if output_format == "text":
            assert "\\x1b[32m✓ verified" in done.stdout


def test_json_and_sarif_carry_control_characters_as_json_escapes(git_repo, run_fba):
    (git_repo / "app.py").write_text(f"from fastapi import FastAPI\n\napp = FastAPI(debug=True)  # {IN_SOURCE}\n")
    for output_format in ("json", "sarif"):
        done = run_fba(["review", "app.py", "--format", output_format, "--static-only"], git_repo)
        _no_escapes(done.stdout)
        json.loads(done.stdout)


def _console(terminal: bool):
    from rich.console import Console

    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, no_color=not terminal, width=200), buffer


@pytest.mark.parametrize("terminal", [True, False])
def test_a_diff_of_a_file_with_escapes_prints_them_visibly(terminal):
    from agent.console.diff import print_diff

    diff = ("diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n"
            f"-x = 1\n+x = 2  # {CLEAR}{OSC52}{FAKE_VERDICT}\n")
    console, buffer = _console(terminal)
    print_diff(console, diff)
    shown = buffer.getvalue()
    assert "\x1b[2J" not in shown and "\x1b]52" not in shown and "\x07" not in shown and "\x1b[1A" not in shown
    assert "\\x1b[2J\\x1b[H\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[1A" in shown


def test_streamed_markdown_in_chat_is_shown_as_text(monkeypatch):
    from agent.console import Terminal
    from agent.console.chat import ChatPrinter
    from agent.llm.events import TextDelta

    console, buffer = _console(True)
    term = Terminal()
    monkeypatch.setattr(Terminal, "out", console)
    printer = ChatPrinter(term, live=True)
    for piece in ("Done.", "\x1b", "[2J", OSC52, FAKE_VERDICT):  # an escape split across deltas
        printer(TextDelta(piece))
    printer.close()
    shown = buffer.getvalue()
    # rich moves the cursor itself to erase the spinner region; the model's own sequences never run
    assert "\x1b[2J" not in shown and "\x1b]52" not in shown and FAKE_VERDICT not in shown
    assert "\x1b[1A\x1b[2K\r" not in shown
    assert "\\x1b]52;c;" in shown and "\\x1b[2J" in shown and "\\x1b[1A\\x1b[2K" in shown


@pytest.mark.parametrize("output_format", ["github", "markdown", "text"])
def test_a_model_finding_message_with_escapes_is_printed_as_text(output_format):
    from agent.console.review import review_text
    from agent.report import renderer
    from agent.types import Finding, ReviewResult, Severity

    finding = Finding(rule="FBA-LLM-jwt", category="jwt", severity=Severity.HIGH, path="app.py", line=1,
                      message=f"Bad token handling.{CLEAR}{OSC52}{FAKE_VERDICT}", source="llm", confidence=0.9,
                      title=f"jwt{CLEAR}")
    result = ReviewResult((finding,), files=1)
    shown = review_text(result, {}) if output_format == "text" else renderer(output_format)(result, {})
    _no_escapes(shown)
    assert "\\x1b[2J" in shown

"""The terminal's small formats: tool lines that say what happened, test outcomes, Markdown blocks
cut where they end, the earlier turns of a resumed chat, and the implement verdict line."""

from __future__ import annotations

import io

import pytest

from agent.console import Terminal
from agent.console.chat import earlier_turns, split_finished
from agent.console.implement import check_label, verdict_markup
from agent.console.stream import StreamPrinter, changed_lines, summarize_tests, tool_line
from agent.llm.events import RequestDone, ToolFinished, ToolRunning
from agent.types import Usage
from agent.workflows.verify import Check, Verification

READ_OUTPUT = "\n".join(f"{n:>6}\tline {n}" for n in range(1, 43))


@pytest.mark.parametrize("name, tool_input, output, expected", [
    ("read_file", {"path": "app/main.py"}, READ_OUTPUT, "Read app/main.py (42 lines)"),
    ("read_file", {"path": "app/main.py", "start_line": 5, "end_line": 7}, "     5\ta\n     6\tb\n     7\tc", "Read app/main.py:5-7 (3 lines)"),
    ("edit_file", {"path": "app/models.py", "old_string": "class A:\n    x: int\n",
                   "new_string": "class A:\n    x: int\n" + "    y: int\n" * 7}, "edited", "Update app/models.py (+7 -0)"),
    ("edit_file", {"path": "app/models.py", "old_string": "a = 1", "new_string": "a = 2\nb = 3"}, "edited",
     "Update app/models.py (+2 -1)"),
    ("create_file", {"path": "app/tags.py", "content": "x = 1\ny = 2\n"}, "created", "Create app/tags.py (+2)"),
    ("delete_file", {"path": "app/old.py"}, "deleted", "Delete app/old.py"),
    ("list_files", {"pattern": "*.py"}, "app/a.py\napp/b.py", "List . *.py (2 files)"),
    ("search", {"pattern": "Depends"}, "app/a.py:3: x\napp/b.py:9: y", "Search 'Depends' (2 matches)"),
    ("search", {"pattern": "nope"}, "(no matches)", "Search 'nope' (0 matches)"),
    ("run_tests", {}, "$ pytest -q  -> PASSED\n..\n2 passed in 0.41s\n", "Tests: 2 passed in 0.4 s"),
    ("run_tests", {}, "$ pytest -q  -> FAILED (exit 1)\n=== 1 failed, 11 passed in 3.12s ===", "Tests: 1 failed, 11 passed in 3.1 s"),
    ("run_tests", {}, "$ pytest -q  -> TIMED OUT\n", "Tests: timed out"),
    ("ask_user", {"questions": [{"question": "a"}, {"question": "b"}]}, "answered", "Asked 2 questions"),
    ("made_up", {"x": 1}, "", "made_up(x=1)"),
])
def test_tool_lines_say_what_happened(name, tool_input, output, expected):
    summary = "x=1" if name == "made_up" else ""
    assert tool_line(name, tool_input, output, summary) == expected


def test_changed_lines_count_as_a_diff_does():
    assert changed_lines("a\nb\nc", "a\nB\nc\nd") == (2, 1)


def test_test_outcome_prefers_pytests_summary():
    assert summarize_tests("no tests ran in 0.02s") == "no tests ran in 0.0 s"
    assert summarize_tests("$ make test  -> FAILED (exit 2)\nboom") == "failed (exit 2)"


@pytest.mark.parametrize("text, finished", [
    ("First para.\n\nSecond par", "First para.\n\n"),
    ("Streaming a li", ""),
    ("```python\nx = 1\n\ny = 2\n", ""),  # a blank line inside a code block does not end it
    ("```python\nx = 1\n```\nafter", "```python\nx = 1\n```\n"),
    ("# Title\n\n- a\n- b\n\nrest", "# Title\n\n- a\n- b\n\n"),
])
def test_markdown_is_cut_after_its_last_finished_block(text, finished):
    assert split_finished(text) == (finished, text[len(finished):])


def _user(text):
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _assistant(*blocks):
    return {"role": "assistant", "content": list(blocks)}


def test_earlier_turns_are_the_last_ones_with_their_answers():
    tool = {"type": "tool_use", "id": "t1", "name": "read_file", "input": {}}
    messages = [_user("one"), _assistant({"type": "text", "text": "first answer"}),
                _user("two"), _assistant(tool), {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
                _assistant({"type": "text", "text": "second answer"}),
                _user("three"), _assistant({"type": "text", "text": "third answer"})]
    assert earlier_turns(messages, 2) == [("two", "second answer"), ("three", "third answer")]


def _check(name, status, detail=""):
    return Check(name, status, detail)


def test_check_labels_explain_failures():
    assert check_label(_check("changes", "failed", "empty")) == "changes (the agent created or edited no file)"
    assert check_label(_check("tests", "passed", "$ pytest\n12 passed in 3.14s")) == "tests (12 passed in 3.1 s)"
    assert check_label(_check("checks", "failed", "2 new finding(s) at or above medium in the changed files:")) == \
        "checks (2 new findings at or above medium)"
    assert check_label(_check("tests", "not run", "not run: a file does not parse")) == "tests"


class _Result:
    def __init__(self, checks, verified, rounds=1):
        self.verification = Verification(tuple(checks))
        self.verified = verified
        self.rounds = rounds


def test_the_verdict_line_names_rounds_and_checks():
    verdict = verdict_markup(_Result([_check("parse", "passed"), _check("tests", "failed", "1 failed in 0.2s")], False, 2))
    assert verdict == "[red]NOT verified[/] after 2 rounds: [green]✓[/] parse  [red]✗[/] tests (1 failed in 0.2 s)"


def _plain_terminal():
    from rich.console import Console

    term = Terminal(color=False)
    err = io.StringIO()
    term.__dict__["err"] = Console(file=err, no_color=True, width=120)
    term.__dict__["out"] = Console(file=io.StringIO(), no_color=True, width=120)
    return term, err


def test_a_failed_run_still_shows_what_it_cost():
    term, err = _plain_terminal()
    printer = StreamPrinter(term)
    printer(RequestDone(Usage(5300, 10, 0, 0, 0.02, 1, estimated=True), "interrupted"))
    printer(RequestDone(Usage(100, 20, 0, 0, 0.01, 1), "tool_use"))
    printer.stopped()
    line = err.getvalue()
    assert "spent before it stopped: 2 requests · 5,400 in · 30 out" in line and "$0.0300" in line
    assert "partly estimated" in line


def test_the_tests_line_comes_when_they_start_and_when_they_end():
    term, err = _plain_terminal()
    printer = StreamPrinter(term)
    printer(ToolRunning("run_tests", {}))
    printer(ToolFinished("run_tests", "", False, "", {}, "$ pytest -q  -> PASSED\n3 passed in 1.20s"))
    assert err.getvalue().splitlines() == ["  Tests: running the test suite…", "  Tests: 3 passed in 1.2 s"]


def test_retry_warnings_say_how_long_fba_waited():
    from agent.console.stream import retry_message
    from agent.llm.events import Retrying

    assert retry_message(Retrying(2, "HTTP 529", 1.25)) == "retrying (HTTP 529) after waiting 1.2 s, attempt 2"
    assert retry_message(Retrying(1, "HTTP 529")) == "retrying (HTTP 529), attempt 1"

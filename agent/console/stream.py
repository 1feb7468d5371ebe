"""Rendering a model run as it happens: the answer streams to stdout; tool lines, retries, a spinner
while nothing streams, and the usage/cost footer go to stderr (so `fba ask ... > answer.md`
captures only the answer)."""

from __future__ import annotations

import re

from agent.console import Terminal, escape
from agent.console.activity import Activity
from agent.llm.events import (
    Event,
    Redacted,
    RequestDone,
    RequestStarted,
    Retrying,
    StreamDiscarded,
    TextDelta,
    ToolFinished,
    ToolInputDelta,
    ToolRunning,
    ToolStarted,
)
from agent.types import Usage


class StreamPrinter:
    """An EventSink that prints events; call `finish()` at the end for the footer, or `stopped()`
    when the run ended in an error (its cost so far is shown all the same)."""

    def __init__(self, term: Terminal, stream_text: bool = True) -> None:
        self.term = term
        self.stream_text = stream_text
        self.redactions = 0
        self.usage = Usage()  # every request of this run, cancelled ones included
        self.activity = Activity(term.err, enabled=term.err.is_terminal and not term.quiet)
        self._mid_line = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._text(event.text)
        elif isinstance(event, RequestStarted):
            self.activity.start("waiting for the model")
        elif isinstance(event, ToolStarted):
            self._end_line()
            self.activity.start(f"the model is calling {event.name}")
        elif isinstance(event, ToolInputDelta):
            self.activity.streamed(event.chars)
        elif isinstance(event, ToolRunning):
            self._tool_running(event)
        elif isinstance(event, ToolFinished):
            self.activity.stop()
            self._end_line()
            if event.name != "ask_user" or event.is_error:  # the questions and answers were shown
                self._note(tool_markup(event))
        elif isinstance(event, RequestDone):
            self.activity.stop()
            self.usage += event.usage
        elif isinstance(event, StreamDiscarded):
            self._interrupt()
            self.term.warn(f"the answer was cut off ({event.reason}); the partial text above is void, resending")
        elif isinstance(event, Retrying):
            self._interrupt()
            self.term.warn(retry_message(event))
        elif isinstance(event, Redacted):
            self.redactions += event.count

    def _text(self, text: str) -> None:
        if not self.stream_text:
            self.activity.streamed(len(text))
            return
        self.activity.stop()
        self.term.write(text)
        self._mid_line = not text.endswith("\n")

    def _tool_running(self, event: ToolRunning) -> None:
        self.activity.stop()
        self._end_line()
        if event.name == "run_tests":
            self._note(f"[dim]  Tests: running {escape(str(event.input.get('args') or 'the test suite'))}…[/]")
            self.activity.start("running the tests in an isolated copy")
        elif event.name == "run_checks":
            self.activity.start("running the static checks")

    def _interrupt(self) -> None:
        self.activity.stop()
        self._end_line()

    def _note(self, markup: str) -> None:
        if not self.term.quiet:
            self.term.err.print(markup, highlight=False, soft_wrap=True)

    def _end_line(self) -> None:
        if self._mid_line:
            self.term.write("\n")
            self._mid_line = False

    def close(self) -> None:
        """Stop the spinner and end a half-written line."""
        self._interrupt()

    def finish(self, model: str, usage: Usage, stop_reason: str) -> None:
        """End the streamed answer; then the stop notice, redaction count and totals (not with --quiet)."""
        self.close()
        if stop_reason in STOP_NOTES:
            self.term.warn(STOP_NOTES[stop_reason])
        self._redaction_note()
        if not self.term.quiet:
            self.term.err.print(f"[dim]{escape(usage_line(model, usage))}[/]", highlight=False, soft_wrap=True)

    def stopped(self, model: str = "") -> None:
        """The run ended in an error or Ctrl-C: what it cost until then (it was billed)."""
        self.close()
        self._redaction_note()
        if self.usage.requests and not self.term.quiet:
            self.term.err.print(f"[dim]spent before it stopped: {escape(usage_line(model, self.usage))}[/]",
                                highlight=False, soft_wrap=True)

    def _redaction_note(self) -> None:
        if self.redactions:  # shown even with --quiet: the user should know what the model did not see
            plural = "s" if self.redactions != 1 else ""
            self.term.err.print(f"[yellow]note:[/] redacted {self.redactions} secret-looking value{plural} "
                                "before sending text to the model", highlight=False, soft_wrap=True)
            self.redactions = 0


STOP_NOTES = {
    "max_cost": "stopped: the next request would pass --max-cost",
    "max_turns": "stopped: too many model turns; the answer may be incomplete",
    "max_tokens": "stopped: the answer reached the output token limit",
    "refusal": "the model declined to answer",
}


def usage_line(model: str, usage: Usage) -> str:
    cost = f"${usage.cost_usd:.4f}" if usage.cost_known else "cost unknown (no price for this model)"
    estimated = " (partly estimated: a request was cut off before the API reported its usage)" if usage.estimated else ""
    return (f"{model + ' · ' if model else ''}{usage.requests} request{'s' if usage.requests != 1 else ''} · "
            f"{usage.input_tokens:,} in · {usage.output_tokens:,} out · "
            f"{usage.cache_creation_input_tokens:,} cache write · {usage.cache_read_input_tokens:,} cache read · "
            f"{cost}{estimated}")


def retry_message(event: Retrying) -> str:
    waited = "" if event.waited is None else f" after waiting {event.waited:.1f} s"
    return f"retrying ({event.reason}){waited}, attempt {event.attempt}"


# -- tool lines: what happened, not the raw arguments ------------------------------------------------

_NUMBERED_LINE = re.compile(r"^\s*\d+\t", re.MULTILINE)
_PYTEST_COUNTS = re.compile(
    r"(\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)"
    r"(?:, \d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?))*) in ([\d.]+)s")
_NO_TESTS = re.compile(r"no tests ran in ([\d.]+)s")


def tool_markup(event: ToolFinished) -> str:
    """One dim line for a tool call: `Update app/models.py (+7 -1)`; a failed call ends in a red ✗."""
    line = escape(tool_line(event.name, event.input, event.output, event.summary))
    if event.is_error:
        return f"[dim]  {line}[/] [red]✗ {escape(_first_line(event.error))}[/]"
    return f"[dim]  {line}[/]"


def tool_line(name: str, tool_input, output: str, summary: str = "") -> str:
    path = str(tool_input.get("path") or "")
    if name == "read_file":
        where = path + _line_range(tool_input)
        lines = len(_NUMBERED_LINE.findall(output))
        return f"Read {where} ({_count(lines, 'line')})" if output else f"Read {where}"
    if name == "edit_file":
        added, removed = changed_lines(str(tool_input.get("old_string") or ""), str(tool_input.get("new_string") or ""))
        return f"Update {path} (+{added} -{removed})"
    if name == "create_file":
        return f"Create {path} (+{len(str(tool_input.get('content') or '').splitlines())})"
    if name == "delete_file":
        return f"Delete {path}"
    if name == "list_files":
        pattern = f" {tool_input['pattern']}" if tool_input.get("pattern") else ""
        return f"List {path or '.'}{pattern} ({_listed(output, 'file')})"
    if name == "search":
        where = f" in {path}" if path else ""
        return f"Search {tool_input.get('pattern', '')!r}{where} ({_listed(output, 'match', 'matches')})"
    if name == "run_tests":
        return f"Tests: {summarize_tests(output)}"
    if name == "run_checks":
        return f"Checks: {_first_line(output)}"
    if name == "ask_user":
        return f"Asked {_count(len(tool_input.get('questions') or []), 'question')}"
    if name == "report_findings":
        return f"Reported {_count(len(tool_input.get('findings') or []), 'finding')}"
    return f"{name}({summary})"


def changed_lines(old: str, new: str) -> tuple[int, int]:
    """Lines added and removed when `old` becomes `new` (as a diff counts them)."""
    import difflib

    added = removed = 0
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        added += line.startswith("+ ")
        removed += line.startswith("- ")
    return added, removed


def summarize_tests(output: str) -> str:
    """pytest's summary (`12 passed in 3.1 s`), else the verdict fba wrote (PASSED, FAILED (exit 2))."""
    counts = _PYTEST_COUNTS.findall(output)
    if counts:
        summary, seconds = counts[-1]
        return f"{summary} in {float(seconds):.1f} s"
    empty = _NO_TESTS.findall(output)
    if empty:
        return f"no tests ran in {float(empty[-1]):.1f} s"
    verdict = re.search(r"-> (PASSED|TIMED OUT|FAILED \(exit \d+\))", output)
    return verdict.group(1).lower() if verdict else _first_line(output) or "no output"


def _line_range(tool_input) -> str:
    start, end = tool_input.get("start_line"), tool_input.get("end_line")
    if start is None and end is None:
        return ""
    return f":{start or 1}-{end}" if end is not None else f":{start}-"


def _count(number: int, word: str, plural: str = "") -> str:
    return f"{number} {word if number == 1 else plural or word + 's'}"


def _listed(output: str, word: str, plural: str = "") -> str:
    """How many entries a listing tool answered, in words ("3 files"): its `[...]` notes are no
    entries, and neither is its answer when there are none ("(no files)")."""
    plural = plural or word + "s"
    if output.startswith(f"(no {plural})"):
        return _count(0, word, plural)
    return _count(sum(1 for line in output.splitlines() if line and not line.startswith("[")), word, plural)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]

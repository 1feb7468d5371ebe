"""The terminal side of `fba chat`: reading messages, rendering answers and command results, and
the read -> command or answer -> show loop.

On a terminal, input goes through prompt_toolkit (the only module that imports it): history kept
in a file, Ctrl-R search, arrow keys, multi-line paste, Esc+Enter for a newline. Otherwise each
line of stdin is one message, so a session can be scripted. Answers stream as Markdown in a rich
Live view on a terminal and as plain text otherwise; tool calls show as one dim line each.

Ctrl-C while the agent answers cancels that answer (the session drops the turn) and the session
goes on; Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from agent.console import Terminal, escape
from agent.console.diff import ChangeConsole, print_diff, stats_lines
from agent.console.implement import ask_questions, print_report
from agent.console.review import print_review
from agent.console.stream import StreamPrinter, usage_line
from agent.errors import FbaError
from agent.llm.events import Event, Retrying, StreamDiscarded, TextDelta, ToolFinished
from agent.types import Usage
from agent.workflows.chat import ChatSession, Outcome, PendingView

PROMPT = "› "
LIVE_REFRESHES_PER_SECOND = 8


class LineReader:
    """The user's next message: prompt_toolkit on a terminal, a plain stdin line otherwise.
    Raises EOFError at the end (Ctrl-D) and KeyboardInterrupt for Ctrl-C at the prompt."""

    def __init__(self, interactive: bool, history_file: Path | None = None) -> None:
        self.interactive = interactive
        self._session = _prompt_session(history_file) if interactive else None

    def read(self) -> str:
        if self._session is not None:
            return self._session.prompt(PROMPT, prompt_continuation="  ")
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")


def _prompt_session(history_file: Path | None):
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event) -> None:  # Esc+Enter (or Alt+Enter): a new line instead of sending
        event.current_buffer.insert_text("\n")

    history = InMemoryHistory()
    if history_file is not None:
        try:
            history_file.parent.mkdir(parents=True, exist_ok=True)
            history = FileHistory(str(history_file))
        except OSError:
            pass  # no history file: this session's history is kept in memory only
    return PromptSession(history=history, key_bindings=bindings)


class ChatPrinter:
    """An EventSink for one answer: Markdown in a Live view on a terminal, else plain streaming."""

    def __init__(self, term: Terminal, live: bool) -> None:
        self.term = term
        self.live = live
        self._plain = StreamPrinter(term, stream_text=not live)
        self._text = ""
        self._view = None

    def __call__(self, event: Event) -> None:
        if self.live and isinstance(event, TextDelta):
            self._text += event.text
            self._live_view().update(self._markdown())
            return
        if self.live and isinstance(event, (ToolFinished, Retrying, StreamDiscarded)):
            self.close()  # what streamed so far stays on screen; the next text starts a new view
        self._plain(event)

    def _live_view(self):
        if self._view is None:
            from rich.live import Live

            self._view = Live(console=self.term.out, refresh_per_second=LIVE_REFRESHES_PER_SECOND,
                              vertical_overflow="visible")
            self._view.start()
        return self._view

    def _markdown(self):
        from rich.markdown import Markdown

        return Markdown(self._text)

    def close(self) -> None:
        """Stop the Live view (leaving its last rendering on screen)."""
        if self._view is not None:
            self._view.update(self._markdown(), refresh=True)
            self._view.stop()
            self._view = None
        self._text = ""

    def finish(self, model: str, usage: Usage, stop_reason: str) -> None:
        self.close()
        self._plain.finish(model, usage, stop_reason)


class ChatConsole(ChangeConsole):
    """The change flow's UI for chat: diff on stdout, summary and scope creep on stderr."""

    def scope_creep(self, notes: Sequence[str]) -> None:
        show_scope_creep(self.term, notes)


def show_scope_creep(term: Terminal, notes: Sequence[str]) -> None:
    if not notes:
        return
    term.err.print("[bold yellow]possible scope creep[/] (beyond what you asked):", soft_wrap=True)
    for note in notes:
        term.err.print(f"  [yellow]•[/] {escape(note)}", soft_wrap=True)


def show_pending(term: Terminal, view: PendingView) -> None:
    print_diff(term.out, view.diff)
    for line in stats_lines(view.stats):
        term.err.print(escape(line), style="bold" if not line.startswith("  ") else None, soft_wrap=True)
    show_scope_creep(term, view.scope_creep)


def show_outcome(term: Terminal, outcome: Outcome, model: str) -> None:
    if outcome.review is not None:
        print_review(term, outcome.review)
    if outcome.pending is not None:
        show_pending(term, outcome.pending)
    if outcome.usage is not None:
        term.out.print(escape(f"this session: {usage_line(model, outcome.usage)}"), soft_wrap=True)
    if not outcome.message:
        return
    if outcome.level == "error":
        term.error(outcome.message)
    elif outcome.level == "warn":
        term.warn(outcome.message)
    else:
        term.out.print(escape(outcome.message), soft_wrap=True, highlight=False)


class ChatLoop:
    """Reads messages and commands until the user leaves; one `ChatSession` does the work."""

    def __init__(self, session: ChatSession, term: Terminal, reader: LineReader) -> None:
        self.session = session
        self.term = term
        self.reader = reader
        self.ui = ChatConsole(term)

    def run(self) -> None:
        self._banner()
        try:
            while self._step():
                pass
        except BaseException as exc:
            self.session.close(exc)
            raise
        self.session.close()
        pending = len(self.session.workspace.snapshot().files)
        if pending:
            self.term.warn(f"left with pending changes to {pending} file(s) not applied; they are dropped")

    def _banner(self) -> None:
        session = self.session
        resumed = f" · resumed {session.session_id} ({session.turns} turns)" if session.messages else ""
        self.term.info(f"fba chat · {session.persona.name} · {session.model}{resumed} · /help for commands, Ctrl-D to leave")

    def _step(self) -> bool:
        """One message or command; False when the user leaves."""
        try:
            line = self.reader.read()
        except KeyboardInterrupt:
            return True  # Ctrl-C at the prompt: a fresh line
        except EOFError:
            return False
        if not line.strip():
            return True
        message, task = line, True
        if line.lstrip().startswith("/"):
            outcome = self._command(line)
            if outcome.leave:
                return False
            message, task = outcome.send, outcome.task
            if outcome.implement:
                self._implement(outcome.implement)
        if message:
            self._answer(message, task)
        return True

    def _command(self, line: str) -> Outcome:
        try:
            outcome = self.session.command(line, self.ui)
        except KeyboardInterrupt:
            return Outcome("cancelled", "warn")
        show_outcome(self.term, outcome, self.session.model)
        return outcome

    def _answer(self, message: str, task: bool) -> None:
        printer = ChatPrinter(self.term, live=self.term.interactive)
        try:
            turn = self.session.send(message, printer, task)
        except KeyboardInterrupt:
            printer.close()
            self.term.warn("cancelled: that answer is dropped; the session goes on")
            return
        except FbaError as exc:
            printer.close()
            self.term.error(str(exc))
            return
        printer.finish(self.session.model, turn.usage, turn.stop_reason)
        if turn.trimmed:
            self.term.warn(f"the conversation outgrew the context window: its {turn.trimmed} earliest turn(s) "
                           "were left out and summarised in a short note")
        if turn.changed:
            self._offer_changes()

    def _implement(self, spec: str) -> None:
        printer = ChatPrinter(self.term, live=self.term.interactive)
        ask = (lambda questions: ask_questions(self.term, questions)) if self.ui.interactive else None
        try:
            result = self.session.implement(spec, printer, ask)
        except KeyboardInterrupt:
            printer.close()
            self.term.warn("cancelled: nothing from that run is kept; the session goes on")
            return
        except FbaError as exc:
            printer.close()
            self.term.error(str(exc))
            return
        printer.finish(result.model, result.usage, result.stop_reason)
        print_report(self.term, result)
        for question in result.questions:
            self.term.warn(f"the agent asks: {question['question']}")
        if result.changeset:
            self._offer_changes()

    def _offer_changes(self) -> None:
        """End of a turn that changed the pending set: show it; on a terminal, offer to apply."""
        if not self.ui.interactive:
            view = self.session.pending_view()
            if view is not None:
                show_pending(self.term, view)
            self.term.info("pending changes: /apply writes them, /discard drops them, /diff shows them")
            return
        try:
            result = self.session.apply(self.ui, yes=False)
        except FbaError as exc:
            self.term.error(str(exc))
            return
        if not result.applied:
            self.term.info("the changes stay pending: /apply, /diff, /discard")

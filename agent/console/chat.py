"""The terminal side of `fba chat`: reading messages, rendering answers and command results, and
the read -> command or answer -> show loop.

On a terminal, input goes through prompt_toolkit (the only module that imports it): history kept
in a file, Ctrl-R search, arrow keys, multi-line paste, Esc+Enter for a newline. Otherwise each
line of stdin is one message, so a session can be scripted. On a terminal answers are printed as
Markdown block by block as each block ends (never repainted, so the scrollback holds one copy),
with a transient spinner region below; otherwise they stream as plain text. Tool calls show as one
dim line each saying what happened (`Update app/models.py (+7 -1)`).

Ctrl-C while the agent answers cancels that answer (the session drops the turn) and the session
goes on; Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from agent.console import Terminal, escape, safe
from agent.console.diff import ChangeConsole, print_diff, stats_lines
from agent.console.implement import ask_questions, print_report
from agent.console.review import print_review
from agent.console.activity import Activity
from agent.console.live_region import LiveRegion
from agent.console.stream import StreamPrinter, usage_line
from agent.errors import FbaError
from agent.llm.events import Event, RequestStarted, TextDelta, ToolInputDelta, ToolRunning, ToolStarted
from agent.types import Usage
from agent.workflows.chat import ChatSession, Outcome, PendingView, is_turn_start

PROMPT = "› "
LIVE_REFRESHES_PER_SECOND = 8
TAIL_LINES = 6  # lines of the unfinished block shown below the printed ones
RESUMED_TURNS = 3  # earlier turns shown when a conversation is resumed
RESUMED_CHARS = 200
T = TypeVar("T")


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


class DeferredInterrupt:
    """Ctrl-C while the screen is being written is held until the write ends: a KeyboardInterrupt
    raised in the middle of rich's output would leave its buffer to be written again (a duplicated
    line). Python runs signal handlers in the main thread, between writes when this is installed."""

    def __init__(self) -> None:
        self._writing = False
        self._pending = False

    @contextmanager
    def installed(self):
        import signal

        try:
            previous = signal.signal(signal.SIGINT, self._on_interrupt)
        except ValueError:  # not the main thread: nothing to defer
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_interrupt(self, signum, frame) -> None:
        if self._writing:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def writing(self):
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt


class ChatPrinter:
    """An EventSink for one answer. On a terminal the answer is Markdown printed block by block as
    each block ends, once and never repainted; below it a transient region (erased when it stops,
    so nothing of it stays in the scrollback) shows the last lines of the unfinished block and a
    spinner with the elapsed time and tokens so far. Otherwise the text streams plain."""

    def __init__(self, term: Terminal, live: bool) -> None:
        self.term = term
        self.live = live
        self._plain = StreamPrinter(term, stream_text=not live)
        if live:
            self._plain.activity.enabled = False  # one live region at a time: this printer's
        self._pending = ""  # the unfinished Markdown block
        self._printed = 0  # blocks printed in this answer
        self._status = Activity(term.out, enabled=False)  # only its label: this printer draws
        self._view = None
        self.interrupts = DeferredInterrupt()

    @property
    def usage(self) -> Usage:
        return self._plain.usage

    def __call__(self, event: Event) -> None:
        with self.interrupts.writing():
            self._render(event)

    def _render(self, event: Event) -> None:
        if not self.live:
            self._plain(event)
        elif isinstance(event, TextDelta):
            self._text(event.text)
        elif isinstance(event, RequestStarted):
            self._show("waiting for the model")
        elif isinstance(event, ToolStarted):
            self._flush()
            self._show(f"the model is calling {event.name}")
        elif isinstance(event, ToolInputDelta):
            self._status.streamed(event.chars)
        else:
            self._flush()
            self._hide()  # a line on stderr comes next: the region must be gone first
            self._plain(event)
            if isinstance(event, ToolRunning) and event.name == "run_tests":
                self._show("running the tests in an isolated copy")

    def _text(self, text: str) -> None:
        if self._view is None or not self._status.what.startswith("the model is answering"):
            self._show("the model is answering")
        self._status.streamed(len(text))
        finished, self._pending = split_finished(self._pending + text)
        if finished:
            self._print_block(finished)

    def _flush(self) -> None:
        """Print the unfinished block as it is (the model moved on to a tool call, or ended)."""
        if self._pending.strip():
            self._print_block(self._pending)
        self._pending = ""

    def _print_block(self, text: str) -> None:
        from rich.markdown import Markdown

        print_ = self._view.print if self._view is not None else self.term.out.print
        if self._printed:
            print_()
        print_(Markdown(safe(text.strip("\n"))))
        self._printed += 1

    def _show(self, what: str) -> None:
        self._status.start(what)
        if self._view is None:
            self._view = LiveRegion(self.term.out, self._region, LIVE_REFRESHES_PER_SECOND, vertical_overflow="crop")
            self._view.start()

    def _hide(self) -> None:
        if self._view is not None:
            self._view.stop()
            self._view = None

    def _region(self):
        """The last lines of the unfinished block (cut to the width) and the spinner line."""
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        if self._spinner is None:
            self._spinner = Spinner("dots", style="cyan")
        self._spinner.update(text=Text(self._status.label(), style="dim"))
        room = max(0, min(TAIL_LINES, self.term.out.height - 2))
        tail = self._pending.rstrip("\n").splitlines()[-room:] if room and self._pending.strip() else []
        lines = [Text(safe(line), no_wrap=True) for line in tail]
        for line in lines:  # never the full width: a line ending in the last column leaves some
            line.truncate(self.term.out.width - 1, overflow="ellipsis")  # terminals a row off
        return Group(*lines, self._spinner)

    _spinner = None

    def close(self) -> None:
        """Stop the region (erasing it); an unfinished block is dropped with its cancelled answer."""
        with self.interrupts.writing():
            self._hide()
            self._pending = ""
            self._plain.close()

    def finish(self, model: str, usage: Usage, stop_reason: str) -> None:
        with self.interrupts.writing():
            self._flush()
            self._hide()
            self._plain.finish(model, usage, stop_reason)

    def stopped(self) -> None:
        """The answer failed or was cancelled: erase the region, show what it cost until then."""
        self.close()
        self._plain.stopped()


def split_finished(text: str) -> tuple[str, str]:
    """`text` cut after its last finished Markdown block: a blank line outside a code fence, or
    a closing fence. Returns (finished blocks, the unfinished rest)."""
    in_fence, cut, position = False, 0, 0
    for line in text.splitlines(keepends=True):
        position += len(line)
        if not line.endswith("\n"):
            break  # a line still streaming
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            if not in_fence:
                cut = position
        elif not stripped and not in_fence:
            cut = position
    return text[:cut], text[cut:]


@contextmanager
def keys_not_echoed(stream=None):
    """While the agent answers, keys typed (and Ctrl-C's `^C`) are not echoed: echo would write
    into the live region and break the screen. They stay buffered for the next prompt (type-ahead)."""
    stream = stream or sys.stdin
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)  # TCSANOW keeps the type-ahead


def earlier_turns(messages, count: int) -> list[tuple[str, str]]:
    """The last `count` turns of a conversation: (what the user asked, the text the agent answered)."""
    turns: list[tuple[str, str]] = []
    for message in messages:
        if is_turn_start(message):
            turns.append((_text_of(message), ""))
        elif message["role"] == "assistant" and turns and _text_of(message):
            question, answer = turns[-1]
            turns[-1] = (question, f"{answer}\n{_text_of(message)}".strip())
    return turns[-count:]


def _text_of(message) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if b.get("type") == "text").strip()


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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
        if session.messages:
            self._earlier_turns()
        # Wrapped at word boundaries (never mid-word on a narrow terminal).
        self.term.err.print(escape(f"fba chat · {session.persona.name} · {session.model}{resumed} · "
                                   "/help for commands, Ctrl-D to leave"), style="dim", highlight=False)

    def _earlier_turns(self) -> None:
        """The last turns of a resumed conversation, shortened, so the user sees where it stopped."""
        turns = earlier_turns(self.session.messages, RESUMED_TURNS)
        self.term.err.print(f"[dim]… the last {len(turns)} turn(s) of the earlier conversation:[/]", highlight=False)
        for question, answer in turns:
            self.term.err.print(f"[bold]{PROMPT}[/]{escape(_shorten(question, RESUMED_CHARS))}", highlight=False)
            if answer:
                self.term.err.print(escape(_shorten(answer, RESUMED_CHARS * 2)), style="dim", highlight=False)
        self.term.err.print()

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

    def _run(self, printer: ChatPrinter, run: Callable[[], T], dropped: str) -> T | None:
        """`run()`, or None when Ctrl-C or an error ended it: the printer stops, the user reads what
        happened (`dropped` on Ctrl-C) and the session goes on."""
        try:
            return run()
        except KeyboardInterrupt:
            printer.stopped()
            self.term.warn(f"cancelled: {dropped}; the session goes on")
        except FbaError as exc:
            printer.stopped()
            self.term.error(str(exc))
        return None

    def _answer(self, message: str, task: bool) -> None:
        printer = ChatPrinter(self.term, live=self.term.interactive)

        def send():
            with keys_not_echoed() if self.term.interactive else nullcontext(), printer.interrupts.installed():
                return self.session.send(message, printer, task)

        turn = self._run(printer, send, "that answer is dropped")
        if turn is None:
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
        result = self._run(printer, lambda: self.session.implement(spec, printer, ask),
                           "nothing from that run is kept")
        if result is None:
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

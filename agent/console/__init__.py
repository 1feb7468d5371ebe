"""The terminal edge: the only place that imports rich.

`Terminal` owns two rich consoles (stdout for results, stderr for progress, warnings and errors).
Colour follows rich's rules: off when not a TTY, off with NO_COLOR, forced with FORCE_COLOR.
Topic modules (review output, diffs, chat) live beside this one and take a `Terminal`.

Only text reaches the terminal: everything printed that fba did not write itself (model output,
tool results, file contents, diffs, paths) goes through `agent.textformats.printable` on the way,
in `escape` (text inside rich markup), `safe` (plain text) or `Terminal.write` (raw output).
"""

from __future__ import annotations

import os
import sys
from functools import cached_property

from agent.textformats import printable


PIPED_WIDTH = 200


def _is_tty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Terminal:
    """stdout/stderr consoles plus the run's verbosity."""

    def __init__(self, quiet: bool = False, color: bool | None = None) -> None:
        self.quiet = quiet
        self._color = color

    def _make(self, stream):
        from rich.console import Console

        no_color = self._color is False or "NO_COLOR" in os.environ
        # Piped output (CI logs, files) is not wrapped at rich's default 80 columns.
        width = None if _is_tty(stream) or "COLUMNS" in os.environ else PIPED_WIDTH
        return Console(file=stream, no_color=no_color, highlight=False, soft_wrap=False,
                       force_terminal=True if self._color else None, width=width)

    @cached_property
    def out(self):
        return self._make(sys.stdout)

    @cached_property
    def err(self):
        return self._make(sys.stderr)

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stdout.isatty()

    def write(self, text: str) -> None:
        """Raw text to stdout (machine formats: no markup, no wrapping), control characters made visible."""
        sys.stdout.write(printable(text))
        sys.stdout.flush()

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line, never wrapped

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(escape(message), style="dim", soft_wrap=True)

    def table(self, columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
        from rich.table import Table

        table = Table(title=title, show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(str(c)) for c in row))
        self.out.print(table)

    def markdown(self, text: str) -> None:
        from rich.markdown import Markdown

        self.out.print(Markdown(printable(text)))

    def confirm(self, question: str, default: bool = False) -> bool:
        from rich.prompt import Confirm

        return Confirm.ask(safe(question), default=default, console=self.err)


def escape(text: str) -> str:
    """`text` for rich markup: markup escaped, control characters made visible."""
    from rich.markup import escape as rich_escape

    return rich_escape(printable(text))


def safe(text: str) -> str:
    """`text` for the terminal outside markup (rich `Text`, Markdown): control characters made visible."""
    return printable(text)

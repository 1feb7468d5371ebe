"""A sign of life while fba waits: one transient spinner line on stderr with what it waits for, the
elapsed time and, while the model streams something not shown (a tool call's input, a review's
report), about how many tokens came so far. Only on a terminal, never with --quiet; it erases
itself, so nothing of it stays in the scrollback."""

from __future__ import annotations

import time

from agent.console.live_region import LiveRegion

CHARS_PER_TOKEN = 4  # about what the API counts for English text and code
REFRESHES_PER_SECOND = 10


class Activity:
    """`start(what)` shows the spinner (replacing any text it had), `stop()` erases it."""

    def __init__(self, console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.what = ""
        self.started = 0.0
        self.chars = 0
        self._live = None
        self._spinner = None

    @property
    def active(self) -> bool:
        return self._live is not None

    def start(self, what: str) -> None:
        self.what, self.started, self.chars = what, time.monotonic(), 0
        if not self.enabled or self._live is not None:
            return
        from rich.spinner import Spinner

        self._spinner = Spinner("dots", style="cyan")
        self._live = LiveRegion(self.console, self._render, REFRESHES_PER_SECOND)
        self._live.start()

    def streamed(self, chars: int) -> None:
        self.chars += chars

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def label(self) -> str:
        elapsed = time.monotonic() - self.started
        tokens = f" · ~{self.chars // CHARS_PER_TOKEN + 1:,} tokens" if self.chars else ""
        return f"{self.what} · {elapsed:.1f} s{tokens}"

    def _render(self):
        from rich.text import Text

        self._spinner.update(text=Text(self.label(), style="dim"))
        return self._spinner

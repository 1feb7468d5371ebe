"""A transient region at the bottom of the terminal (spinner, the tail of a streaming answer) that
prints above it can never tear.

Rich's `Live` refreshes from its own thread, writing under the Live's lock. A `console.print`
from the main thread computes its output under that lock (erase the region, the text, the region
again) but writes it after releasing it, so a refresh that lands in between is written first and
the erase happens in the wrong place: a spinner line stays in the scrollback and a printed line
is overwritten. It shows on a loaded machine. Here one lock covers each refresh and each print
from computing to writing."""

from __future__ import annotations

import threading
from typing import Callable


class LiveRegion:
    """`start()` shows `render()` below the printed text, refreshed `refreshes` times a second;
    `print(...)` prints above it; `stop()` erases it."""

    def __init__(self, console, render: Callable[[], object], refreshes: float, **options) -> None:
        from rich.live import Live

        self.console = console
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._period = 1 / refreshes
        self._live = Live(console=console, get_renderable=render, transient=True, auto_refresh=False,
                          redirect_stdout=False, redirect_stderr=False, **options)
        self._ticker = threading.Thread(target=self._tick, name="fba-live-region", daemon=True)

    def start(self) -> None:
        with self._lock:
            self._live.start()
        self._ticker.start()

    def print(self, *renderables) -> None:
        with self._lock:
            self.console.print(*renderables)

    def stop(self) -> None:
        self._stopped.set()
        if self._ticker.is_alive() and self._ticker is not threading.current_thread():
            self._ticker.join()
        with self._lock:
            self._live.stop()

    def _tick(self) -> None:
        while not self._stopped.wait(self._period):
            with self._lock:
                if not self._stopped.is_set():
                    self._live.refresh()

"""Review progress on stderr: stage, files done / total and elapsed time, for long runs only.

The bar is transient (gone when the review ends) and refreshed by the caller's updates rather
than a background thread, so no thread is alive while the review forks its worker processes.
"""

from __future__ import annotations

import time

from agent.console import Terminal

MIN_FILES = 50  # fewer files finish before a bar would be worth drawing
REFRESH_SECONDS = 0.1


class ReviewProgress:
    """A callable `(stage, done, total)` that draws a rich progress bar; use as a context manager."""

    def __init__(self, term: Terminal, min_files: int = MIN_FILES) -> None:
        self._term = term
        self._min_files = min_files
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._last_refresh = 0.0

    def __enter__(self) -> "ReviewProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total < self._min_files:
            return
        progress = self._progress or self._start()
        if stage not in self._tasks:
            self._tasks[stage] = progress.add_task(stage, total=total)
        progress.update(self._tasks[stage], completed=done)
        now = time.monotonic()
        if done == total or now - self._last_refresh >= REFRESH_SECONDS:
            self._last_refresh = now
            progress.refresh()

    def _start(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TimeElapsedColumn(),
            console=self._term.err,
            transient=True,
            auto_refresh=False,
        )
        self._progress.start()
        return self._progress

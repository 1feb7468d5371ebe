"""Where a review pass runs: in this process for small inputs, in worker processes
(`parallel.WorkerPool`) once the input is big enough to pay for them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

if TYPE_CHECKING:
    from agent.analysis.analyzer import FactsEntry, FindingsEntry, IndexInputs, SourceFile
    from agent.analysis.index import ProjectIndex
    from agent.analysis.rules.base import Rule

# Measured on open-webui files (2 cores): workers break even around 1.5k lines of source (fork,
# shipping the index and results ~30 ms) and halve the time from ~5k lines; below this (not
# counting the largest file, which one worker takes alone), one process.
MIN_PARALLEL_CHARS = 150_000
Progress = Callable[[str, int, int], None]


class Passes:
    """Runs a pass in this process or in worker processes, whichever is cheaper for its size.

    Worker start-up costs more than it saves on a few thousand lines, so small passes stay here;
    once workers exist (the facts pass was big) the findings pass uses them too, because they
    hold the parse trees.
    """

    def __init__(self, jobs: int | None, progress: Progress | None) -> None:
        self.jobs = jobs if jobs is not None else cpu_count()
        self.progress = progress
        from agent.analysis.analyzer import Analyzer

        self._local = Analyzer()
        self._pool = None  # a parallel.WorkerPool once a pass is big enough

    def __enter__(self) -> "Passes":
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if self._pool is not None:
            self._pool.close(abort=exc_type is not None)
        self._local.release()

    def _use_pool(self, files: Sequence[SourceFile]) -> bool:
        # What can run beside the largest file: one big file plus a small one (a touched module
        # and the big `main.py` importing it) gains nothing from workers that must parse again.
        sizes = [len(f.text) for f in files]
        big = len(sizes) > 1 and sum(sizes) - max(sizes) >= MIN_PARALLEL_CHARS
        if self._pool is None and self.jobs > 1 and big:
            from agent.analysis import parallel
            from agent.analysis.rules import all_rules

            all_rules()  # imported before the fork: workers inherit the rule modules instead of each importing them
            self._pool = parallel.WorkerPool(min(self.jobs, len(files)), files)
        return self._pool is not None

    def _ticker(self, stage: str, total: int) -> Callable[[], None]:
        done = 0
        progress = self.progress

        def tick() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(stage, done, total)

        if progress is not None and total:
            progress(stage, 0, total)
        return tick

    def facts(self, files: Sequence[SourceFile]) -> dict[str, FactsEntry]:
        tick = self._ticker("indexing", len(files))
        if self._use_pool(files):
            return self._pool.facts(files, tick)
        results = {}
        for file in files:
            results[file.path] = self._local.facts(file)
            tick()
        return results

    def findings(
        self,
        files: Sequence[SourceFile],
        inputs: Callable[[], IndexInputs],
        index: Callable[[], ProjectIndex],
        rules: Sequence[Rule],
        severity: Mapping[str, str],
    ) -> dict[str, FindingsEntry]:
        """Findings of `files`; workers build the index from `inputs()`, this process uses `index()`."""
        tick = self._ticker("checking", len(files))
        if files and self._use_pool(files):
            return self._pool.findings(files, inputs(), rules, severity, tick)
        self._local.prepare(index(), rules, severity)
        results = {}
        for file in files:
            results[file.path] = self._local.findings(file)
            tick()
        return results


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

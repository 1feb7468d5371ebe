"""Run the two review passes in worker processes (the GIL rules out threads for `ast` work).

Each worker owns an `Analyzer`, so the trees it parsed in the facts pass stay where the findings
pass needs them: findings work goes back to the worker that holds the file's tree, and the
project index is sent to every worker once, before its findings work. Facts work is handed out
in chunks as workers become free (balances uneven files). Results are keyed by path; the caller
sorts, so output does not depend on which worker finished first.

Workers are forked on Linux (no re-import, cheap start) and spawned elsewhere. The main process only ever sends to a worker that waits for a command, so the pipes
cannot deadlock.
"""

from __future__ import annotations

import gc
import pickle
import sys
import traceback
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from agent.analysis.analyzer import Analyzer, FactsEntry, FindingsEntry, SourceFile
from agent.analysis.index import ProjectIndex
from agent.analysis.rules.base import Rule

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

Done = Callable[[], None]
CHUNKS_PER_WORKER = 4


class WorkerError(RuntimeError):
    """A worker crashed (a bug in a rule or the engine); carries the worker's traceback."""


def _serve(conn: Connection) -> None:
    """Worker loop: answer commands until told to stop or the main process goes away."""
    gc.disable()  # short-lived process holding many AST nodes: collections only cost time
    analyzer = Analyzer()
    while True:
        try:
            command, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if command == "stop":
                return
            if command == "prepare":
                analyzer.prepare(*pickle.loads(payload))
                continue
            work = analyzer.facts if command == "facts" else analyzer.findings
            for source in payload:
                conn.send(("result", source.path, work(source)))
            conn.send(("idle", None, None))
        except Exception:  # noqa: BLE001 - report any crash to the main process, which raises it
            conn.send(("error", None, traceback.format_exc()))
            return


class WorkerPool:
    """`jobs` worker processes running the facts and findings passes."""

    def __init__(self, jobs: int) -> None:
        import multiprocessing  # here, not at import time: small reviews never start workers

        # fork is cheap (no re-import) and safe on Linux; macOS and Windows spawn.
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self._conns: list[Connection] = []
        self._processes = []
        for _ in range(max(1, jobs)):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child,), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)
        self._holder: dict[str, int] = {}

    def facts(self, sources: Sequence[SourceFile], done: Done) -> dict[str, FactsEntry]:
        size = max(1, len(sources) // (len(self._conns) * CHUNKS_PER_WORKER))
        chunks = [list(sources[i : i + size]) for i in range(0, len(sources), size)]
        chunks.reverse()
        results: dict[str, FactsEntry] = {}

        def feed(worker: int) -> bool:
            if not chunks:
                return False
            chunk = chunks.pop()
            self._conns[worker].send(("facts", chunk))
            for source in chunk:
                self._holder[source.path] = worker
            return True

        busy = {worker for worker in range(len(self._conns)) if feed(worker)}
        self._collect(busy, results, done, on_idle=feed)
        return results

    def findings(
        self,
        sources: Sequence[SourceFile],
        index: ProjectIndex,
        rules: Sequence[Rule],
        severity: Mapping[str, str],
        done: Done,
    ) -> dict[str, FindingsEntry]:
        shared = pickle.dumps((index, tuple(rules), dict(severity)), protocol=pickle.HIGHEST_PROTOCOL)
        plan = self._plan(sources)
        busy = set()
        for worker, assigned in enumerate(plan):
            self._conns[worker].send(("prepare", shared))
            if assigned:
                self._conns[worker].send(("findings", assigned))
                busy.add(worker)
        results: dict[str, FindingsEntry] = {}
        self._collect(busy, results, done, on_idle=lambda worker: False)
        return results

    def _plan(self, sources: Sequence[SourceFile]) -> list[list[SourceFile]]:
        """Files to the worker holding their tree; the rest, largest first, to the least loaded."""
        plan: list[list[SourceFile]] = [[] for _ in self._conns]
        load = [0] * len(self._conns)
        rest = []
        for source in sources:
            worker = self._holder.get(source.path)
            if worker is None:
                rest.append(source)
            else:
                plan[worker].append(source)
                load[worker] += len(source.text)
        for source in sorted(rest, key=lambda s: (-len(s.text), s.path)):
            worker = load.index(min(load))
            plan[worker].append(source)
            load[worker] += len(source.text)
        return plan

    def _collect(self, busy: set[int], results: dict, done: Done, on_idle: Callable[[int], bool]) -> None:
        from multiprocessing.connection import wait

        by_conn = {self._conns[worker]: worker for worker in busy}
        while by_conn:
            for conn in wait(list(by_conn)):
                worker = by_conn[conn]
                try:
                    kind, path, value = conn.recv()
                except (EOFError, OSError):
                    raise WorkerError("a review worker process died") from None
                if kind == "error":
                    raise WorkerError(f"review worker failed:\n{value}")
                if kind == "result":
                    results[path] = value
                    done()
                elif not on_idle(worker):
                    del by_conn[conn]

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(("stop", None))
            except OSError:
                pass
        for process in self._processes:
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()
        for conn in self._conns:
            conn.close()

"""Run the two review passes in worker processes (the GIL rules out threads for `ast` work).

Each worker owns an `Analyzer`, so the trees and facts it made in the facts pass stay where the
findings pass needs them: findings work is queued on the worker that holds the file's tree, and
every worker builds the project index itself before its findings work, from its own facts and
the other workers' facts results, forwarded as the bytes they sent (no pickling of the index). Each worker's queue is
handed out largest file first in shrinking chunks, and a worker that runs dry takes the smallest
files of the fullest queue, so uneven files do not leave a core idle at the end. Results are
keyed by path; the caller sorts, so output does not depend on which worker finished first.

Workers are forked on Linux (no re-import, cheap start, and the files' texts are inherited: work
names them by path instead of sending megabytes through the pipes) and spawned elsewhere. The main process
only ever sends to a worker that waits for a command, so the pipes cannot deadlock.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from agent.analysis.analyzer import Analyzer, FactsEntry, FindingsEntry, IndexInputs, SourceFile
from agent.analysis.rules.base import Rule

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

Done = Callable[[], None]
CHUNKS_PER_WORKER = 4


class WorkerError(RuntimeError):
    """A worker crashed (a bug in a rule or the engine); carries the worker's traceback."""


def _serve(conn: Connection, known: dict[str, SourceFile]) -> None:
    """Worker loop: answer commands until told to stop or the main process goes away. Work names
    a file by path when this worker already has it (`known`: inherited at the fork, or sent before)."""
    gc.disable()  # short-lived process holding many AST nodes: collections only cost time
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    analyzer = Analyzer()
    while True:
        try:
            command, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if command == "stop":
                # Exit at once: an orderly return would free every tree and the index object
                # by object (~0.1 s on a large project) while the main process waits to join.
                conn.close()
                os._exit(0)
            if command == "prepare":
                paths, forwarded, given, settings, rules, severity = pickle.loads(payload)
                others = dict(given)
                for message in forwarded:  # facts results the other workers sent, as they sent them
                    _, path, entry = pickle.loads(message)
                    others[path] = entry.facts
                analyzer.prepare_from_facts(paths, others, settings, rules, severity)
                continue
            work = analyzer.facts if command == "facts" else analyzer.findings
            for item in payload:
                source = known[item] if isinstance(item, str) else known.setdefault(item.path, item)
                conn.send(("result", source.path, work(source)))
            conn.send(("idle", None, None))
        except Exception:  # noqa: BLE001 - report any crash to the main process, which raises it
            conn.send(("error", None, traceback.format_exc()))
            return


class WorkerPool:
    """`jobs` worker processes running the facts and findings passes."""

    def __init__(self, jobs: int, sources: Sequence[SourceFile] = ()) -> None:
        """`sources`: the files the passes will name. Forked workers inherit them, so work names
        them by path instead of sending megabytes of text through the pipes; spawned workers
        receive each file with its first piece of work."""
        import multiprocessing  # here, not at import time: small reviews never start workers

        # fork is cheap (no re-import) and safe on Linux; macOS and Windows spawn.
        forked = sys.platform.startswith("linux")
        context = multiprocessing.get_context("fork" if forked else "spawn")
        inherited = {source.path: source for source in sources} if forked else {}
        self._conns: list[Connection] = []
        self._processes = []
        for _ in range(max(1, jobs)):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, inherited), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)
        self._has: list[set[str]] = [set(inherited) for _ in self._conns]  # the files each worker knows
        self._holder: dict[str, int] = {}  # path -> the worker that parsed it (holds its tree and facts)
        self._facts_messages: dict[str, bytes] = {}  # path -> its facts result, as its worker sent it

    def facts(self, sources: Sequence[SourceFile], done: Done) -> dict[str, FactsEntry]:
        results: dict[str, FactsEntry] = {}
        self._run("facts", self._plan(sources, {}), results, done)
        return results

    def findings(
        self,
        sources: Sequence[SourceFile],
        inputs: IndexInputs,
        rules: Sequence[Rule],
        severity: Mapping[str, str],
        done: Done,
    ) -> dict[str, FindingsEntry]:
        """Each worker builds the project index from `inputs` (its own facts, the others' facts
        forwarded as sent), then checks its share of `sources`."""
        paths = tuple(facts.path for facts in inputs.facts)
        known = {f.path: f for f in inputs.facts if f.path not in self._facts_messages}  # e.g. from the cache
        settings = (inputs.auth_dependencies, inputs.public_routes, inputs.runtime)
        payloads = []
        for worker in range(len(self._conns)):
            forwarded = [message for path, message in self._facts_messages.items() if self._holder[path] != worker]
            payloads.append(pickle.dumps((paths, forwarded, known, settings, tuple(rules), dict(severity)),
                                         protocol=pickle.HIGHEST_PROTOCOL))
        # All workers at once: a send blocks until its worker has read it (megabytes through a
        # pipe), and one after the other the last worker would start checking late.
        senders = [threading.Thread(target=conn.send, args=(("prepare", payload),))
                   for conn, payload in zip(self._conns, payloads)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        results: dict[str, FindingsEntry] = {}
        self._run("findings", self._plan(sources, self._holder), results, done)
        return results

    def _plan(self, sources: Sequence[SourceFile], holder: Mapping[str, int]) -> list[list[SourceFile]]:
        """A queue per worker, largest file first: files go to the worker holding their tree,
        the rest to the least loaded one (size stands in for cost)."""
        queues: list[list[SourceFile]] = [[] for _ in self._conns]
        load = [0] * len(self._conns)
        for source in sorted(sources, key=lambda s: (s.path not in holder, -len(s.text), s.path)):
            worker = holder.get(source.path, load.index(min(load)))
            queues[worker].append(source)
            load[worker] += len(source.text)
        for queue in queues:
            queue.sort(key=lambda s: (-len(s.text), s.path))
        return queues

    def _run(self, command: str, queues: list[list[SourceFile]], results: dict, done: Done) -> None:
        """Hand out each worker's queue in shrinking chunks; an idle worker with an empty queue
        takes the smallest files of the fullest one (re-parsing beats waiting)."""

        def feed(worker: int) -> bool:
            queue = queues[worker]
            if queue:
                size = max(1, len(queue) // CHUNKS_PER_WORKER)
                chunk, queues[worker] = queue[:size], queue[size:]
            else:
                victim = max(range(len(queues)), key=lambda w: len(queues[w]))
                stolen = len(queues[victim]) // 2
                if not stolen:
                    return False
                chunk, queues[victim] = queues[victim][-stolen:], queues[victim][:-stolen]
            has = self._has[worker]
            self._conns[worker].send((command, [s.path if s.path in has else s for s in chunk]))
            has.update(s.path for s in chunk)
            if command == "facts":
                self._holder.update((source.path, worker) for source in chunk)
            return True

        busy = {worker for worker in range(len(self._conns)) if feed(worker)}
        self._collect(busy, results, done, feed, self._facts_messages if command == "facts" else None)

    def _collect(self, busy: set[int], results: dict, done: Done, feed: Callable[[int], bool],
                 messages: dict[str, bytes] | None) -> None:
        """Receive results until every worker is idle with nothing left to feed it; `messages`
        keeps each result's bytes by path (the facts pass: forwarded to the other workers)."""
        from multiprocessing.connection import wait

        by_conn = {self._conns[worker]: worker for worker in busy}
        while by_conn:
            for conn in wait(list(by_conn)):
                worker = by_conn[conn]
                try:
                    message = conn.recv_bytes()
                except (EOFError, OSError):
                    raise WorkerError("a review worker process died") from None
                kind, path, value = pickle.loads(message)
                if kind == "error":
                    raise WorkerError(f"review worker failed:\n{value}")
                if kind == "result":
                    results[path] = value
                    if messages is not None and value.facts is not None:
                        messages[path] = message
                    done()
                elif not feed(worker):
                    del by_conn[conn]

    def close(self, abort: bool = False) -> None:
        """Stop the workers: politely after a finished review, at once after an error or Ctrl-C
        (a busy worker would otherwise finish its whole batch first)."""
        for process, conn in zip(self._processes, self._conns):
            if abort:
                process.terminate()
                continue
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

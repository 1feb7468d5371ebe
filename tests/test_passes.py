"""Where a review pass runs: small inputs in this process, big ones in worker processes."""

from __future__ import annotations

import pytest

from agent.analysis import parallel, passes
from agent.analysis.passes import Passes, cpu_count
from agent.analysis.runner import source_files

SMALL = {"app/a.py": "x = 1\n", "app/b.py": "y = 2\n"}


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Worker counts of the pools started."""
    counts: list[int] = []
    real = parallel.WorkerPool

    class Spy(real):
        def __init__(self, jobs: int, sources=()) -> None:
            counts.append(jobs)
            super().__init__(jobs, sources)

    monkeypatch.setattr(parallel, "WorkerPool", Spy)
    return counts


def test_small_inputs_stay_in_this_process(started):
    with Passes(jobs=2, progress=None) as runner:
        facts = runner.facts(source_files(SMALL))
    assert set(facts) == set(SMALL) and started == []


def test_big_inputs_start_workers_and_answer_alike(started, monkeypatch):
    with Passes(jobs=1, progress=None) as runner:
        local = runner.facts(source_files(SMALL))
    monkeypatch.setattr(passes, "MIN_PARALLEL_CHARS", 1)
    with Passes(jobs=2, progress=None) as runner:
        pooled = runner.facts(source_files(SMALL))
    assert started == [2]
    assert {p: e.facts for p, e in pooled.items()} == {p: e.facts for p, e in local.items()}


def test_one_job_never_starts_workers(started, monkeypatch):
    monkeypatch.setattr(passes, "MIN_PARALLEL_CHARS", 1)
    with Passes(jobs=1, progress=None) as runner:
        runner.facts(source_files(SMALL))
    assert started == []


def test_progress_counts_each_file():
    seen = []
    with Passes(jobs=1, progress=lambda stage, done, total: seen.append((stage, done, total))) as runner:
        runner.facts(source_files(SMALL))
    assert seen == [("indexing", 0, 2), ("indexing", 1, 2), ("indexing", 2, 2)]


def test_cpu_count_is_at_least_one():
    assert cpu_count() >= 1

"""Parallel review: same output for 1 or N workers, worker failures surface, progress counts."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from agent.analysis import parallel, passes
from agent.analysis.analyzer import Analyzer
from agent.analysis.cache import ReviewCache
from agent.analysis.parallel import WorkerError
from agent.analysis.runner import ReviewOptions, review_sources
from agent.console.progress import MIN_FILES as PROGRESS_MIN_FILES
from agent.report.json_report import render_json

TEMPLATE = '''
import os
import sqlite3
from fastapi import APIRouter, Depends, HTTPException, Request
from app.deps import get_db

router = APIRouter(prefix="/r{n}")
API_KEY = "sk_live_{n:04d}abcdefghijklmnopqrstuv"


@router.post("/items{n}")
def create_item_{n}(item: dict, db=Depends(get_db)):
    db.add(item)
    db.commit()
    return item


@router.get("/items{n}")
def list_items_{n}(limit: int = 100, db=Depends(get_db)):
    return db.query("Item").limit(limit).all()


@router.get("/search{n}")
async def search_{n}(q: str, request: Request):
    body = await request.json()
    cursor = sqlite3.connect("x.db").cursor()
    cursor.execute(f"SELECT * FROM items WHERE name = '{{q}}'")
    try:
        return body[q]
    except KeyError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
'''
DEPS = '''
def get_db():
    return None
'''
BROKEN = "def broken(:\n    pass\n"


def generated_project(count: int) -> dict[str, str]:
    sources = {"app/deps.py": textwrap.dedent(DEPS), "app/broken.py": BROKEN}
    for n in range(count):
        sources[f"app/routes/r{n:03d}.py"] = textwrap.dedent(TEMPLATE.format(n=n))
    return sources


@pytest.fixture(autouse=True)
def small_parallel_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated files are small: let ~25 of them count as big enough for workers."""
    monkeypatch.setattr(passes, "MIN_PARALLEL_CHARS", 20_000)


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Worker counts of the pools the runner started."""
    started: list[int] = []
    real = parallel.WorkerPool

    class Spy(real):
        def __init__(self, jobs: int, sources=()) -> None:
            started.append(jobs)
            super().__init__(jobs, sources)

    monkeypatch.setattr(parallel, "WorkerPool", Spy)
    return started


def test_one_and_many_workers_give_identical_json(pools):
    sources = generated_project(40)
    serial = review_sources(sources, ReviewOptions(), jobs=1)
    assert pools == []
    assert len({f.rule for f in serial.findings}) >= 2 and serial.skipped
    for jobs in (2, 3):
        parallel = review_sources(sources, ReviewOptions(), jobs=jobs)
        assert render_json(parallel) == render_json(serial)
    assert pools == [2, 3]


def test_small_inputs_stay_in_process(pools):
    review_sources(generated_project(3), ReviewOptions(), jobs=4)
    assert pools == []


def test_parallel_run_fills_a_cache_a_serial_run_reads(tmp_path, pools, fba_home):
    sources = generated_project(35)
    cache = ReviewCache(tmp_path / ".fba_cache")
    cold = review_sources(sources, ReviewOptions(), cache=cache, jobs=2)
    warm = review_sources(sources, ReviewOptions(), cache=cache, jobs=2)
    assert pools == [2]  # the warm run had nothing to compute, so no workers
    assert render_json(warm) == render_json(cold)


def test_worker_crash_is_raised_not_hung(monkeypatch):
    def crash(self, source):
        raise ZeroDivisionError(f"rule bug on {source.path}")

    monkeypatch.setattr(Analyzer, "findings", crash)  # forked workers inherit the patch
    with pytest.raises(WorkerError, match="ZeroDivisionError"):
        review_sources(generated_project(32), ReviewOptions(), jobs=2)


def test_progress_reports_every_file_of_both_passes():
    sources = generated_project(34)
    calls: list[tuple[str, int, int]] = []
    review_sources(sources, ReviewOptions(), jobs=2, progress=lambda stage, done, total: calls.append((stage, done, total)))
    for stage, expected_total in (("indexing", len(sources)), ("checking", len(sources))):
        done = [d for s, d, t in calls if s == stage]
        assert {t for s, d, t in calls if s == stage} == {expected_total}
        assert done == list(range(expected_total + 1))


def write_tree(root, sources: dict[str, str]) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for path, text in sources.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_progress_is_drawn_on_a_terminal_only(tmp_path, run_fba, fba_home):
    pexpect = pytest.importorskip("pexpect")
    write_tree(tmp_path, generated_project(PROGRESS_MIN_FILES + 5))
    piped = run_fba(["review", ".", "--no-cache"], cwd=tmp_path)
    assert piped.returncode == 1 and "indexing" not in piped.stderr and "checking" not in piped.stderr
    env = {"FBA_HOME": str(fba_home), "TERM": "xterm", "COLUMNS": "120", "PATH": os.environ["PATH"]}
    child = pexpect.spawn(sys.executable, ["-m", "agent", "review", ".", "--no-cache"], cwd=str(tmp_path),
                          env=env, encoding="utf-8", timeout=120)
    child.expect(r"indexing.*files")
    child.expect(pexpect.EOF)
    quiet = pexpect.spawn(sys.executable, ["-m", "agent", "review", ".", "--no-cache", "-q"], cwd=str(tmp_path),
                          env=env, encoding="utf-8", timeout=120)
    quiet.expect(pexpect.EOF)
    assert "indexing" not in quiet.before


def test_ctrl_c_ends_the_review_with_a_message_and_130(tmp_path, fba_home):
    """A FIFO named like a module blocks the review while it reads the sources; Ctrl-C then
    interrupts it at a known point: one line on stderr, exit code 130, no traceback."""
    import signal
    import subprocess
    import time

    write_tree(tmp_path, generated_project(3))
    fifo = tmp_path / "app" / "zz_blocking.py"
    os.mkfifo(fifo)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FBA_"))}
    env["FBA_HOME"] = str(fba_home)
    process = subprocess.Popen([sys.executable, "-m", "agent", "review", ".", "--no-cache"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer = None
    try:
        deadline = time.monotonic() + 30
        while writer is None:  # opening the write end succeeds once fba holds the read end
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "fba never read the FIFO"
                time.sleep(0.02)
        _wait_until_reading(process.pid)
        process.send_signal(signal.SIGINT)  # fba now waits for data that never comes
        _, stderr = process.communicate(timeout=30)
    finally:
        if writer is not None:
            os.close(writer)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert stderr.decode() == "interrupted\n"


def _wait_until_reading(pid: int) -> None:
    """Until the process sleeps in the FIFO's read (Linux /proc), so the signal lands at that
    known point and not in the instant between the open returning and the read starting."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/wchan", encoding="ascii") as wchan:
                if "pipe_read" in wchan.read():
                    return
        except OSError:
            return  # no /proc here: the open having returned is the best we can see
        time.sleep(0.01)


@pytest.mark.parametrize("inherited", [0, 5, 30], ids=["none", "some", "all"])
def test_workers_get_the_files_they_did_not_inherit(inherited):
    """Forked workers are handed paths for the files they inherited and whole files for the
    others (spawned workers inherit none): every mix gives the in-process answer."""
    from agent.analysis.analyzer import IndexInputs
    from agent.analysis.runner import source_files
    from agent.analysis.selection import enabled_rules

    files = source_files(generated_project(30))
    local = Analyzer()
    expected_facts = {f.path: local.facts(f) for f in files}
    inputs = IndexInputs(tuple(e.facts for e in expected_facts.values() if e.facts is not None))
    rules = enabled_rules(ReviewOptions())
    local.prepare(inputs.build(), rules, {})
    expected = {f.path: local.findings(f) for f in files if expected_facts[f.path].facts is not None}
    pool = parallel.WorkerPool(2, files[:inherited])
    try:
        assert pool.facts(files, lambda: None) == expected_facts
        checked = [f for f in files if f.path in expected]
        assert pool.findings(checked, inputs, rules, {}, lambda: None) == expected
    finally:
        pool.close()

"""The cache's memory of a project: what a run remembers, per project folder and per settings."""

from __future__ import annotations

from agent.analysis.cache import ReviewCache, digest
from agent.analysis.memory import ReviewMemory
from agent.analysis.reading import ReviewSource
from agent.analysis.runner import ReviewOptions, review_sources

SOURCES = {"app/main.py": "from fastapi import FastAPI\napp = FastAPI()\n", "app/util.py": "def f(:\n"}
ONLY_201 = ReviewOptions(select=("FBA201",))


def sources(texts: dict[str, str]) -> list[ReviewSource]:
    return [ReviewSource(path, path[:-3].replace("/", "."), digest(text), text) for path, text in sorted(texts.items())]


def remembered(tmp_path, options=ONLY_201, folder="project") -> ReviewMemory:
    return ReviewMemory(ReviewCache(tmp_path / ".fba_cache"), options, folder)


def test_an_empty_cache_vouches_for_nothing(tmp_path):
    memory = remembered(tmp_path)
    files = sources(SOURCES)
    assert not any(map(memory.same, files))
    assert memory.unchanged(files, files) is None


def test_after_a_run_an_unchanged_project_is_answered_from_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    review_sources(SOURCES, ONLY_201, cache=ReviewCache(tmp_path / ".fba_cache"))
    memory = remembered(tmp_path, folder=str(tmp_path))
    files = sources(SOURCES)
    assert all(map(memory.same, files))
    statuses, entries = memory.unchanged(files, files)
    assert statuses["app/main.py"] == (True, None) and statuses["app/util.py"][0] is False
    assert set(entries) == {"app/main.py"}  # a file that did not parse has nothing to check


def test_an_edited_file_is_not_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    review_sources(SOURCES, ONLY_201, cache=ReviewCache(tmp_path / ".fba_cache"))
    memory = remembered(tmp_path, folder=str(tmp_path))
    edited = sources({**SOURCES, "app/main.py": SOURCES["app/main.py"] + "x = 1\n"})
    assert [memory.same(s) for s in edited] == [False, True]
    assert memory.unchanged(edited, edited) is None


def test_other_folders_and_settings_are_remembered_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    review_sources(SOURCES, ONLY_201, cache=ReviewCache(tmp_path / ".fba_cache"))
    files = sources(SOURCES)
    assert not any(map(remembered(tmp_path, folder=str(tmp_path / "elsewhere")).same, files))
    other_auth = ReviewOptions(select=("FBA201",), auth_dependencies=("require_key",))
    assert not any(map(remembered(tmp_path, other_auth, str(tmp_path)).same, files))
    # Report settings (rule selection) keep the file states but not the findings.
    other_rules = remembered(tmp_path, ReviewOptions(select=("FBA101",)), str(tmp_path))
    assert all(map(other_rules.same, files)) and other_rules.unchanged(files, files) is None


def test_a_read_only_cache_serves_but_never_stores(tmp_path):
    cache = ReviewCache(tmp_path / ".fba_cache")
    cache.store("blob", {"kept": 1})
    reader = cache.read_only()
    assert reader.load("blob") == {"kept": 1}
    reader.store("blob", {"kept": 2})
    reader.store("other", 3)
    assert cache.load("blob") == {"kept": 1} and cache.load("other") is None

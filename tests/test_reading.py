"""Reading a project's files from disk (agent/analysis/reading.py): display paths, module names,
unreadable files, and the overlay that stands in for files at another time (`--diff`)."""

from __future__ import annotations

from pathlib import Path

from agent.analysis.reading import disk_sources, read_sources


def project(root: Path) -> list[Path]:
    (root / "app").mkdir()
    (root / "app/__init__.py").write_text("")
    (root / "app/main.py").write_text("from app.deps import user\n")
    (root / "app/deps.py").write_text("def user():\n    return 1\n")
    return sorted((root / "app").glob("*.py"))


def test_display_paths_module_names_and_unreadable_files(tmp_path, monkeypatch):
    files = project(tmp_path)
    monkeypatch.chdir(tmp_path / "app")
    texts, modules, skipped = read_sources([*files, tmp_path / "app/gone.py"], tmp_path)
    assert texts["main.py"] == "from app.deps import user\n"
    assert modules == {"__init__.py": "app", "deps.py": "app.deps", "main.py": "app.main"}
    assert [s.path for s in skipped] == ["gone.py"]
    assert "cannot read" in skipped[0].reason


def test_the_overlay_replaces_removes_and_adds_files_under_the_roots(tmp_path, monkeypatch):
    files = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    overlay = {
        tmp_path / "app/main.py": "print('then')\n",  # other text at the base commit
        tmp_path / "app/deps.py": None,  # absent then
        tmp_path / "app/old.py": "OLD = 1\n",  # deleted since
        tmp_path.parent / "elsewhere.py": "X = 1\n",  # outside the roots: not part of the project
    }
    sources, skipped = disk_sources(files, tmp_path, [tmp_path], None, overlay)
    assert skipped == []
    assert {s.path: s.text for s in sources} == {
        "app/__init__.py": "", "app/main.py": "print('then')\n", "app/old.py": "OLD = 1\n"}
    assert {s.path: s.module for s in sources}["app/old.py"] == "app.old"

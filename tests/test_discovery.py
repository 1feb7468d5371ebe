"""File discovery: which Python files a review reads and the folders their modules are named from."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analysis.discovery import collect_files, import_root, python_files
from agent.errors import UsageError


def write(root: Path, paths: list[str]) -> None:
    for path in paths:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("", encoding="utf-8")


def test_import_root_is_the_parent_of_the_topmost_package(tmp_path):
    write(tmp_path, ["backend/app/__init__.py", "backend/app/api/__init__.py", "backend/app/api/x.py",
                     "scripts/tool.py", "lib/pkg/__init__.py", "lib/pkg/m.py"])
    backend = (tmp_path / "backend").resolve()
    assert import_root(tmp_path / "backend/app/api/x.py", tmp_path) == backend
    assert import_root(tmp_path / "backend/app/api", tmp_path) == backend
    assert import_root(tmp_path / "backend", tmp_path) == backend  # a folder without __init__.py
    assert import_root(tmp_path / "scripts/tool.py", tmp_path) == (tmp_path / "scripts").resolve()
    # Never above the project root, nor above a git work tree's top.
    assert import_root(tmp_path / "lib/pkg/m.py", tmp_path / "lib/pkg") == (tmp_path / "lib/pkg").resolve()
    (tmp_path / "lib/pkg/.git").mkdir()
    assert import_root(tmp_path / "lib/pkg/m.py", tmp_path) == (tmp_path / "lib/pkg").resolve()


def test_walks_skip_virtualenvs_caches_and_hidden_folders(tmp_path):
    write(tmp_path, ["app/main.py", ".venv/lib/x.py", "node_modules/y.py", ".hidden/z.py", "app/__pycache__/c.py",
                     "app/notes.txt"])
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in python_files(tmp_path, tmp_path)] == ["app/main.py"]


def test_exclude_applies_to_walked_files_not_to_named_ones(tmp_path):
    write(tmp_path, ["app/main.py", "app/gen/models.py"])
    walked = collect_files([tmp_path], tmp_path, ["app/gen"])
    assert [p.name for p in walked] == ["main.py"]
    named = collect_files([tmp_path / "app/gen/models.py"], tmp_path, ["app/gen"])
    assert [p.name for p in named] == ["models.py"]


def test_a_missing_path_or_a_folder_without_python_is_a_usage_error(tmp_path):
    write(tmp_path, ["docs/readme.txt", "gen/x.py"])
    with pytest.raises(UsageError, match="no such file"):
        collect_files([tmp_path / "nope.py"], tmp_path)
    with pytest.raises(UsageError, match="no Python files to review$"):
        collect_files([tmp_path / "docs"], tmp_path)
    with pytest.raises(UsageError, match="all excluded"):
        collect_files([tmp_path / "gen"], tmp_path, ["gen"])

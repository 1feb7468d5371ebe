"""The read-only file tools: confinement, deny-list, .gitignore, limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.context.files import MAX_LINES, RepoFiles
from agent.errors import InputError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app" / "routes").mkdir(parents=True)
    (root / "app" / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    (root / "app" / "routes" / "items.py").write_text("def list_items():\n    return []\n")
    (root / ".env").write_text("DB_PASSWORD=top-secret-value\n")
    (root / ".env.production").write_text("X=1\n")
    (root / "server.pem").write_text("pem\n")
    (root / "secrets").mkdir()
    (root / "secrets" / "token.txt").write_text("tok\n")
    (root / "app.sqlite").write_bytes(b"SQLite format 3\x00")
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("x = 1\n")
    (root / "debug.log").write_text("log\n")
    (root / "keep.log").write_text("kept\n")
    (root / "app" / "routes" / ".gitignore").write_text("generated.py\n")
    (root / "app" / "routes" / "generated.py").write_text("gen = 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "outside.txt").write_text("outside secret\n")
    return root


def test_list_files_honours_gitignore_deny_list_and_git_folder(repo):
    listed = RepoFiles(repo).list_files().splitlines()
    assert listed == [".gitignore", "app/main.py", "app/routes/.gitignore", "app/routes/items.py", "keep.log", "logo.png"]


def test_list_files_with_path_and_pattern(repo):
    files = RepoFiles(repo)
    assert files.list_files("app/routes", "*.py") == "app/routes/items.py"
    assert files.list_files(".", "app/*.py").splitlines() == ["app/main.py", "app/routes/items.py"]
    assert files.list_files("app", "*.nothing") == "(no files)"


def test_read_file_numbers_lines_and_honours_ranges(repo):
    files = RepoFiles(repo)
    assert files.read_file("app/main.py") == "     1\tfrom fastapi import FastAPI\n     2\tapp = FastAPI()"
    assert files.read_file("app/main.py", start_line=2) == "     2\tapp = FastAPI()"
    with pytest.raises(InputError, match="past the end"):
        files.read_file("app/main.py", start_line=9)


def test_read_file_caps_long_files_with_a_note(repo):
    (repo / "big.py").write_text("".join(f"x{n} = {n}\n" for n in range(MAX_LINES + 10)))
    text = RepoFiles(repo).read_file("big.py")
    assert text.count("\n") == MAX_LINES
    assert text.endswith(f"[showing lines 1-{MAX_LINES} of {MAX_LINES + 10}; read on with start_line={MAX_LINES + 1}]")


@pytest.mark.parametrize("path, message", [
    ("../outside.txt", "outside the repository"),
    ("app/../../outside.txt", "outside the repository"),
    ("/etc/passwd", "absolute paths are not allowed"),
    (".env", "deny-list"),
    (".env.production", "deny-list"),
    ("server.pem", "deny-list"),
    ("secrets/token.txt", "deny-list"),
    ("app.sqlite", "deny-list"),
    ("build/out.py", "ignored"),
    ("debug.log", "ignored"),
    ("app/routes/generated.py", "ignored"),
    (".git/config", "ignored"),
    ("logo.png", "binary"),
    ("missing.py", "does not exist"),
    ("app", "is a folder"),
])
def test_read_file_refusals(repo, path, message):
    with pytest.raises(InputError, match=message):
        RepoFiles(repo).read_file(path)


def test_gitignore_negation_lets_a_file_through(repo):
    assert RepoFiles(repo).read_file("keep.log") == "     1\tkept"


def test_symlinks_leading_out_are_refused_and_not_listed(repo, tmp_path):
    os.symlink(tmp_path / "outside.txt", repo / "app" / "link.txt")
    os.symlink(tmp_path, repo / "app" / "linkdir")
    os.symlink(repo / ".env", repo / "app" / "env_link")
    files = RepoFiles(repo)
    for path in ("app/link.txt", "app/linkdir/outside.txt"):
        with pytest.raises(InputError, match="outside the repository"):
            files.read_file(path)
    with pytest.raises(InputError, match="deny-list"):
        files.read_file("app/env_link")
    listing = files.list_files()
    assert "link" not in listing
    assert "outside secret" not in files.search("secret")


def test_configured_deny_patterns_extend_the_defaults(repo):
    files = RepoFiles(repo, deny=["app/routes/"])
    with pytest.raises(InputError, match="deny-list"):
        files.read_file("app/routes/items.py")
    assert "items.py" not in files.list_files()
    with pytest.raises(InputError, match="deny-list"):
        files.read_file(".env")


def test_search_reports_file_line_text_and_skips_hidden_files(repo):
    files = RepoFiles(repo)
    assert files.search(r"FastAPI\(") == "app/main.py:2: app = FastAPI()"
    assert files.search("top-secret") == "(no matches)"  # .env is never searched
    assert files.search("x = 1") == "(no matches)"  # build/ is ignored
    assert files.search("return", "app/routes/items.py") == "app/routes/items.py:2: return []"


def test_search_rejects_bad_regex_and_escaping_paths(repo):
    files = RepoFiles(repo)
    with pytest.raises(InputError, match="invalid regular expression"):
        files.search("(")
    with pytest.raises(InputError, match="outside"):
        files.search("x", "../")
    with pytest.raises(InputError, match="deny-list"):
        files.search("x", ".env")


def test_non_utf8_text_is_an_error(repo):
    (repo / "latin.py").write_bytes("café = 1\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        RepoFiles(repo).read_file("latin.py")

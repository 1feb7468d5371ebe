"""`fba review --changed` and `--diff REF` on temporary git repositories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.edits.git import added_lines

ROUTE = '''
@router.post("/{name}")
def create_{name}(payload: dict):
    return payload
'''
HEADER = "from fastapi import APIRouter\n\nrouter = APIRouter()\n"


def module(*names: str) -> str:
    return HEADER + "".join(ROUTE.format(name=n) for n in names)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (git_repo / ".gitignore").write_text("ignored.py\n")
    (git_repo / "app").mkdir()
    (git_repo / "app" / "a.py").write_text(module("apple", "apricot"))
    (git_repo / "app" / "b.py").write_text(module("banana"))
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "initial")
    return git_repo


def findings(run_fba, repo: Path, *args: str) -> tuple[dict, list[tuple[str, int]]]:
    result = run_fba(["review", "--select", "FBA203", "-f", "json", *args], cwd=repo)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return report, [(f["path"], f["line"]) for f in report["findings"]]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_changed_with_a_clean_tree_reports_nothing(run_fba, repo):
    report, found = findings(run_fba, repo, "--changed")
    assert found == [] and report["summary"]["files"] == 0


def test_changed_reports_staged_unstaged_and_untracked_files_only(run_fba, repo):
    (repo / "app" / "b.py").write_text(module("banana", "blueberry"))
    (repo / "app" / "c.py").write_text(module("cherry"))
    (repo / "app" / "d.py").write_text(module("date"))
    git(repo, "add", "app/d.py")
    (repo / "ignored.py").write_text(module("ignored"))
    report, found = findings(run_fba, repo, "--changed")
    assert {path for path, _ in found} == {"app/b.py", "app/c.py", "app/d.py"}
    assert report["summary"]["files"] == 3
    _, everything = findings(run_fba, repo)
    assert {path for path, _ in everything} >= {"app/a.py", "ignored.py"}


def test_changed_is_limited_to_the_given_paths(run_fba, repo):
    (repo / "app" / "b.py").write_text(module("banana", "blueberry"))
    (repo / "top.py").write_text(module("top"))
    _, found = findings(run_fba, repo, "--changed", "app")
    assert {path for path, _ in found} == {"app/b.py"}


def test_diff_reports_only_findings_on_changed_lines(run_fba, repo):
    git(repo, "tag", "base")
    a = repo / "app" / "a.py"
    a.write_text(module("apple", "apricot", "avocado"))
    git(repo, "commit", "-qam", "avocado")
    (repo / "app" / "c.py").write_text(module("cherry"))
    _, found = findings(run_fba, repo, "--diff", "base")
    assert found == [("app/a.py", line_of(a, '"/avocado"')), ("app/c.py", line_of(repo / "app" / "c.py", '"/cherry"'))]
    _, since_head = findings(run_fba, repo, "--diff", "HEAD")
    assert [path for path, _ in since_head] == ["app/c.py"]


def test_diff_counts_uncommitted_edits_on_the_reported_line(run_fba, repo):
    """A finding is kept when its reported line changed (FBA203 reports the decorator)."""
    a = repo / "app" / "a.py"
    a.write_text(a.read_text().replace("def create_apple(payload: dict):", "def create_apple(payload: dict, n: int = 0):"))
    assert findings(run_fba, repo, "--diff", "HEAD")[1] == []
    a.write_text(a.read_text().replace('"/apricot"', '"/apricots"'))
    _, found = findings(run_fba, repo, "--diff", "HEAD")
    assert found == [("app/a.py", line_of(a, '"/apricots"'))]


@pytest.mark.parametrize("args", [["--changed"], ["--diff", "HEAD"]])
def test_outside_a_git_repository_is_a_clear_error(run_fba, tmp_path, args):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "main.py").write_text(module("thing"))
    result = run_fba(["review", *args], cwd=folder)
    assert result.returncode == 2
    assert "not a git repository" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--diff", "no-such-branch"], "no such commit"),
    (["--changed", "--diff", "HEAD"], "cannot be combined"),
])
def test_bad_scope_flags_are_usage_errors(run_fba, repo, args, message):
    result = run_fba(["review", *args], cwd=repo)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_added_lines_reads_zero_context_hunks():
    patch = "@@ -3 +3 @@\n-a\n+b\n@@ -10,0 +11,2 @@\n+c\n+d\n@@ -20,2 +22,0 @@\n-e\n-f\n"
    assert added_lines(patch) == frozenset({3, 11, 12})

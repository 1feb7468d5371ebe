"""The pre-commit hook (`.pre-commit-hooks.yaml`) run as pre-commit runs it: `pre-commit
try-repo` against this checkout installs the hook's environment from the repository (pip, from
the package index) and runs it on a temporary project's files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli_review import CLEAN, CREATE_200

ROOT = Path(__file__).resolve().parents[1]
# What pip prints when the hook's environment cannot reach a package index.
OFFLINE_SIGNS = ("Failed to establish a new connection", "Temporary failure in name resolution",
                 "Network is unreachable", "No matching distribution found", "Could not find a version")


def _pre_commit() -> str:
    found = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
    if found is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]' installs it)")
    return found


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "pyproject.toml").write_text('[tool.fba]\nselect = ["FBA203"]\nfail-on = "low"\n', encoding="utf-8")
    (git_repo / "app").mkdir()
    (git_repo / "app" / "clean.py").write_text(CLEAN, encoding="utf-8")
    (git_repo / "README.md").write_text("# demo\n", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    return git_repo


def try_repo(project: Path, home: Path, *files: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FBA_", "ANTHROPIC_", "PRE_COMMIT"))}
    env.update({"PRE_COMMIT_HOME": str(home), "NO_COLOR": "1", "FBA_HOME": str(home / "fba-home")})
    proc = subprocess.run([_pre_commit(), "try-repo", str(ROOT), "fba-review", "--color", "never",
                           *(("--files", *files) if files else ("--all-files",))],
                          cwd=project, env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1) and any(sign in output for sign in OFFLINE_SIGNS):
        pytest.skip("pre-commit could not install the hook's environment: no package index reachable")
    return proc


def test_hook_reports_the_staged_python_files_it_is_given(project, tmp_path):
    """One run (each `try-repo` installs the hook's environment afresh: a minute or more)."""
    (project / "app" / "items.py").write_text(CREATE_200, encoding="utf-8")
    (project / "app" / "create.py").write_text(CREATE_200, encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    proc = try_repo(project, tmp_path / "pre-commit-home", "app/clean.py", "app/create.py", "README.md")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "fba review" in output and "Failed" in output
    assert "app/create.py" in output and "FBA203" in output
    assert "app/items.py" not in output  # indexed with the project, but not given to the hook

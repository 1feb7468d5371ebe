"""`fba undo`'s revert commit follows the hook policy of fba's other commits: no git hook runs."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from agent.edits import git
from agent.edits.git import Trailers
from agent.types import ChangeSet, FileChange
from agent.workflows.changes import CommitInfo, FlowOptions, run_change_flow

HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit")


class _UI:
    interactive = False

    def preview(self, *args) -> None:
        pass

    def confirm(self, question: str) -> bool:
        return False

    def note(self, message: str) -> None:
        pass


def _run(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_undo_runs_no_git_hook(git_repo: Path):
    (git_repo / "app.py").write_text("x = 1\n")
    _run(git_repo, "add", "-A")
    _run(git_repo, "commit", "-qm", "init")
    change = ChangeSet((FileChange("app.py", "x = 1\n", "x = 2\n"),))
    info = CommitInfo("Change x", Trailers(agent="fastapi-backend", model="m", session="s1"))
    run_change_flow(change, git_repo, info, FlowOptions(yes=True), _UI())
    marker = git_repo.parent / "hook-ran"
    for name in HOOKS:  # installed after fba's commit: each would leave a mark (and pre-commit fails)
        hook = git_repo / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\nexit {1 if name == 'pre-commit' else 0}\n")
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    result = git.undo_last_commit(git_repo)
    assert not marker.exists(), marker.read_text()
    assert result.subject == 'Revert "Change x"'
    assert (git_repo / "app.py").read_text() == "x = 1\n"

"""The change flow on temporary git repositories: dirty-file refusal, commits and their trailers,
undo and its refusals, patches that `git apply --check` accepts, and isolated test runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.edits import git
from agent.edits.changeset import PendingChanges
from agent.edits.testrun import run_tests, trim_output
from agent.errors import GitError
from agent.workflows.changes import CommitInfo, FlowOptions, run_change_flow
from tests.sandbox_marks import needs_sandbox

INFO = CommitInfo("Add the thing", git.Trailers("fastapi-backend", "claude-test", "sess-1", ("Fba-Spec: spec.md",)))


class FakeUI:
    """Records what the flow shows; answers the prompt with `answer`."""

    def __init__(self, interactive=False, answer=False):
        self.interactive = interactive
        self.answer = answer
        self.notes: list[str] = []
        self.diffs: list[str] = []

    def preview(self, diff, stats, validation):
        self.diffs.append(diff)

    def confirm(self, question):
        return self.answer

    def note(self, message):
        self.notes.append(message)


def run(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    run(root, "init", "-q", "-b", "main")
    run(root, "config", "user.name", "Test")
    run(root, "config", "user.email", "test@example.com")
    (root / "app.py").write_text("x = 1\n")
    (root / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (root / "other.txt").write_text("other\n")
    (root / ".gitignore").write_text("ignored/\n")
    run(root, "add", "-A")
    run(root, "commit", "-q", "-m", "initial")
    return root


def change_app(root: Path):
    pending = PendingChanges(root)
    pending.edit("app.py", "x = 1", "x = 2")
    return pending.snapshot()


def head(root: Path) -> str:
    return run(root, "rev-parse", "HEAD").strip()


# dirty files -------------------------------------------------------------------------------------


def test_uncommitted_changes_in_touched_files_are_refused(repo):
    (repo / "app.py").write_text("x = 1\n# user's work in progress\n")
    with pytest.raises(GitError, match="uncommitted changes in app.py.*--allow-dirty"):
        run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True), FakeUI())
    assert (repo / "app.py").read_text() == "x = 1\n# user's work in progress\n"


def test_untracked_files_count_as_uncommitted_but_new_files_do_not(repo):
    (repo / "notes.txt").write_text("mine\n")
    assert git.uncommitted(repo, ["notes.txt", "app.py", "brand_new.txt"]) == ["notes.txt"]


def test_allow_dirty_writes_over_uncommitted_changes(repo):
    (repo / "app.py").write_text("x = 1\ny = 0\n")
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True, allow_dirty=True, commit="off"), FakeUI())
    assert result.applied and result.commit is None
    assert (repo / "app.py").read_text() == "x = 2\ny = 0\n"


def test_changes_to_other_files_do_not_block(repo):
    (repo / "other.txt").write_text("edited\n")
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True), FakeUI())
    assert result.applied


# commits -----------------------------------------------------------------------------------------


def test_commit_has_the_trailers_and_only_the_change_sets_files(repo):
    (repo / "other.txt").write_text("staged by the user\n")
    run(repo, "add", "other.txt")
    ui = FakeUI()
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True), ui)
    message = run(repo, "log", "-1", "--format=%B")
    assert message.startswith("Add the thing\n")
    trailers = run(repo, "log", "-1", "--format=%(trailers)")
    assert "Fba-Agent: fastapi-backend\nFba-Model: claude-test\nFba-Session: sess-1\nFba-Spec: spec.md" in trailers
    assert run(repo, "show", "--name-only", "--format=", "HEAD").split() == ["app.py"]
    assert run(repo, "status", "--porcelain") == "M  other.txt\n"  # still staged, not committed
    assert result.commit.branch == "main" and result.commit.sha == head(repo)
    assert any("fba undo" in note for note in ui.notes)


def test_commit_of_created_and_deleted_files(repo):
    pending = PendingChanges(repo)
    pending.create("pkg/new.py", "y = 1\n")
    pending.delete("other.txt")
    run_change_flow(pending.snapshot(), repo, INFO, FlowOptions(yes=True), FakeUI())
    assert run(repo, "show", "--name-status", "--format=", "HEAD").split() == ["D", "other.txt", "A", "pkg/new.py"]
    assert run(repo, "status", "--porcelain") == ""


def test_new_branch_mode_commits_on_a_fresh_fba_branch(repo):
    run(repo, "branch", "fba/add-the-thing")  # taken: the next free name is used
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True, commit="new-branch"), FakeUI())
    assert result.commit.branch == "fba/add-the-thing-2"
    assert run(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "fba/add-the-thing-2"
    assert run(repo, "log", "-1", "--format=%s", "main").strip() == "initial"
    assert run(repo, "status", "--porcelain") == ""


def test_commit_off_writes_without_committing(repo):
    before = head(repo)
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True, commit="off"), FakeUI())
    assert result.applied and head(repo) == before
    assert run(repo, "status", "--porcelain") == " M app.py\n"


def test_outside_git_the_change_is_written_and_the_commit_skipped(tmp_path):
    (tmp_path / "app.py").write_text("x = 1\n")
    ui = FakeUI()
    result = run_change_flow(change_app(tmp_path), tmp_path, INFO, FlowOptions(yes=True), ui)
    assert result.applied and result.commit is None
    assert (tmp_path / "app.py").read_text() == "x = 2\n"
    assert any("not a git repository" in note for note in ui.notes)


def test_without_a_terminal_and_without_yes_nothing_is_written(repo):
    ui = FakeUI(interactive=False)
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(), ui)
    assert result.status == "not-confirmed"
    assert (repo / "app.py").read_text() == "x = 1\n"
    assert any("--yes" in note for note in ui.notes)


def test_a_declined_prompt_writes_nothing(repo):
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(), FakeUI(interactive=True, answer=False))
    assert result.status == "declined" and (repo / "app.py").read_text() == "x = 1\n"


def test_dry_run_shows_the_diff_and_writes_nothing(repo):
    ui = FakeUI()
    result = run_change_flow(change_app(repo), repo, INFO, FlowOptions(dry_run=True, yes=True), ui)
    assert result.status == "dry-run"
    assert "-x = 1\n+x = 2\n" in ui.diffs[0]
    assert (repo / "app.py").read_text() == "x = 1\n" and run(repo, "status", "--porcelain") == ""


# patches -----------------------------------------------------------------------------------------


def test_patch_out_is_accepted_by_git_apply_check(repo, tmp_path):
    (repo / "bom.txt").write_bytes(b"\xef\xbb\xbffirst\nlast")
    (repo / "empty.txt").write_text("")
    run(repo, "add", "-A")
    run(repo, "commit", "-q", "-m", "more files")
    pending = PendingChanges(repo)
    pending.edit("crlf.txt", "two", "TWO\nthree")
    pending.edit("bom.txt", "first", "FIRST")
    pending.edit("bom.txt", "last", "LAST")
    pending.create("new/module.py", "z = 3\n")
    pending.create("new/empty.py", "")
    pending.delete("other.txt")
    pending.delete("empty.txt")
    patch = tmp_path / "fix.patch"
    result = run_change_flow(pending.snapshot(), repo, INFO, FlowOptions(patch_out=patch), FakeUI())
    assert result.status == "patch-written"
    assert run(repo, "status", "--porcelain") == ""  # nothing applied
    run(repo, "apply", "--check", str(patch))
    run(repo, "apply", str(patch))
    assert (repo / "crlf.txt").read_bytes() == b"one\r\nTWO\r\nthree\r\n"
    assert (repo / "bom.txt").read_bytes() == b"\xef\xbb\xbfFIRST\nLAST"
    assert (repo / "new/empty.py").read_bytes() == b"" and not (repo / "other.txt").exists()


# undo --------------------------------------------------------------------------------------------


def test_undo_reverts_fbas_last_commit_with_a_new_commit(repo):
    run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True), FakeUI())
    fba_commit = head(repo)
    result = git.undo_last_commit(repo)
    assert (repo / "app.py").read_text() == "x = 1\n"
    assert result.sha == head(repo) and run(repo, "rev-parse", "HEAD~1").strip() == fba_commit
    assert result.subject == 'Revert "Add the thing"'
    with pytest.raises(GitError, match="not made by fba"):
        git.undo_last_commit(repo)  # the revert is not fba's: a second undo does not redo


def test_undo_refuses_a_commit_that_is_not_fbas(repo):
    before = head(repo)
    with pytest.raises(GitError, match="was not made by fba; nothing undone"):
        git.undo_last_commit(repo)
    assert head(repo) == before


def test_undo_refuses_a_pushed_commit(repo, tmp_path):
    remote = tmp_path / "remote.git"
    run(tmp_path, "init", "-q", "--bare", str(remote))
    run(repo, "remote", "add", "origin", str(remote))
    run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True), FakeUI())
    run(repo, "push", "-q", "origin", "main")
    before = head(repo)
    with pytest.raises(GitError, match=r"already pushed \(origin/main\)"):
        git.undo_last_commit(repo)
    assert head(repo) == before and (repo / "app.py").read_text() == "x = 2\n"


def test_undo_refuses_a_dirty_tree(repo):
    run_change_flow(change_app(repo), repo, INFO, FlowOptions(yes=True), FakeUI())
    (repo / "other.txt").write_text("unsaved work\n")
    before = head(repo)
    with pytest.raises(GitError, match="uncommitted changes"):
        git.undo_last_commit(repo)
    assert head(repo) == before and (repo / "other.txt").read_text() == "unsaved work\n"


def test_fba_undo_command_says_why_and_exits_2(repo):
    process = subprocess.run([sys.executable, "-m", "agent", "undo"], cwd=repo, capture_output=True, text=True)
    assert process.returncode == 2
    assert "not made by fba" in process.stderr and "Traceback" not in process.stderr


def test_trailer_detection_needs_the_trailer_block():
    assert git.is_fba_commit("subject\n\nbody\n\nFba-Agent: x\nFba-Model: y\n")
    assert not git.is_fba_commit("Fba-Agent: x\n")
    assert not git.is_fba_commit("subject\n\nmentions Fba-Agent: x in the body\n\nSigned-off-by: me\n")
    with pytest.raises(GitError, match="invalid commit trailer"):
        git.Trailers("a", extra=("not a trailer",)).lines()


# isolated test runs ------------------------------------------------------------------------------

TEST_FILE = "from app import x\n\ndef test_x():\n    assert x == 2\n"


@needs_sandbox
def test_run_tests_sees_the_pending_change_and_leaves_the_tree_alone(repo):
    (repo / "test_app.py").write_text(TEST_FILE)  # untracked, not ignored: copied
    (repo / "ignored").mkdir()
    (repo / "ignored" / "conftest.py").write_text("raise SystemExit('ignored files must not be copied')\n")
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    failing = run_tests(PendingChanges(repo).snapshot(), repo, command, timeout=120)
    assert not failing.passed and failing.exit_code == 1 and "assert 1 == 2" in failing.output
    passing = run_tests(change_app(repo), repo, command, timeout=120)
    assert passing.passed and passing.exit_code == 0 and "1 passed" in passing.output
    assert (repo / "app.py").read_text() == "x = 1\n"
    assert run(repo, "status", "--porcelain", "--ignored") == "?? test_app.py\n!! ignored/\n"


@needs_sandbox
def test_run_tests_stops_at_the_timeout(tmp_path):
    (tmp_path / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    result = run_tests(PendingChanges(tmp_path).snapshot(), tmp_path, f"{sys.executable} slow.py", timeout=1)
    assert result.timed_out and not result.passed and result.exit_code is None
    assert "started" in result.output and "stopped after 1 s" in result.output


def test_output_is_trimmed_to_head_and_tail():
    text = "\n".join(f"line {n}" for n in range(1000))
    trimmed = trim_output(text, head=2, tail=3).splitlines()
    assert trimmed == ["line 0", "line 1", "[... 995 lines omitted ...]", "line 997", "line 998", "line 999"]

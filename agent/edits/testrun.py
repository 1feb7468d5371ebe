"""Run the project's tests against a pending change set, never in the user's tree.

The project (tracked plus untracked, non-ignored files when it is a git work tree; otherwise every
file outside virtualenvs and caches) is copied to a temporary folder, the change set is applied to
the copy with the same all-or-nothing apply as the real thing, and the test command runs there in
its own process group with a timeout. The copy is removed afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.analysis.discovery import SKIP_DIRS
from agent.edits import git
from agent.edits.apply import apply_changeset
from agent.errors import ChangeError
from agent.types import ChangeSet

HEAD_LINES = 30
TAIL_LINES = 120
MAX_LINE_CHARS = 400


@dataclass(frozen=True)
class TestRun:
    """What a test run produced; `output` (stdout and stderr together) is trimmed for a model."""

    __test__ = False  # not a pytest test class

    command: str
    passed: bool
    exit_code: int | None
    output: str
    timed_out: bool = False


def run_tests(changeset: ChangeSet, root: Path, command: str = "pytest -q", timeout: float = 300.0) -> TestRun:
    """Run `command` in a temporary copy of `root` with `changeset` applied."""
    argv = shlex.split(command)
    if not argv:
        raise ChangeError("the test command is empty (config key 'test-command')")
    root = Path(root).resolve()
    with tempfile.TemporaryDirectory(prefix="fba-tests-") as folder:
        copy = Path(folder) / root.name
        copy_project(root, copy, [c.path for c in changeset.files if c.before is not None])
        apply_changeset(changeset, copy)
        return _run(argv, command, copy, timeout)


def copy_project(root: Path, target: Path, also: list[str] = ()) -> None:
    """Copy the project's files (plus `also`, e.g. ignored files a change set edits) to `target`."""
    files = git.project_files(root)
    if files is None:
        files = list(_walk(root))
    target.mkdir(parents=True)
    for relative in dict.fromkeys([*files, *also]):
        source = root / relative
        if not os.path.lexists(source):
            continue  # tracked but deleted in the work tree
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)


def _walk(root: Path):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            yield (Path(folder) / name).relative_to(root).as_posix()


def _run(argv: list[str], command: str, cwd: Path, timeout: float) -> TestRun:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return TestRun(command, False, None, f"cannot run {argv[0]!r}: {exc.strerror}")
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: test runners start children
        output, _ = process.communicate()
        text = trim_output(output.decode("utf-8", "replace"))
        return TestRun(command, False, None, f"{text}\n[fba: stopped after {timeout:g} s]", timed_out=True)
    text = trim_output(output.decode("utf-8", "replace"))
    return TestRun(command, process.returncode == 0, process.returncode, text)


def trim_output(text: str, head: int = HEAD_LINES, tail: int = TAIL_LINES) -> str:
    """The first `head` and last `tail` lines (long lines cut), with a marker for what was left out."""
    lines = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " [...]" for line in text.splitlines()]
    if len(lines) <= head + tail:
        return "\n".join(lines)
    omitted = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {omitted} lines omitted ...]", *lines[-tail:]])

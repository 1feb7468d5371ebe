"""Run the project's tests against a pending change set, never in the user's tree.

The project (tracked plus untracked, non-ignored files when it is a git work tree; otherwise every
file outside virtualenvs and caches; never a file `keep` refuses, such as deny-listed secrets) is
copied to a temporary folder, the change set is applied to the copy with the same all-or-nothing
apply as the real thing, and the test command runs there in its own process group with a timeout,
in the sandbox (`agent.edits.sandbox`) that sees the copy at the project's own path. The copy is
removed afterwards. Whatever ends the run (timeout, Ctrl-C), the whole process group is killed.

`confinement`: `required` (the model wrote or changed the code: no sandbox, no run), `if-available`
(the user's own unchanged code, run by the user: unconfined when no sandbox works) or `off`
(the user passed --unsandboxed).
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

from typing import Callable, Iterable

from agent.analysis.discovery import SKIP_DIRS
from agent.edits import git
from agent.edits.apply import apply_changeset
from agent.edits.sandbox import Launch, Sandbox, confined, probe, unconfined
from agent.errors import ChangeError, SandboxError
from agent.types import ChangeSet

HEAD_LINES = 30
TAIL_LINES = 120
MAX_LINE_CHARS = 400
REQUIRED, IF_AVAILABLE, OFF = "required", "if-available", "off"


@dataclass(frozen=True)
class TestRun:
    """What a test run produced; `output` (stdout and stderr together) is trimmed for a model."""

    __test__ = False  # not a pytest test class

    command: str
    passed: bool
    exit_code: int | None
    output: str
    timed_out: bool = False


def run_tests(changeset: ChangeSet, root: Path, command: str = "pytest -q", timeout: float = 300.0,
              confinement: str = REQUIRED, keep: Callable[[str], bool] | None = None) -> TestRun:
    """Run `command` in a temporary copy of `root` with `changeset` applied (SandboxError when it
    would have to run unconfined and `confinement` does not allow that)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ChangeError(f"cannot split the test command {command!r}: {exc}") from None
    if not argv:
        raise ChangeError("the test command is empty (config key 'test-command')")
    sandbox = sandbox_for(confinement)
    root = Path(root).resolve()
    with tempfile.TemporaryDirectory(prefix="fba-tests-") as folder:
        copy, home = Path(folder) / root.name, Path(folder) / "home"
        home.mkdir()
        copy_project(root, copy, [c.path for c in changeset.files if c.before is not None], keep)
        apply_changeset(changeset, copy)
        launch = confined(sandbox, argv, copy, root, home) if sandbox else unconfined(argv, copy, home)
        return _run(launch, command, timeout)


def sandbox_for(confinement: str) -> Sandbox | None:
    """The sandbox to run in, None to run unconfined, or SandboxError."""
    if confinement == OFF:
        return None
    sandbox = probe()
    if sandbox.works:
        return sandbox
    if confinement == IF_AVAILABLE:
        return None
    raise SandboxError(sandbox.refusal())


def copy_project(root: Path, target: Path, also: Iterable[str] = (), keep: Callable[[str], bool] | None = None) -> None:
    """Copy the project's files (plus `also`, e.g. ignored files a change set edits) that `keep`
    accepts to `target`."""
    files = git.project_files(root)
    if files is None:
        files = list(_walk(root))
    target.mkdir(parents=True)
    for relative in dict.fromkeys([*files, *also]):
        source = root / relative
        if not os.path.lexists(source) or (keep is not None and not keep(relative)):
            continue  # tracked but deleted in the work tree, or refused
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)


def _walk(root: Path):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            yield (Path(folder) / name).relative_to(root).as_posix()


def _run(launch: Launch, command: str, timeout: float) -> TestRun:
    try:
        process = subprocess.Popen(launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return TestRun(command, False, None, f"cannot run {launch.argv[0]!r}: {exc.strerror}")
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        text = trim_output(output.decode("utf-8", "replace"))
        return TestRun(command, False, None, f"{text}\n[fba: stopped after {timeout:g} s]", timed_out=True)
    except BaseException:  # Ctrl-C: the tests must not outlive fba
        _kill_group(process)
        process.wait()
        raise
    finally:
        _kill_group(process)  # whatever the tests left running in their group
    text = trim_output(output.decode("utf-8", "replace"))
    return TestRun(command, process.returncode == 0, process.returncode, text)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group (test runners start children; bwrap's sandbox dies with it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def trim_output(text: str, head: int = HEAD_LINES, tail: int = TAIL_LINES) -> str:
    """The first `head` and last `tail` lines (long lines cut), with a marker for what was left out."""
    lines = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " [...]" for line in text.splitlines()]
    if len(lines) <= head + tail:
        return "\n".join(lines)
    omitted = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {omitted} lines omitted ...]", *lines[-tail:]])

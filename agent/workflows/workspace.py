"""The repository as the model sees it while it changes code: reads see the pending change set,
writes go into it, checks and tests run against it. Nothing here writes to the user's files.

    workspace = Workspace(root, RepoFiles(root, deny), review_options, "pytest -q", 300)
    tools = read_only_tools(workspace) + edit_tools(workspace)
    ...
    changeset = workspace.snapshot()

Static checks index the whole project (`context`: its Python files as on disk, under the pending
change), so auth dependencies and models defined in untouched files are known.

Every write is confined like a read: inside the repository (no absolute paths, `..`, `.git/` or
symlinks out) and never to a secret (deny-list) or ignored file; no file is created or grown past
`max_file_bytes` (config `max-file-size`).
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Mapping

from agent.analysis.runner import ReviewOptions, review_sources
from agent.context.files import RepoFiles
from agent.edits.changeset import PendingChanges
from agent.edits.guards import oversized
from agent.edits.paths import repo_path
from agent.edits.testrun import IF_AVAILABLE, OFF, REQUIRED, TestRun, run_tests
from agent.edits.validate import validate_changeset
from agent.errors import ChangeError, FbaError, InputError
from agent.types import ChangeSet

MAX_LINES = 2000


class Workspace:
    """Read/write tools over one repository and its pending change set."""

    def __init__(self, root: Path, files: RepoFiles, review: ReviewOptions = ReviewOptions(),
                 test_command: str = "pytest -q", test_timeout: float = 300.0,
                 context: Mapping[str, str] | None = None, unsandboxed: bool = False,
                 max_file_bytes: int = 1_000_000) -> None:
        self.root = Path(root).resolve()
        self.files = files
        self.context = dict(context or {})  # the project's Python files as on disk: the checks' index
        self.review = review
        self.test_command = test_command
        self.test_timeout = test_timeout
        self.unsandboxed = unsandboxed  # the user allowed the model's code to run without a sandbox
        self.pending = PendingChanges(self.root)
        self.max_file_bytes = max_file_bytes

    def snapshot(self) -> ChangeSet:
        return self.pending.snapshot()

    # -- reading (the read-only tools, seeing pending changes) ------------------------------------

    def list_files(self, path: str = ".", pattern: str | None = None) -> str:
        changed = self._changed()
        folder = "" if path in (".", "", "./") else path.strip("/") + "/"
        try:
            listed = [line for line in self.files.list_files(path, pattern).splitlines()
                      if line != "(no files)" and not line.startswith("[")]
        except InputError:
            if not any(p.startswith(folder) for p, text in changed.items() if text is not None):
                raise
            listed = []
        names = set(listed) - {p for p, text in changed.items() if text is None}
        names |= {p for p, text in changed.items() if text is not None and p.startswith(folder) and _glob(p, pattern)}
        return "\n".join(sorted(names)) or "(no files)"

    def read_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        relative = self._pending_path(path)
        if relative is None:
            return self.files.read_file(path, start_line, end_line)
        text = self._changed()[relative]
        if text is None:
            raise InputError(f"'{relative}' was deleted in the pending change set")
        return _numbered(text, start_line, end_line)

    def search(self, pattern: str, path: str = ".") -> str:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise InputError(f"invalid regular expression {pattern!r}: {exc}") from None
        changed = self._changed()
        scope = "" if path in (".", "", "./") else path.strip("/")
        try:
            found = [m for m in self.files.search(pattern, path).splitlines()
                     if m != "(no matches)" and m.split(":", 1)[0] not in changed]
        except InputError:
            if not any(p == scope or p.startswith(scope + "/") for p in changed):
                raise
            found = []
        for relative, text in sorted(changed.items()):
            if text is None or (scope and relative != scope and not relative.startswith(scope + "/")):
                continue
            found += [f"{relative}:{n}: {line.strip()[:300]}" for n, line in enumerate(text.splitlines(), 1)
                      if regex.search(line)]
        return "\n".join(found) or "(no matches)"

    # -- writing (into the pending change set) -----------------------------------------------------

    def edit_file(self, path: str, old_string: str, new_string: str) -> str:
        relative = self._writable(path)
        previous = self.pending.read(relative)
        self.pending.edit(relative, old_string, new_string)
        self._refuse_oversized(relative, lambda: self.pending.rewrite(relative, previous))
        return f"edited {relative} (pending; nothing is written until the user applies the change)"

    def create_file(self, path: str, content: str) -> str:
        relative = self._writable(path)
        self.pending.create(relative, content)
        self._refuse_oversized(relative, lambda: self.pending.delete(relative))
        return f"created {relative} ({len(content.splitlines())} lines, pending)"

    def delete_file(self, path: str) -> str:
        relative = self._writable(path)
        self.pending.delete(relative)
        return f"deleted {relative} (pending)"

    # -- checking ------------------------------------------------------------------------------------

    def run_checks(self, paths: list[str] | None = None) -> str:
        """Static findings in the changed Python files (or `paths`), new ones marked."""
        changeset = self.snapshot()
        # ChangeError (a tool error for the model) when a file does not parse
        validation = validate_changeset(changeset, self.root, self.review, self.context)
        changed = {c.path: c.after for c in changeset.files if c.path.endswith(".py") and c.after is not None}
        targets = [self._readable(p) for p in paths] if paths else sorted(changed)
        if not targets:
            return "no changed Python files to check yet"
        deleted = {c.path for c in changeset.files if c.after is None}
        sources = {p: t for p, t in self.context.items() if p not in deleted}
        sources.update({**changed, **{p: self.pending.read(p) for p in targets if p not in changed}})
        result = review_sources(sources, self.review, jobs=1, report=dict.fromkeys(targets))
        new = set(validation.new)
        lines = [f"{f.path}:{f.line}: {f.severity.value} {f.rule} {f.message}"
                 + ("  [NEW: introduced by this change]" if f in new else "") for f in result.findings]
        header = f"checked {len(targets)} file(s): {len(result.findings)} finding(s), {len(new)} new"
        return "\n".join([header, *lines])

    def run_tests(self, args: str = "") -> str:
        """The run_tests tool: the model's arguments, so the run is confined (SandboxError otherwise)."""
        return describe_run(self.test(args))

    def test(self, args: str = "", by_user: bool = False) -> TestRun:
        """Run the test command (plus `args`) on the pending change set in an isolated copy. Only the
        user's own run on unchanged code may go unconfined when no sandbox works."""
        try:
            extra = [shlex.quote(a) for a in shlex.split(args)]
        except ValueError as exc:
            raise InputError(f"cannot split the test arguments {args[:200]!r}: {exc}") from None
        command = " ".join([self.test_command, *extra])
        changeset = self.snapshot()
        confinement = OFF if self.unsandboxed else IF_AVAILABLE if by_user and not changeset else REQUIRED
        return run_tests(changeset, self.root, command, self.test_timeout, confinement, self.copyable)

    def copyable(self, relative: str) -> bool:
        """Whether a project file goes into the tests' copy: not one the model may not read (secrets)."""
        try:
            self.files.check_writable(relative)
        except InputError:
            return False
        return True

    # -- paths -----------------------------------------------------------------------------------------

    def _refuse_oversized(self, relative: str, undo) -> None:
        """When the last write made `relative` too big: `undo()` it and raise ChangeError."""
        change = next((c for c in self.snapshot().files if c.path == relative), None)
        problems = oversized(ChangeSet((change,)), self.max_file_bytes) if change else []
        if problems:
            undo()
            raise ChangeError(problems[0])

    def _changed(self) -> dict[str, str | None]:
        return {c.path: c.after for c in self.snapshot().files}

    def _writable(self, path: str) -> str:
        relative = repo_path(self.root, path)
        self.files.check_writable(relative)
        return relative

    def _readable(self, path: str) -> str:
        relative = self._writable(path)
        self.pending.read(relative)  # ChangeError when it does not exist (or was deleted)
        return relative

    def _pending_path(self, path: str) -> str | None:
        """The normalised path when the change set touches it (after the same refusals as reads)."""
        try:
            relative = repo_path(self.root, path)
        except FbaError:
            return None  # RepoFiles gives the precise refusal
        if relative not in self._changed():
            return None
        self.files.check_writable(relative)
        return relative


def _glob(path: str, pattern: str | None) -> bool:
    return not pattern or fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(PurePosixPath(path).name, pattern)


def _numbered(text: str, start_line: int | None, end_line: int | None) -> str:
    lines = text.splitlines()
    first = max(1, start_line or 1)
    last = min(len(lines), end_line or len(lines), first + MAX_LINES - 1)
    if lines and first > len(lines):
        raise ChangeError(f"the file has {len(lines)} lines; start_line {first} is past the end")
    return "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(first, last + 1)) or "(empty file)"


def describe_run(run: TestRun) -> str:
    verdict = "PASSED" if run.passed else ("TIMED OUT" if run.timed_out else f"FAILED (exit {run.exit_code})")
    return f"$ {run.command}  -> {verdict}\n{run.output}"

"""Write a change set to disk: all files or none.

1. Check: every file still has the bytes the change set read (content hash), every file to be
   created is still absent. Any difference aborts before anything is written.
2. Stage: each new content goes to a temp file in the target's own folder (same file system, so
   the final rename is atomic), with the original permission bits.
3. Commit: `os.replace` each temp file over its target; deletions move the file aside to a backup
   name first. If any step fails, everything already done is undone in reverse order (originals
   are rewritten from the bytes read in step 1, created files removed, deleted files moved back)
   and ChangeError is raised.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from agent.edits.paths import repo_path
from agent.errors import ChangeError
from agent.types import ChangeSet, FileChange

def encode(text: str, bom: bool) -> bytes:
    return (codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8")


def expected_sha256(change: FileChange) -> str | None:
    """The hash the file on disk must still have (None: it must not exist)."""
    if change.before is None:
        return None
    return change.before_sha256 or hashlib.sha256(encode(change.before, change.bom)).hexdigest()


@dataclass
class _Step:
    """One file's progress through apply, so a failure can undo exactly what was done."""

    change: FileChange
    target: Path
    original: bytes | None
    mode: int | None  # None for new files: the umask decides, as for any new file
    temp: Path | None = None
    backup: Path | None = None
    done: bool = False


def apply_changeset(changeset: ChangeSet, root: Path) -> None:
    """Write `changeset` under `root` atomically (all files or none); ChangeError on failure."""
    root = Path(root)
    steps = [_check(change, root) for change in changeset.files]
    created_dirs: list[Path] = []
    try:
        for step in steps:
            _stage(step, created_dirs)
        for step in steps:
            _commit(step)
    except OSError as exc:
        problems = _rollback(steps, created_dirs)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        message = f"could not write the change set: {exc.strerror or exc}{where}; "
        if problems:
            raise ChangeError(message + "restoring failed for: " + ", ".join(problems)) from exc
        raise ChangeError(message + "nothing was changed") from exc
    for step in steps:
        _remove_quietly(step.backup)


def _check(change: FileChange, root: Path) -> _Step:
    relative = repo_path(root, change.path)
    target = root / relative
    try:
        original = target.read_bytes()
        mode = change.mode if change.mode is not None else os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        original, mode = None, change.mode
    except OSError as exc:
        raise ChangeError(f"{relative}: cannot read: {exc.strerror}; nothing was changed") from None
    expected = expected_sha256(change)
    if expected is None and original is not None:
        raise ChangeError(f"{relative}: was created on disk after fba started; nothing was changed")
    if expected is not None and original is None:
        raise ChangeError(f"{relative}: was deleted on disk after fba read it; nothing was changed")
    if expected is not None and hashlib.sha256(original).hexdigest() != expected:
        raise ChangeError(f"{relative}: changed on disk after fba read it; nothing was changed (run again)")
    return _Step(change, target, original, mode)


def _stage(step: _Step, created_dirs: list[Path]) -> None:
    if step.change.after is None:
        return
    _make_parents(step.target.parent, created_dirs)
    step.temp = _write_temp(step.target, encode(step.change.after, step.change.bom), step.mode)


def _write_temp(target: Path, data: bytes, mode: int | None) -> Path:
    name = target.with_name(f".{target.name}.{secrets.token_hex(4)}.fba-tmp")
    handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(name, mode)
    except BaseException:
        _remove_quietly(name)
        raise
    return name


def _make_parents(folder: Path, created_dirs: list[Path]) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created_dirs.append(path)


def _commit(step: _Step) -> None:
    if step.change.after is None:
        backup = step.target.with_name(f".{step.target.name}.{secrets.token_hex(4)}.fba-backup")
        os.replace(step.target, backup)
        step.backup = backup
    else:
        os.replace(step.temp, step.target)
        step.temp = None
    step.done = True


def _rollback(steps: list[_Step], created_dirs: list[Path]) -> list[str]:
    """Undo finished steps (newest first) and drop temp files; returns paths that could not be restored."""
    problems = []
    for step in reversed(steps):
        try:
            _undo(step)
        except OSError:
            problems.append(step.change.path)
        _remove_quietly(step.temp)
    for folder in reversed(created_dirs):
        try:
            folder.rmdir()
        except OSError:
            pass
    return problems


def _undo(step: _Step) -> None:
    if not step.done:
        return
    if step.backup is not None:
        os.replace(step.backup, step.target)
        step.backup = None
    elif step.original is None:
        os.remove(step.target)
    else:
        restored = _write_temp(step.target, step.original, step.mode)
        try:
            os.replace(restored, step.target)
        except OSError:
            _remove_quietly(restored)
            raise
    step.done = False


def _remove_quietly(path: Path | None) -> None:
    if path is not None:
        try:
            os.remove(path)
        except OSError:
            pass

"""The pending change set: an overlay over the working tree where reads see pending edits.

Nothing here writes to disk. Each file is read once, at first use; its bytes' hash, BOM, line
ending style, final newline and permission bits are remembered so the change can be written back
exactly like the original (see `apply.apply_changeset`). Error messages are written for a model to
read and correct itself.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.edits.paths import repo_path
from agent.errors import ChangeError
from agent.types import ChangeSet, FileChange

MAX_SUGGESTIONS = 3
SIMILARITY_CUTOFF = 0.5


class EditError(ChangeError):
    """`edit` found `old_string` zero times or more than once; the message says where to look.

    `lines` holds the line numbers of every match (several matches) or of the most similar
    lines (no match).
    """

    def __init__(self, message: str, lines: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


@dataclass
class _File:
    """One file as first read (`original` is None when it did not exist) and as now pending."""

    original: bytes | None
    original_text: str | None
    text: str | None
    bom: bool = False
    newline: str | None = "\n"  # "\n", "\r\n", or None for mixed endings (strings used as given)
    final_newline: bool = True
    mode: int | None = None

    @property
    def changed(self) -> bool:
        return self.text != self.original_text


class PendingChanges:
    """Pending creates, edits and deletes of files under `root`, with paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._files: dict[str, _File] = {}

    # reading -----------------------------------------------------------------------------------

    def read(self, path: str) -> str:
        """The pending text of `path` (with its own line endings, without BOM)."""
        relative, file = self._file(path)
        if file.text is None:
            raise ChangeError(_missing(relative, file))
        return file.text

    # changing ----------------------------------------------------------------------------------

    def edit(self, path: str, old_string: str, new_string: str) -> None:
        """Replace the one occurrence of `old_string` by `new_string`.

        Line endings of both strings follow the file's (a model sending LF to a CRLF file still
        matches). Zero or several occurrences raise EditError saying which.
        """
        relative, file = self._file(path)
        if file.text is None:
            raise ChangeError(_missing(relative, file))
        if not old_string:
            raise ChangeError(f"{relative}: old_string is empty; to write a new file use create_file")
        old, new = _with_newlines(old_string, file.newline), _with_newlines(new_string, file.newline)
        starts = _occurrences(file.text, old)
        if not starts:
            raise _not_found(relative, file.text, old)
        if len(starts) > 1:
            lines = tuple(file.text.count("\n", 0, start) + 1 for start in starts)
            raise EditError(
                f"{relative}: old_string occurs {len(starts)} times (lines {', '.join(map(str, lines))}); "
                "include more surrounding lines so it matches exactly one place",
                lines,
            )
        text = file.text[: starts[0]] + new + file.text[starts[0] + len(old) :]
        file.text = _keep_final_newline(text, file)

    def create(self, path: str, content: str) -> None:
        """A new file; refused when the file exists on disk or in the pending state."""
        relative, file = self._file(path)
        if file.text is not None:
            raise ChangeError(f"{relative}: already exists; use edit_file to change it")
        file.text = content

    def delete(self, path: str) -> None:
        relative, file = self._file(path)
        if file.text is None:
            raise ChangeError(_missing(relative, file))
        file.text = None

    def rewrite(self, path: str, text: str) -> None:
        """Replace the whole pending text of an existing file (for fixers that return new source)."""
        relative, file = self._file(path)
        if file.text is None:
            raise ChangeError(_missing(relative, file))
        file.text = text

    # result ------------------------------------------------------------------------------------

    def snapshot(self) -> ChangeSet:
        """The changed files, sorted by path, as an immutable ChangeSet."""
        changes = []
        for relative in sorted(self._files):
            file = self._files[relative]
            if not file.changed:
                continue
            changes.append(FileChange(
                path=relative,
                before=file.original_text,
                after=file.text,
                before_sha256=hashlib.sha256(file.original).hexdigest() if file.original is not None else None,
                bom=file.bom,
                mode=file.mode,
            ))
        return ChangeSet(tuple(changes))

    # internals ---------------------------------------------------------------------------------

    def _file(self, path: str) -> tuple[str, _File]:
        relative = repo_path(self.root, path)
        if relative not in self._files:
            self._files[relative] = _load(self.root / relative, relative)
        return relative, self._files[relative]


def _load(file: Path, relative: str) -> _File:
    try:
        data = file.read_bytes()
        mode = stat.S_IMODE(file.stat().st_mode)
    except FileNotFoundError:
        return _File(original=None, original_text=None, text=None)
    except IsADirectoryError:
        raise ChangeError(f"{relative}: is a directory, not a file") from None
    except OSError as exc:
        raise ChangeError(f"{relative}: cannot read: {exc.strerror}") from None
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text = data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChangeError(f"{relative}: not UTF-8 text (byte {exc.start}); fba only changes UTF-8 files") from None
    if "\x00" in text:
        raise ChangeError(f"{relative}: binary file; fba only changes text files")
    return _File(
        original=data,
        original_text=text,
        text=text,
        bom=bom,
        newline=newline_style(text),
        final_newline=text.endswith("\n") or not text,
        mode=mode,
    )


def newline_style(text: str) -> str | None:
    """"\\r\\n" when every line ends in CRLF, "\\n" when none does, None for mixed endings."""
    crlf = text.count("\r\n")
    if crlf == 0:
        return "\n"
    return "\r\n" if crlf == text.count("\n") else None


def _with_newlines(text: str, newline: str | None) -> str:
    if newline is None:
        return text
    unified = text.replace("\r\n", "\n")
    return unified if newline == "\n" else unified.replace("\n", "\r\n")


def _keep_final_newline(text: str, file: _File) -> str:
    # A model's replacement of the last line usually drops the final newline by accident.
    if file.final_newline and text and not text.endswith("\n"):
        return text + (file.newline or "\n")
    return text


def _occurrences(text: str, needle: str) -> list[int]:
    starts, start = [], text.find(needle)
    while start != -1:
        starts.append(start)
        start = text.find(needle, start + 1)
    return starts


def _missing(relative: str, file: _File) -> str:
    if file.original is not None:
        return f"{relative}: was deleted earlier in this change set"
    return f"{relative}: no such file"


def _not_found(relative: str, text: str, old: str) -> EditError:
    """The 0-match error, naming the lines most similar to old_string's first non-blank line."""
    probe = next((line.strip() for line in old.splitlines() if line.strip()), old.strip())
    scored = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            ratio = difflib.SequenceMatcher(None, probe, line.strip(), autojunk=False).ratio()
            if ratio >= SIMILARITY_CUTOFF:
                scored.append((-ratio, number, line))
    best = sorted(scored)[:MAX_SUGGESTIONS]
    message = f"{relative}: old_string not found (it must match exactly, including indentation)"
    if best:
        near = "; ".join(f"line {number}: {line.strip()!r}" for _, number, line in best)
        message += f"; most similar: {near}"
    return EditError(message, tuple(number for _, number, _ in best))

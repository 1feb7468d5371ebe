"""Preview of a change set: a `git apply`-able unified diff and a per-file summary. Text only."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from agent.types import ChangeSet, FileChange

CONTEXT_LINES = 3
NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class FileStat:
    """Lines added and removed in one file of a change set."""

    path: str
    kind: str
    added: int
    removed: int


def unified_diff(changeset: ChangeSet) -> str:
    """The whole change set as one patch in git's format (`a/` `b/` prefixes, file mode headers)."""
    return "".join(file_diff(change) for change in changeset.files)


def file_diff(change: FileChange) -> str:
    header = [f"diff --git a/{change.path} b/{change.path}\n"]
    if change.kind == "create":
        header.append(f"new file mode {_git_mode(change.mode)}\n")
    elif change.kind == "delete":
        header.append(f"deleted file mode {_git_mode(change.mode)}\n")
    # The BOM is part of the first line on disk; leaving it out would make the patch not apply.
    bom = "\ufeff" if change.bom else ""
    before = _lines(None if change.before is None else bom + change.before)
    after = _lines(None if change.after is None else bom + change.after)
    if not before and not after:
        return "".join(header)  # empty file created or deleted: headers only, as git writes it
    old_name = "/dev/null" if change.before is None else f"a/{change.path}"
    new_name = "/dev/null" if change.after is None else f"b/{change.path}"
    body = difflib.unified_diff(before, after, old_name, new_name, n=CONTEXT_LINES, lineterm="\n")
    return "".join(header) + "".join(_mark_missing_newlines(body))


def diff_stats(changeset: ChangeSet) -> list[FileStat]:
    stats = []
    for change in changeset.files:
        added = removed = 0
        for line in difflib.unified_diff(_lines(change.before), _lines(change.after), n=0):
            if line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
        stats.append(FileStat(change.path, change.kind, added, removed))
    return stats


def _git_mode(mode: int | None) -> str:
    executable = mode is not None and mode & 0o111
    return "100755" if executable else "100644"


def _lines(text: str | None) -> list[str]:
    # Split on "\n" only: a CRLF line keeps its "\r" as content, exactly as git diffs it.
    if text is None:
        return []
    lines = text.split("\n")
    result = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def _mark_missing_newlines(lines):
    for line in lines:
        if line.endswith("\n"):
            yield line
        else:
            yield line + "\n"
            yield NO_NEWLINE

"""`fba review --changed` and `--diff REF`: the findings a change brings.

Both take one path: a `ChangeScope` (the changed files and lines, and the changed files' texts at
the base: HEAD for `--changed`, REF for `--diff`) reviewed by `review_scope`. The whole project
still feeds the index. A finding belongs to the change when its line was added or changed (with
`--changed`: when its file changed), or when it is new although its line is not: its evidence
changed elsewhere (`dependencies=[...]` removed from an `include_router` or an `APIRouter(...)`,
an auth parameter dropped from a handler, a model that lost its owner column). Rules do not need
to name their evidence for this: the findings of the project as it is are compared with those of
the project at the base (the changed Python files' texts at the base over the work tree; the cache
serves every file the change cannot affect). A finding is the same at the base when the same rule
reports the same code line of the same file, so findings that only moved are not new.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from agent.analysis.cache import ReviewCache
from agent.analysis.passes import Progress
from agent.analysis.runner import ReviewOptions, review_paths
from agent.analysis.source import decode_source
from agent.edits.git import changed_files, changed_lines, has_commits, python_files_at
from agent.errors import InputError
from agent.types import Finding, ReviewResult

Lines = Mapping[Path, "frozenset[int] | None"]


@dataclass(frozen=True)
class ChangeScope:
    """What a change-scoped review reports: the changed files under its targets (absolute paths)
    with their changed lines (None: the whole file), and the changed Python files' content at the
    base (None: not there then) to tell new findings from old ones."""

    lines: Lines
    before: Mapping[Path, "bytes | None"]


def uncommitted_changes(targets: Sequence[Path], start: Path) -> ChangeScope:
    """`--changed`: the files under `targets` changed against HEAD (staged, unstaged, untracked),
    whole; the base is HEAD (before the first commit every file is changed: no base)."""
    lines = {path.resolve(): None for path in changed_files(start) if _under(path, targets)}
    return ChangeScope(lines, python_files_at(start, "HEAD") if has_commits(start) else {})


def changes_since(targets: Sequence[Path], start: Path, ref: str) -> ChangeScope:
    """`--diff REF`: the lines under `targets` added or changed since `ref`; the base is `ref`."""
    lines = {path.resolve(): changed for path, changed in changed_lines(start, ref).items() if _under(path, targets)}
    return ChangeScope(lines, python_files_at(start, ref))


def review_scope(targets: Sequence[Path], options: ReviewOptions, root: Path, scope: ChangeScope,
                 cache: ReviewCache | None = None, progress: Progress | None = None) -> ReviewResult:
    """The findings of `scope`: those on its changed lines, plus those elsewhere under `targets`
    that the project did not have at the base (their evidence changed)."""
    report = scope.lines
    with _scratch(cache) as cache:
        on_lines = review_paths(_index_paths(targets, root), options, root, cache=cache, report=report, progress=progress)
        if not scope.before:
            return on_lines
        now = review_paths(targets, options, root, cache=cache, progress=progress)
        elsewhere = [f for f in now.findings if not _on_changed_line(f, report)]
        if not elsewhere:
            return on_lines
        overlay = _texts(scope.before)
        files = {Path(f.path).resolve() for f in elsewhere}
        then = review_paths(targets, options, root, cache=cache, report=dict.fromkeys(files), overlay=overlay)
    new = _new_findings(elsewhere, then.findings, overlay)
    return ReviewResult(
        tuple(sorted((*on_lines.findings, *new), key=Finding.sort_key)),
        files=on_lines.files + len({Path(f.path).resolve() for f in new} - set(report)),
        skipped=on_lines.skipped,
        suppressed=on_lines.suppressed,
    )


def _index_paths(targets: Sequence[Path], root: Path) -> list[Path]:
    """The project root and the targets outside it: what feeds the index of a changed-files review."""
    return [root, *(target for target in targets if not _inside(target, root))]


def _under(path: Path, targets: Sequence[Path]) -> bool:
    return any(_inside(path, target) for target in targets)


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


@contextmanager
def _scratch(cache: ReviewCache | None) -> Iterator[ReviewCache]:
    """The review cache, or without one (`--no-cache`) a throwaway one outside the project: the
    three reviews of a diff share their work instead of each parsing everything."""
    if cache is not None:
        yield cache
        return
    with tempfile.TemporaryDirectory(prefix="fba-diff-") as folder:
        yield ReviewCache(Path(folder))


def _on_changed_line(finding: Finding, report: Lines) -> bool:
    absolute = Path(finding.path).resolve()
    if absolute not in report:
        return False
    lines = report[absolute]
    return lines is None or finding.line in lines


def _texts(before: Mapping[Path, bytes | None]) -> dict[Path, str | None]:
    """The changed files' texts at REF (None: not there then); one that cannot be decoded is
    left as it is on disk."""
    texts: dict[Path, str | None] = {}
    for path, data in before.items():
        try:
            texts[path.resolve()] = decode_source(data, str(path)) if data is not None else None
        except InputError:
            continue
    return texts


def _new_findings(now: Sequence[Finding], then: Sequence[Finding], texts_then: Mapping[Path, str | None]) -> list[Finding]:
    """The findings of `now` that `then` did not have: same rule, file and code line, counted
    (two alike lines with one finding before and two now give one new finding)."""
    code_then, code_now = _CodeLines(texts_then), _CodeLines({})
    before = Counter((f.rule, f.path, code_then.of(f)) for f in then)
    new = []
    for finding in now:
        key = (finding.rule, finding.path, code_now.of(finding))
        if before[key]:
            before[key] -= 1
        else:
            new.append(finding)
    return new


class _CodeLines:
    """The code line a finding is on: in `texts` (absolute path -> text, None: no file) where
    they have the file, else on disk."""

    def __init__(self, texts: Mapping[Path, str | None]) -> None:
        self.texts = texts
        self._lines: dict[Path, list[str]] = {}

    def of(self, finding: Finding) -> str:
        absolute = Path(finding.path).resolve()
        if absolute not in self._lines:
            text = self.texts[absolute] if absolute in self.texts else _read(absolute)
            self._lines[absolute] = (text or "").splitlines()
        lines = self._lines[absolute]
        return lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""


def _read(path: Path) -> str:
    try:
        return decode_source(path.read_bytes(), str(path))
    except (OSError, InputError):
        return ""

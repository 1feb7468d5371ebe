"""Reading a project's files from disk into `ReviewSource`s: the disk edge of a review.

With a cache, a file whose stat signature the cache vouches for is not read (its text is read
only if the rules must run on it); display paths are relative to the current directory and
module names come from the import roots (`discovery.ImportBases`). An overlay (`--diff`) stands
in for files as they were at another time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from agent.analysis.cache import Signature, digest, stat_signature
from agent.analysis.discovery import ImportBases, add_walked, collect, index_roots, python_files, relative_to
from agent.errors import InputError
from agent.types import Skipped

if TYPE_CHECKING:
    from agent.analysis.analyzer import SourceFile
    from agent.analysis.memory import ReviewMemory


@dataclass
class ReviewSource:
    """One file of the project. A file the cache vouches for by its stat signature has no text
    until it is needed (to parse it, or to run the rules on it)."""

    path: str
    module: str
    digest: str  # of the text ("" without a cache: nothing compares it)
    text: str | None = None
    absolute: Path | None = None
    signature: Signature | None = None
    import_path: str | None = None

    def source_file(self) -> SourceFile:
        from agent.analysis.analyzer import SourceFile

        if self.text is None:
            self.text = _read_text(self.absolute, self.path)
            if digest(self.text) != self.digest:
                self.signature = None  # edited since its stat was taken: hash it next time
        return SourceFile(self.path, self.module, self.text, self.digest)


def _read_text(absolute: Path, shown: str) -> str:
    from agent.analysis.source import decode_source

    try:
        return decode_source(absolute.read_bytes(), shown)
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror}") from None


def module_name_of(import_path: str) -> str:
    from agent.analysis.facts import module_name  # the facts module is heavy: only when needed

    return module_name(import_path)


def disk_sources(
    files: Iterable[Path], root: Path, roots: Sequence[Path], memory: ReviewMemory | None,
    overlay: Mapping[Path, str | None] | None = None,
) -> tuple[list[ReviewSource], list[Skipped]]:
    """The files (resolved absolute paths) as `ReviewSource`s in path order, and the unreadable ones.
    With a cache, a file whose stat signature the cache vouches for is not read. `overlay`: see
    `review_paths`."""
    bases = ImportBases(root, roots)
    cwd = Path.cwd().resolve()
    sources: list[ReviewSource] = []
    skipped: list[Skipped] = []
    overlay = overlay or {}
    for absolute in _with_overlay(files, overlay, bases.roots):
        shown = relative_to(absolute, cwd)
        import_path = relative_to(absolute, bases(absolute.parent))
        if absolute in overlay:
            text = overlay[absolute]
            sources.append(ReviewSource(shown, module_name_of(import_path), digest(text) if memory is not None else "",
                                        text, absolute, None, import_path))
            continue
        try:
            sources.append(_disk_source(absolute, shown, import_path, memory))
        except InputError as exc:
            skipped.append(Skipped(shown, str(exc)))
    # Path order on disk, not of the display paths: from a subfolder, `../x.py` would sort first
    # and the index (and so findings) would depend on where fba was started.
    sources.sort(key=lambda s: str(s.absolute))
    return sources, skipped


def _with_overlay(files: Iterable[Path], overlay: Mapping[Path, str | None], roots: Sequence[Path]) -> list[Path]:
    """`files` without those the overlay says are not there, plus the overlay's other files
    under `roots` (deleted or renamed since)."""
    kept = [f for f in files if f not in overlay or overlay[f] is not None]
    present = set(kept)
    added = [f for f, text in overlay.items() if text is not None and f not in present
             and any(r in f.parents for r in roots)]
    return kept + sorted(added)


def _disk_source(absolute: Path, shown: str, import_path: str, memory: ReviewMemory | None) -> ReviewSource:
    record = memory.record(shown) if memory is not None else None
    # Module names are a function of the import path: reuse the cached one (no facts import).
    module = record.module if record is not None and record.import_path == import_path else module_name_of(import_path)
    if memory is None:
        return ReviewSource(shown, module, "", _read_text(absolute, shown), absolute, None, import_path)
    try:
        signature = stat_signature(absolute)  # before reading: a later edit then shows in the stat
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror}") from None
    text_digest = memory.trusted_text(shown, signature)
    text = None
    if text_digest is None:
        text = _read_text(absolute, shown)
        text_digest = digest(text)
    return ReviewSource(shown, module, text_digest, text, absolute, signature, import_path)


def read_sources(
    files: Iterable[Path], root: Path, roots: Sequence[Path] = ()
) -> tuple[dict[str, str], dict[str, str], list[Skipped]]:
    """Read files (resolved absolute paths) as text: (display path -> text, display path ->
    module, unreadable files). Display paths are relative to the current directory (the JSON
    contract); module names: see `discovery.ImportBases` (`roots` are the index roots,
    default `root`).
    """
    sources, skipped = disk_sources(files, root, roots, None)
    return {s.path: s.text for s in sources}, {s.path: s.module for s in sources}, skipped


def indexed_sources(
    paths: Sequence[Path], root: Path, exclude: Sequence[str] = ()
) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """What a review of `paths` indexes (display path -> text, display path -> module: every Python
    file of their projects) and the display paths of the files it reports (those `paths` name)."""
    files = collect(paths, root, exclude, None)
    named = list(files)
    roots = index_roots(paths, root)
    for folder in roots:
        add_walked(files, python_files(folder, root, exclude))
    sources, modules, _ = read_sources(files, root, roots)
    cwd = Path.cwd().resolve()
    return sources, modules, {relative_to(absolute, cwd) for absolute in named}

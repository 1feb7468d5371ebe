"""File discovery: the Python files a review reads, and the folders their module names start
from (import roots). The one place that decides which files make up a project.

Both follow from the files themselves, never from what was named on the command line or where
fba was started, so a file gets the same findings whether it is reviewed alone, with its
folder, by a pre-commit hook or as part of `fba review .`: a file's project is the nearest
folder upward holding a project file (`pyproject.toml`, `setup.cfg`, `setup.py`) or a git
work tree's top, and the whole project feeds the index. Module names start at the parent of a
package's topmost `__init__.py`, else (modules and namespace packages, which have no
`__init__.py`) at the project's `src/` for files under it, else at the project folder.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from agent.errors import UsageError

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "node_modules", "site-packages",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".fba_cache", "build", "dist",
})
PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.rstrip("/") + "/*") for p in patterns)


def collect_files(
    paths: Sequence[Path], root: Path, exclude: Sequence[str] = (), walk: Callable[[Path], list[Path]] | None = None
) -> list[Path]:
    """Python files under `paths`; a missing path or a folder without Python is a UsageError.

    Explicitly named files are always kept; files found by walking (`python_files`, or `walk`
    when the caller shares walks) honour `exclude` (globs relative to `root`) and skip
    virtualenvs, caches and hidden folders.
    """
    return list(collect(paths, root, exclude, walk).values())


def collect(
    paths: Sequence[Path], root: Path, exclude: Sequence[str], walk: Callable[[Path], list[Path]] | None
) -> dict[Path, Path]:
    """`collect_files` keyed by resolved path (each file resolved once: it costs a syscall per part)."""
    found: dict[Path, Path] = {}
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if path.is_file():
            found.setdefault(path.resolve(), path)
            continue
        walked = walk(path) if walk is not None else python_files(path, root, exclude)
        if not walked:
            hidden = bool(exclude) and bool(python_files(path, root))
            reason = " (all excluded by the 'exclude' setting)" if hidden else ""
            raise UsageError(f"{path}: no Python files to review{reason}")
        add_walked(found, walked)
    return found


def add_walked(found: dict[Path, Path], walked: Iterable[Path]) -> None:
    """Add `python_files` results: already absolute, so only file symlinks need resolving."""
    for file in walked:
        if file not in found:
            found.setdefault(file.resolve() if file.is_symlink() else file, file)


def python_files(folder: Path, root: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """The Python files under `folder` (as absolute paths), honouring `exclude` and skipping
    SKIP_DIRS and hidden folders."""
    base = str(root.resolve())
    found: list[Path] = []
    for current, dirs, files in os.walk(folder.resolve()):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                file = os.path.join(current, name)
                if not exclude or not _excluded(os.path.relpath(file, base).replace(os.sep, "/"), exclude):
                    found.append(Path(file))
    return found


def import_root(target: Path, root: Path) -> Path:
    """The folder `target` is imported from: climbing from `target` (a file's folder, or a folder)
    while the folder is a package (has `__init__.py`), the parent of the topmost package.

    Climbing stops at `root` (the project root) and at a git work tree's top, so it never leaves
    the project or the repository.
    """
    folder = (target if target.is_dir() else target.parent).resolve()
    stops = {root.resolve()}
    while (folder / "__init__.py").is_file() and folder not in stops and not (folder / ".git").exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    return folder


def relative_to(absolute: Path, base: Path) -> str:
    """POSIX path of `absolute` relative to `base` (both resolved), with `..` when outside it."""
    # String prefix first: `Path.relative_to` costs more than the rest of a warm file's work.
    text, prefix = str(absolute), os.path.join(str(base), "")
    if text.startswith(prefix):
        return text[len(prefix):].replace(os.sep, "/")
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return os.path.relpath(absolute, base).replace(os.sep, "/")


def project_root(target: Path) -> Path | None:
    """The project `target` (a file or folder) belongs to: the nearest folder at or above it that
    holds a project file or is a git work tree's top; None when there is none."""
    return _nearest_project((target if target.is_dir() else target.parent).resolve(), {})


def _nearest_project(folder: Path, known: dict[Path, Path | None]) -> Path | None:
    """`project_root` of a resolved folder; `known` memoises it for the folders on the way up."""
    if folder not in known:
        if _is_project(folder):
            known[folder] = folder
        else:
            known[folder] = None if folder.parent == folder else _nearest_project(folder.parent, known)
    return known[folder]


def _is_project(folder: Path) -> bool:
    return (folder / ".git").exists() or any((folder / name).is_file() for name in PROJECT_FILES)


def index_roots(paths: Sequence[Path], root: Path) -> list[Path]:
    """The folders whose Python files feed the index of a review of `paths`: each path's project,
    or, outside any project, its import root (`root` is where climbing stops then)."""
    return sorted({project_root(path) or import_root(path, root) for path in paths})


class ImportBases:
    """The folder the module names of the files in a folder start from (see the module docstring),
    memoised per folder. Outside any project, the deepest of `roots` (the index roots) holding
    the folder stands in for the project; `root` is where package climbing stops then."""

    def __init__(self, root: Path, roots: Sequence[Path]) -> None:
        self.root = root.resolve()
        self.roots = sorted({r.resolve() for r in (roots or [root])}, key=lambda r: len(r.parts), reverse=True)
        self._bases: dict[Path, Path] = {}
        self._projects: dict[Path, Path | None] = {}

    def __call__(self, folder: Path) -> Path:
        if folder not in self._bases:
            self._bases[folder] = self._base(folder)
        return self._bases[folder]

    def _base(self, folder: Path) -> Path:
        project = _nearest_project(folder, self._projects)
        if (folder / "__init__.py").is_file():
            return import_root(folder, project or self.root)
        if project is None:
            return next((r for r in self.roots if r == folder or r in folder.parents), self.roots[-1])
        src = project / "src"
        return src if folder == src or src in folder.parents else project

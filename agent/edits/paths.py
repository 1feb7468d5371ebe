"""Repository-relative path checks: every path a change set touches must stay inside the repo."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from agent.errors import ChangeError


def repo_path(root: Path, path: str) -> str:
    """Check `path` (relative to `root`) and return it in normal POSIX form.

    Refused with ChangeError: empty paths, absolute paths, `..` components, anything under a
    `.git` folder, paths whose real location (after following symlinks, also of parent folders)
    is outside `root`, and symlinks themselves (writing would replace the link by a file).
    """
    if not path or "\x00" in path:
        raise ChangeError(f"invalid path {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise ChangeError(f"{path}: absolute paths are not allowed; use a path relative to the repository root")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise ChangeError(f"invalid path {path!r}: names no file")
    if ".." in parts:
        raise ChangeError(f"{path}: '..' is not allowed; paths must stay inside the repository")
    if _in_git_dir(parts):
        raise ChangeError(f"{path}: files under .git/ are never changed")
    relative = "/".join(parts)
    try:
        _check_real_location(Path(root), relative, path)
    except OSError as exc:  # a name over the OS limit, a link loop, no permission
        shown = path if len(path) <= 80 else path[:80] + "..."
        raise ChangeError(f"{shown}: cannot access: {exc.strerror or exc}") from None
    return relative


def _check_real_location(root: Path, relative: str, path: str) -> None:
    real_root = root.resolve()
    target = real_root / relative
    real_target = target.resolve()
    try:
        inside = real_target.relative_to(real_root)
    except ValueError:
        raise ChangeError(f"{path}: leads outside the repository through a symlink") from None
    if _in_git_dir(inside.parts):
        raise ChangeError(f"{path}: leads into .git/ through a symlink")
    if target.is_symlink():
        raise ChangeError(f"{path}: is a symlink; change the file it points to instead")


def _in_git_dir(parts) -> bool:
    # Case-insensitive: on macOS/Windows file systems `.GIT/config` is `.git/config`.
    return any(part.lower() == ".git" for part in parts)

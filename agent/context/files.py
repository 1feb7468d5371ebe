"""The read-only agent tools of DESIGN.md over one repository: `list_files`, `read_file`, `search`.

    files = RepoFiles(repo_root, deny=config["deny"])
    files.read_file("app/main.py", start_line=1, end_line=80)   # numbered lines, or InputError

Every path is confined to the repository root: no absolute paths, no `..`, no symlink whose target
lies outside. `.gitignore` files (at any depth, with `!` negations; the deeper file wins) and a few
always-skipped folders (`.git`, virtualenvs, caches) hide files from listing and search, and such
files cannot be read. The secret deny-list (`DEFAULT_DENY` plus config `deny`, gitignore syntax)
is never listed, searched or read. A refusal is an `InputError` whose one-line message the tool loop
sends back to the model as a tool error; no content of a refused file is ever returned.

Results are plain text for the model; redaction of secret-looking values happens in the tool loop,
for every tool's result alike.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

import pathspec

from agent.errors import InputError
from agent.textformats import decode_text

DEFAULT_DENY: tuple[str, ...] = (
    ".env*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".ssh/", ".aws/", ".gnupg/", ".kube/", ".docker/",
    "secrets/", "credentials*", "*credentials*.json", "*service-account*.json", "*service_account*.json",
    "client_secret*.json", "*.tfstate", "*.tfstate.*", ".netrc", ".npmrc", ".pypirc", ".git-credentials",
    ".htpasswd", "*.sqlite", "*.sqlite3", "*.db",
)
ALWAYS_SKIPPED: tuple[str, ...] = (
    ".git/", ".hg/", ".venv/", "venv/", "node_modules/", "__pycache__/", ".mypy_cache/",
    ".pytest_cache/", ".ruff_cache/", ".tox/",
)
MAX_LISTED = 500
MAX_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_FILE_BYTES = 2_000_000
MAX_MATCHES = 200


class RepoFiles:
    """Read-only, confined, deny-listed access to the files of one repository."""

    def __init__(self, root: Path, deny: Sequence[str] = ()) -> None:
        self.root = Path(root).resolve()
        self._deny = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_DENY, *deny])
        self._skipped = pathspec.GitIgnoreSpec.from_lines(ALWAYS_SKIPPED)
        self._gitignores: dict[str, pathspec.GitIgnoreSpec | None] = {}

    # -- the tools ---------------------------------------------------------------------------

    def list_files(self, path: str = ".", pattern: str | None = None) -> str:
        """Files under `path` (relative to the root), one per line, optionally filtered by a glob
        matched against the relative path or the file name."""
        files = [f for f in self._walk(self._checked_dir(path))
                 if not pattern or fnmatch.fnmatchcase(f, pattern) or fnmatch.fnmatchcase(PurePosixPath(f).name, pattern)]
        if not files:
            return "(no files)"
        shown = "\n".join(files[:MAX_LISTED])
        if len(files) > MAX_LISTED:
            shown += f"\n[... and {len(files) - MAX_LISTED} more files; narrow with path or pattern]"
        return shown

    def read_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        """Lines `start_line..end_line` (1-based, inclusive) of a file, numbered like `cat -n`."""
        relative, full = self._checked(path)
        if full.is_dir():
            raise InputError(f"'{relative}' is a folder; use list_files")
        lines = _text_of(full, relative).splitlines()
        first = max(1, start_line or 1)
        last = min(len(lines), end_line or len(lines), first + MAX_LINES - 1)
        if first > max(len(lines), 1):
            raise InputError(f"'{relative}' has {len(lines)} lines; start_line {first} is past the end")
        numbered = "\n".join(f"{n:>6}\t{_clip(lines[n - 1])}" for n in range(first, last + 1))
        if last < min(len(lines), end_line or len(lines)):
            numbered += f"\n[showing lines {first}-{last} of {len(lines)}; read on with start_line={last + 1}]"
        return numbered or "(empty file)"

    def search(self, pattern: str, path: str = ".") -> str:
        """`file:line: text` for every line matching the regex `pattern` under `path`."""
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise InputError(f"invalid regular expression {pattern!r}: {exc}") from None
        target = self._checked_any(path)
        candidates = [relative_of(target, self.root)] if target.is_file() else self._walk(target)
        matches: list[str] = []
        for relative in candidates:
            full = self.root / relative
            try:
                if full.stat().st_size > MAX_FILE_BYTES:
                    continue
                text = _text_of(full, relative)
            except (InputError, OSError):
                continue  # binary or unreadable files have no lines to match
            for number, line in enumerate(text.splitlines(), start=1):
                if regex.search(line):
                    matches.append(f"{relative}:{number}: {_clip(line.strip(), 300)}")
                    if len(matches) > MAX_MATCHES:
                        return "\n".join(matches[:MAX_MATCHES]) + f"\n[more than {MAX_MATCHES} matches; narrow the pattern or path]"
        return "\n".join(matches) or "(no matches)"

    def check_writable(self, relative: str) -> None:
        """InputError when `relative` (a normalised repository path, existing or not) is denied or
        ignored: files the model may not read, it may not write either."""
        self._refuse_hidden(relative, False)

    # -- confinement -------------------------------------------------------------------------

    def _checked(self, path: str) -> tuple[str, Path]:
        """(relative path, real path) of a readable file or folder, or InputError."""
        if not isinstance(path, str) or not path.strip():
            raise InputError("a path is required (relative to the repository root)")
        if "\x00" in path:
            raise InputError(f"{shown_path(path)}: a path cannot contain a NUL byte")
        try:
            return self._confined(path)
        except (OSError, ValueError) as exc:  # a name over the OS limit, a link loop, no permission
            raise InputError(f"{shown_path(path)}: cannot access: {getattr(exc, 'strerror', None) or exc}") from None

    def _confined(self, path: str) -> tuple[str, Path]:
        pure = PurePosixPath(path.replace("\\", "/"))
        if pure.is_absolute() or re.match(r"^[A-Za-z]:", path):
            raise InputError(f"'{path}': absolute paths are not allowed; use a path relative to the repository root")
        if ".." in pure.parts:
            raise InputError(f"'{path}' is outside the repository ('..' is not allowed)")
        relative = pure.as_posix()
        full = (self.root / relative)
        real = full.resolve()
        if not real.is_relative_to(self.root):
            raise InputError(f"'{path}' leads outside the repository (symbolic link)")
        real_relative = relative_of(real, self.root)
        for candidate in {relative, real_relative} - {"."}:
            self._refuse_hidden(candidate, real.is_dir())
        if not real.exists():
            raise InputError(f"'{relative}' does not exist")
        return relative, real

    def _checked_dir(self, path: str | None) -> Path:
        relative, full = self._checked(path or ".")
        if not full.is_dir():
            raise InputError(f"'{relative}' is not a folder")
        return full

    def _checked_any(self, path: str | None) -> Path:
        return self._checked(path or ".")[1]

    def _refuse_hidden(self, relative: str, is_dir: bool) -> None:
        if self._denied(relative, is_dir):
            raise InputError(f"'{relative}' is on the secret deny-list: its content is never sent to the model")
        if self._ignored(relative, is_dir):
            raise InputError(f"'{relative}' is ignored (.gitignore or a cache/virtualenv folder)")

    def _denied(self, relative: str, is_dir: bool) -> bool:
        return any(self._deny.match_file(p) for p in _self_and_parents(relative, is_dir))

    def _ignored(self, relative: str, is_dir: bool) -> bool:
        return any(self._skipped.match_file(p) or self._gitignored(p) for p in _self_and_parents(relative, is_dir))

    def _gitignored(self, relative: str) -> bool:
        """What the `.gitignore` files from the root down to this path's folder say (deepest wins)."""
        verdict = False
        parts = PurePosixPath(relative.rstrip("/")).parts
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            spec = self._gitignore(folder)
            if spec is None:
                continue
            inside = relative[len(folder) + 1:] if folder else relative
            result = spec.check_file(inside)
            if result.include is not None:
                verdict = result.include
        return verdict

    def _gitignore(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._gitignores:
            file = self.root / folder / ".gitignore"
            try:
                self._gitignores[folder] = pathspec.GitIgnoreSpec.from_lines(file.read_text(encoding="utf-8").splitlines())
            except (OSError, UnicodeDecodeError):
                self._gitignores[folder] = None
        return self._gitignores[folder]

    def _walk(self, top: Path) -> list[str]:
        return sorted(self._iter_files(top))

    def _iter_files(self, top: Path) -> Iterator[str]:
        for folder, dirs, files in os.walk(top, followlinks=False):
            base = relative_of(Path(folder), self.root)
            prefix = "" if base == "." else base + "/"
            dirs[:] = [d for d in dirs if not (Path(folder, d).is_symlink() or self._hidden(prefix + d, True))]
            for name in files:
                relative = prefix + name
                if not self._hidden(relative, False) and self._link_target_ok(Path(folder, name)):
                    yield relative

    def _link_target_ok(self, full: Path) -> bool:
        """A symlinked file is listed only if its target is inside the root and not hidden itself."""
        if not full.is_symlink():
            return True
        real = full.resolve()
        return real.is_relative_to(self.root) and not self._hidden(relative_of(real, self.root), False)

    def _hidden(self, relative: str, is_dir: bool) -> bool:
        path = relative + "/" if is_dir else relative
        return bool(self._deny.match_file(path) or self._skipped.match_file(path) or self._gitignored(path))


def shown_path(path: str, limit: int = 80) -> str:
    """A path the model sent, quoted and shortened for an error message (it may be huge)."""
    return repr(path if len(path) <= limit else path[:limit] + "...")


def relative_of(path: Path, root: Path) -> str:
    relative = path.relative_to(root).as_posix()
    return relative or "."


def _self_and_parents(relative: str, is_dir: bool) -> list[str]:
    """`a/b/c.py` -> `a/`, `a/b/`, `a/b/c.py` (folders with a slash, as gitignore matches them)."""
    parts = PurePosixPath(relative).parts
    paths = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts) - 1)]
    paths.append(relative + ("/" if is_dir else ""))
    return paths


def _text_of(full: Path, relative: str) -> str:
    try:
        size = full.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"'{relative}' is too large to read ({size // 1024} KB)")
        data = full.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read '{relative}': {exc.strerror}") from None
    return decode_text(data, f"'{relative}'", "a text file")


def _clip(line: str, limit: int = MAX_LINE_CHARS) -> str:
    return line if len(line) <= limit else line[:limit] + " [line cut]"

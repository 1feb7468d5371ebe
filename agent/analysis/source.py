"""Read and parse Python sources with stdlib `ast`, tolerating syntax newer than the running Python.

Files are never skipped silently: a file that only parses after a known rewrite (e.g. 3.14's
`except A, B:`) is analysed in full; one that needs lines blanked out is analysed partially and
the blanked lines are reported.
"""

from __future__ import annotations

import ast
import codecs
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from agent.errors import InputError
from agent.textformats import decode_text

# PEP 758 (3.14): `except A, B:` / `except* A, B:` without parentheses.
_UNPARENTHESISED_EXCEPT = re.compile(
    r"^(?P<head>\s*except\*?\s+)(?P<types>[^():#\n]+,[^():#\n]+?)(?P<tail>\s*(?:as\s+\w+\s*)?:)",
    re.MULTILINE,
)
# PEP 695 (3.12): `type X = ...` aliases and `def f[T](...)` / `class C[T]:` type parameters.
# Rewritten to their 3.11 equivalents for analysis (`X = ...`, parameters dropped), which keeps
# every line number and what the index needs (an `Annotated` alias stays an alias).
_TYPE_ALIAS = re.compile(r"^(?P<indent>[ \t]*)type[ \t]+(?P<name>\w+)[ \t]*(?:\[[^\]\n]*\])?[ \t]*=", re.MULTILINE)
_TYPE_PARAMS = re.compile(r"^(?P<head>[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w+)\[[^\]\n]*(?:\[[^\]\n]*\][^\]\n]*)*\](?=[ \t]*[(:])",
                          re.MULTILINE)
REWRITES = (
    (_UNPARENTHESISED_EXCEPT, r"\g<head>(\g<types>)\g<tail>", "unparenthesised except clause(s) (Python 3.14 syntax)"),
    (_TYPE_ALIAS, r"\g<indent>\g<name> =", "type alias statement(s) (Python 3.12 syntax)"),
    (_TYPE_PARAMS, r"\g<head>", "type parameter list(s) (Python 3.12 syntax)"),
)
MAX_BLANKED_LINES = 20


@dataclass(frozen=True)
class ParsedFile:
    """A parsed module plus what had to be done to parse it (empty `notes` when nothing)."""

    tree: ast.Module
    notes: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return any(n.startswith("blanked") for n in self.notes)


PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")


def decode_source(data: bytes, path: str) -> str:
    """Decode file bytes as Python does: UTF-8 unless a PEP 263 declaration (`# -*- coding:
    latin-1 -*-` in the first two lines) names another encoding. Binary or undecodable files,
    and unknown encodings, raise InputError."""
    if not _declares_coding(data):
        return decode_text(data, path, "Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown encoding, or a declaration that contradicts a BOM
        raise InputError(f"{path}: {exc.msg}") from None
    if codecs.lookup(encoding).name == "utf-8":
        return decode_text(data, path, "Python source")
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: binary file, not Python source")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not {encoding} text as its coding declaration says (byte {exc.start})") from None


def _declares_coding(data: bytes) -> bool:
    """A cheap test before `tokenize.detect_encoding`: can the first two lines hold a declaration?"""
    return b"coding" in b"\n".join(data.split(b"\n", 2)[:2])


def looks_like_python(path: Path) -> bool:
    """A file named on the command line that fba should parse: a Python suffix, or a script
    whose first line is a Python shebang."""
    if path.suffix.lower() in PYTHON_SUFFIXES:
        return True
    try:
        with open(path, "rb") as file:
            first = file.readline(200)
    except OSError:
        return True  # let the reader report why it cannot be read
    return first.startswith(b"#!") and b"python" in first


def parse_python(text: str, path: str) -> ParsedFile:
    """Parse `text`; fall back to source rewrites and line blanking for newer syntax."""
    try:
        return ParsedFile(ast.parse(text, filename=path, type_comments=False))
    except SyntaxError as first:
        first_error = first
    except ValueError as exc:  # e.g. source with NUL characters
        raise InputError(f"{path}: cannot parse: {exc}") from None

    rewritten, notes = _rewrite_newer_syntax(text)
    if notes:
        try:
            return ParsedFile(ast.parse(rewritten, filename=path), tuple(notes))
        except SyntaxError:
            pass
    return _parse_with_blanking(rewritten, path, notes, first_error)


def _rewrite_newer_syntax(text: str) -> tuple[str, list[str]]:
    """Apply every known rewrite; returns the text and a note per rewrite that changed something."""
    notes: list[str] = []
    for pattern, replacement, what in REWRITES:
        text, count = pattern.subn(replacement, text)
        if count:
            notes.append(f"rewrote {count} {what}")
    return text, notes


def _parse_with_blanking(text: str, path: str, notes: list[str], first_error: SyntaxError) -> ParsedFile:
    lines = text.splitlines(keepends=True)
    blanked: list[int] = []
    while len(blanked) < MAX_BLANKED_LINES:
        try:
            tree = ast.parse("".join(lines), filename=path)
        except SyntaxError as exc:
            lineno = exc.lineno or 0
            if not 1 <= lineno <= len(lines) or lineno in blanked:
                break
            lines[lineno - 1] = _neutral_line(lines[lineno - 1])
            blanked.append(lineno)
            continue
        notes.append("blanked unparsable line(s) " + ", ".join(map(str, blanked)) + "; the rest was analysed")
        return ParsedFile(tree, tuple(notes))
    line = first_error.lineno or 0
    raise InputError(f"{path}:{line}: syntax error: {first_error.msg}")


def _neutral_line(line: str) -> str:
    """Replace a line by `pass` at the same indentation, keeping block structure and line numbers."""
    indent = line[: len(line) - len(line.lstrip())]
    ending = "\n" if line.endswith("\n") else ""
    stripped = line.strip()
    if stripped.endswith(":") and not stripped.startswith("#"):
        return f"{indent}if True:{ending}"
    return f"{indent}pass{ending}"

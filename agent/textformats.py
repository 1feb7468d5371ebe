"""Text formats: decoding file bytes, terminal-safe text, JSON/YAML documents and front matter.
The only importer of PyYAML (lazily; it is not needed for static review)."""

from __future__ import annotations

import re
from typing import Any

from agent.errors import InputError


def decode_text(data: bytes, label: str, what: str) -> str:
    """File bytes as UTF-8 text (a BOM dropped); binary or undecodable data raise InputError."""
    if b"\x00" in data[:8192]:
        raise InputError(f"{label}: binary file, not {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (byte {exc.start})") from None


# C0 controls but newline and tab, DEL, C1 controls (`\x9b` is a one-byte CSI), and the bidi
# overrides that make text read differently from what it is ("Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe to print on a terminal: every control character but newline and tab shown as a
    visible escape (`\\x1b`, `\\r`, `\\u202e`), so model output, file contents and diffs cannot
    clear the screen, move the cursor, set the clipboard (OSC 52) or colour a fake verdict. CRLF
    line ends print as plain line ends. Every printing path runs what it did not write itself
    through this one function."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\r":
        return "\\r"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML; malformed documents raise InputError naming `what`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{what}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def load_json_or_yaml(text: str, source: str) -> Any:
    """A `.json` file as JSON, anything else as YAML (a JSON superset); errors name `source`."""
    if source.lower().endswith(".json"):
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: invalid JSON (line {exc.lineno}): {exc.msg}") from None
    return load_yaml(text, source)


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(`---` front matter block or None, body) of a Markdown document."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:number]), "".join(lines[number + 1 :])
    return None, text

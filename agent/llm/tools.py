"""Agent tools as the tool loop sees them: a name, a description, a JSON schema and a function.

A tool function takes the model's input (a dict) and returns text for the model. To report a
failure the model should see and may recover from (a denied path, no match, a bad argument) it
raises an `FbaError` (`InputError`, `ChangeError`, ...): the loop sends its one-line message back as
a `tool_result` with `is_error: true`. Any other exception is a bug and propagates.

`read_only_tools(files)` builds `list_files`, `read_file` and `search` (DESIGN.md names and inputs)
over an `agent.context.files.RepoFiles`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from agent.errors import InputError


@dataclass(frozen=True)
class Tool:
    """One tool the model may call."""

    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[dict[str, Any]], str]

    def schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


def summarize_input(tool_input: dict[str, Any], limit: int = 80) -> str:
    """A compact one-line view of a tool input, for the console and the store."""
    parts = []
    for key, value in tool_input.items():
        shown = value if isinstance(value, (int, float)) else repr(value) if isinstance(value, str) else "…"
        parts.append(f"{key}={shown}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def arg(tool_input: dict[str, Any], name: str, kind: type, required: bool = False) -> Any:
    """Argument `name` of a tool input, checked against `kind`; a bad one is a tool error."""
    value = tool_input.get(name)
    if value is None:
        if required:
            raise InputError(f"missing required argument '{name}'")
        return None
    if kind is int and isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"argument '{name}' must be a {kind.__name__}, got {value!r}")
    return value


def line_range(tool_input: dict[str, Any]) -> tuple[int | None, int | None]:
    """`start_line` and `end_line` of a read_file input: 1-based, in order; otherwise a tool error."""
    start, end = arg(tool_input, "start_line", int), arg(tool_input, "end_line", int)
    for name, value in (("start_line", start), ("end_line", end)):
        if value is not None and value < 1:
            raise InputError(f"argument '{name}' must be 1 or more (lines are numbered from 1), got {value}")
    if start is not None and end is not None and end < start:
        raise InputError(f"end_line {end} is before start_line {start}")
    return start, end


def read_only_tools(files: Any) -> list[Tool]:
    """`list_files`, `read_file`, `search` over a RepoFiles."""
    return [
        Tool(
            "list_files",
            "List files in the repository (honours .gitignore; secret files are never listed). "
            "`path` is a folder relative to the repository root; `pattern` a glob such as '*.py' or 'app/**/*.py'.",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "folder relative to the repository root (default: the root)"},
                "pattern": {"type": "string", "description": "glob matched against the relative path or the file name"},
            }},
            lambda i: files.list_files(arg(i, "path", str) or ".", arg(i, "pattern", str)),
        ),
        Tool(
            "read_file",
            "Read a text file of the repository with line numbers. Use start_line/end_line for big files.",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "file path relative to the repository root"},
                "start_line": {"type": "integer", "minimum": 1, "description": "first line to show (1-based)"},
                "end_line": {"type": "integer", "minimum": 1, "description": "last line to show (inclusive)"},
            }, "required": ["path"]},
            lambda i: files.read_file(arg(i, "path", str, required=True), *line_range(i)),
        ),
        Tool(
            "search",
            "Search the repository's text files with a Python regular expression; answers `file:line: text`.",
            {"type": "object", "properties": {
                "pattern": {"type": "string", "description": "Python regular expression"},
                "path": {"type": "string", "description": "file or folder to search (default: the whole repository)"},
            }, "required": ["pattern"]},
            lambda i: files.search(arg(i, "pattern", str, required=True), arg(i, "path", str) or "."),
        ),
    ]

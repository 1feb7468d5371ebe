"""Agent tools as the tool loop sees them: a name, a description, a JSON schema and a function.

A tool function takes the model's input (a dict) and returns text for the model. To report a
failure the model should see and may recover from (a denied path, no match, a bad argument) it
raises an `FbaError` (`InputError`, `ChangeError`, ...): the loop sends its one-line message back as
a `tool_result` with `is_error: true`. Any other exception is a bug and propagates.

`read_only_tools(files)` builds `list_files`, `read_file` and `search` (DESIGN.md names and inputs)
over an `agent.context.files.RepoFiles`.

Input schemas are spelled with one small builder, fields in the order the model sees them:

    object_schema(path=Required(string("file path")), start_line=integer("first line", minimum=1))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from agent.errors import InputError

Schema = dict[str, Any]
REPO_PATH = "file path relative to the repository root"


@dataclass(frozen=True)
class Required:
    """A field `object_schema` lists as required."""

    schema: Schema


def value(kind: str, description: str = "", **constraints: Any) -> Schema:
    """One JSON-schema value: its type, its constraints, then its description when it has one."""
    return {"type": kind, **constraints, **({"description": description} if description else {})}


def string(description: str = "", **constraints: Any) -> Schema:
    return value("string", description, **constraints)


def integer(description: str = "", **constraints: Any) -> Schema:
    return value("integer", description, **constraints)


def number(description: str = "", **constraints: Any) -> Schema:
    return value("number", description, **constraints)


def array(items: Schema, description: str = "", **constraints: Any) -> Schema:
    return value("array", description, **constraints, items=items)


def object_schema(**fields: Schema | Required) -> Schema:
    """An object with `fields` as its properties, in order; the `Required` ones are listed in
    `required` (left out when there are none)."""
    properties = {name: field.schema if isinstance(field, Required) else field for name, field in fields.items()}
    required = [name for name, field in fields.items() if isinstance(field, Required)]
    return {"type": "object", "properties": properties, **({"required": required} if required else {})}


def closed_object_schema(**fields: Schema | Required) -> Schema:
    """An `object_schema` that allows no field it does not name."""
    return {**object_schema(**fields), "additionalProperties": False}


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
            object_schema(path=string("folder relative to the repository root (default: the root)"),
                          pattern=string("glob matched against the relative path or the file name")),
            lambda i: files.list_files(arg(i, "path", str) or ".", arg(i, "pattern", str)),
        ),
        Tool(
            "read_file",
            "Read a text file of the repository with line numbers. Use start_line/end_line for big files.",
            object_schema(path=Required(string(REPO_PATH)),
                          start_line=integer("first line to show (1-based)", minimum=1),
                          end_line=integer("last line to show (inclusive)", minimum=1)),
            lambda i: files.read_file(arg(i, "path", str, required=True), *line_range(i)),
        ),
        Tool(
            "search",
            "Search the repository's text files with a Python regular expression; answers `file:line: text`.",
            object_schema(pattern=Required(string("Python regular expression")),
                          path=string("file or folder to search (default: the whole repository)")),
            lambda i: files.search(arg(i, "pattern", str, required=True), arg(i, "path", str) or "."),
        ),
    ]

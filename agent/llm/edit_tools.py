"""The agent tools that change things, as the tool loop sees them (DESIGN.md names and inputs):
`edit_file`, `create_file`, `delete_file`, `run_checks`, `run_tests`, and `ask_user`.

    tools = read_only_tools(workspace) + edit_tools(workspace) + [ask_user_tool(answer)]

`edit_tools` works over any object with the methods `edit_file`, `create_file`, `delete_file`,
`run_checks` and `run_tests` (`agent.workflows.workspace.Workspace`): every write goes to the
pending change set, never to the user's files. Failures are `FbaError`s, which the loop sends back
to the model as tool errors.
"""

from __future__ import annotations

from typing import Any, Callable

from agent.errors import InputError
from agent.llm.tools import Tool, arg


def edit_tools(workspace: Any) -> list[Tool]:
    """`edit_file`, `create_file`, `delete_file`, `run_checks`, `run_tests` over a workspace."""
    return [
        Tool(
            "edit_file",
            "Replace exactly one occurrence of `old_string` with `new_string` in a file of the pending change "
            "set (nothing is written to disk until the user applies the whole change). `old_string` must match "
            "exactly once, including indentation; include surrounding lines to make it unique.",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "file path relative to the repository root"},
                "old_string": {"type": "string", "description": "the exact text to replace"},
                "new_string": {"type": "string", "description": "the replacement text"},
            }, "required": ["path", "old_string", "new_string"]},
            lambda i: workspace.edit_file(arg(i, "path", str, required=True), arg(i, "old_string", str, required=True),
                                          arg(i, "new_string", str, required=True)),
        ),
        Tool(
            "create_file",
            "Create a new file in the pending change set. Fails if the file already exists (use edit_file).",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "file path relative to the repository root"},
                "content": {"type": "string", "description": "the whole content of the new file"},
            }, "required": ["path", "content"]},
            lambda i: workspace.create_file(arg(i, "path", str, required=True), arg(i, "content", str, required=True)),
        ),
        Tool(
            "delete_file",
            "Delete a file in the pending change set.",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "file path relative to the repository root"},
            }, "required": ["path"]},
            lambda i: workspace.delete_file(arg(i, "path", str, required=True)),
        ),
        Tool(
            "run_checks",
            "Run fba's static checklist rules on the pending change set. Lists the findings in the changed "
            "Python files (or in `paths`) and marks the ones your change introduced.",
            {"type": "object", "properties": {
                "paths": {"type": "array", "items": {"type": "string"},
                          "description": "files to check (default: every changed Python file)"},
            }},
            lambda i: workspace.run_checks(_paths(i)),
        ),
        Tool(
            "run_tests",
            "Run the project's test command (pytest by default) on the pending change set, in an isolated copy "
            "of the repository, in a sandbox (no network, nothing outside the copy, no secrets in the "
            "environment), with a timeout. `args` are appended, e.g. 'tests/test_tags.py -x'.",
            {"type": "object", "properties": {
                "args": {"type": "string", "description": "extra arguments for the test command"},
            }},
            lambda i: workspace.run_tests(arg(i, "args", str) or ""),
        ),
    ]


def _paths(tool_input: dict[str, Any]) -> list[str]:
    paths = tool_input.get("paths")
    if paths is None:
        return []
    if isinstance(paths, str):
        return [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise InputError(f"argument 'paths' must be a list of strings, got {paths!r}")
    return paths


def ask_user_tool(answer: Callable[[list[dict[str, Any]]], str]) -> Tool:
    """`ask_user`: questions for the user; `answer(questions)` returns the text the model sees
    (the answers, or a tool error when they cannot be given now)."""
    return Tool(
        "ask_user",
        "Ask the user when the spec is ambiguous about authentication, when approaches trade off "
        "significantly, or when a database schema change is implied but not specified. Ask all your "
        "questions in one call; each has the question, why it matters, and optional choices.",
        {"type": "object", "properties": {
            "questions": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
                "question": {"type": "string"},
                "why": {"type": "string", "description": "why the answer matters for the implementation"},
                "options": {"type": "array", "items": {"type": "string"}},
            }, "required": ["question", "why"]}},
        }, "required": ["questions"]},
        lambda i: answer(questions_of(i)),
    )


def questions_of(tool_input: dict[str, Any]) -> list[dict[str, Any]]:
    """The `questions` of an ask_user input, checked: each a question, a why and optional options."""
    questions = tool_input.get("questions")
    if not isinstance(questions, list) or not questions:
        raise InputError("argument 'questions' must be a non-empty list")
    checked = []
    for item in questions:
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            raise InputError("each question needs a 'question' text")
        options = item.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise InputError("'options' must be a list of strings")
        checked.append({"question": item["question"].strip(), "why": str(item.get("why") or "").strip(),
                        "options": options})
    return checked

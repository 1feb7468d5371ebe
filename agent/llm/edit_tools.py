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
from agent.llm.tools import REPO_PATH, Required, Tool, arg, array, object_schema, string


def edit_tools(workspace: Any) -> list[Tool]:
    """`edit_file`, `create_file`, `delete_file`, `run_checks`, `run_tests` over a workspace."""
    return [
        Tool(
            "edit_file",
            "Replace exactly one occurrence of `old_string` with `new_string` in a file of the pending change "
            "set (nothing is written to disk until the user applies the whole change). `old_string` must match "
            "exactly once, including indentation; include surrounding lines to make it unique.",
            object_schema(path=Required(string(REPO_PATH)),
                          old_string=Required(string("the exact text to replace")),
                          new_string=Required(string("the replacement text"))),
            lambda i: workspace.edit_file(arg(i, "path", str, required=True), arg(i, "old_string", str, required=True),
                                          arg(i, "new_string", str, required=True)),
        ),
        Tool(
            "create_file",
            "Create a new file in the pending change set. Fails if the file already exists (use edit_file).",
            object_schema(path=Required(string(REPO_PATH)),
                          content=Required(string("the whole content of the new file"))),
            lambda i: workspace.create_file(arg(i, "path", str, required=True), arg(i, "content", str, required=True)),
        ),
        Tool(
            "delete_file",
            "Delete a file in the pending change set.",
            object_schema(path=Required(string(REPO_PATH))),
            lambda i: workspace.delete_file(arg(i, "path", str, required=True)),
        ),
        Tool(
            "run_checks",
            "Run fba's static checklist rules on the pending change set. Lists the findings in the changed "
            "Python files (or in `paths`) and marks the ones your change introduced.",
            object_schema(paths=array(string(), "files to check (default: every changed Python file)")),
            lambda i: workspace.run_checks(_paths(i)),
        ),
        Tool(
            "run_tests",
            "Run the project's test command (pytest by default) on the pending change set, in an isolated copy "
            "of the repository, in a sandbox (no network, nothing outside the copy, no secrets in the "
            "environment), with a timeout. `args` are appended, e.g. 'tests/test_tags.py -x'.",
            object_schema(args=string("extra arguments for the test command")),
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
        object_schema(questions=Required(array(object_schema(
            question=Required(string()),
            why=Required(string("why the answer matters for the implementation")),
            options=array(string()),
        ), minItems=1))),
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

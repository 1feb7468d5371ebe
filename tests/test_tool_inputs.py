"""Hostile or broken tool inputs get a tool error the model can read, never a traceback: NUL bytes
and over-long names in paths, bad regular expressions, unbalanced quoting, line numbers out of range.
Every case goes through the tool loop's dispatcher, against the fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.context.files import RepoFiles
from agent.llm.client import ModelClient
from agent.llm.edit_tools import edit_tools
from tests.fakeapi import text_reply, tool_reply
from agent.llm.loop import Limits, Prompt, run_tool_loop
from agent.llm.tools import read_only_tools
from agent.workflows.workspace import Workspace

LONG_NAME = "a" * 300 + ".py"  # over NAME_MAX (255 bytes) on every common file system
LONG_PATH = "/".join(["d" * 200] * 30) + "/x.py"  # over PATH_MAX

CASES = [
    ("read_file", {"path": "app/\x00main.py"}, "NUL byte"),
    ("search", {"pattern": "x", "path": "app\x00"}, "NUL byte"),
    ("list_files", {"path": "app\x00"}, "NUL byte"),
    ("edit_file", {"path": "app/\x00main.py", "old_string": "x", "new_string": "y"}, "invalid path"),
    ("create_file", {"path": "app/new\x00.py", "content": "x = 1\n"}, "invalid path"),
    ("delete_file", {"path": "\x00"}, "invalid path"),
    ("read_file", {"path": LONG_NAME}, "cannot access"),
    ("search", {"pattern": "x", "path": LONG_NAME}, "cannot access"),
    ("list_files", {"path": LONG_NAME}, "cannot access"),
    ("read_file", {"path": LONG_PATH}, "cannot access"),
    ("edit_file", {"path": LONG_NAME, "old_string": "x", "new_string": "y"}, "cannot access"),
    ("create_file", {"path": LONG_NAME, "content": "x = 1\n"}, "cannot access"),
    ("create_file", {"path": LONG_PATH, "content": "x = 1\n"}, "cannot access"),
    ("delete_file", {"path": LONG_NAME}, "cannot access"),
    ("run_checks", {"paths": [LONG_NAME]}, "cannot access"),
    ("search", {"pattern": "(unclosed"}, "invalid regular expression"),
    ("run_tests", {"args": "'unbalanced"}, "cannot split the test arguments"),
    ("run_tests", {"args": "tests\\"}, "cannot split the test arguments"),
    ("read_file", {"path": "app/main.py", "start_line": -5}, "must be 1 or more"),
    ("read_file", {"path": "app/main.py", "end_line": 0}, "must be 1 or more"),
    ("read_file", {"path": "app/main.py", "start_line": 10 ** 30}, "past the end"),
    ("read_file", {"path": "app/main.py", "start_line": 3, "end_line": 1}, "before start_line"),
    ("read_file", {"path": "app/main.py", "start_line": 1.5}, "must be a int"),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    return root


def _results(fake_api, repo: Path, calls) -> list[dict]:
    workspace = Workspace(repo, RepoFiles(repo), test_command="false")
    tools = read_only_tools(workspace) + edit_tools(workspace)
    fake_api.script(tool_reply(*calls), text_reply("done"))
    client = ModelClient(api_key="test-key", base_url=fake_api.url, max_retries=0)
    result = run_tool_loop(client, "claude-sonnet-5-5", Prompt("persona"), "go", tools, Limits(), lambda e: None)
    assert result.stop_reason == "end_turn"
    return [b for b in fake_api.requests[-1].body["messages"][-1]["content"] if b["type"] == "tool_result"]


def test_every_bad_input_is_a_tool_error_the_model_reads(fake_api, repo):
    results = _results(fake_api, repo, [(name, tool_input) for name, tool_input, _ in CASES])
    assert len(results) == len(CASES)
    for (name, tool_input, expected), block in zip(CASES, results):
        assert block.get("is_error") is True, (name, tool_input, block["content"][:200])
        assert expected in block["content"], (name, block["content"][:200])
        assert len(block["content"]) < 400  # a huge path is shortened, not echoed whole
    assert (repo / "app" / "main.py").read_text() == "from fastapi import FastAPI\napp = FastAPI()\n"


def test_valid_inputs_still_work_after_the_checks(fake_api, repo):
    results = _results(fake_api, repo, [
        ("read_file", {"path": "app/main.py", "start_line": 2, "end_line": 2}),
        ("search", {"pattern": "FastAPI\\(", "path": "app"}),
        ("create_file", {"path": "app/new.py", "content": "x = 1\n"}),
    ])
    assert [b.get("is_error") for b in results] == [None, None, None]
    assert results[0]["content"] == "     2\tapp = FastAPI()"
    assert results[1]["content"] == "app/main.py:2: app = FastAPI()"

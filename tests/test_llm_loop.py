"""The tool loop through the real SDK against the fake API: tools, caching layout, limits, safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.context.files import RepoFiles
from agent.errors import ModelError
from agent.llm.client import ModelClient
from agent.llm.events import Redacted, TextDelta, ToolFinished
from tests.fakeapi import text_reply, tool_reply
from agent.llm.loop import Limits, Prompt, estimate_input_cost, run_tool_loop
from agent.llm.models import PRICES
from agent.types import Usage
from agent.llm.tools import read_only_tools

MODEL = "claude-sonnet-5-5"
PROMPT = Prompt(persona="You are the FastAPI persona.", task="Answer questions.", checklist="- [C01] auth",
                context="# Repository files\n\napp/main.py")
SECRET_VALUE = "hunter2" + "-very-secret"
ENV_VALUE = "env-only-" + "value-42"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text(
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n@app.get('/items')\ndef items():\n    return []\n")
    (root / "app" / "settings.py").write_text(f'DB_URL = "sqlite://x"\npassword = "{SECRET_VALUE}"\n')
    (root / ".env").write_text(f"API_TOKEN={ENV_VALUE}\n")
    (tmp_path / "outside.txt").write_text("outside-content-77\n")
    os.symlink(tmp_path / "outside.txt", root / "app" / "escape.txt")
    return root


def run(fake_api, repo, limits=Limits(), question="Which routes lack auth?", events=None):
    client = ModelClient(api_key="test-key", base_url=fake_api.url, max_retries=0)
    sink = events.append if events is not None else (lambda e: None)
    return run_tool_loop(client, MODEL, PROMPT, question, read_only_tools(RepoFiles(repo)), limits, sink)


def test_full_tool_loop_list_read_search_answer(fake_api, repo):
    fake_api.script(
        tool_reply(("list_files", {"pattern": "*.py"}), text="Let me look around."),
        tool_reply(("read_file", {"path": "app/main.py", "start_line": 5, "end_line": 7})),
        tool_reply(("search", {"pattern": r"@app\.(get|post)"})),
        text_reply("`GET /items` at app/main.py:5 has no auth dependency."),
    )
    events = []
    result = run(fake_api, repo, events=events)
    assert result.stop_reason == "end_turn"
    assert result.text == "`GET /items` at app/main.py:5 has no auth dependency."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).startswith("Let me look around.")
    assert [e.name for e in events if isinstance(e, ToolFinished)] == ["list_files", "read_file", "search"]
    assert result.usage.requests == 4 and result.usage.input_tokens == 400
    requests = fake_api.requests
    assert len(requests) == 4
    results = [_tool_results(r.body)[-1] for r in requests[1:]]
    assert results[0]["content"] == "app/main.py\napp/settings.py"
    assert results[1]["content"] == "     5\t@app.get('/items')\n     6\tdef items():\n     7\t    return []"
    assert results[2]["content"] == "app/main.py:5: @app.get('/items')"
    assert not any(r.get("is_error") for r in results)
    assert results[0]["tool_use_id"] == "toolu_fake_01_list_files"


def test_requests_carry_persona_cache_breakpoints_and_tool_schemas(fake_api, repo):
    fake_api.script(tool_reply(("list_files", {})), text_reply("ok"))
    run(fake_api, repo)
    first, second = (r.body for r in fake_api.requests)
    assert [b["text"] for b in first["system"]] == [PROMPT.persona, PROMPT.task, PROMPT.checklist, PROMPT.context]
    assert [b.get("cache_control") for b in first["system"]] == [None, None, {"type": "ephemeral"}, {"type": "ephemeral"}]
    assert [t["name"] for t in first["tools"]] == ["list_files", "read_file", "search"]
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["tools"][1]["input_schema"]["required"] == ["path"]
    for body in (first, second):
        assert _breakpoints(body) <= 4
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["model"] == MODEL and body["stream"] is True
    # the stable prefix is byte-identical, so the second request reads it from the cache
    assert first["system"] == second["system"] and first["tools"] == second["tools"]
    # only the newest message carries the moving breakpoint
    assert "cache_control" not in second["messages"][0]["content"][-1]


def test_escape_attempts_and_env_get_tool_errors_and_never_leak(fake_api, repo, tmp_path):
    fake_api.script(
        tool_reply(("read_file", {"path": "../outside.txt"}), ("read_file", {"path": str(tmp_path / "outside.txt")}),
                   ("read_file", {"path": "app/escape.txt"}), ("read_file", {"path": ".env"}),
                   ("search", {"pattern": "env-only"}), ("list_files", {"path": "/"})),
        text_reply("I could not read those files."),
    )
    result = run(fake_api, repo)
    results = _tool_results(fake_api.requests[1].body)
    assert [r.get("is_error", False) for r in results] == [True, True, True, True, False, True]
    assert "outside the repository" in results[0]["content"]
    assert "absolute paths are not allowed" in results[1]["content"]
    assert "outside the repository" in results[2]["content"]
    assert "deny-list" in results[3]["content"]
    assert results[4]["content"] == "(no matches)"
    for request in fake_api.requests:
        assert "outside-content-77" not in request.text
        assert ENV_VALUE not in request.text
    assert [c.is_error for c in result.tool_calls] == [True, True, True, True, False, True]


def test_secrets_in_readable_files_and_the_question_are_redacted(fake_api, repo):
    fake_api.script(tool_reply(("read_file", {"path": "app/settings.py"}), ("search", {"pattern": "hunter"})),
                    text_reply("done"))
    events = []
    token = "ghp_" + "Z" * 36
    result = run(fake_api, repo, question=f"Is my token {token} leaked?", events=events)
    for request in fake_api.requests:
        assert SECRET_VALUE not in request.text
        assert token not in request.text
    assert "[REDACTED password]" in _tool_results(fake_api.requests[1].body)[0]["content"]
    assert result.redactions == 3
    assert sum(e.count for e in events if isinstance(e, Redacted)) == 3
    assert SECRET_VALUE not in json.dumps(result.messages)


def test_tool_errors_for_unknown_tools_and_bad_arguments(fake_api, repo):
    fake_api.script(tool_reply(("delete_everything", {}), ("read_file", {"path": 42}), ("read_file", {})),
                    text_reply("sorry"))
    run(fake_api, repo)
    results = _tool_results(fake_api.requests[1].body)
    assert all(r["is_error"] for r in results)
    assert "unknown tool 'delete_everything'" in results[0]["content"]
    assert "must be a str" in results[1]["content"]
    assert "missing required argument 'path'" in results[2]["content"]


def test_turn_limit_stops_the_loop(fake_api, repo):
    fake_api.script(*[tool_reply(("list_files", {}))] * 5)
    result = run(fake_api, repo, limits=Limits(max_turns=2))
    assert result.stop_reason == "max_turns"
    assert len(fake_api.requests) == 2
    assert result.messages[-1]["role"] == "user"  # the last tool results are kept for a follow-up


def test_max_cost_stops_before_a_request_would_pass_it(fake_api, repo):
    big = {"input_tokens": 100_000, "output_tokens": 1_000}  # $0.21 per request at sonnet prices
    fake_api.script(*[tool_reply(("list_files", {}), usage=big)] * 5)
    result = run(fake_api, repo, limits=Limits(max_cost=0.5))
    assert result.stop_reason == "max_cost"
    assert len(fake_api.requests) == 2
    assert result.usage.cost_usd == pytest.approx(0.42)
    assert result.usage.cost_usd <= 0.5


def test_max_cost_too_small_for_the_first_request_sends_nothing(fake_api, repo):
    result = run(fake_api, repo, limits=Limits(max_cost=0.0000001))
    assert result.stop_reason == "max_cost" and fake_api.requests == []


def test_max_cost_needs_a_priced_model(fake_api, repo):
    client = ModelClient(api_key="k", base_url=fake_api.url)
    with pytest.raises(ModelError, match="needs a known price"):
        run_tool_loop(client, "claude-unpriced", PROMPT, "q", [], Limits(max_cost=1.0), lambda e: None)


def test_history_continues_a_conversation(fake_api, repo):
    fake_api.script(text_reply("first answer"), text_reply("second answer"))
    first = run(fake_api, repo, question="one")
    client = ModelClient(api_key="k", base_url=fake_api.url)
    second = run_tool_loop(client, MODEL, PROMPT, "two", [], Limits(), lambda e: None, history=first.messages)
    sent = fake_api.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert second.text == "second answer"


def _tool_results(body: dict) -> list[dict]:
    return [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"]


def _breakpoints(body: dict) -> int:
    return json.dumps(body).count('"cache_control"')


def test_cost_estimate_reads_the_old_prompt_from_cache_when_caching_works():
    price = PRICES[MODEL]
    assert estimate_input_cost(3_000, None, price) == pytest.approx(1_000 * 2.50 / 1e6)
    cached = Usage(input_tokens=10, cache_creation_input_tokens=990)
    assert estimate_input_cost(6_000, (cached, 3_000), price) == pytest.approx((1_000 * 2.50 + 1_000 * 0.10) / 1e6)
    uncached = Usage(input_tokens=1_000)
    assert estimate_input_cost(6_000, (uncached, 3_000), price) == pytest.approx(2_000 * 2.00 / 1e6)

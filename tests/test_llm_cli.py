"""`fba ask` and `fba log` end to end: the CLI in a subprocess, the real SDK, the loopback fake API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import status_fault, text_reply, tool_reply
from agent.llm.models import ALIASES

FAST = {"retry-after-ms": "1"}
ENV_SECRET = "dotenv-" + "secret-9f8e7d"
USAGE_1 = {"input_tokens": 1200, "output_tokens": 40, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 0}
USAGE_2 = {"input_tokens": 300, "output_tokens": 80, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3000}
COST = (1500 * 2.00 + 120 * 10.00 + 3000 * 2.50 + 3000 * 0.10) / 1_000_000  # sonnet prices


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "app").mkdir()
    (git_repo / "app" / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n\n@app.get('/items')\ndef items():\n    return []\n")
    (git_repo / ".env").write_text(f"SECRET_KEY={ENV_SECRET}\n")
    return git_repo


def test_ask_runs_the_tool_loop_streams_the_answer_and_logs_the_run(fake_api, project, run_fba):
    fake_api.script(
        tool_reply(("read_file", {"path": "app/main.py"}), ("read_file", {"path": ".env"}),
                   text="Checking the routes.", usage=USAGE_1),
        text_reply("`GET /items` (app/main.py:5) has no authentication.", usage=USAGE_2),
    )
    done = run_fba(["ask", "Which routes lack auth?"], project, fake_api.env())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Checking the routes.\n`GET /items` (app/main.py:5) has no authentication.\n"
    assert "  Read app/main.py (7 lines)\n" in done.stderr
    assert "  Read .env ✗" in done.stderr and "deny-list" in done.stderr
    assert f"{ALIASES['sonnet']} · 2 requests · 1,500 in · 120 out · 3,000 cache write · 3,000 cache read · ${COST:.4f}" in done.stderr

    first = fake_api.requests[0].body
    system = "\n".join(block["text"] for block in first["system"])
    assert "You are an elite FastAPI backend architect" in system  # the persona
    assert "Task: answer a question about this repository" in system
    assert "[C01]" in system and "app/main.py" in system  # checklist and repository context
    assert first["model"] == ALIASES["sonnet"]
    assert {t["name"] for t in first["tools"]} == {"list_files", "read_file", "search"}
    assert all(ENV_SECRET not in r.text for r in fake_api.requests)

    runs = json.loads(run_fba(["log", "--json"], project).stdout)
    assert len(runs) == 1
    run = runs[0]
    assert (run["command"], run["model"], run["title"], run["status"]) == ("ask", ALIASES["sonnet"], "Which routes lack auth?", "completed")
    assert (run["requests"], run["input_tokens"], run["output_tokens"]) == (2, 1500, 120)
    assert (run["cache_creation_input_tokens"], run["cache_read_input_tokens"], run["total_tokens"]) == (3000, 3000, 7620)
    assert run["cost_usd"] == pytest.approx(COST)

    table = run_fba(["log"], project).stdout
    assert "ask" in table and "7,620" in table and f"${COST:.4f}" in table


def test_ask_json_format_and_model_alias(fake_api, project, run_fba):
    fake_api.script(text_reply("Short answer.", usage=USAGE_2))
    question = "Is password = 'hunter2hunter2' safe here?"
    done = run_fba(["ask", "--model", "opus", "--format", "json", "--quiet", question], project, fake_api.env())
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "Short answer." and data["model"] == ALIASES["opus"]
    assert data["usage"]["input_tokens"] == 300 and data["usage"]["requests"] == 1
    assert data["redactions"] == 1
    assert fake_api.requests[0].body["model"] == ALIASES["opus"]
    assert "hunter2hunter2" not in fake_api.requests[0].text
    assert "hunter2hunter2" not in run_fba(["log", "--json"], project).stdout  # nor in the stored title
    assert done.stderr == "note: redacted 1 secret-looking value before sending text to the model\n"


def test_ask_exhausted_retries_exit_2_with_one_line(fake_api, project, run_fba):
    fake_api.script(*[status_fault(529, FAST)] * 2)
    done = run_fba(["ask", "Hello?"], project, {**fake_api.env(), "FBA_MAX_RETRIES": "1"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: the API is unavailable (529: Overloaded) after 1 retry; try again later"
    runs = json.loads(run_fba(["log", "--json"], project).stdout)
    assert runs[0]["status"] == "failed: the API is unavailable (529: Overloaded) after 1 retry; try again later"


def test_ask_with_a_rejected_key(fake_api, project, run_fba):
    fake_api.script(status_fault(401))
    done = run_fba(["ask", "Hello?"], project, fake_api.env(api_key="wrong"))
    assert done.returncode == 2
    assert "API key was rejected (401)" in done.stderr and "Traceback" not in done.stderr


def test_ask_without_a_key_exits_2_before_any_request(fake_api, project, run_fba):
    done = run_fba(["ask", "Hello?"], project, {"ANTHROPIC_BASE_URL": fake_api.url})
    assert done.returncode == 2
    assert "ANTHROPIC_API_KEY is not set" in done.stderr and "Traceback" not in done.stderr
    assert fake_api.requests == []


def test_ask_max_cost_stops_the_loop(fake_api, project, run_fba):
    big = {"input_tokens": 100_000, "output_tokens": 1_000}
    fake_api.script(*[tool_reply(("list_files", {}), usage=big)] * 4)
    done = run_fba(["ask", "--max-cost", "0.3", "Look around"], project, fake_api.env())
    assert done.returncode == 0, done.stderr
    assert "stopped: the next request would pass --max-cost" in done.stderr
    assert len(fake_api.requests) == 1


def test_a_broken_store_is_a_warning_not_a_failure(fake_api, project, run_fba, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    fake_api.script(text_reply("Answer anyway."))
    done = run_fba(["ask", "Hello?"], project, {**fake_api.env(), "FBA_HOME": str(blocker)})
    assert done.returncode == 0
    assert done.stdout == "Answer anyway.\n"
    assert "will not be recorded" in done.stderr


def test_log_with_no_runs(project, run_fba):
    assert json.loads(run_fba(["log", "--json"], project).stdout) == []
    assert "no runs recorded yet" in run_fba(["log"], project).stdout


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["log", "--help"]])
def test_help_does_not_import_anthropic(args):
    code = ("import sys\nsys.argv = ['fba', *%r]\nfrom agent.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('anthropic' in sys.modules and 'IMPORTED' or 'CLEAN')" % (args,))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.endswith("CLEAN"), done.stderr


def test_stream_printer_renders_text_tools_and_footer(capsys):
    from agent.console import Terminal
    from agent.console.stream import StreamPrinter
    from agent.llm.events import Redacted, StreamDiscarded, TextDelta, ToolFinished
    from agent.types import Usage

    printer = StreamPrinter(Terminal(color=False))
    for event in (TextDelta("Half an "), StreamDiscarded("cut"), TextDelta("Looking."),
                  ToolFinished("read_file", "path='.env'", True, "denied", {"path": ".env"}), Redacted(2, "read_file result"),
                  TextDelta("Done.")):
        printer(event)
    printer.finish("claude-x", Usage(10, 5, 0, 0, 0.0, 1, cost_known=False), "max_cost")
    out, err = capsys.readouterr()
    assert out == "Half an \nLooking.\nDone.\n"
    assert "partial text above is void" in err
    assert "Read .env ✗ denied" in err
    assert "stopped: the next request would pass --max-cost" in err
    assert "redacted 2 secret-looking values" in err
    assert "claude-x · 1 request · 10 in · 5 out · 0 cache write · 0 cache read · cost unknown" in err

"""`fba review` with the model, end to end: the CLI in a subprocess, the real SDK, the loopback fake API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.fakeapi import status_fault, text_reply, tool_reply

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
ENV_SECRET = "dotenv-" + "planted-secret-77"
CODE_KEY = "sk-ant-api03-" + "PLANTEDvalue0123456789abcdefXYZ"

DEPS = f'''import jwt
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
SECRET_KEY = "{CODE_KEY}"


def get_current_user(token: str = Depends(oauth2_scheme)):
    payload = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    return payload["sub"]
'''
MODELS = '''from sqlmodel import Field, SQLModel


class Item(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str
    owner_id: int = Field(foreign_key="user.id")
'''
ITEMS = f'''from fastapi import APIRouter, Depends
from sqlmodel import Session

from app.deps import get_current_user
from app.models import Item

router = APIRouter(prefix="/items")
WEBHOOK_TOKEN = "{CODE_KEY}"


@router.get("/{{item_id}}", response_model=Item)
def read_item(item_id: int, session: Session, user=Depends(get_current_user)):
    item = session.get(Item, item_id)
    return item


@router.get("/stats")
def stats():
    return {{"count": count_items()}}
'''


def finding(category: str, line: int, quote: str, confidence: float = 0.9, **extra) -> dict:
    return {"category": category, "severity": "medium", "path": "app/items.py", "line": line, "title": f"{category} problem",
            "detail": f"The {category} detail.", "quote": quote, "confidence": confidence, **extra}


EXACT = finding("status-code", 14, "return item", fix="raise HTTPException(404) when the item is missing")
WRONG_LINE = finding("validation", 3, "def stats():")  # the code is on line 18
BOGUS = finding("injection", 13, 'cursor.execute(f"SELECT * FROM items WHERE id={item_id}")')
UNSURE = finding("n-plus-one", 13, "item = session.get(Item, item_id)", confidence=0.2)
REPORT = {"findings": [EXACT, WRONG_LINE, BOGUS, UNSURE],
          "static_findings": [{"rule": "FBA201", "path": "app/items.py", "line": 17, "verdict": "reject",
                               "reason": "a stats dict needs no schema"}]}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def project(git_repo: Path) -> Path:
    app = git_repo / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "deps.py").write_text(DEPS)
    (app / "models.py").write_text(MODELS)
    (app / "items.py").write_text(ITEMS)
    (git_repo / "pyproject.toml").write_text("[tool.fba]\npreview = true\n")  # FBA201 is a preview rule
    (git_repo / ".env").write_text(f"SECRET_KEY={ENV_SECRET}\n")
    (git_repo / ".gitignore").write_text(".env\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "init")
    return git_repo


def user_text(request) -> str:
    return "\n".join(block.get("text", "") for block in request.body["messages"][0]["content"])


def test_model_findings_are_anchored_merged_and_reported_as_json(fake_api, project, run_fba):
    fake_api.script(
        tool_reply(("read_file", {"path": "app/deps.py"}), ("read_file", {"path": ".env"})),
        tool_reply(("report_findings", REPORT)),
        text_reply("Reviewed."),
    )
    done = run_fba(["review", "app/items.py", "--format", "json", "--verbose"], project, fake_api.env())
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    model = [(f["rule"], f["line"], f["end_line"], f["source"]) for f in data["findings"] if f["source"] == "llm"]
    assert model == [("FBA-LLM-status-code", 14, 14, "llm"), ("FBA-LLM-validation", 18, 18, "llm")]
    exact = next(f for f in data["findings"] if f["rule"] == "FBA-LLM-status-code")
    assert exact["confidence"] == 0.9 and exact["title"] == "status-code problem"
    assert exact["message"] == "The status-code detail. Fix: raise HTTPException(404) when the item is missing"
    static = {(f["rule"], f["line"]) for f in data["findings"] if f["source"] == "static"}
    assert {("FBA401", 8), ("FBA101", 17), ("FBA201", 17)} <= static  # a rejected static finding stays
    assert data["usage"]["requests"] == 3
    assert "dropped 1 model finding(s) whose quoted code is not in the file" in done.stderr
    assert "moved 1 model finding(s)" in done.stderr
    assert "1 model finding(s) below min-confidence not shown" in done.stderr
    assert "the model disputes FBA201 at app/items.py:17: a stats dict needs no schema" in done.stderr
    assert "3 requests" in done.stderr and "Traceback" not in done.stderr

    first = fake_api.requests[0]
    system = "\n".join(block["text"] for block in first.body["system"])
    assert "You are an elite FastAPI backend architect" in system  # the persona
    assert "Task: review one file" in system and "[C02] (ownership, high)" in system  # task and checklist
    assert {t["name"] for t in first.body["tools"]} == {"list_files", "read_file", "search", "report_findings"}
    text = user_text(first)
    assert "## File app/items.py" in text and "    13\t    item = session.get(Item, item_id)" in text
    assert "`GET /items/{item_id}` -> `read_item`" in text and "authenticated at handler level" in text
    assert "`GET /items/stats` -> `stats`" in text and "NO authentication found" in text
    assert "`Item`: table model, owner column `owner_id`" in text
    assert "FBA101 [auth-missing, high] lines 17-17" in text  # the static findings
    assert "app/deps.py: `get_current_user`" in text and "jwt.decode(token, SECRET_KEY" in text  # a definition
    assert "app/models.py: `Item`" in text
    results = fake_api.requests[1].body["messages"][-1]["content"]
    assert any(r.get("is_error") and "deny-list" in r["content"] for r in results)  # .env refused
    assert all(ENV_SECRET not in r.text and CODE_KEY not in r.text for r in fake_api.requests)


def test_sarif_output_holds_the_merged_result(fake_api, project, run_fba):
    fake_api.script(tool_reply(("report_findings", {"findings": [EXACT, WRONG_LINE, BOGUS]})), text_reply("Done."))
    done = run_fba(["review", "app/items.py", "--format", "sarif", "--llm"], project, fake_api.env())
    assert done.returncode == 1, done.stderr
    log = json.loads(done.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    located = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}
    assert {("FBA-LLM-status-code", 14), ("FBA-LLM-validation", 18), ("FBA101", 17)} <= located
    assert not any(r["ruleId"] == "FBA-LLM-injection" for r in results)
    rule_ids = {rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"FBA-LLM-status-code", "FBA-LLM-validation"} <= rule_ids


def test_text_output_marks_model_findings(fake_api, project, run_fba):
    fake_api.script(tool_reply(("report_findings", {"findings": [EXACT]})), text_reply("Done."))
    done = run_fba(["review", "app/items.py"], project, fake_api.env())
    assert done.returncode == 1, done.stderr
    line = next(l for l in done.stdout.splitlines() if "FBA-LLM-status-code" in l)
    assert "(model, confidence 0.90)" in line


def test_an_invalid_report_is_sent_back_as_a_tool_error(fake_api, project, run_fba):
    bad = {"findings": [{**EXACT, "category": "style", "line": 0}, {**EXACT, "path": "app/other.py"}]}
    fake_api.script(tool_reply(("report_findings", bad)), tool_reply(("report_findings", {"findings": [EXACT]})),
                    text_reply("Fixed."))
    done = run_fba(["review", "app/items.py", "--format", "json"], project, fake_api.env())
    assert done.returncode == 1, done.stderr
    error = fake_api.requests[1].body["messages"][-1]["content"][0]
    assert error["is_error"] is True
    assert "input.findings[0].category must be one of" in error["content"]
    assert "input.findings[0].line must be at least 1" in error["content"]
    assert "Nothing was recorded" in error["content"]
    assert [f["rule"] for f in json.loads(done.stdout)["findings"] if f["source"] == "llm"] == ["FBA-LLM-status-code"]
    assert "invalid report_findings call" not in done.stderr  # how fba tidied the answer: --verbose only


def test_static_only_makes_no_request(fake_api, project, run_fba):
    done = run_fba(["review", "app", "--static-only", "--format", "json"], project, fake_api.env())
    assert done.returncode == 1
    assert fake_api.requests == []
    assert all(f["source"] == "static" for f in json.loads(done.stdout)["findings"])


def test_llm_without_a_key_exits_2_with_one_line(fake_api, project, run_fba):
    done = run_fba(["review", "app", "--llm"], project, {"ANTHROPIC_BASE_URL": fake_api.url})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: ANTHROPIC_API_KEY is not set: export your Anthropic API key to use the model"]
    assert done.stdout == "" and fake_api.requests == []


def test_static_only_and_llm_conflict(project, run_fba):
    done = run_fba(["review", "app", "--static-only", "--llm"], project)
    assert done.returncode == 2 and "cannot be combined" in done.stderr


def test_api_failure_exits_2_with_one_line(fake_api, project, run_fba):
    fake_api.script(status_fault(401))
    done = run_fba(["review", "app/items.py"], project, fake_api.env(api_key="wrong"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "error: the model pass failed: the API key was rejected (401): check ANTHROPIC_API_KEY"
    assert "FBA" in done.stdout  # the static report is still printed
    assert "Traceback" not in done.stderr


def test_diff_limits_the_model_pass_to_changed_lines(fake_api, project, run_fba):
    (project / "app" / "items.py").write_text(ITEMS.replace('{"count": count_items()}', '{"count": count_items() + 1}'))
    changed = finding("error-leak", 19, 'return {"count": count_items() + 1}')
    fake_api.script(tool_reply(("report_findings", {"findings": [EXACT, changed]})), text_reply("Done."))
    done = run_fba(["review", "--diff", "HEAD", "--format", "json"], project, fake_api.env())
    assert len([r for r in fake_api.requests if r.path.startswith("/v1/messages")]) == 2, done.stderr
    text = user_text(fake_api.requests[0])
    assert "## File app/items.py" in text and "Focus on these lines (the rest is context): 19" in text
    model = [(f["rule"], f["line"]) for f in json.loads(done.stdout)["findings"] if f["source"] == "llm"]
    assert model == [("FBA-LLM-error-leak", 19)]  # line 14 is not a changed line


def test_batch_review_is_resumable(fake_api, project, run_fba):
    fake_api.batch_polls = 1
    fake_api.script(tool_reply(("report_findings", {"findings": [EXACT, WRONG_LINE]}),
                               usage={"input_tokens": 1000, "output_tokens": 100}))
    args = ["review", "app/items.py", "--batch", "--format", "json"]
    first = run_fba([*args, "--batch-wait", "0"], project, fake_api.env())
    assert first.returncode == 1, first.stderr
    assert "batch msgbatch_fake_001 is still running; run the same command again" in first.stderr
    assert all(f["source"] == "static" for f in json.loads(first.stdout)["findings"])
    create = fake_api.requests[0]
    assert create.path.startswith("/v1/messages/batches")
    params = create.body["requests"][0]["params"]
    assert params["tool_choice"] == {"type": "tool", "name": "report_findings"}
    assert "## File app/items.py" in params["messages"][0]["content"][0]["text"]
    assert CODE_KEY not in create.text

    second = run_fba(args, project, fake_api.env())
    assert second.returncode == 1, second.stderr
    creates = [r for r in fake_api.requests if r.body.get("requests")]
    assert len(creates) == 1  # resumed, not submitted again
    model = [(f["rule"], f["line"]) for f in json.loads(second.stdout)["findings"] if f["source"] == "llm"]
    assert model == [("FBA-LLM-status-code", 14), ("FBA-LLM-validation", 18)]
    half_price = (1000 * 2.00 + 100 * 10.00) / 1_000_000 / 2
    assert f"${half_price:.4f}" in second.stderr
    runs = json.loads(run_fba(["log", "--json"], project).stdout)
    assert [(r["command"], r["status"]) for r in runs] == [("review --batch", "completed")]


def test_spec_sections_that_mention_the_file_routes_are_sent(fake_api, project, run_fba):
    spec = project / "spec.md"
    spec.write_text("# Items\n\n## GET /items/stats\nOnly admins may read the stats.\n\n## POST /orders\nUnrelated.\n")
    fake_api.script(tool_reply(("report_findings", {"findings": []})), text_reply("Done."))
    done = run_fba(["review", "app/items.py", "--spec", "spec.md", "--format", "json"], project, fake_api.env())
    assert done.returncode == 1, done.stderr
    text = user_text(fake_api.requests[0])
    assert "## Spec sections that mention this file's routes\n\n## GET /items/stats\nOnly admins may read the stats." in text
    assert "/orders" not in text


def test_a_deny_listed_file_is_not_sent_and_says_so(fake_api, project, run_fba):
    (project / "pyproject.toml").write_text('[tool.fba]\ndeny = ["app/items.py"]\n')
    done = run_fba(["review", "app/items.py", "--llm", "--format", "json"], project, fake_api.env())
    assert done.returncode == 1, done.stderr
    assert "app/items.py: not sent to the model: 'app/items.py' is on the secret deny-list" in done.stderr
    assert fake_api.requests == []

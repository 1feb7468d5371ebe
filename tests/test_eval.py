"""`fba eval review` on the labelled cases shipped in tests/data/eval_cases: static mode offline,
llm and both modes against the loopback fake API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.eval import Label, Score, load_cases, score
from tests.fakeapi import text_reply, tool_reply
from agent.types import Finding, Severity

CASES = Path(__file__).parent / "data" / "eval_cases"


def report(path: str, *findings: dict) -> tuple:
    return tool_reply(("report_findings", {"findings": [{"path": path, "severity": "high", "title": "t",
                                                         "detail": "d", "confidence": 0.8, **f} for f in findings]}))


def totals(data: dict) -> tuple:
    total = data["total"]
    return total["labels"], total["found_labels"], total["findings"], total["true_findings"]


def test_static_mode_offline(run_fba, tmp_path):
    done = run_fba(["eval", "review", "--cases", str(CASES), "--format", "json"], tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["cases"] == ["tasks_api", "tokens"]
    assert totals(data) == (6, 4, 4, 4)
    assert data["categories"]["ownership"]["recall"] == 0.5 and data["categories"]["ownership"]["precision"] == 1.0
    assert data["categories"]["secrets"] == {"labels": 1, "found_labels": 0, "findings": 0, "true_findings": 0,
                                             "recall": 0.0, "precision": None}
    assert data["missed"] == ["tasks_api:main.py:40 ownership", "tokens:auth.py:5 secrets"]


def test_cases_given_as_a_relative_path(run_fba):
    done = run_fba(["eval", "review", "--cases", "eval_cases", "--format", "json"], CASES.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cases"] == ["tasks_api", "tokens"]


def test_static_mode_text_table(run_fba, tmp_path):
    done = run_fba(["eval", "review", "--cases", str(CASES)], tmp_path)
    assert done.returncode == 0, done.stderr
    total = next(line for line in done.stdout.splitlines() if line.strip().startswith("total"))
    assert total.split()[1:] == ["│", "6", "│", "4", "│", "4", "│", "67%", "│", "100%"]
    assert "missed: tokens:auth.py:5 secrets" in done.stderr


MODEL_SCRIPT = (
    report("main.py",
           {"category": "ownership", "line": 40, "quote": "if task is None or (task.owner_id != user_id and not title):"},
           {"category": "validation", "line": 37, "quote": "def rename_task(task_id: int, title: str"}),
    text_reply("Done."),
    report("auth.py", {"category": "secrets", "line": 4, "quote": 'SECRET_KEY = "[REDACTED password]"'}),
    text_reply("Done."),
)


def test_llm_mode_scores_the_model_alone(fake_api, run_fba, tmp_path):
    fake_api.script(*MODEL_SCRIPT)
    done = run_fba(["eval", "review", "--cases", str(CASES), "--mode", "llm", "--format", "json"], tmp_path, fake_api.env())
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert totals(data) == (6, 2, 3, 2)
    assert data["extra"] == ["tasks_api:main.py:37 validation (FBA-LLM-validation)"]
    first = fake_api.requests[0].body["messages"][0]["content"][0]["text"]
    assert "## File main.py" in first and "Static findings already reported for this file\n\nNone." in first
    assert "change-me-in-production" not in fake_api.requests[2].text  # the case's key, redacted


def test_both_mode_scores_the_merged_review(fake_api, run_fba, tmp_path):
    fake_api.script(*MODEL_SCRIPT)
    done = run_fba(["eval", "review", "--cases", str(CASES), "--mode", "both", "--format", "json"], tmp_path, fake_api.env())
    assert done.returncode == 0, done.stderr
    assert totals(json.loads(done.stdout)) == (6, 6, 7, 6)
    assert "FBA102 [ownership, high] lines 30-30" in fake_api.requests[0].text  # static findings shown


def test_llm_mode_without_a_key_exits_2(run_fba, tmp_path):
    done = run_fba(["eval", "review", "--cases", str(CASES), "--mode", "llm"], tmp_path)
    assert done.returncode == 2 and "ANTHROPIC_API_KEY is not set" in done.stderr


def test_bad_cases_folder_and_mode(run_fba, tmp_path):
    assert "no eval cases" in run_fba(["eval", "review", "--cases", str(tmp_path)], tmp_path).stderr
    done = run_fba(["eval", "review", "--cases", str(CASES), "--mode", "fast"], tmp_path)
    assert done.returncode == 2 and "unknown mode 'fast'" in done.stderr


def finding(category: str, line: int, end: int | None = None, path: str = "a.py") -> Finding:
    return Finding("R", category, Severity.HIGH, path, line, "m", end_line=end)


def test_score_matches_by_path_category_and_overlap():
    labels = [Label("a.py", "ownership", 10, 12), Label("a.py", "jwt", 3, 3)]
    scores = score(labels, [finding("ownership", 12, 14), finding("ownership", 20), finding("jwt", 3, path="b.py")])
    assert scores["ownership"] == Score(labels=1, found_labels=1, findings=2, true_findings=1)
    assert scores["jwt"] == Score(labels=1, found_labels=0, findings=1, true_findings=0)
    assert scores["jwt"].recall == 0.0 and scores["ownership"].precision == 0.5


def test_load_cases_checks_labels(tmp_path):
    (tmp_path / "expected.json").write_text('[{"path": "a.py", "category": "style", "line_start": 1}]')
    with pytest.raises(Exception, match="unknown category 'style'"):
        load_cases(tmp_path)

"""Fail closed, degrade open: when the model pass fails, the static report is still printed and the
exit code is 2 with one line why; a file the model never reviewed validly is reported as not
reviewed (text, JSON `summary.not_reviewed`, SARIF notification, GitHub, Markdown), never as clean.
End to end against the fake API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fakeapi import text_reply, tool_reply

ITEMS = '''from fastapi import APIRouter, HTTPException

router = APIRouter()


@router.get("/items")
def list_items():
    try:
        return load_items()
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
'''
UNREACHABLE = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "FBA_MAX_RETRIES": "0"}


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "app").mkdir()
    (git_repo / "app" / "items.py").write_text(ITEMS)
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=git_repo, check=True, capture_output=True)
    return git_repo


def test_unreachable_api_still_prints_the_static_report_and_exits_2(project, run_fba):
    done = run_fba(["review", "app/items.py"], project, UNREACHABLE)
    assert done.returncode == 2
    assert "FBA" in done.stdout  # the static findings are printed
    assert "app/items.py: not reviewed by the model: the model pass failed:" in done.stdout
    assert "1 file not reviewed by the model" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("error: the model pass failed: ")
    assert "Traceback" not in done.stderr


def test_unreachable_api_json_lists_every_file_as_not_reviewed(project, run_fba):
    done = run_fba(["review", "app/items.py", "--format", "json"], project, UNREACHABLE)
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["findings"] and all(f["source"] == "static" for f in report["findings"])
    [entry] = report["summary"]["not_reviewed"]
    assert entry["path"] == "app/items.py" and entry["reason"].startswith("not reviewed by the model: the model pass failed: ")


def test_a_model_that_never_reports_is_not_a_clean_review(fake_api, project, run_fba):
    fake_api.script(text_reply("Looks fine to me."))
    done = run_fba(["review", "app/items.py", "--format", "json"], project, fake_api.env())
    assert done.returncode == 2, done.stderr
    [entry] = json.loads(done.stdout)["summary"]["not_reviewed"]
    assert entry == {"path": "app/items.py",
                     "reason": "not reviewed by the model: no valid report_findings call (the model stopped: end_turn)"}
    assert "error: the model did not review 1 file(s) validly (app/items.py)" in done.stderr


def test_a_model_whose_only_report_is_invalid_is_not_a_clean_review(fake_api, project, run_fba):
    fake_api.script(tool_reply(("report_findings", {"findings": [{"category": "style"}]})), text_reply("Done."))
    done = run_fba(["review", "app/items.py", "--format", "sarif"], project, fake_api.env())
    assert done.returncode == 2, done.stderr
    notes = json.loads(done.stdout)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    [note] = [n for n in notes if n.get("descriptor", {}).get("id") == "fba-not-reviewed"]
    assert "no valid report_findings call" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/items.py"


@pytest.mark.parametrize("output_format, expected", [
    ("text", "app/items.py: not reviewed by the model: no valid report_findings call"),
    ("github", "::warning file=app/items.py,title=fba model pass did not review this file::not reviewed by the model"),
    ("markdown", "### Not reviewed by the model"),
])
def test_every_format_says_a_file_was_not_reviewed(fake_api, project, run_fba, output_format, expected):
    fake_api.script(text_reply("No findings."))
    done = run_fba(["review", "app/items.py", "--format", output_format], project, fake_api.env())
    assert done.returncode == 2, done.stderr
    assert expected in done.stdout
    assert "1 file not reviewed by the model" in done.stdout


def test_a_valid_empty_report_is_a_clean_review(fake_api, project, run_fba):
    (project / "app" / "items.py").write_text("X = 1\n")
    fake_api.script(tool_reply(("report_findings", {"findings": []})), text_reply("Clean."))
    done = run_fba(["review", "app/items.py", "--format", "json"], project, fake_api.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["not_reviewed"] == []

"""Automatic fixes (FBA203 201 Created, FBA204 204 No Content) and `fba review --fix` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.analysis.runner import review_sources
from agent.edits.fixes import fix_file, fix_source, fixable_rules
from agent.types import Finding, Severity

CREATE = '''"""Items."""
from fastapi import APIRouter, Depends  # the router

router = APIRouter()


@router.post(
    "/items",
    response_model=Item,  # what clients get
)
def create_item(item: ItemCreate):
    return item
'''


def finding(rule: str, line: int) -> Finding:
    return Finding(rule, "status-code", Severity.LOW, "app/main.py", line, "message")


def test_fixers_are_registered():
    assert {"FBA203", "FBA204"} <= fixable_rules()


def test_created_status_keeps_layout_and_comments():
    fixed = fix_source(CREATE, finding("FBA203", 7))
    assert fixed == CREATE.replace(
        "from fastapi import APIRouter, Depends  # the router",
        "from fastapi import APIRouter, Depends, status  # the router",
    ).replace(
        "    response_model=Item,  # what clients get\n",
        "    response_model=Item,  # what clients get\n    status_code=status.HTTP_201_CREATED,\n",
    )


def test_a_comment_after_the_last_argument_stays_on_its_line():
    source = ('from fastapi import status\n@r.post(\n    "/items",\n    response_model=Item  # note\n)\n'
              "def create_item(): pass\n")
    assert fix_source(source, finding("FBA203", 2)) == (
        'from fastapi import status\n@r.post(\n    "/items",\n    response_model=Item,  # note\n'
        "    status_code=status.HTTP_201_CREATED\n)\ndef create_item(): pass\n"
    )


def test_the_fix_clears_the_finding():
    source = 'from fastapi import APIRouter\nrouter = APIRouter()\n\n@router.post("/items")\ndef create_item(item: dict):\n    return item\n'
    line = next(f.line for f in review_sources({"app/main.py": source}).findings if f.rule == "FBA203")
    fixed = fix_source(source, finding("FBA203", line))
    assert "FBA203" not in {f.rule for f in review_sources({"app/main.py": fixed}).findings}


def test_without_a_fastapi_from_import_one_is_added_after_the_imports():
    source = 'import fastapi\n\nrouter = fastapi.APIRouter()\n\n@router.post("/a")\ndef create_a():\n    pass\n'
    assert fix_source(source, finding("FBA203", 5)) == (
        'import fastapi\nfrom fastapi import status\n\nrouter = fastapi.APIRouter()\n\n'
        '@router.post("/a", status_code=status.HTTP_201_CREATED)\ndef create_a():\n    pass\n'
    )


def test_an_existing_status_import_is_reused():
    source = 'from starlette import status\nfrom fastapi import APIRouter\nr = APIRouter()\n@r.post("/a")\ndef create_a(): pass\n'
    fixed = fix_source(source, finding("FBA203", 4))
    assert fixed.count("import status") == 1 and "status_code=status.HTTP_201_CREATED" in fixed


def test_no_fix_when_status_means_something_else():
    source = 'from fastapi import APIRouter\nstatus = "draft"\nr = APIRouter()\n@r.post("/a")\ndef create_a(): pass\n'
    assert fix_source(source, finding("FBA203", 4)) is None


def test_no_content_fix_only_for_handlers_without_a_body():
    source = '''from fastapi import APIRouter, status
router = APIRouter()

@router.delete("/a/{id}")
def delete_a(id: int) -> None:
    remove(id)

@router.delete("/b/{id}")
def delete_b(id: int):
    return {"deleted": id}

@router.delete("/c/{id}", response_model=C)
def delete_c(id: int):
    remove(id)
'''
    fixed, done = fix_file(source, [finding("FBA204", 4), finding("FBA204", 8), finding("FBA204", 12)])
    assert [f.line for f in done] == [4]
    assert '@router.delete("/a/{id}", status_code=status.HTTP_204_NO_CONTENT)' in fixed
    assert '@router.delete("/b/{id}")\n' in fixed and '@router.delete("/c/{id}", response_model=C)\n' in fixed


def test_the_delete_rules_findings_are_fixed():
    source = ('from fastapi import APIRouter\nrouter = APIRouter()\n\n@router.delete("/items/{item_id}")\n'
              "def delete_item(item_id: int):\n    items.pop(item_id)\n")
    findings = [f for f in review_sources({"app/main.py": source}).findings if f.rule == "FBA204"]
    fixed, done = fix_file(source, findings)
    assert done == findings and len(done) == 1
    assert "FBA204" not in {f.rule for f in review_sources({"app/main.py": fixed}).findings}


def test_several_fixes_in_one_file_follow_inserted_lines():
    source = ('import fastapi\nr = fastapi.APIRouter()\n\n@r.post("/a")\ndef create_a(): pass\n\n'
              '@r.post("/b")\ndef create_b(): pass\n')
    fixed, done = fix_file(source, [finding("FBA203", 4), finding("FBA203", 7)])
    assert len(done) == 2 and fixed.count("status_code=status.HTTP_201_CREATED") == 2
    assert fixed.count("from fastapi import status") == 1


def test_unknown_rules_and_unparsable_sources_are_left_alone():
    assert fix_source("x = 1\n", finding("FBA999", 1)) is None
    assert fix_source("def (:\n", finding("FBA203", 1)) is None


# end to end ----------------------------------------------------------------------------------------

APP = '''from fastapi import APIRouter

router = APIRouter()


@router.post("/items")  # create an item
def create_item(item: dict):
    return item
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text(APP)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.name", "Test")
    git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "initial")
    return tmp_path


def fba(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("ANTHROPIC_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=project, capture_output=True, text=True, env=env)


def test_review_fix_yes_fixes_commits_and_reports_what_remains(project):
    process = fba(project, "review", "app", "--fix", "--yes", "--select", "FBA203")
    assert process.returncode == 0, process.stderr
    assert '+@router.post("/items", status_code=status.HTTP_201_CREATED)  # create an item' in process.stdout
    assert "0 findings" in process.stdout
    assert "from fastapi import APIRouter, status\n" in (project / "app" / "main.py").read_text()
    assert git(project, "status", "--porcelain") == ""
    assert "Fba-Agent: fastapi-backend" in git(project, "log", "-1", "--format=%B")
    undo = fba(project, "undo")
    assert undo.returncode == 0 and "reverted" in undo.stdout
    assert (project / "app" / "main.py").read_text() == APP


def test_review_fix_without_yes_and_without_a_terminal_writes_nothing(project):
    process = fba(project, "review", "app", "--fix", "--select", "FBA203")
    assert process.returncode == 0  # low severity is under the default --fail-on
    assert "--yes" in process.stderr and "FBA203" in process.stdout
    assert (project / "app" / "main.py").read_text() == APP


def test_review_fix_patch_out_writes_an_applicable_patch(project):
    process = fba(project, "review", "app", "--fix", "--patch-out", "fix.patch", "--format", "json")
    assert process.returncode in (0, 1), process.stderr
    assert process.stdout.lstrip().startswith("{")  # the diff went to stderr, stdout stays JSON
    assert (project / "app" / "main.py").read_text() == APP
    git(project, "apply", "--check", "fix.patch")


def test_fix_options_need_fix(project):
    process = fba(project, "review", "app", "--yes")
    assert process.returncode == 2 and "need --fix" in process.stderr

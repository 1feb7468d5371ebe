"""FBA204's fix on a DELETE that already declares `status_code=200`: the value is replaced (a second
`status_code=` keyword would not compile), and only a status the fix can safely replace is fixable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.analysis.runner import review_sources
from agent.edits.fixes import fix_source
from agent.types import Finding, Severity

EXPLICIT = '''from fastapi import APIRouter

router = APIRouter()


@router.delete("/items/{item_id}", status_code=200)
def delete_item(item_id: int) -> None:
    pass
'''


def _finding(line: int) -> Finding:
    return Finding("FBA204", "status-code", Severity.LOW, "app/main.py", line, "message")


def _fba204(source: str) -> list[Finding]:
    return [f for f in review_sources({"app/main.py": source}).findings if f.rule == "FBA204"]


def test_an_explicit_200_is_replaced_not_duplicated():
    fixed = fix_source(EXPLICIT, _finding(6))
    assert fixed is not None
    compile(fixed, "main.py", "exec")
    assert '@router.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)' in fixed
    assert fixed.count("status_code=") == 1


def test_an_explicit_http_200_ok_is_replaced_too():
    source = EXPLICIT.replace("APIRouter\n", "APIRouter, status\n", 1).replace("status_code=200", "status_code=status.HTTP_200_OK")
    fixed = fix_source(source, _finding(6))
    assert fixed is not None and fixed.count("status_code=") == 1 and "HTTP_204_NO_CONTENT" in fixed


def test_explicit_200_findings_are_fixable_and_fixed_in_every_spelling():
    assert [f.fixable for f in _fba204(EXPLICIT)] == [True]
    spelled = EXPLICIT.replace("from fastapi", "from http import HTTPStatus\nfrom fastapi", 1).replace(
        "status_code=200", "status_code=HTTPStatus.OK")
    assert [f.fixable for f in _fba204(spelled)] == [True]
    fixed = fix_source(spelled, _finding(7))
    assert fixed is not None and fixed.count("status_code=") == 1 and "HTTP_204_NO_CONTENT" in fixed


def test_another_explicit_status_is_not_replaced():
    assert fix_source(EXPLICIT.replace("status_code=200", "status_code=202"), _finding(6)) is None


def test_options_unpacked_into_the_decorator_are_left_alone():
    source = EXPLICIT.replace('status_code=200', '**OPTIONS')
    assert fix_source(source, _finding(6)) is None


def test_review_fix_writes_a_file_that_compiles(tmp_path: Path):
    (tmp_path / "main.py").write_text(EXPLICIT)
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("ANTHROPIC_API_KEY", None)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    process = subprocess.run([sys.executable, "-m", "agent", "review", ".", "--fix", "--yes", "--select", "FBA204"],
                             cwd=tmp_path, capture_output=True, text=True, env=env)
    assert process.returncode == 0, process.stdout + process.stderr
    fixed = (tmp_path / "main.py").read_text()
    compile(fixed, "main.py", "exec")
    assert fixed.count("status_code=") == 1 and "status_code=status.HTTP_204_NO_CONTENT" in fixed
    assert _fba204(fixed) == []

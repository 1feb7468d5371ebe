"""`fba review` from the outside: bad input gives one clear line and the right exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CREATE_200 = """\
from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter()


class Item(BaseModel):
    name: str


@router.post("/items")
def create_item(item: Item) -> Item:
    return item
"""
CREATE_LINE = 11  # FBA203 (low) reports the decorator line
CLEAN = """\
from fastapi import APIRouter, status
from pydantic import BaseModel

router = APIRouter()


class Item(BaseModel):
    name: str


@router.post("/items", status_code=status.HTTP_201_CREATED)
def create_item(item: Item) -> Item:
    return item
"""
NEW_SYNTAX = CREATE_200 + """

def parse(text: str) -> int:
    try:
        return int(text)
    except ValueError, TypeError:
        return 0
"""
# Only FBA203 is selected, so rules added later cannot change what these tests see.
PYPROJECT = '[project]\nname = "demo"\n[tool.fba]\nselect = ["FBA203"]\n'
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;|4[0-7]|48;)")


def fba(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("FBA_", "ANTHROPIC_")) and k not in {"NO_COLOR", "FORCE_COLOR"}}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def one_error_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], proc.stderr
    return errors[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root (its own pyproject.toml, so the repository's config does not apply)."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "items.py").write_text(CREATE_200, encoding="utf-8")
    return tmp_path


def _json(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout)


def test_missing_path(project):
    proc = fba(project, "review", "nope.py")
    assert proc.returncode == 2
    one_error_line(proc, "nope.py", "no such file")


def test_folder_without_python(project):
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# docs\n", encoding="utf-8")
    proc = fba(project, "review", "docs")
    assert proc.returncode == 2
    one_error_line(proc, "docs", "no Python files")


def test_folder_whose_files_are_all_excluded_says_so(project):
    (project / "pyproject.toml").write_text(PYPROJECT + 'exclude = ["app/**"]\n', encoding="utf-8")
    proc = fba(project, "review", "app")
    assert proc.returncode == 2
    one_error_line(proc, "app", "excluded by the 'exclude' setting")


@pytest.mark.parametrize(("content", "words"), [
    (b"\x00\x01\x02binary\x00", ("blob.py", "binary")),
    (b"name = '\xe9t\xe9'\n", ("blob.py", "UTF-8")),
    (b")\n" * 30, ("blob.py", "syntax error")),
], ids=["binary", "not-utf8", "unparsable"])
def test_named_file_that_cannot_be_read_is_an_error_but_others_are_reviewed(project, content, words):
    (project / "blob.py").write_bytes(content)
    proc = fba(project, "review", "blob.py", "app", "--format", "json", "--fail-on", "info")
    assert proc.returncode == 2
    one_error_line(proc, *words)
    report = _json(proc)
    assert [(f["path"], f["rule"]) for f in report["findings"]] == [("app/items.py", "FBA203")]
    assert [s["path"] for s in report["summary"]["skipped"]] == ["blob.py"]


def test_unreadable_file_found_in_a_folder_is_a_warning(project):
    (project / "app" / "blob.py").write_bytes(b"\x00\x01")
    proc = fba(project, "review", "app", "--fail-on", "info")
    assert proc.returncode == 1  # the run did its job on the rest: the exit code follows the findings
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["warning: app/blob.py: binary file, not Python source"]
    assert "app/items.py" in proc.stdout and "FBA203" in proc.stdout


def test_newer_syntax_is_still_analysed(project):
    (project / "app" / "items.py").write_text(NEW_SYNTAX, encoding="utf-8")
    proc = fba(project, "review", "app/items.py", "--format", "json", "--fail-on", "low")
    assert proc.returncode == 1, proc.stderr
    report = _json(proc)
    assert [(f["rule"], f["line"]) for f in report["findings"]] == [("FBA203", CREATE_LINE)]
    assert report["summary"]["skipped"] == []


@pytest.mark.parametrize(("section", "words"), [
    ("[tool.fba\nselect = [", ("pyproject.toml", "not valid TOML")),
    ('[tool.fba]\nfail_onn = "high"\n', ("unknown key", "fail_onn")),
    ('[tool.fba]\nfail-on = "urgent"\n', ("fail-on", "urgent")),
    ('[tool.fba]\nseverity = { FBA203 = "loud" }\n', ("FBA203", "loud")),
], ids=["bad-toml", "unknown-key", "bad-fail-on", "bad-severity"])
def test_bad_configuration(project, section, words):
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n' + section, encoding="utf-8")
    proc = fba(project, "review", "app")
    assert proc.returncode == 2
    one_error_line(proc, *words)
    assert proc.stdout == ""


def test_bad_environment_variable(project):
    proc = fba(project, "review", "app", env={"FBA_FAIL_ON": "sometimes"})
    assert proc.returncode == 2
    one_error_line(proc, "fail-on", "sometimes")


@pytest.mark.parametrize(("args", "words"), [
    (("--format", "xml"), ("unknown format", "xml")),
    (("--select", "FBA999"), ("unknown rule", "FBA999")),
    (("--ignore", "not-a-category"), ("unknown rule", "not-a-category")),
    (("--fail-on", "urgent"), ("urgent",)),
], ids=["format", "select", "ignore", "fail-on"])
def test_bad_flags(project, args, words):
    proc = fba(project, "review", "app", *args)
    assert proc.returncode == 2
    one_error_line(proc, *words)


@pytest.mark.parametrize(("fail_on", "code"), [
    (None, 0), ("medium", 0), ("high", 0), ("critical", 0), ("low", 1), ("info", 1),
])
def test_fail_on_threshold(project, fail_on, code):
    proc = fba(project, "review", "app", *(("--fail-on", fail_on) if fail_on else ()))
    assert proc.returncode == code, proc.stderr
    assert "FBA203" in proc.stdout


def test_fail_on_from_config_and_env(project):
    (project / "pyproject.toml").write_text(PYPROJECT + 'fail-on = "low"\n', encoding="utf-8")
    assert fba(project, "review", "app").returncode == 1
    assert fba(project, "review", "app", env={"FBA_FAIL_ON": "high"}).returncode == 0
    assert fba(project, "review", "app", "--fail-on", "high", env={"FBA_FAIL_ON": "info"}).returncode == 0


def test_severity_override_changes_exit_code(project):
    (project / "pyproject.toml").write_text(PYPROJECT + 'severity = { FBA203 = "high" }\n', encoding="utf-8")
    proc = fba(project, "review", "app", "--format", "json")
    assert proc.returncode == 1
    assert [f["severity"] for f in _json(proc)["findings"]] == ["high"]


def test_clean_code_exits_zero(project):
    (project / "app" / "items.py").write_text(CLEAN, encoding="utf-8")
    proc = fba(project, "review", "app", "--fail-on", "info")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "0 findings in 1 file"


def test_inline_suppression(project):
    lines = CREATE_200.splitlines()
    lines[CREATE_LINE - 1] += "  # fba: ignore[FBA203]"
    (project / "app" / "items.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = fba(project, "review", "app", "--format", "json", "--fail-on", "info")
    assert proc.returncode == 0
    report = _json(proc)
    assert report["findings"] == [] and report["summary"]["suppressed"] == 1


def test_suppressing_another_rule_keeps_the_finding(project):
    lines = CREATE_200.splitlines()
    lines[CREATE_LINE - 1] += "  # fba: ignore[FBA102]"
    (project / "app" / "items.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = fba(project, "review", "app", "--format", "json", "--fail-on", "info")
    assert proc.returncode == 1
    assert [f["rule"] for f in _json(proc)["findings"]] == ["FBA203"]


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "markdown", "text"])
def test_output_file(project, fmt):
    proc = fba(project, "review", "app", "--format", fmt, "--output", "report.out", "--fail-on", "info")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "report written to report.out" in proc.stderr
    text = (project / "report.out").read_text(encoding="utf-8")
    assert "FBA203" in text and "\x1b[" not in text
    if fmt in {"json", "sarif"}:
        json.loads(text)


def test_output_file_in_missing_folder(project):
    proc = fba(project, "review", "app", "--output", "no/such/dir/report.json", "--format", "json")
    assert proc.returncode == 2
    one_error_line(proc, "cannot write")


def test_machine_formats_on_stdout_are_parseable(project):
    sarif = json.loads(fba(project, "review", "app", "--format", "sarif").stdout)
    assert sarif["runs"][0]["results"][0]["ruleId"] == "FBA203"
    github = fba(project, "review", "app", "--format", "github").stdout.splitlines()
    assert github[0].startswith("::notice file=app/items.py,line=11,")


def test_no_color(project):
    forced = fba(project, "review", "app", env={"FORCE_COLOR": "1"})
    assert COLOUR.search(forced.stdout), "FORCE_COLOR should colour the report"
    plain = fba(project, "review", "app", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not COLOUR.search(plain.stdout)
    assert "FBA203" in plain.stdout


def test_quiet_prints_only_findings(project):
    (project / "app" / "blob.py").write_bytes(b"\x00")
    proc = fba(project, "review", "app", "--quiet")
    assert proc.stderr == ""
    assert "FBA203" in proc.stdout and "finding" not in proc.stdout.splitlines()[-1]


def test_debug_shows_traceback_only_when_asked(project):
    assert "Traceback" not in fba(project, "review", "nope.py").stderr
    assert "Traceback" in fba(project, "--debug", "review", "nope.py").stderr

"""Issue 16's stumbles, from the outside: CI paths from a subfolder, fixable findings, honest
inputs (encodings, non-Python files, empty paths, config ranges, suppression typos, report
formats) and plain `fba rules` output when piped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.test_cli_review import CREATE_200, fba, one_error_line

DELETE_200 = """\
from fastapi import APIRouter

router = APIRouter()


@router.delete("/items/{item_id}")
def delete_item(item_id: int) -> None:
    return None
"""


@pytest.fixture
def monorepo(git_repo: Path) -> Path:
    """A git repository whose FastAPI project lives in `backend/` (with its own pyproject)."""
    backend = git_repo / "backend"
    (backend / "app").mkdir(parents=True)
    (backend / "pyproject.toml").write_text('[tool.fba]\nselect = ["FBA203"]\n', encoding="utf-8")
    (backend / "app" / "items.py").write_text(CREATE_200, encoding="utf-8")
    return git_repo


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.fba]\nselect = ["FBA203", "FBA204"]\n', encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "items.py").write_text(CREATE_200, encoding="utf-8")
    return tmp_path


# --- CI paths -------------------------------------------------------------------------------

def test_sarif_paths_are_relative_to_the_repository_root_from_a_subfolder(monorepo):
    proc = fba(monorepo / "backend", "review", "--format", "sarif", "--fail-on", "info")
    assert proc.returncode == 1, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert locations == [{"uri": "backend/app/items.py", "uriBaseId": "%SRCROOT%"}]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": monorepo.resolve().as_uri() + "/"}}


def test_github_annotations_are_relative_to_the_repository_root_from_a_subfolder(monorepo):
    proc = fba(monorepo / "backend" / "app", "review", "--format", "github", "--fail-on", "info")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("::notice file=backend/app/items.py,line=11,")


def test_json_paths_stay_relative_to_the_current_folder(monorepo):
    proc = fba(monorepo / "backend", "review", "--format", "json", "--fail-on", "info")
    assert [f["path"] for f in json.loads(proc.stdout)["findings"]] == ["app/items.py"]


# --- fixable --------------------------------------------------------------------------------

def test_fixable_findings_are_marked_in_json_and_text(project):
    (project / "app" / "delete.py").write_text(DELETE_200, encoding="utf-8")
    report = json.loads(fba(project, "review", "app", "-f", "json").stdout)
    assert {(f["rule"], f["fixable"]) for f in report["findings"]} == {("FBA203", True), ("FBA204", True)}
    text = fba(project, "review", "app").stdout
    assert "FBA203 [*] " in text and "FBA204 [*] " in text
    assert "[*] 2 fixable with fba review --fix" in text


def test_unfixable_findings_are_not_marked(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.fba]\nselect = ["FBA401"]\n', encoding="utf-8")
    (tmp_path / "settings.py").write_text('SECRET_KEY = "9f2c4e1b7a8d4f6e0c3b5a7d9e1f2a4c"\n', encoding="utf-8")
    report = json.loads(fba(tmp_path, "review", "-f", "json").stdout)
    assert [(f["rule"], f["fixable"]) for f in report["findings"]] == [("FBA401", False)]
    assert "[*]" not in fba(tmp_path, "review").stdout


def test_rules_mark_exactly_the_rules_fix_can_fix(tmp_path):
    from agent.edits.fixes import fixable_rules

    listed = json.loads(fba(tmp_path, "rules", "--format", "json").stdout)
    assert {r["code"] for r in listed if r["fixable"]} == set(fixable_rules())
    table = fba(tmp_path, "rules").stdout
    assert any("FBA203" in line and "[*]" in line for line in table.splitlines())
    assert not any("FBA101" in line and "[*]" in line for line in table.splitlines())


# --- inputs ---------------------------------------------------------------------------------

def test_pep_263_coding_declaration_is_honoured(project):
    source = "# -*- coding: latin-1 -*-\n" + CREATE_200.replace("name: str", "name: str  # caf\u00e9")
    (project / "app" / "items.py").write_bytes(source.encode("latin-1"))
    proc = fba(project, "review", "app/items.py", "-f", "json", "--fail-on", "info")
    assert proc.returncode == 1, proc.stderr
    assert [(f["rule"], f["line"]) for f in json.loads(proc.stdout)["findings"]] == [("FBA203", 12)]
    text = fba(project, "review", "app/items.py").stdout
    assert '@router.post("/items")' in text  # the excerpt is read with the same decoder


def test_unknown_coding_declaration_is_an_error(project):
    (project / "app" / "items.py").write_bytes(b"# coding: klingon\nx = 1\n")
    proc = fba(project, "review", "app/items.py")
    assert proc.returncode == 2
    one_error_line(proc, "app/items.py", "klingon")


@pytest.mark.parametrize("name", ["README.md", "requirements.txt"])
def test_named_non_python_file_is_not_a_python_file(project, name):
    (project / name).write_text("fastapi\n", encoding="utf-8")
    proc = fba(project, "review", name)
    assert proc.returncode == 2
    one_error_line(proc, name, "not a Python file")


def test_python_script_without_suffix_is_reviewed(project):
    (project / "manage").write_text("#!/usr/bin/env python3\n" + CREATE_200, encoding="utf-8")
    proc = fba(project, "review", "manage", "-f", "json", "--fail-on", "info")
    assert proc.returncode == 1, proc.stderr
    assert [f["rule"] for f in json.loads(proc.stdout)["findings"]] == ["FBA203"]


def test_empty_path_is_an_error(project):
    proc = fba(project, "review", "")
    assert proc.returncode == 2
    one_error_line(proc, "empty path")


@pytest.mark.parametrize(("setting", "words"), [
    ("min-confidence = 5", ("min-confidence", "between 0 and 1", "5")),
    ("min-confidence = -0.1", ("min-confidence", "between 0 and 1")),
    ("timeout = 0", ("timeout", "above 0")),
    ("test-timeout = 0", ("test-timeout", "at least 1")),
    ("max-retries = -1", ("max-retries", "at least 0")),
    ("max-cost = -2", ("max-cost", "negative")),
], ids=["confidence-high", "confidence-negative", "timeout", "test-timeout", "retries", "cost"])
def test_out_of_range_config_values_are_errors_naming_the_key(project, setting, words):
    (project / "pyproject.toml").write_text(f"[tool.fba]\n{setting}\n", encoding="utf-8")
    proc = fba(project, "review", "app")
    assert proc.returncode == 2
    one_error_line(proc, "config key", *words)


def test_out_of_range_environment_value_names_the_variable(project):
    proc = fba(project, "review", "app", env={"FBA_TIMEOUT": "0"})
    assert proc.returncode == 2
    one_error_line(proc, "FBA_TIMEOUT", "timeout")


def test_bad_fail_on_flag_is_blamed_on_the_flag(project):
    proc = fba(project, "review", "app", "--fail-on", "urgent")
    assert proc.returncode == 2
    line = one_error_line(proc, "--fail-on", "urgent")
    assert "config key" not in line


def test_unknown_code_in_a_suppression_is_a_warning(project):
    source = CREATE_200.replace('@router.post("/items")', '@router.post("/items")  # fba: ignore[FBA999, FBA203]')
    (project / "app" / "items.py").write_text(source, encoding="utf-8")
    proc = fba(project, "review", "app")
    assert proc.returncode == 0, proc.stderr
    assert "warning: app/items.py:11: unknown rule or category 'FBA999'" in proc.stderr
    assert "FBA203" not in proc.stderr  # the known code is honoured, not reported
    again = fba(project, "review", "app")  # the cached run says it too
    assert "unknown rule or category 'FBA999'" in again.stderr


def test_known_codes_and_categories_in_suppressions_are_quiet(project):
    source = CREATE_200.replace('@router.post("/items")', '@router.post("/items")  # fba: ignore[status-code, FBA-LLM-jwt]')
    (project / "app" / "items.py").write_text(source, encoding="utf-8")
    proc = fba(project, "review", "app")
    assert "warning" not in proc.stderr


@pytest.mark.parametrize(("name", "check"), [
    ("report.json", lambda text: json.loads(text)["findings"][0]["rule"] == "FBA203"),
    ("report.sarif", lambda text: json.loads(text)["version"] == "2.1.0"),
    ("fba.sarif.json", lambda text: json.loads(text)["version"] == "2.1.0"),
    ("report.md", lambda text: text.startswith("## fba review")),
    ("report.txt", lambda text: text.startswith("app/items.py:11:1: low FBA203")),
])
def test_output_file_extension_sets_the_format(project, name, check):
    proc = fba(project, "review", "app", "-o", name, "--fail-on", "info")
    assert proc.returncode == 1, proc.stderr
    assert check((project / name).read_text(encoding="utf-8"))


def test_format_that_contradicts_the_output_extension_is_refused(project):
    proc = fba(project, "review", "app", "-f", "text", "-o", "report.json")
    assert proc.returncode == 2
    one_error_line(proc, "--format text", "report.json")
    assert not (project / "report.json").exists()


def test_sarif_may_go_to_a_json_file(project):
    proc = fba(project, "review", "app", "-f", "sarif", "-o", "report.json", "--fail-on", "info")
    assert proc.returncode == 1, proc.stderr
    assert json.loads((project / "report.json").read_text(encoding="utf-8"))["version"] == "2.1.0"


@pytest.mark.parametrize("command", [["review", "app", "-f", "JSON"], ["rules", "-f", "Json"], ["config", "-f", "JSON"]])
def test_format_is_case_insensitive(project, command):
    proc = fba(project, *command)
    assert proc.returncode in (0, 1), proc.stderr
    json.loads(proc.stdout)


@pytest.mark.parametrize("command", [["rules", "-f", "xml"], ["config", "-f", "xml"], ["agents", "-f", "xml"],
                                     ["log", "-f", "xml"]])
def test_unknown_format_is_an_error_everywhere(project, command):
    proc = fba(project, *command, env={"FBA_HOME": str(project / "home")})
    assert proc.returncode == 2
    one_error_line(proc, "unknown format", "xml")


def test_fix_yes_outside_a_git_repository_is_refused_unless_asked(project):
    proc = fba(project, "review", "app", "--fix", "--yes")
    assert proc.returncode == 2
    one_error_line(proc, "not inside a git repository", "--allow-no-git")
    assert (project / "app" / "items.py").read_text(encoding="utf-8") == CREATE_200
    proc = fba(project, "review", "app", "--fix", "--yes", "--allow-no-git")
    assert proc.returncode == 0, proc.stderr
    assert "HTTP_201_CREATED" in (project / "app" / "items.py").read_text(encoding="utf-8")


def test_fix_yes_inside_a_git_repository_needs_no_flag(git_repo):
    (git_repo / "pyproject.toml").write_text('[tool.fba]\nselect = ["FBA203"]\n', encoding="utf-8")
    (git_repo / "items.py").write_text(CREATE_200, encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=git_repo, check=True)
    proc = fba(git_repo, "review", "--fix", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "HTTP_201_CREATED" in (git_repo / "items.py").read_text(encoding="utf-8")


# --- plain text -----------------------------------------------------------------------------

def test_rule_page_piped_is_plain_text(tmp_path):
    proc = fba(tmp_path, "rules", "FBA102")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "FBA102 unscoped-object-access"
    assert max(map(len, lines)) < 120  # not padded to the console width
    assert all(line == line.rstrip() for line in lines)
    for heading in ("What it does", "Why is this bad?", "Example", "Use instead", "Known problems"):
        assert heading in lines  # on a line of its own, not run into the text
    assert "**" not in proc.stdout and "```" not in proc.stdout


def test_fixable_rule_page_says_so(tmp_path):
    assert "fba review --fix" in fba(tmp_path, "rules", "FBA204").stdout
    assert "--fix" not in fba(tmp_path, "rules", "FBA101").stdout.splitlines()[1]


def test_rule_page_as_json(tmp_path):
    page = json.loads(fba(tmp_path, "rules", "FBA203", "-f", "json").stdout)
    assert (page["code"], page["fixable"]) == ("FBA203", True)
    assert "**What it does**" in page["doc"]


@pytest.mark.parametrize(("command", "check"), [
    (["log", "--format", "json"], lambda data: data == []),
    (["sessions", "-f", "JSON"], lambda data: data == []),
    (["agents", "--format", "json"], lambda data: [a["name"] for a in data] == ["fastapi-backend"]),
    (["config", "--format", "json"], lambda data: data["values"]["fail-on"] == "medium"),
])
def test_data_commands_print_json(tmp_path, command, check):
    (tmp_path / "pyproject.toml").write_text("[tool.fba]\n", encoding="utf-8")
    proc = fba(tmp_path, *command, env={"FBA_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr
    assert check(json.loads(proc.stdout))

"""Real-world precision check (issue 2): the reference FastAPI idioms in tests/fixtures/real_world
(full-stack-fastapi-template, FastAPI's docs, fastapi-users; see its README) get exactly their true
positives. Each expected finding below is a real problem by its rule's docs and the checklist;
false positives found so far are strict xfails, so fixing one makes its test fail until the mark
goes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from agent.analysis.discovery import collect_files
from agent.analysis.runner import ReviewOptions, review_sources
from agent.config import load_config

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "real_world"
TEMPLATE = FIXTURES / "full_stack_template" / "backend"  # the template's import root
BIGGER = FIXTURES / "fastapi_docs" / "bigger_applications"
SECURITY = FIXTURES / "fastapi_docs" / "security"
SQL = FIXTURES / "fastapi_docs" / "sql_databases"
USERS = FIXTURES / "fastapi_users"
SARIF_SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"

Key = tuple[str, str, int]

TEMPLATE_FINDINGS: set[Key] = {
    # get_current_user answers 403 to an invalid token; a missing/invalid credential is a 401.
    ("FBA205", "app/api/deps.py", 39),
    # `limit: int = 100` with no upper bound (items for any user, users for superusers).
    ("FBA211", "app/api/routes/items.py", 16),
    ("FBA211", "app/api/routes/users.py", 38),
    # Creates answer 200 instead of 201.
    ("FBA203", "app/api/routes/items.py", 61),
    ("FBA203", "app/api/routes/private.py", 21),
    ("FBA203", "app/api/routes/users.py", 52),
    ("FBA203", "app/api/routes/users.py", 145),
    # Login, password recovery, reset and signup take input from anonymous clients, unthrottled.
    ("FBA407", "app/api/routes/login.py", 24),
    ("FBA407", "app/api/routes/login.py", 54),
    ("FBA407", "app/api/routes/login.py", 78),
    ("FBA407", "app/api/routes/users.py", 145),
    # POST /private/users/ creates users with no auth; only an ENVIRONMENT == "local" check mounts it.
    ("FBA101", "app/api/routes/private.py", 21),
}

# The docs' examples return plain dicts with no response model: FBA201 (low, preview) by design.
# Handlers answering a constant dict ({"message": "Hello Bigger Applications!"}) expose nothing.
BIGGER_FINDINGS: set[Key] = {
    ("FBA201", "app/routers/items.py", 19),
    ("FBA201", "app/routers/items.py", 24),
    ("FBA201", "app/routers/items.py", 31),
    ("FBA201", "app/routers/users.py", 7),
    ("FBA201", "app/routers/users.py", 17),
}
# FastAPI(dependencies=[Depends(get_query_token)]) covers every route and the items router and the
# admin include add get_token_header; both check a credential-like parameter (`token`, `x_token`)
# and raise 400 when it is wrong, which counts as authentication, so no route is unauthenticated.
BIGGER_FALSE_POSITIVES: set[Key] = set()

TUTORIAL004 = "tutorial004_an_py310.py"
TUTORIAL005 = "tutorial005_an_py310.py"
SQL_TUTORIAL = "tutorial002_an_py310.py"
SECURITY_FINDINGS: dict[str, set[Key]] = {
    TUTORIAL004: {
        ("FBA401", TUTORIAL004, 13),  # SECRET_KEY = "09d25e09..." in code
        ("FBA407", TUTORIAL004, 118),  # POST /token, no throttling
        ("FBA201", TUTORIAL004, 143),  # read_own_items returns a list of dicts, no response model
    },
    TUTORIAL005: {
        ("FBA401", TUTORIAL005, 18),
        # A missing scope answers 401; RFC 6750 (insufficient_scope) and the checklist say 403.
        ("FBA205", TUTORIAL005, 132),
        ("FBA407", TUTORIAL005, 148),
        ("FBA201", TUTORIAL005, 170),  # (177 answers a constant status dict: nothing to model)
    },
}
# A tutorial with no authentication anywhere is a public API by FBA101's docs: no auth findings.
SQL_FINDINGS: set[Key] = {
    ("FBA203", SQL_TUTORIAL, 57),  # POST /heroes/ answers 200 (delete_hero's constant {"ok": True} is fine)
    ("FBA211", SQL_TUTORIAL, 70),  # limit has le=100 but no ge: limit=-1 reads every hero on its SQLite engine
}
USERS_FINDINGS: set[Key] = {
    ("FBA201", "app/app.py", 35),  # authenticated_route returns a dict, no response model
    ("FBA401", "app/users.py", 16),  # SECRET = "SECRET" signs JWTs and reset/verification tokens
}


def _sources(root: Path, names: tuple[str, ...] = ()) -> dict[str, str]:
    """Python files under `root` (or just `names`), keyed by their path relative to `root`."""
    files = [root / n for n in names] if names else sorted(root.rglob("*.py"))
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in files}


def _review(sources: dict[str, str]) -> set[Key]:
    result = review_sources(sources, ReviewOptions(preview=True))  # every rule, preview ones included
    assert result.skipped == ()
    keys = [(f.rule, f.path, f.line) for f in result.findings]
    assert len(keys) == len(set(keys)), "a finding is reported twice"
    return set(keys)


def test_template_gets_exactly_its_true_positives():
    assert _review(_sources(TEMPLATE)) == TEMPLATE_FINDINGS


def test_template_deps_in_python_314_syntax_is_analysed():
    """deps.py's `except InvalidTokenError, ValidationError:` does not parse on 3.11; fba still
    reads CurrentUser from it, or every route of the template would be unauthenticated."""
    sources = _sources(TEMPLATE)
    assert "except InvalidTokenError, ValidationError:" in sources["app/api/deps.py"]
    findings = _review(sources)
    assert ("FBA205", "app/api/deps.py", 39) in findings
    assert not {k for k in findings if k[0] == "FBA101" and k[1] != "app/api/routes/private.py"}


def test_bigger_applications_true_positives_are_reported():
    assert BIGGER_FINDINGS <= _review(_sources(BIGGER))


def test_bigger_applications_gets_nothing_else():
    assert _review(_sources(BIGGER)) == BIGGER_FINDINGS


def test_bigger_applications_false_positives_are_exactly_the_known_ones():
    """Pins the FP list the lead gets, so a new FP (or a fixed one) shows up here too."""
    assert _review(_sources(BIGGER)) - BIGGER_FINDINGS == BIGGER_FALSE_POSITIVES


@pytest.mark.parametrize("tutorial", [TUTORIAL004, TUTORIAL005])
def test_security_tutorial_gets_exactly_its_true_positives(tutorial: str):
    assert _review(_sources(SECURITY, (tutorial,))) == SECURITY_FINDINGS[tutorial]


def test_sql_tutorial_without_auth_is_a_public_api():
    assert _review(_sources(SQL, (SQL_TUTORIAL,))) == SQL_FINDINGS


def test_sql_tutorial_reviewed_with_other_apps_stays_a_public_api():
    """'The project has authentication' is decided per application: the security tutorial's auth
    does not make the SQL tutorial's routes unauthenticated."""
    sources = {f"sql_databases/{k}": v for k, v in _sources(SQL, (SQL_TUTORIAL,)).items()}
    sources |= {f"security/{k}": v for k, v in _sources(SECURITY, (TUTORIAL004,)).items()}
    findings = _review(sources)
    assert {k for k in findings if k[1].startswith("sql_databases/")} == {
        (rule, f"sql_databases/{path}", line) for rule, path, line in SQL_FINDINGS}
    assert {k for k in findings if k[1].startswith("security/")} == {
        (rule, f"security/{path}", line) for rule, path, line in SECURITY_FINDINGS[TUTORIAL004]}


def test_fastapi_users_example_gets_exactly_its_true_positives():
    assert _review(_sources(USERS)) == USERS_FINDINGS


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    """The template's backend outside this repository, whose config excludes tests/fixtures."""
    backend = tmp_path / "backend"
    shutil.copytree(TEMPLATE, backend)
    return backend


def _keys_from_json(stdout: str) -> set[Key]:
    return {(f["rule"], f["path"], f["line"]) for f in json.loads(stdout)["findings"]}


def test_cli_reports_agree_across_formats(run_fba, template_copy: Path):
    json_run = run_fba(["review", "app", "--no-cache", "--format", "json"], cwd=template_copy)
    assert json_run.returncode == 1, json_run.stderr
    assert _keys_from_json(json_run.stdout) == TEMPLATE_FINDINGS

    sarif_run = run_fba(["review", "app", "--no-cache", "--format", "sarif"], cwd=template_copy)
    assert sarif_run.returncode == 1, sarif_run.stderr
    sarif = json.loads(sarif_run.stdout)
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    results = sarif["runs"][0]["results"]
    assert {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results} == TEMPLATE_FINDINGS

    github_run = run_fba(["review", "app", "--no-cache", "--format", "github"], cwd=template_copy)
    annotations = [line for line in github_run.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == len(TEMPLATE_FINDINGS)
    assert sum(a.startswith("::error file=app/api/routes/private.py,line=21,") for a in annotations) == 1


def test_single_file_review_matches_the_folder_review(run_fba, template_copy: Path):
    run = run_fba(["review", "app/api/routes/items.py", "--no-cache", "--format", "json"], cwd=template_copy)
    expected = {k for k in TEMPLATE_FINDINGS if k[1] == "app/api/routes/items.py"}
    assert _keys_from_json(run.stdout) == expected


def test_repository_config_keeps_the_fixtures_out_of_its_own_review():
    config = load_config(REPO, environ={})
    reviewed = collect_files([REPO / "tests"], REPO, config["exclude"])
    assert not [p for p in reviewed if FIXTURES in p.resolve().parents]

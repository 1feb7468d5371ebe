"""`fba review --changed` takes the same path as `--diff`: a finding whose evidence changed in the
work tree (auth removed from a router or an include, uncommitted) is part of the change although
its own file and line did not change."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from tests.test_diff_evidence import DEPS, INCLUDE_AUTH, ITEMS, MAIN, edit, repo  # noqa: F401 (fixture)


def changed_auth_findings(run_fba, repo: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    run = run_fba(["review", "--changed", "--select", "FBA101", "-f", "json", *extra], cwd=repo)
    return run, json.loads(run.stdout or "{}")


def test_removing_router_auth_in_the_work_tree_is_reported(repo, run_fba):
    edit(repo / "app/routes/orders.py", 'prefix="/orders", dependencies=[Depends(get_current_user)]', 'prefix="/orders"')
    for extra in ([], ["--no-cache"]):
        run, report = changed_auth_findings(run_fba, repo, *extra)
        assert run.returncode == 1, run.stderr
        lines = (repo / "app/routes/orders.py").read_text().splitlines()
        assert [(f["path"], lines[f["line"] - 1]) for f in report["findings"]] == [("app/routes/orders.py", '@router.get("/")')]


def test_removing_include_auth_in_the_work_tree_reports_the_routes_it_covered(repo, run_fba):
    edit(repo / "app/main.py", INCLUDE_AUTH, ")")
    run, report = changed_auth_findings(run_fba, repo)
    assert run.returncode == 1, run.stderr
    # main.py changed: all of it is reported (GET /reports); items.py's GET / lost its auth there
    assert [f["path"] for f in report["findings"]] == ["app/main.py", "app/routes/items.py"]
    assert report["summary"]["files"] == 2


def test_an_old_finding_in_an_unchanged_file_stays_out(repo, run_fba):
    """GET /reports in main.py was unauthenticated at HEAD: a change elsewhere does not report it."""
    edit(repo / "app/routes/items.py", "return []", "return ['x']")
    run, report = changed_auth_findings(run_fba, repo)
    assert run.returncode == 0, run.stderr
    assert report["findings"] == [] and report["summary"]["files"] == 1


def test_a_repository_without_commits_reports_every_file(git_repo, run_fba):
    """Before the first commit every file is changed and there is no base to compare with."""
    for path, text in {"app/__init__.py": "", "app/deps.py": DEPS, "app/main.py": MAIN, "app/routes/items.py": ITEMS}.items():
        (git_repo / path).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / path).write_text(textwrap.dedent(text), encoding="utf-8")
    edit(git_repo / "app/main.py", INCLUDE_AUTH, ")")
    run, report = changed_auth_findings(run_fba, git_repo)
    assert run.returncode == 1, run.stderr
    assert {f["path"] for f in report["findings"]} == {"app/main.py", "app/routes/items.py"}

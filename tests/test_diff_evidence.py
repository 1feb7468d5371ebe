"""`fba review --diff REF` reports findings whose evidence changed, not only those on changed
lines: removing router-level auth makes the routes it covered unauthenticated although their
lines did not change."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from agent.analysis.cache import ReviewCache
from agent.analysis.runner import ReviewOptions, review_paths
from agent.workflows.diff_review import changes_since, review_scope

DEPS = '''
import jwt
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login/access-token")

def get_current_user(token: str = Depends(oauth2_scheme)):
    return jwt.decode(token, "key", algorithms=["HS256"])
'''
ITEMS = '''
from fastapi import APIRouter, Depends

from app.deps import get_current_user

router = APIRouter()

@router.get("/")
def read_items() -> list[str]:
    return []

@router.delete("/{item_id}")
def delete_item(
    item_id: int,
    user=Depends(get_current_user),
) -> None:
    return None
'''
ORDERS = '''
from fastapi import APIRouter, Depends

from app.deps import get_current_user

router = APIRouter(prefix="/orders", dependencies=[Depends(get_current_user)])

@router.get("/")
def list_orders() -> list[str]:
    return []
'''
MAIN = '''
from fastapi import Depends, FastAPI

from app.deps import get_current_user
from app.routes import items, orders

app = FastAPI()
app.include_router(items.router, prefix="/items", dependencies=[Depends(get_current_user)])
app.include_router(orders.router)

@app.get("/reports")
def report() -> dict[str, str]:
    return {}
'''
AUTH = ReviewOptions(select=("FBA101",))
INCLUDE_AUTH = ', dependencies=[Depends(get_current_user)])'


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Committed as `base`: every route authenticated (handler, router or include) but
    `/reports`, a finding that exists before any change."""
    files = {"pyproject.toml": "[project]\nname = 'shop'\n", "app/__init__.py": "", "app/routes/__init__.py": "",
             "app/deps.py": DEPS, "app/main.py": MAIN, "app/routes/items.py": ITEMS, "app/routes/orders.py": ORDERS}
    for path, text in files.items():
        (git_repo / path).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / path).write_text(textwrap.dedent(text), encoding="utf-8")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "base")
    git(git_repo, "tag", "base")
    monkeypatch.chdir(git_repo)
    return git_repo


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def found(repo: Path, cache: ReviewCache | None = None) -> list[tuple[str, str]]:
    result = review_scope([Path(".")], AUTH, repo, changes_since([Path(".")], repo, "base"), cache)
    lines = {path: (repo / path).read_text().splitlines() for path in {f.path for f in result.findings}}
    return [(f.path, lines[f.path][f.line - 1].strip()) for f in result.findings]


def test_an_unrelated_change_reports_no_old_finding(repo):
    everything = review_paths([Path(".")], AUTH, repo).findings
    assert [f.path for f in everything] == ["app/main.py"]  # GET /reports, there before any change
    edit(repo / "app/main.py", "app = FastAPI()", "app = FastAPI(title='shop')")
    (repo / "app/routes/items.py").write_text("# moved down a line\n" + (repo / "app/routes/items.py").read_text())
    assert found(repo) == []


def test_removing_auth_from_an_include_reports_the_routes_it_covered(repo):
    edit(repo / "app/main.py", INCLUDE_AUTH, ")")
    assert found(repo) == [("app/routes/items.py", '@router.get("/")')]


def test_removing_auth_from_a_router_reports_its_routes(repo):
    edit(repo / "app/routes/orders.py", 'prefix="/orders", dependencies=[Depends(get_current_user)]', 'prefix="/orders"')
    assert found(repo) == [("app/routes/orders.py", '@router.get("/")')]


def test_removing_the_auth_parameter_of_a_handler_reports_its_route(repo):
    edit(repo / "app/main.py", INCLUDE_AUTH, ")")
    edit(repo / "app/routes/items.py", "    user=Depends(get_current_user),\n", "")
    assert found(repo) == [("app/routes/items.py", '@router.get("/")'), ("app/routes/items.py", '@router.delete("/{item_id}")')]


def test_deleting_the_file_that_added_auth_reports_the_routes(repo):
    git(repo, "mv", "app/main.py", "app/application.py")
    edit(repo / "app/application.py", INCLUDE_AUTH, ")")
    reported = found(repo)
    assert ("app/routes/items.py", '@router.get("/")') in reported
    assert all(path != "app/routes/orders.py" for path, _ in reported)


def test_the_cache_gives_the_same_answer_and_stays_the_work_tree_s(repo):
    cache = ReviewCache.for_root(repo)
    assert found(repo, cache) == []
    edit(repo / "app/main.py", INCLUDE_AUTH, ")")
    assert found(repo, cache) == found(repo) == [("app/routes/items.py", '@router.get("/")')]
    # The review at `base` stored nothing: a plain review still sees the work tree.
    git(repo, "checkout", "--", "app/main.py")
    assert found(repo, cache) == []


def test_cli_diff_reports_a_removed_include_dependency(repo, run_fba):
    edit(repo / "app/main.py", INCLUDE_AUTH, ")")
    for extra in ([], ["--no-cache"]):
        run = run_fba(["review", "--diff", "base", "--select", "FBA101", "-f", "json", *extra], cwd=repo)
        assert run.returncode == 1, run.stderr
        report = json.loads(run.stdout)
        assert [f["path"] for f in report["findings"]] == ["app/routes/items.py"]
        assert report["summary"]["files"] == 2  # main.py changed, items.py has a finding

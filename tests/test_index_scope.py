"""Reviewing a file or folder indexes its whole project (the target's import root) and reports
only the target: auth added by `include_router` in another file is seen."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agent.analysis import analyzer as analyzer_module
from agent.analysis.cache import ReviewCache
from agent.analysis.index import ProjectIndex
from agent.analysis.runner import ReviewOptions, review_paths

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
from app.api.deps import get_current_user

router = APIRouter()

@router.get("/mine")
def read_mine(user=Depends(get_current_user)) -> list[str]:
    return []

@router.get("/")
def read_items() -> list[str]:
    return []

@router.delete("/{item_id}")
def delete_item(item_id: int) -> None:
    return None
'''
API_MAIN = '''
from fastapi import APIRouter, Depends
from app.api.deps import get_current_user
from app.api.routes import items

api_router = APIRouter()
api_router.include_router(items.router, prefix="/items", dependencies=[Depends(get_current_user)])
'''
APP_MAIN = '''
from fastapi import FastAPI
from app.api.main import api_router

app = FastAPI()
app.include_router(api_router)
'''
ITEMS_PATH = "app/api/routes/items.py"
ONLY_101 = ReviewOptions(select=("FBA101",))


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose items.py is authenticated only by the include in api/main.py."""
    write(tmp_path, {
        "pyproject.toml": "[project]\nname = 'shop'\n",
        "app/__init__.py": "", "app/api/__init__.py": "", "app/api/routes/__init__.py": "",
        "app/main.py": APP_MAIN, "app/api/main.py": API_MAIN, "app/api/deps.py": DEPS, ITEMS_PATH: ITEMS,
    })
    monkeypatch.chdir(tmp_path)
    return tmp_path


def rules_and_paths(result) -> list[tuple[str, str]]:
    return [(f.rule, f.path) for f in result.findings]


def test_a_file_sees_auth_from_an_include_router_in_another_file(project):
    result = review_paths([Path(ITEMS_PATH)], ONLY_101, project)
    assert rules_and_paths(result) == []
    assert result.files == 1


def test_its_folder_gives_the_same_answer(project):
    result = review_paths([Path("app/api/routes")], ONLY_101, project)
    assert rules_and_paths(result) == []
    assert result.files == 2  # items.py and the package's __init__.py


def test_without_the_include_dependency_the_routes_are_flagged(project):
    (project / "app/api/main.py").write_text(
        textwrap.dedent(API_MAIN).replace(', dependencies=[Depends(get_current_user)]', ''), encoding="utf-8")
    result = review_paths([Path(ITEMS_PATH)], ONLY_101, project)
    assert rules_and_paths(result) == [("FBA101", ITEMS_PATH), ("FBA101", ITEMS_PATH)]


def test_unreported_files_honour_exclude_and_are_never_reported_as_skipped(project):
    (project / "app/api/broken.py").write_bytes(b"\xff\xfe not utf-8")
    (project / "app/api/routes/orders.py").write_text("def f(:\n", encoding="utf-8")
    result = review_paths([Path(ITEMS_PATH)], ONLY_101, project)
    assert rules_and_paths(result) == [] and result.skipped == ()

    excluding = ReviewOptions(select=("FBA101",), exclude=("app/api/main.py",))
    result = review_paths([Path(ITEMS_PATH)], excluding, project)
    assert {path for _, path in rules_and_paths(result)} == {ITEMS_PATH}  # the include is not indexed


def test_modules_are_named_from_the_import_root_not_the_project_root(tmp_path, monkeypatch):
    """A backend in a subfolder imports `app.api...`: named from `backend/`, the include and
    the dependency resolve exactly (no `backend.app...` names)."""
    files = {"app/__init__.py": "", "app/api/__init__.py": "", "app/api/routes/__init__.py": "",
             "app/main.py": APP_MAIN, "app/api/main.py": API_MAIN, "app/api/deps.py": DEPS, ITEMS_PATH: ITEMS}
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'monorepo'\n", **{f"backend/{p}": t for p, t in files.items()}})
    monkeypatch.chdir(tmp_path)
    seen: dict[str, str] = {}
    real = analyzer_module.Analyzer.facts

    def spy(self, source):
        seen[source.path] = source.module
        return real(self, source)

    monkeypatch.setattr(analyzer_module.Analyzer, "facts", spy)
    result = review_paths([Path("backend") / ITEMS_PATH], ONLY_101, tmp_path)
    assert rules_and_paths(result) == []
    assert seen["backend/app/api/routes/items.py"] == "app.api.routes.items"
    assert seen["backend/app/main.py"] == "app.main"
    # The whole repository: modules inside a package are named from their own import root too.
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "seed.py").write_text("print('seed')\n", encoding="utf-8")
    seen.clear()
    assert rules_and_paths(review_paths([Path(".")], ONLY_101, tmp_path)) == []
    assert seen["backend/app/api/routes/items.py"] == "app.api.routes.items"
    assert seen["scripts/seed.py"] == "scripts.seed"  # not in a package: named from the target's root


def test_a_single_file_review_after_a_full_one_is_served_by_the_cache(project, monkeypatch):
    cache = ReviewCache.for_root(project)
    review_paths([Path(".")], ONLY_101, project, cache=cache)
    parsed: list[str] = []
    real = analyzer_module.parse_python

    def spy(text: str, path: str):
        parsed.append(path)
        return real(text, path)

    monkeypatch.setattr(analyzer_module, "parse_python", spy)
    result = review_paths([Path(ITEMS_PATH)], ONLY_101, project, cache=cache)
    assert rules_and_paths(result) == [] and parsed == []


def test_cli_json_counts_the_reported_files(project, run_fba):
    for target, files in ((ITEMS_PATH, 1), ("app/api/routes", 2), (".", 7)):
        result = run_fba(["review", target, "--select", "FBA101", "-f", "json", "--no-cache"], cwd=project)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["findings"] == [] and report["summary"]["files"] == files


def test_reviews_of_different_files_of_an_unchanged_project_stay_warm(project, monkeypatch):
    """The unchanged-project shortcut remembers every report scope it answered: reviewing one file
    and then another (an editor, a pre-commit hook) does not build the index a third time."""
    cache = ReviewCache.for_root(project)
    review_paths([Path(ITEMS_PATH)], ONLY_101, project, cache=cache)
    review_paths([Path("app/main.py")], ONLY_101, project, cache=cache)

    def no_index(*args, **kwargs):
        raise AssertionError("an unchanged project needs no index")

    monkeypatch.setattr(ProjectIndex, "build", no_index)
    assert review_paths([Path(ITEMS_PATH)], ONLY_101, project, cache=cache).files == 1
    assert review_paths([Path("app/main.py")], ONLY_101, project, cache=cache).files == 1

"""A file's findings do not depend on the command line (issue 14): its project (nearest
pyproject.toml / setup.cfg / setup.py or git top) feeds the index and names its modules, so a
file reviewed alone, with other files (a pre-commit hook), from a subfolder or as part of
`fba review .` gets the same findings, cross-file facts included."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agent.analysis.cache import ReviewCache
from agent.analysis.discovery import ImportBases, index_roots, project_root
from agent.analysis.runner import ReviewOptions, review_paths

MODELS = '''
from sqlmodel import Field, SQLModel

class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str

class Item(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str
    owner_id: int = Field(foreign_key="user.id")

class ItemPublic(SQLModel):
    id: int
    title: str
'''
DEPS = '''
from typing import Annotated

import jwt
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from {pkg}.models import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login/access-token")

def get_session():
    yield Session()

SessionDep = Annotated[Session, Depends(get_session)]

def get_current_user(session: SessionDep, token: Annotated[str, Depends(oauth2_scheme)]) -> User:
    payload = jwt.decode(token, "key", algorithms=["HS256"])
    return session.get(User, payload["sub"])

CurrentUser = Annotated[User, Depends(get_current_user)]
'''
MAIN = '''
from fastapi import Depends, FastAPI

from {pkg}.deps import get_current_user
from {pkg}.routes import items

app = FastAPI()
app.include_router(items.router, prefix="/items", dependencies=[Depends(get_current_user)])
'''
# Authenticated only through the include in main.py; read_item and delete_item are IDORs.
ITEMS = '''
from fastapi import APIRouter

from {pkg}.deps import CurrentUser, SessionDep
from {pkg}.models import Item, ItemPublic

router = APIRouter()

@router.get("/{{item_id}}", response_model=ItemPublic)
def read_item(session: SessionDep, current_user: CurrentUser, item_id: int) -> Item:
    return session.get(Item, item_id)

@router.delete("/{{item_id}}", status_code=204)
def delete_item(session: SessionDep, item_id: int) -> None:
    item = session.get(Item, item_id)
    session.delete(item)
    session.commit()
'''
SECURITY = ReviewOptions(select=("FBA1", "FBA2"))


def write_project(root: Path, base: str, pkg: str) -> Path:
    """A project without any `__init__.py` (namespace packages); returns the items module."""
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n", encoding="utf-8")
    files = {"models.py": MODELS, "deps.py": DEPS, "main.py": MAIN, "routes/items.py": ITEMS}
    for name, text in files.items():
        target = root / base / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text.format(pkg=pkg)), encoding="utf-8")
    return root / base / "routes/items.py"


def findings_for(result, file: Path) -> list[tuple]:
    """The findings of `file`, independent of the display path (relative to the current folder)."""
    return sorted((f.rule, f.line, f.column, f.severity.value, f.message)
                  for f in result.findings if Path(f.path).resolve() == file.resolve())


def expect_idor_and_no_missing_auth(found: list[tuple]) -> None:
    assert sorted(line for rule, line, *_ in found if rule == "FBA102") == [11, 15]
    assert not [f for f in found if f[0] == "FBA101"]  # the include in main.py authenticates


@pytest.fixture(params=[("app", "app"), ("src/shop", "shop")], ids=["namespace", "src-layout"])
def items(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base, pkg = request.param
    monkeypatch.chdir(tmp_path)
    return write_project(tmp_path, base, pkg)


def test_a_file_alone_gets_what_the_whole_project_gives_it(items, tmp_path):
    whole = findings_for(review_paths([Path(".")], SECURITY, tmp_path), items)
    expect_idor_and_no_missing_auth(whole)
    alone = findings_for(review_paths([items.relative_to(tmp_path)], SECURITY, tmp_path), items)
    assert alone == whole
    with_others = review_paths([items.relative_to(tmp_path), items.parent.parent / "models.py"], SECURITY, tmp_path)
    assert findings_for(with_others, items) == whole  # a pre-commit hook's file list


def test_from_a_subfolder_the_findings_are_the_same(items, tmp_path, monkeypatch):
    whole = findings_for(review_paths([Path(".")], SECURITY, tmp_path), items)
    monkeypatch.chdir(items.parent)
    result = review_paths([Path("items.py")], SECURITY, tmp_path)
    assert {f.path for f in result.findings} == {"items.py"}
    assert findings_for(result, items) == whole


def test_the_cache_serves_each_scope_what_it_computed_for_the_other(items, tmp_path):
    whole = findings_for(review_paths([Path(".")], SECURITY, tmp_path), items)
    for n, (first, second) in enumerate((([items], [Path(".")]), ([Path(".")], [items]))):
        cache = ReviewCache(tmp_path / f"cache{n}")
        assert findings_for(review_paths(first, SECURITY, tmp_path, cache=cache), items) == whole
        assert findings_for(review_paths(second, SECURITY, tmp_path, cache=cache), items) == whole


def test_cli_file_and_project_reports_agree(items, tmp_path, run_fba):
    def report(target: str, cwd: Path) -> list[tuple]:
        run = run_fba(["review", target, "-f", "json", "--select", "FBA1,FBA2", "--static-only"], cwd=cwd)
        assert run.returncode in (0, 1), run.stderr
        return sorted((f["rule"], f["line"], f["message"]) for f in json.loads(run.stdout)["findings"]
                      if (cwd / f["path"]).resolve() == items.resolve())

    whole = report(".", tmp_path)
    assert sorted(line for rule, line, _ in whole if rule == "FBA102") == [11, 15]
    assert report(str(items.relative_to(tmp_path)), tmp_path) == whole
    assert report("items.py", items.parent) == whole


def test_the_project_is_found_from_the_file(tmp_path):
    (tmp_path / "proj/app/api").mkdir(parents=True)
    (tmp_path / "proj/setup.cfg").write_text("", encoding="utf-8")
    (tmp_path / "repo/backend/app").mkdir(parents=True)
    (tmp_path / "repo/.git").mkdir()
    (tmp_path / "repo/backend/pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "loose").mkdir()
    assert project_root(tmp_path / "proj/app/api/x.py") == (tmp_path / "proj").resolve()
    assert project_root(tmp_path / "repo/backend/app") == (tmp_path / "repo/backend").resolve()  # the nearest
    assert project_root(tmp_path / "repo/README.md") == (tmp_path / "repo").resolve()  # the git top
    if project_root(tmp_path) is None:  # nothing above the temporary folder
        assert project_root(tmp_path / "loose/x.py") is None
        assert index_roots([tmp_path / "loose/x.py"], tmp_path) == [(tmp_path / "loose").resolve()]


def test_module_names_start_at_the_package_root_src_or_project(tmp_path):
    for path in ("pyproject.toml", "src/shop/api/routes.py", "tests/unit/test_x.py", "backend/app/__init__.py",
                 "backend/app/api/__init__.py", "backend/app/api/deps.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("", encoding="utf-8")
    bases = ImportBases(tmp_path, [tmp_path])
    root = tmp_path.resolve()
    assert bases(root / "src/shop/api") == root / "src"
    assert bases(root / "tests/unit") == root
    assert bases(root / "backend/app/api") == root / "backend"  # a regular package: its own import root


def test_a_test_folder_stays_test_code_from_inside_it(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/factories.py").write_text('API_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"\n', encoding="utf-8")
    (tmp_path / "settings.py").write_text((tmp_path / "tests/factories.py").read_text(), encoding="utf-8")
    secrets = ReviewOptions(select=("FBA401",))
    monkeypatch.chdir(tmp_path)
    assert [f.path for f in review_paths([Path("settings.py")], secrets, tmp_path).findings] == ["settings.py"]
    assert review_paths([Path("tests/factories.py")], secrets, tmp_path).findings == ()
    monkeypatch.chdir(tmp_path / "tests")
    assert review_paths([Path("factories.py")], secrets, tmp_path).findings == ()

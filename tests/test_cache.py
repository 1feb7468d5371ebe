"""The persistent review cache: what it stores, when it is reused and when it is not."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agent.analysis import analyzer as analyzer_module
from agent.analysis.analyzer import FactsEntry, FindingsEntry
from agent.analysis.cache import CacheEntryError, ReviewCache, encode, loads
from agent.analysis.index import ProjectIndex
from agent.analysis.runner import ReviewOptions, review_sources
from agent.report.json_report import render_json
from agent.types import Edit, Finding, Fix, Severity

DEPS = '''
from fastapi import Header

def get_db():
    return None
'''
ROUTES = '''
from fastapi import APIRouter, Depends
from app.deps import get_db

router = APIRouter()

@router.post("/items")
def create_item(item: dict, db=Depends(get_db)):
    return item

@router.post("/orders")
def create_order(order: dict, db=Depends(get_db)):
    return order
'''
OTHER = '''
from fastapi import APIRouter
router = APIRouter()

@router.post("/users")
def create_user(user: dict):
    return user
'''
ONLY_201 = ReviewOptions(select=("FBA203",))


def project() -> dict[str, str]:
    return {
        "app/deps.py": textwrap.dedent(DEPS),
        "app/routes.py": textwrap.dedent(ROUTES),
        "app/users.py": textwrap.dedent(OTHER),
    }


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths parsed by the analyzer, in order (the cache's misses)."""
    seen: list[str] = []
    real = analyzer_module.parse_python

    def spy(text: str, path: str):
        seen.append(path)
        return real(text, path)

    monkeypatch.setattr(analyzer_module, "parse_python", spy)
    return seen


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths the rules ran on (findings misses)."""
    seen: list[str] = []
    real = analyzer_module.Analyzer.findings

    def spy(self, source):
        seen.append(source.path)
        return real(self, source)

    monkeypatch.setattr(analyzer_module.Analyzer, "findings", spy)
    return seen


def review(cache: ReviewCache, sources: dict[str, str], options: ReviewOptions = ONLY_201):
    return review_sources(sources, options, cache=cache, jobs=1)


def test_values_round_trip_through_json():
    finding = Finding("FBA203", "status-code", Severity.LOW, "app/a.py", 3, "m", end_line=4,
                      fix=Fix("add status", (Edit("app/a.py", "x", "y"),)))
    entry = FindingsEntry((finding,), (7, 9))
    assert loads(json.dumps(encode(entry))) == entry
    facts = FactsEntry(None, ("rewrote 1 clause",), partial=True)
    assert loads(json.dumps(encode(facts))) == facts
    mixed = {"a": frozenset({1, 2}), ("k", 1): [1, (2, 3)], "s": {"x"}}
    assert loads(json.dumps(encode(mixed))) == mixed


@pytest.mark.parametrize("name", ["os:system", "builtins:object", "subprocess:Popen", "agent.nothere:X", "nonsense"])
def test_decode_never_builds_foreign_classes(name):
    with pytest.raises(CacheEntryError):
        loads(json.dumps({"__dc__": name, "f": []}))


def test_untagged_objects_are_rejected():
    with pytest.raises(CacheEntryError):
        loads('{"rule": "FBA101"}')


def test_warm_run_parses_nothing_and_answers_the_same(tmp_path, parses, checks, monkeypatch):
    cache = ReviewCache(tmp_path / ".fba_cache")
    first = review(cache, project())
    assert sorted(set(parses)) == ["app/deps.py", "app/routes.py", "app/users.py"]
    assert first.findings
    parses.clear()
    checks.clear()

    def no_index(*args, **kwargs):
        raise AssertionError("an unchanged project needs no index")

    monkeypatch.setattr(ProjectIndex, "build", no_index)
    second = review(cache, project())
    assert parses == [] and checks == []
    assert render_json(second) == render_json(first)


def test_cache_folder_ignores_itself(tmp_path):
    cache = ReviewCache(tmp_path / ".fba_cache")
    review(cache, project())
    assert (tmp_path / ".fba_cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_content_change_rechecks_that_file(tmp_path, parses):
    cache = ReviewCache(tmp_path / ".fba_cache")
    review(cache, project())
    parses.clear()
    changed = project()
    changed["app/users.py"] = changed["app/users.py"].replace('@router.post("/users")', '@router.post("/users", status_code=201)')
    result = review(cache, changed)
    assert "app/users.py" in parses and "app/deps.py" not in parses
    assert {f.path for f in result.findings} == {"app/routes.py"}


def test_rule_selection_and_severity_changes_recompute_findings(tmp_path):
    cache = ReviewCache(tmp_path / ".fba_cache")
    assert review(cache, project()).findings
    assert review(cache, project(), ReviewOptions(select=("FBA203",), ignore=("FBA203",))).findings == ()
    lowered = review(cache, project(), ReviewOptions(select=("FBA203",), severity={"FBA203": "info"}))
    assert {f.severity for f in lowered.findings} == {Severity.INFO}
    assert {f.severity for f in review(cache, project()).findings} == {Severity.LOW}


def test_dependency_fact_change_rechecks_routes_that_use_it(tmp_path, checks):
    """Real `fingerprint_for`: a dependency routes.py uses gains auth -> routes.py is re-checked;
    a helper nobody imports is added -> it is not."""
    cache = ReviewCache(tmp_path / ".fba_cache")
    review(cache, project())
    checks.clear()
    unrelated = project()
    unrelated["app/deps.py"] += "\n\ndef format_price(cents: int) -> str:\n    return f'{cents / 100:.2f}'\n"
    review(cache, unrelated)
    assert checks == ["app/deps.py"]
    checks.clear()
    secured = project()
    secured["app/deps.py"] = secured["app/deps.py"].replace(
        "def get_db():",
        "oauth2_scheme = OAuth2PasswordBearer(tokenUrl='token')\n\n"
        "def get_db(token: str = Depends(oauth2_scheme)):",
    ).replace("import Header", "import Depends, Header\nfrom fastapi.security import OAuth2PasswordBearer")
    review(cache, secured)
    assert "app/routes.py" in checks


def test_findings_follow_the_index_fingerprint(tmp_path, checks, monkeypatch):
    """A controlled fingerprint: unchanged -> cached findings; changed for one file -> it is
    re-checked (with the file whose edit changed it), the others are not."""
    fingerprints = {"app/deps.py": "d1", "app/routes.py": "r1", "app/users.py": "u1"}
    monkeypatch.setattr(ProjectIndex, "fingerprint_for", lambda self, path: fingerprints[path])
    cache = ReviewCache(tmp_path / ".fba_cache")
    review(cache, project())
    edited = project()
    edited["app/users.py"] += "# edited\n"
    checks.clear()
    review(cache, edited)
    assert checks == ["app/users.py"]
    fingerprints["app/routes.py"] = "r2"  # as if the edit below changed what routes.py depends on
    edited["app/users.py"] += "\ndef helper():\n    return 1\n"
    checks.clear()
    review(cache, edited)
    assert checks == ["app/routes.py", "app/users.py"]


def test_fingerprints_are_computed_once_per_project_index(tmp_path, monkeypatch):
    """A comment edit changes a file's text, not its facts: the index is the same, so every
    fingerprint is taken from the cache; a new definition changes the facts and they are recomputed."""
    computed: list[str] = []
    real = ProjectIndex.fingerprint_for

    def spy(self, path):
        computed.append(path)
        return real(self, path)

    monkeypatch.setattr(ProjectIndex, "fingerprint_for", spy)
    cache = ReviewCache(tmp_path / ".fba_cache")
    first = review(cache, project())
    assert sorted(computed) == ["app/deps.py", "app/routes.py", "app/users.py"]
    computed.clear()
    commented = project()
    commented["app/users.py"] += "# a comment\n"
    assert render_json(review(cache, commented)) == render_json(first)
    assert computed == []
    defined = project()
    defined["app/users.py"] += "\ndef helper():\n    return 1\n"
    review(cache, defined)
    assert sorted(computed) == ["app/deps.py", "app/routes.py", "app/users.py"]


def test_corrupt_entries_are_misses_not_crashes(tmp_path, parses):
    folder = tmp_path / ".fba_cache"
    cache = ReviewCache(folder)
    expected = render_json(review(cache, project()))
    entries = sorted(folder.rglob("*.json"))
    garbage = [b"", b"{not json", b'{"__entry__": 1}', b"\x00\xff", b"[1, 2]",
               json.dumps({"__entry__": "x", "value": {"__dc__": "os:system", "f": []}}).encode()]
    for number, entry in enumerate(entries):
        entry.write_bytes(garbage[number % len(garbage)])
    parses.clear()
    assert render_json(review(cache, project())) == expected
    assert parses  # the broken entries were recomputed ...
    parses.clear()
    assert render_json(review(cache, project())) == expected
    assert parses == []  # ... and rewritten


def test_entry_under_another_key_is_a_miss(tmp_path):
    cache = ReviewCache(tmp_path / ".fba_cache")
    cache.put("facts", "app/a.py", "key-1", FactsEntry(None, error="boom"))
    assert cache.get("facts", "app/a.py", "key-1") == FactsEntry(None, error="boom")
    assert cache.get("facts", "app/a.py", "key-2") is None
    assert cache.get("facts", "app/b.py", "key-1") is None


def test_unwritable_cache_still_reviews(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    result = review(ReviewCache(blocker / ".fba_cache"), project())
    assert result.findings


def write_project(root: Path) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for path, text in project().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_cli_caches_in_project_root_and_cleans(tmp_path, run_fba):
    write_project(tmp_path)
    first = run_fba(["review", ".", "--select", "FBA203", "-f", "json"], cwd=tmp_path / "app")
    assert first.returncode == 0, first.stderr  # FBA203 is low, below the default fail-on
    assert (tmp_path / ".fba_cache" / "findings").is_dir()
    second = run_fba(["review", ".", "--select", "FBA203", "-f", "json"], cwd=tmp_path / "app")
    assert second.stdout == first.stdout
    cleaned = run_fba(["cache", "clean"], cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (tmp_path / ".fba_cache").exists()


def test_cli_no_cache_writes_nothing(tmp_path, run_fba):
    write_project(tmp_path)
    result = run_fba(["review", "app", "--no-cache", "-f", "json"], cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["summary"]["files"] == 3
    assert not (tmp_path / ".fba_cache").exists()


def cached_and_fresh(cache: ReviewCache, sources: dict[str, str], options: ReviewOptions) -> tuple[list, list]:
    """(findings through the cache, findings of a cache-less run) as (rule, path, line) lists."""
    def rows(result):
        return [(f.rule, f.path, f.line) for f in result.findings]

    return rows(review(cache, sources, options)), rows(review_sources(sources, options, jobs=1))


LOGIN = '''
from fastapi import APIRouter
router = APIRouter()

@router.post("/login/access-token")
def login_access_token(form: dict):
    return {}
'''
MAIN = '''
from fastapi import FastAPI
from app.routes import router

app = FastAPI()
app.include_router(router)
'''


def test_project_wide_rate_limit_middleware_rechecks_other_files(tmp_path):
    """FBA407 reads every file's imports: adding SlowAPIMiddleware to main.py must re-check
    routes.py, whose own text did not change."""
    only_407 = ReviewOptions(select=("FBA407",))
    cache = ReviewCache(tmp_path / ".fba_cache")
    sources = {"app/main.py": textwrap.dedent(MAIN), "app/routes.py": textwrap.dedent(LOGIN)}
    cached, fresh = cached_and_fresh(cache, sources, only_407)
    assert cached == fresh == [("FBA407", "app/routes.py", 5)]
    throttled = dict(sources)
    throttled["app/main.py"] = sources["app/main.py"].replace(
        "from app.routes import router",
        "from app.routes import router\nfrom slowapi.middleware import SlowAPIMiddleware",
    ) + "app.add_middleware(SlowAPIMiddleware)\n"
    assert cached_and_fresh(cache, throttled, only_407) == ([], [])
    assert cached_and_fresh(cache, sources, only_407) == (fresh, fresh)


PAGINATION = '''
class Pagination:
    def __init__(self, skip: int = 0, limit: int = 100):
        self.skip, self.limit = skip, limit
'''
LISTING = '''
from fastapi import APIRouter
router = APIRouter()

@router.get("/items")
def read_items(skip: int = 0):
    return []
'''


def test_a_route_starting_to_use_a_dependency_class_rechecks_its_file(tmp_path):
    """FBA211 checks dependency classes that any route of the project uses: a route in items.py
    taking `Pagination` must re-check deps.py, whose own text did not change."""
    only_211 = ReviewOptions(select=("FBA211",))
    cache = ReviewCache(tmp_path / ".fba_cache")
    sources = {"app/deps.py": textwrap.dedent(PAGINATION), "app/items.py": textwrap.dedent(LISTING)}
    assert cached_and_fresh(cache, sources, only_211) == ([], [])
    using = dict(sources)
    using["app/items.py"] = sources["app/items.py"].replace(
        "from fastapi import APIRouter", "from fastapi import APIRouter, Depends\nfrom app.deps import Pagination",
    ).replace("def read_items(skip: int = 0):", "def read_items(page: Pagination = Depends()):")
    cached, fresh = cached_and_fresh(cache, using, only_211)
    assert cached == fresh == [("FBA211", "app/deps.py", 3)]
    assert cached_and_fresh(cache, sources, only_211) == ([], [])


ITEMS = '''
from fastapi import APIRouter, Depends
from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column
from app.base import Entity
from app.deps import get_current_user, get_session

router = APIRouter()

class Item(Entity):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

@router.get("/items/{item_id}")
def read_item(item_id: int, user=Depends(get_current_user), session=Depends(get_session)):
    return session.get(Item, item_id)
'''
AUTH_DEPS = '''
import jwt

def get_current_user(token: str):
    return jwt.decode(token, "k", algorithms=["HS256"])

def get_session():
    return None
'''


def test_a_base_class_change_elsewhere_rechecks_files_defining_models_on_it(tmp_path):
    """Whether this file's own `Item` is a table depends on its base class in base.py (whose own
    summary does not change): the fingerprint covers the file's own symbols too."""
    only_102 = ReviewOptions(select=("FBA102",))
    cache = ReviewCache(tmp_path / ".fba_cache")
    declarative = "from sqlalchemy.orm import DeclarativeBase\n\nclass Entity(DeclarativeBase):\n    pass\n"
    sources = {"app/base.py": declarative, "app/items.py": textwrap.dedent(ITEMS), "app/deps.py": textwrap.dedent(AUTH_DEPS)}
    cached, fresh = cached_and_fresh(cache, sources, only_102)
    assert cached == fresh == [("FBA102", "app/items.py", 17)]
    plain = {**sources, "app/base.py": "class Entity:\n    pass\n"}
    assert cached_and_fresh(cache, plain, only_102) == ([], [])


def test_moving_code_in_an_imported_module_rechecks_only_that_module(tmp_path, checks):
    """Summaries of imported symbols carry no line numbers: blank lines added above a model do
    not re-check the files that import it, a new field does."""
    models = textwrap.dedent('''
        from sqlmodel import Field, SQLModel

        class Item(SQLModel, table=True):
            id: int = Field(primary_key=True)
            title: str
    ''')
    sources = {**project(), "app/models.py": models}
    sources["app/routes.py"] = "from app.models import Item\n" + sources["app/routes.py"]
    cache = ReviewCache(tmp_path / ".fba_cache")
    review(cache, sources)
    checks.clear()
    review(cache, {**sources, "app/models.py": "\n\n\n" + models})
    assert checks == ["app/models.py"]
    checks.clear()
    review(cache, {**sources, "app/models.py": models + "    owner_id: int = Field(foreign_key='user.id')\n"})
    assert "app/routes.py" in checks

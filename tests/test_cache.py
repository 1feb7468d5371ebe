"""The persistent review cache: what it stores, when it is reused and when it is not."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.analysis import analyzer as analyzer_module
from agent.analysis import reading
from agent.analysis.cache import KEY_FILE, MAGIC, ReviewCache, stat_digest
from agent.analysis.index import ProjectIndex
from agent.analysis.runner import ReviewOptions, review_paths, review_sources
from agent.analysis.selection import check_selectors
from agent.errors import UsageError
from agent.report.json_report import render_json
from agent.types import Severity

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


@pytest.fixture(autouse=True)
def private_cache_key(fba_home: Path) -> Path:
    """The cache key lives in fba's data folder: a private one per test."""
    return fba_home / KEY_FILE


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


def test_blobs_round_trip_signed_with_a_private_key(tmp_path, private_cache_key):
    cache = ReviewCache(tmp_path / ".fba_cache")
    value = {"a": frozenset({1, 2}), ("k", 1): [1, (2, 3)]}
    cache.store("thing", value)
    assert cache.load("thing") == value
    assert (tmp_path / ".fba_cache" / "thing.bin").read_bytes().startswith(MAGIC)
    assert private_cache_key.stat().st_mode & 0o777 == 0o600
    assert cache.load("missing") is None


class CreatesAFile:
    """Unpickling this creates `path`: what a malicious shipped cache would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_blob_not_signed_with_our_key_is_never_unpickled(tmp_path, fba_home):
    folder = tmp_path / ".fba_cache"
    evidence = tmp_path / "pwned"
    payload = pickle.dumps(CreatesAFile(evidence))
    foreign = ReviewCache(folder, key_file=tmp_path / "another-user" / KEY_FILE)
    foreign.store("files-x", CreatesAFile(evidence))  # signed, but with someone else's key
    ours = ReviewCache(folder)
    assert ours.load("files-x") is None
    blob = folder / "files-x.bin"
    for tampered in (MAGIC + b"\x00" * 32 + payload, payload, blob.read_bytes()[:-1] + b".", b""):
        blob.write_bytes(tampered)
        assert ours.load("files-x") is None
    assert not evidence.exists()


def test_a_blob_copied_under_another_name_is_a_miss(tmp_path):
    folder = tmp_path / ".fba_cache"
    cache = ReviewCache(folder)
    cache.store("findings-a", ["x"])
    (folder / "findings-b.bin").write_bytes((folder / "findings-a.bin").read_bytes())
    assert cache.load("findings-a") == ["x"] and cache.load("findings-b") is None


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
    entries = sorted(folder.glob("*.bin"))
    garbage = [b"", b"{not json", MAGIC, b"\x00\xff", MAGIC + b"\x00" * 40]
    for number, entry in enumerate(entries):
        entry.write_bytes(garbage[number % len(garbage)])
    parses.clear()
    assert render_json(review(cache, project())) == expected
    assert parses  # the broken entries were recomputed ...
    parses.clear()
    assert render_json(review(cache, project())) == expected
    assert parses == []  # ... and rewritten


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
    assert list((tmp_path / ".fba_cache").glob("findings-*.bin"))
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


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths whose text was read from disk."""
    seen: list[str] = []
    real = reading._read_text

    def spy(absolute: Path, shown: str) -> str:
        seen.append(shown)
        return real(absolute, shown)

    monkeypatch.setattr(reading, "_read_text", spy)
    return seen


def on_disk(root: Path, monkeypatch: pytest.MonkeyPatch, age_seconds: float = 60) -> list[str]:
    """The project written under `root` (the current folder), last modified `age_seconds` ago."""
    write_project(root)
    monkeypatch.chdir(root)
    paths = sorted(project())
    for path in paths:
        set_mtime(root / path, age_seconds)
    return paths


def set_mtime(file: Path, age_seconds: float) -> None:
    then = time.time_ns() - int(age_seconds * 1e9)
    os.utime(file, ns=(then, then))


def review_disk(root: Path, cache: ReviewCache):
    return review_paths([Path(".")], ONLY_201, root, cache=cache, jobs=1)


def test_a_file_whose_stat_is_unchanged_is_not_read_again(tmp_path, monkeypatch, reads):
    paths = on_disk(tmp_path, monkeypatch)
    cache = ReviewCache(tmp_path / ".fba_cache")
    first = review_disk(tmp_path, cache)
    assert sorted(reads) == paths
    reads.clear()
    assert render_json(review_disk(tmp_path, cache)) == render_json(first)
    assert reads == []


def test_a_racily_clean_file_is_read_and_hashed_again(tmp_path, monkeypatch, reads, parses):
    """Modified just before the run that cached it: its stat cannot vouch for its text."""
    on_disk(tmp_path, monkeypatch)
    set_mtime(tmp_path / "app/users.py", 0)
    cache = ReviewCache(tmp_path / ".fba_cache")
    review_disk(tmp_path, cache)
    reads.clear()
    parses.clear()
    review_disk(tmp_path, cache)
    assert reads == ["app/users.py"] and parses == []


def test_an_edit_keeping_size_and_mtime_is_caught_while_racily_clean(tmp_path, monkeypatch):
    """As on a file system whose inode and ctime say nothing (or a tool that restores the mtime):
    only size and mtime are left, and the edit keeps both. A file modified close to the cached
    run is re-read, so the edit is still seen."""
    monkeypatch.setattr(reading, "stat_signature", lambda path: (0, 0, os.stat(path).st_size, os.stat(path).st_mtime_ns, 0))
    on_disk(tmp_path, monkeypatch)
    users = tmp_path / "app/users.py"
    set_mtime(users, 0)
    cache = ReviewCache(tmp_path / ".fba_cache")
    assert {f.path for f in review_disk(tmp_path, cache).findings} == {"app/routes.py", "app/users.py"}
    before = users.stat()
    edited = users.read_text().replace('@router.post("/users")', '@router.get("/userss")')
    assert len(edited) == before.st_size
    users.write_text(edited)
    os.utime(users, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert {f.path for f in review_disk(tmp_path, cache).findings} == {"app/routes.py"}


def test_a_touched_but_unchanged_file_is_hashed_not_parsed(tmp_path, monkeypatch, reads, parses):
    on_disk(tmp_path, monkeypatch)
    cache = ReviewCache(tmp_path / ".fba_cache")
    first = review_disk(tmp_path, cache)
    set_mtime(tmp_path / "app/deps.py", 30)
    reads.clear()
    parses.clear()
    assert render_json(review_disk(tmp_path, cache)) == render_json(first)
    assert reads == ["app/deps.py"] and parses == []
    reads.clear()
    review_disk(tmp_path, cache)
    assert reads == []  # its new stat was remembered


def test_findings_of_another_report_scope_complete_each_other(tmp_path, checks):
    """A `--changed` style review checks only its files; a full review then checks the others,
    and both are served from the cache afterwards."""
    cache = ReviewCache(tmp_path / ".fba_cache")
    scoped = review_sources(project(), ONLY_201, cache=cache, jobs=1, report={"app/routes.py": None})
    assert checks == ["app/routes.py"] and scoped.files == 1
    checks.clear()
    full = review(cache, project())
    assert checks == ["app/deps.py", "app/users.py"]
    assert render_json(full) == render_json(review_sources(project(), ONLY_201, jobs=1))
    checks.clear()
    again = review_sources(project(), ONLY_201, cache=cache, jobs=1, report={"app/routes.py": None})
    assert checks == [] and render_json(again) == render_json(scoped)


def test_selectors_are_checked_against_the_cached_rule_catalogue(tmp_path, monkeypatch):
    cache = ReviewCache(tmp_path / ".fba_cache")
    check_selectors(ReviewOptions(select=("FBA203",)), cache)

    def no_rules():
        raise AssertionError("the catalogue is cached: no rule module needs importing")

    import agent.analysis.rules

    monkeypatch.setattr(agent.analysis.rules, "all_rules", no_rules)
    check_selectors(ReviewOptions(select=("FBA2", "auth-missing"), ignore=("FBA101",), severity={"FBA203": "info"}), cache)
    with pytest.raises(UsageError, match="FBA999"):
        check_selectors(ReviewOptions(ignore=("FBA999",)), cache)


def test_an_unchanged_project_is_answered_without_importing_the_engine(tmp_path, fba_home):
    write_project(tmp_path)
    script = textwrap.dedent('''
        import sys
        from pathlib import Path
        from agent.analysis.cache import ReviewCache
        from agent.analysis.runner import ReviewOptions, review_paths

        result = review_paths([Path(".")], ReviewOptions(), Path("."), cache=ReviewCache(Path(".fba_cache")))
        engine = sorted(m for m in sys.modules if m.startswith(("agent.analysis.analyzer", "agent.analysis.rules")))
        print(len(result.findings), engine)
    ''')
    env = {**os.environ, "FBA_HOME": str(fba_home)}
    runs = [subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
            for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    (cold_count, cold_engine), (warm_count, warm_engine) = (run.stdout.split(" ", 1) for run in runs)
    assert cold_count == warm_count and cold_engine != "[]\n" and warm_engine == "[]\n"


def test_the_stat_digest_follows_an_edit(tmp_path):
    """How the engine digest notices an edited rule without reading the engine's sources."""
    rule = tmp_path / "rule.py"
    rule.write_text("CODE = 'FBA101'\n")
    files = [str(rule)]
    before = stat_digest(files, str(tmp_path))
    rule.write_text("CODE = 'FBA102'\n")
    set_mtime(rule, -1)  # a same-size edit, a second later
    assert stat_digest(files, str(tmp_path)) != before


def test_facts_digest_alike_whether_made_here_or_received_from_a_worker():
    """A worker's facts reach the main process pickled; the digest must not tell them apart from
    facts made in-process (else the next run after a parallel one rebuilds the index)."""
    import pickle

    from agent.analysis.analyzer import Analyzer
    from agent.analysis.cache import content_digest
    from agent.analysis.runner import source_files

    # Parameters named like the facts' own fields (`name`, `path`, `default`): in the making
    # process they are the very strings of the field names, after unpickling only equal ones.
    text = "def handler(name: str, path: str, default: int = 0, line=1):\n    return name\n"
    for file in source_files({"app/handlers.py": text}):
        made = Analyzer().facts(file)
        received = pickle.loads(pickle.dumps(("result", file.path, made)))[2]
        assert received == made
        assert content_digest(received) == content_digest(made)


def test_facts_digests_do_not_depend_on_the_process():
    """Equal facts must digest alike in every run (string hashing differs per process), or a
    comment edit would rebuild the index each time."""
    script = textwrap.dedent('''
        import sys
        from pathlib import Path
        from agent.analysis.analyzer import Analyzer
        from agent.analysis.cache import content_digest
        from agent.analysis.runner import source_files

        sources = {str(p): p.read_text() for p in sorted(Path(sys.argv[1]).rglob("*.py"))}
        print([content_digest(Analyzer().facts(f)) for f in source_files(sources)])
    ''')
    examples = Path(__file__).resolve().parent.parent / "examples"
    digests = {
        subprocess.run([sys.executable, "-c", script, str(examples)], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1 and len(digests.pop()) > 100

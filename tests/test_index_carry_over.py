"""After an edit that changes a file's facts, the next index takes over the fingerprints of the
files no change can reach (`ProjectIndex.carry_over`), and a cached review still answers exactly
as an uncached one."""

from __future__ import annotations

import pickle

from agent.analysis.cache import ReviewCache
from agent.analysis.runner import ReviewOptions, build_index, review_sources

DEPS = """\
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


def get_current_user(token: str = Depends(oauth2_scheme)) -> str:
    return token


def get_db() -> str:
    return "db"
"""
# `get_db` now reads the token: the items route becomes authenticated.
DEPS_DB_WITH_AUTH = DEPS.replace("def get_db() -> str:", "def get_db(token: str = Depends(oauth2_scheme)) -> str:")
ITEMS = """\
from fastapi import APIRouter, Depends

from app.deps import get_db

router = APIRouter()


@router.get("/items")
def list_items(db: str = Depends(get_db)) -> list[str]:
    return [db]
"""
OTHER = """\
from fastapi import APIRouter

router = APIRouter()


@router.get("/reports")
def reports() -> dict:
    return {}
"""
ME = """\
from fastapi import APIRouter, Depends

from app.deps import get_current_user

router = APIRouter()


@router.get("/me")
def me(user: str = Depends(get_current_user)) -> str:
    return user
"""
SOURCES = {"app/__init__.py": "", "app/deps.py": DEPS, "app/items.py": ITEMS, "app/other.py": OTHER, "app/me.py": ME}
HELPER = "\n\ndef helper() -> int:\n    return 1\n"


def _fingerprinted(sources: dict[str, str]):
    index = build_index(sources)
    for path in sources:
        index.fingerprint_for(path)
    return index


def test_files_that_do_not_reach_the_change_keep_their_fingerprints():
    before = pickle.loads(pickle.dumps(_fingerprinted(SOURCES)))  # as the cache stores it
    edited = {**SOURCES, "app/deps.py": DEPS + HELPER}
    after = build_index(edited)
    after.carry_over(before, ["app/deps.py"])
    assert set(after.fingerprints) == {"app/__init__.py", "app/other.py"}  # deps.py and its importers are not
    fresh = _fingerprinted(edited)
    assert {path: after.fingerprint_for(path) for path in edited} == fresh.fingerprints


def test_a_new_name_reaches_files_importing_that_name():
    sources = {**SOURCES, "app/other.py": "from app.deps import helper\n" + OTHER}
    before = _fingerprinted(sources)
    after = build_index({**sources, "app/deps.py": DEPS + HELPER})
    after.carry_over(before, ["app/deps.py"])
    assert "app/other.py" not in after.fingerprints


def test_nothing_is_taken_over_when_files_come_or_go():
    before = _fingerprinted(SOURCES)
    after = build_index({**SOURCES, "app/new.py": OTHER})
    after.carry_over(before, ["app/new.py"])
    assert after.fingerprints == {}


def test_cached_review_after_facts_edits_matches_an_uncached_one(tmp_path):
    cache = ReviewCache(tmp_path / "cache", key_file=tmp_path / "key")
    options = ReviewOptions(select=("FBA101",))
    first = review_sources(SOURCES, options, cache=cache, jobs=1)
    assert sorted(f.path for f in first.findings) == ["app/items.py", "app/other.py"]
    for deps in (DEPS + HELPER, DEPS_DB_WITH_AUTH, DEPS_DB_WITH_AUTH + HELPER, DEPS):
        sources = {**SOURCES, "app/deps.py": deps}
        cached = review_sources(sources, options, cache=cache, jobs=1)
        assert cached == review_sources(sources, options, jobs=1), deps
    authenticated = review_sources({**SOURCES, "app/deps.py": DEPS_DB_WITH_AUTH}, options, cache=cache, jobs=1)
    assert [f.path for f in authenticated.findings] == ["app/other.py"]  # items.py was re-checked

"""The hygiene rules on the realistic clean app: nothing on the app as written, and each
category found in the right file when the app is broken once (by a text replacement)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analysis.runner import ReviewOptions, review_sources

APP = Path(__file__).parent / "fixtures" / "clean_app"
HYGIENE_RULES = ("FBA210", "FBA211", "FBA220", "FBA221", "FBA222", "FBA301", "FBA302", "FBA407", "FBA501")


def clean_sources() -> dict[str, str]:
    return {p.relative_to(APP).as_posix(): p.read_text(encoding="utf-8") for p in sorted(APP.rglob("*.py"))}


def review(sources: dict[str, str]):
    result = review_sources(sources, ReviewOptions(select=HYGIENE_RULES))
    assert not result.skipped, result.skipped
    return list(result.findings)


def mutate(path: str, old: str, new: str) -> dict[str, str]:
    sources = clean_sources()
    assert sources[path].count(old) >= 1, f"the fixture changed: {old!r} not in {path}"
    sources[path] = sources[path].replace(old, new, 1)
    return sources


def test_clean_app_has_no_hygiene_findings():
    assert review(clean_sources()) == []


MUTATIONS = [
    pytest.param(
        "app/api/routes/tags.py", ".order_by(Tag.name).offset(skip).limit(limit)", ".order_by(Tag.name)",
        "pagination", "FBA210", id="list-without-limit",
    ),
    pytest.param(
        "app/api/routes/users.py", "limit: int = Query(100, ge=1, le=100)", "limit: int = 100",
        "pagination", "FBA211", id="limit-without-le",
    ),
    pytest.param(
        "app/api/routes/items.py", "current_user: CurrentUser, item_in: ItemCreate", "current_user: CurrentUser, item_in: dict",
        "validation", "FBA222", id="dict-body-into-table-model",
    ),
    pytest.param(
        "app/api/routes/users.py",
        "    session.exec(delete(Item).where(col(Item.owner_id) == current_user.id))\n",
        "    session.exec(delete(Item).where(col(Item.owner_id) == current_user.id))\n    session.commit()\n",
        "transaction", "FBA301", id="two-commits",
    ),
    pytest.param(
        "app/api/routes/items.py",
        "    return ItemsPublic(data=items, count=count)",
        "    for item in items:\n        item.owner = session.get(User, item.owner_id)\n    return ItemsPublic(data=items, count=count)",
        "n-plus-one", "FBA302", id="query-per-row",
    ),
    pytest.param(
        "app/api/routes/login.py", '@router.post("/login/access-token", response_model=Token)\n@limiter.limit("5/minute")\n',
        '@router.post("/login/access-token", response_model=Token)\n',
        "rate-limit", "FBA407", id="login-without-limiter",
    ),
    pytest.param(
        "app/api/routes/items.py", "def read_item(session: SessionDep", "async def read_item(session: SessionDep",
        "blocking-async", "FBA501", id="sync-session-in-async-def",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "category", "rule"), MUTATIONS)
def test_each_broken_category_is_found_in_the_right_file(path, old, new, category, rule):
    found = review(mutate(path, old, new))
    assert found, f"{rule} missed the mutation in {path}"
    assert {(f.path, f.category) for f in found} == {(path, category)}
    assert rule in {f.rule for f in found}


def test_untyped_body_mutation_is_reported_as_validation():
    found = review(mutate("app/api/routes/users.py", "user_in: UserUpdateMe", "user_in: dict[str, Any]"))
    assert {(f.rule, f.path) for f in found} >= {("FBA220", "app/api/routes/users.py")}
    assert {f.category for f in found} == {"validation"}

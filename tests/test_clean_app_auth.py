"""The realistic multi-file app in tests/fixtures/clean_app is clean for every rule, and breaking it
once per category (auth, ownership, client identity, response model, status codes) is found at
the right file by the right rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analysis.runner import ReviewOptions, review_sources

APP = Path(__file__).parent / "fixtures" / "clean_app"


def _sources() -> dict[str, str]:
    return {p.relative_to(APP).as_posix(): p.read_text() for p in sorted(APP.rglob("*.py"))}


def test_clean_app_has_no_findings_from_any_rule():
    result = review_sources(_sources(), ReviewOptions(preview=True))
    assert result.skipped == ()
    assert [f"{f.rule} {f.path}:{f.line} {f.message}" for f in result.findings] == []


MUTATIONS = [
    pytest.param(
        [("app/api/main.py",
          "api_router.include_router(tags.router, dependencies=[Depends(get_current_active_user)])",
          "api_router.include_router(tags.router)")],
        "FBA101", "app/api/routes/tags.py", id="include-dependency-dropped",
    ),
    pytest.param(
        [("app/api/routes/users.py",
          '@router.post(\n    "/",\n    dependencies=[Depends(get_current_active_superuser)],\n',
          '@router.post(\n    "/",\n')],
        "FBA101", "app/api/routes/users.py", id="handler-dependency-dropped",
    ),
    pytest.param(
        [("app/api/routes/items.py",
          "    if not current_user.is_superuser and (item.owner_id != current_user.id):\n"
          '        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not enough permissions")\n',
          "")],
        "FBA102", "app/api/routes/items.py", id="owner-check-removed",
    ),
    pytest.param(
        [("app/api/routes/items.py",
          "select(Item).where(Item.id == id, Item.owner_id == current_user.id)",
          "select(Item).where(Item.id == id)")],
        "FBA102", "app/api/routes/items.py", id="owner-predicate-removed",
    ),
    pytest.param(
        [("app/api/routes/items.py",
          "    if current_user.is_superuser:\n"
          "        count_statement = select(func.count()).select_from(Item)\n"
          "        statement = select(Item)\n"
          "    else:\n"
          "        count_statement = select(func.count()).select_from(Item).where(Item.owner_id == current_user.id)\n"
          "        statement = select(Item).where(Item.owner_id == current_user.id)\n",
          "    count_statement = select(func.count()).select_from(Item)\n"
          "    statement = select(Item)\n")],
        "FBA104", "app/api/routes/items.py", id="list-owner-filter-removed",
    ),
    pytest.param(
        [("app/models.py", "class ItemCreate(ItemBase):\n    pass\n",
          "class ItemCreate(ItemBase):\n    owner_id: uuid.UUID\n"),
         ("app/api/routes/items.py", 'Item.model_validate(item_in, update={"owner_id": current_user.id})',
          "Item.model_validate(item_in)")],
        "FBA103", "app/api/routes/items.py", id="owner-id-from-body",
    ),
    pytest.param(
        [("app/api/routes/users.py", '@router.get("/me", response_model=UserPublic)',
          '@router.get("/me", response_model=User)')],
        "FBA202", "app/api/routes/users.py", id="table-model-returned",
    ),
    pytest.param(
        [("app/api/routes/items.py",
          '@router.get("/{id}", response_model=ItemPublic)\n'
          "def read_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> Any:",
          '@router.get("/{id}")\n'
          "def read_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID):")],
        "FBA201", "app/api/routes/items.py", id="response-model-dropped",
    ),
    pytest.param(
        [("app/api/routes/items.py", '@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT)',
          '@router.delete("/{id}")')],
        "FBA204", "app/api/routes/items.py", id="delete-without-204",
    ),
    pytest.param(
        [("app/api/deps.py",
          "    credentials_error = HTTPException(\n        status_code=status.HTTP_401_UNAUTHORIZED,",
          "    credentials_error = HTTPException(\n        status_code=status.HTTP_403_FORBIDDEN,")],
        "FBA205", "app/api/deps.py", id="403-for-bad-token",
    ),
]


@pytest.mark.parametrize(("edits", "rule", "path"), MUTATIONS)
def test_each_broken_category_is_found_at_the_right_file(edits, rule, path):
    sources = _sources()
    for file, old, new in edits:
        assert sources[file].count(old) == 1, f"mutation does not apply to {file}: {old!r}"
        sources[file] = sources[file].replace(old, new)
    findings = review_sources(sources, ReviewOptions(preview=True)).findings
    assert any(f.rule == rule and f.path == path for f in findings), findings
    assert {f.rule for f in findings} == {rule}, [f"{f.rule} {f.path}:{f.line}" for f in findings]

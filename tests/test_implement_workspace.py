"""The implement workspace (reads see the pending change set, writes go into it, confined like
reads) and the verify step's pieces: static checks against the whole project, the schema guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.context.files import RepoFiles
from agent.context.project import Migrations, find_migrations, fixtures, pack_context
from agent.errors import FbaError
from agent.workflows.verify import schema_check, table_changes
from agent.workflows.workspace import Workspace

DEPS = ("from fastapi import Depends, HTTPException\n\n\ndef get_current_user(token: str = Depends(oauth2)) -> dict:\n"
        "    if not token:\n        raise HTTPException(status_code=401)\n    return {}\n")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "deps.py").write_text(DEPS)
    (tmp_path / "app" / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    (tmp_path / ".env").write_text("KEY=1\n")
    context = {p: (tmp_path / p).read_text() for p in ("app/deps.py", "app/main.py")}
    return Workspace(tmp_path, RepoFiles(tmp_path), context=context)


def test_reads_see_pending_creates_edits_and_deletes(workspace):
    workspace.create_file("app/tags/routes.py", "TAGS = ['a']\n")
    workspace.edit_file("app/main.py", "app = FastAPI()", "app = FastAPI(title='x')")
    workspace.delete_file("app/deps.py")
    assert workspace.list_files(".") == "app/main.py\napp/tags/routes.py"
    assert workspace.list_files("app/tags", "*.py") == "app/tags/routes.py"
    assert workspace.read_file("app/main.py", 3, 3) == "     3\tapp = FastAPI(title='x')"
    assert workspace.search("TAGS|title", "app") == "app/main.py:3: app = FastAPI(title='x')\napp/tags/routes.py:1: TAGS = ['a']"
    with pytest.raises(FbaError, match="deleted"):
        workspace.read_file("app/deps.py")
    assert (workspace.root / "app" / "main.py").read_text().endswith("app = FastAPI()\n")  # disk untouched
    assert not (workspace.root / "app" / "tags").exists()


@pytest.mark.parametrize("path, message", [
    (".env", "deny-list"), ("../x.py", "'..' is not allowed"), ("/tmp/x.py", "absolute"),
    (".git/config", ".git/"), ("secrets/key.txt", "deny-list"),
])
def test_writes_are_confined_like_reads(workspace, path, message):
    with pytest.raises(FbaError, match=message):
        workspace.create_file(path, "x")
    assert workspace.snapshot().files == ()


def test_run_checks_knows_auth_from_untouched_files_and_marks_new_findings(workspace):
    workspace.create_file("app/open.py", "from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n"
                                         "@router.get('/things/{thing_id}')\ndef read_thing(thing_id: int):\n"
                                         "    return {'id': thing_id}\n")
    report = workspace.run_checks()
    assert report.startswith("checked 1 file(s)")
    assert "FBA101" in report and "[NEW: introduced by this change]" in report
    workspace.create_file("app/broken.py", "def (:\n")
    with pytest.raises(FbaError, match="does not parse"):
        workspace.run_checks()


MODELS = "from sqlmodel import Field, SQLModel\n\n\nclass Item(SQLModel, table=True):\n    id: int | None = Field(default=None, primary_key=True)\n"


def _changes(tmp_path, after_models: str, extra: dict[str, str] | None = None):
    (tmp_path / "models.py").write_text(MODELS)
    workspace = Workspace(tmp_path, RepoFiles(tmp_path))
    workspace.edit_file("models.py", MODELS, after_models)
    for path, text in (extra or {}).items():
        workspace.create_file(path, text)
    return workspace.snapshot()


def test_table_changes_and_the_schema_guard(tmp_path):
    added_column = MODELS + "    title: str\n"
    new_table = MODELS + "\n\nclass Tag(SQLModel, table=True):\n    __tablename__ = 'tags'\n    id: int | None = None\n"
    assert [c.describe() for c in table_changes(_changes(tmp_path, added_column))] == [
        "table model Item (table 'item') columns changed: title"]
    assert [c.describe() for c in table_changes(_changes(tmp_path, new_table))] == [
        "new table model Tag (table 'tags')"]

    alembic = Migrations("alembic.ini", ("alembic/versions",))
    assert schema_check(_changes(tmp_path, added_column), alembic, False).status == "failed"
    assert schema_check(_changes(tmp_path, added_column), alembic, True).status == "passed"
    assert schema_check(_changes(tmp_path, added_column), Migrations(None, ()), False).status == "warning"
    revision = {"alembic/versions/2_title.py": "op.add_column('item', sa.Column('title', sa.String()))\n"}
    assert schema_check(_changes(tmp_path, added_column, revision), alembic, False).status == "passed"
    elsewhere = {"docs/2_title.py": revision["alembic/versions/2_title.py"]}
    assert schema_check(_changes(tmp_path, added_column, elsewhere), alembic, False).status == "failed"
    assert schema_check(_changes(tmp_path, MODELS + "\n\nLIMIT = 1\n"), alembic, False).detail == "no table model added or altered"


def test_find_migrations():
    assert find_migrations(["alembic.ini", "migrations/env.py", "migrations/versions/001_init.py", "app/main.py"]) == \
        Migrations("alembic.ini", ("migrations/versions",))
    assert find_migrations(["backend/app/alembic/env.py"]) == Migrations(None, ("backend/app/alembic/versions",))
    assert not find_migrations(["app/versions/v1.py", "app/main.py"]).managed


def test_fixtures_and_context_packing():
    assert fixtures("import pytest\n\n@pytest.fixture\ndef client(): ...\n\n@pytest.fixture(scope='session')\n"
                    "def db(): ...\n\ndef helper(): ...\n") == ["client", "db"]
    packed = pack_context(["# Spec"], [("a.py", "x = 1\n"), ("big.py", "y" * 200), ("b.py", "z = 2\n")], 80)
    assert "## File: a.py" in packed and "## File: b.py" in packed and "## File: big.py" not in packed
    assert packed.endswith("use read_file)\n- big.py\n")

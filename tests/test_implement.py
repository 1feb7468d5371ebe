"""`fba implement` end to end: the CLI in a subprocess, the real SDK, the loopback fake API, and a
temporary git repository whose own pytest suite fba runs (in an isolated copy) to verify the change.

The temporary project is FastAPI-shaped but runs without FastAPI (not installed here): a small
`fastapi.py` stand-in that records routes sits outside the repository, on PYTHONPATH, so the
project's tests are plain pytest and the static engine sees the project exactly as written.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import text_reply, tool_reply
from tests.sandbox_marks import needs_sandbox

pytestmark = needs_sandbox  # fba verifies by running the agent's tests: only in a sandbox

ENV_SECRET = "dotenv-" + "secret-4b3c2a"
TEST_COMMAND = f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider"

FASTAPI_STANDIN = '''"""A stand-in for FastAPI (the real package is not installed): routers record routes."""


class APIRouter:
    def __init__(self, prefix="", tags=None, dependencies=None):
        self.prefix = prefix
        self.routes = []

    def _route(self, method, path):
        def register(function):
            self.routes.append((method, self.prefix + path, function))
            return function
        return register

    def get(self, path, **options):
        return self._route("GET", path)

    def post(self, path, **options):
        return self._route("POST", path)

    def include_router(self, router, prefix=""):
        self.routes += [(method, prefix + path, function) for method, path, function in router.routes]


class FastAPI(APIRouter):
    pass


def Depends(dependency=None):
    return dependency


class HTTPException(Exception):
    def __init__(self, status_code, detail=None):
        super().__init__(detail)
        self.status_code = status_code
'''

PROJECT = {
    "app/__init__.py": "",
    "app/deps.py": (
        "from typing import Annotated\n\nfrom fastapi import Depends, HTTPException\n\n\n"
        "def get_current_user(token: str = \"ada\") -> dict:\n"
        "    if not token:\n        raise HTTPException(status_code=401, detail=\"Not authenticated\")\n"
        "    return {\"id\": 1, \"name\": token}\n\n\n"
        "CurrentUser = Annotated[dict, Depends(get_current_user)]\n"
    ),
    "app/items.py": (
        "from pydantic import BaseModel\n\nfrom fastapi import APIRouter\nfrom app.deps import CurrentUser\n\n"
        "router = APIRouter(prefix=\"/items\")\n\n\nclass ItemPublic(BaseModel):\n    id: int\n    name: str\n\n\n"
        "@router.get(\"/{item_id}\", response_model=ItemPublic)\n"
        "def read_item(current_user: CurrentUser, item_id: int) -> ItemPublic:\n"
        "    return ItemPublic(id=item_id, name=f\"item of {current_user['name']}\")\n"
    ),
    "app/main.py": "from fastapi import FastAPI\n\nfrom app import items\n\napp = FastAPI()\napp.include_router(items.router)\n",
    "tests/test_items.py": (
        "from app.items import read_item\nfrom app.main import app\n\n\n"
        "def test_items_are_mounted():\n"
        "    assert (\"GET\", \"/items/{item_id}\") in [(method, path) for method, path, _ in app.routes]\n\n\n"
        "def test_read_item():\n    assert read_item({\"id\": 1, \"name\": \"ada\"}, 3).name == \"item of ada\"\n"
    ),
    "pyproject.toml": (
        f"[tool.fba]\ntest-command = {json.dumps(TEST_COMMAND)}\n\n"
        "[tool.pytest.ini_options]\npythonpath = [\".\"]\n"
    ),
    ".gitignore": ".env\n",
    "SPEC.md": "# Tags\n\nUsers can create tags: `POST /tags/` with a name (1-50 characters), answered with 201.\n"
               "The tag belongs to the signed-in user. Put the router in `app/tags.py`.\n",
}

TAGS_ROUTER = '''from pydantic import BaseModel, Field

from fastapi import APIRouter
from app.deps import CurrentUser

router = APIRouter(prefix="/tags")


class TagCreate(BaseModel):
    name: str = Field(min_length=1, max_length=50)


class TagPublic(BaseModel):
    name: str
    owner: str


@router.post("/", response_model=TagPublic, status_code=201)
def create_tag(current_user: CurrentUser, tag_in: TagCreate) -> TagPublic:
    return TagPublic(name=tag_in.name.lower(), owner=current_user["name"])
'''
TAGS_TEST = '''from app.main import app
from app.tags import TagCreate, create_tag


def test_tags_are_mounted():
    assert ("POST", "/tags/") in [(method, path) for method, path, _ in app.routes]


def test_create_tag_lowercases_and_sets_the_owner():
    tag = create_tag({"id": 1, "name": "ada"}, TagCreate(name="Urgent"))
    assert (tag.name, tag.owner) == ("urgent", "ada")
'''
INCLUDE_OLD = "from app import items\n\napp = FastAPI()\napp.include_router(items.router)\n"
INCLUDE_NEW = "from app import items, tags\n\napp = FastAPI()\napp.include_router(items.router)\napp.include_router(tags.router)\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def standin(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH with the FastAPI stand-in, for fba (whose isolated test runs inherit it) and pytest."""
    folder = tmp_path / "standin"
    folder.mkdir()
    (folder / "fastapi.py").write_text(FASTAPI_STANDIN)
    return {"PYTHONPATH": str(folder)}


@pytest.fixture
def env(fake_api, standin) -> dict[str, str]:
    return {**fake_api.env(), **standin}


@pytest.fixture
def project(git_repo: Path) -> Path:
    for relative, text in PROJECT.items():
        path = git_repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "initial")
    (git_repo / ".env").write_text(f"SECRET_KEY={ENV_SECRET}\n")
    return git_repo


def run_project_tests(repo: Path, standin: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(shlex.split(TEST_COMMAND), cwd=repo, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **standin})


def implement_steps(router: str = TAGS_ROUTER, test: str = TAGS_TEST) -> list:
    """A model that looks around, creates the router, mounts it, writes tests and runs them."""
    return [
        tool_reply(("list_files", {}), ("read_file", {"path": "app/main.py"}), text="Looking at the app first."),
        tool_reply(("create_file", {"path": "app/tags.py", "content": router}),
                   ("edit_file", {"path": "app/main.py", "old_string": INCLUDE_OLD, "new_string": INCLUDE_NEW}),
                   ("create_file", {"path": "tests/test_tags.py", "content": test})),
        tool_reply(("read_file", {"path": "app/main.py"}), ("run_tests", {})),
        text_reply("Added `app/tags.py` with `POST /tags/`, mounted it in `app/main.py`, and tests."),
    ]


def tool_results(request) -> list[dict]:
    last = request.body["messages"][-1]
    return [block for block in last["content"] if block.get("type") == "tool_result"]


def test_implement_creates_a_router_verifies_applies_and_commits(fake_api, env, standin, project, run_fba):
    fake_api.script(*implement_steps())
    done = run_fba(["implement", "SPEC.md", "--yes"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert (project / "app/tags.py").read_text() == TAGS_ROUTER
    assert "app.include_router(tags.router)" in (project / "app/main.py").read_text()
    assert "verified after 1 round: ✓ parse  ✓ checks  ✓ schema  ✓ tests (4 passed in " in done.stderr
    assert "  Tests: 4 passed in " in done.stderr and "  Create app/tags.py (+20)" in done.stderr
    assert "+++ b/app/tags.py" in done.stdout  # the diff preview

    # The model saw its pending change when it read main.py, and the isolated test run passed.
    reread, test_run = tool_results(fake_api.requests[3])
    assert "from app import items, tags" in reread["content"]
    assert "PASSED" in test_run["content"] and "4 passed" in test_run["content"]
    system = "\n".join(block["text"] for block in fake_api.requests[0].body["system"])
    assert "Task: implement a spec" in system and "Users can create tags" in system
    assert "GET /items/{item_id} -> read_item" in system and "`CurrentUser` (alias, app/deps.py)" in system
    assert {t["name"] for t in fake_api.requests[0].body["tools"]} == {
        "list_files", "read_file", "search", "edit_file", "create_file", "delete_file", "run_checks",
        "run_tests", "ask_user"}

    message = git(project, "log", "-1", "--format=%B")
    assert message.startswith("fba: implement Tags\n")
    assert "Fba-Spec: SPEC.md" in message and "Fba-Verified: yes" in message and "Fba-Agent: fastapi-backend" in message
    assert git(project, "status", "--porcelain") == ""
    after = run_project_tests(project, standin)
    assert after.returncode == 0 and "4 passed" in after.stdout

    runs = json.loads(run_fba(["log", "--json"], project).stdout)
    assert (runs[0]["command"], runs[0]["status"], runs[0]["requests"]) == ("implement", "applied", 4)


def test_a_failing_first_attempt_is_sent_back_and_fixed_in_round_two(fake_api, env, standin, project, run_fba):
    broken = TAGS_ROUTER.replace("name=tag_in.name.lower()", "name=tag_in.name")
    fake_api.script(
        *implement_steps(router=broken)[:2],
        text_reply("Done."),
        tool_reply(("edit_file", {"path": "app/tags.py", "old_string": "name=tag_in.name,",
                                  "new_string": "name=tag_in.name.lower(),"})),
        text_reply("Fixed: tag names are lower-cased now."),
    )
    done = run_fba(["implement", "SPEC.md", "--yes", "--no-commit"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "round 2: fixing what verification found" in done.stderr
    assert "verified after 2 rounds" in done.stderr
    feedback = fake_api.requests[3].body["messages"][-1]["content"][-1]["text"]
    assert "did not pass" in feedback and "tests failed" in feedback
    assert "test_create_tag_lowercases_and_sets_the_owner" in feedback and "'Urgent'" in feedback
    assert (project / "app/tags.py").read_text() == TAGS_ROUTER
    assert git(project, "log", "--format=%s") == "initial\n"  # --no-commit
    assert run_project_tests(project, standin).returncode == 0


def test_tests_that_never_pass_write_nothing_and_exit_1(fake_api, env, project, run_fba):
    broken = TAGS_ROUTER.replace("name=tag_in.name.lower()", "name=tag_in.name")
    fake_api.script(*implement_steps(router=broken)[:2], text_reply("Done."), text_reply("Still done."))
    done = run_fba(["implement", "SPEC.md", "--yes", "--max-rounds", "2"], project, env, timeout=180)
    assert done.returncode == 1, done.stderr
    assert "NOT verified after 2 rounds" in done.stderr and "✗ tests (1 failed" in done.stderr
    assert "test_create_tag_lowercases_and_sets_the_owner" in done.stderr  # the evidence
    assert "nothing was written: the change is not verified (--yes never applies an unverified change)" in done.stderr
    assert not (project / "app/tags.py").exists()
    assert git(project, "status", "--porcelain") == ""
    assert len(fake_api.requests) == 4


def test_an_unverified_change_can_still_be_saved_as_a_patch(fake_api, env, project, run_fba, tmp_path):
    broken = TAGS_ROUTER.replace("name=tag_in.name.lower()", "name=tag_in.name")
    fake_api.script(*implement_steps(router=broken)[:2], text_reply("Done."))
    patch = tmp_path / "tags.patch"
    done = run_fba(["implement", "SPEC.md", "--max-rounds", "1", "--patch-out", str(patch)], project, env,
                   timeout=180)
    assert done.returncode == 1
    assert "+++ b/app/tags.py" in patch.read_text()
    assert not (project / "app/tags.py").exists()
    git(project, "apply", "--check", str(patch))


def test_a_new_route_without_auth_fails_the_checks(fake_api, env, project, run_fba):
    open_router = TAGS_ROUTER.replace("current_user: CurrentUser, ", "").replace(', owner=current_user["name"]', ', owner="?"')
    open_test = TAGS_TEST.replace('{"id": 1, "name": "ada"}, ', "").replace('("urgent", "ada")', '("urgent", "?")')
    fake_api.script(*implement_steps(router=open_router, test=open_test)[:2], text_reply("Done."))
    done = run_fba(["implement", "SPEC.md", "--yes", "--max-rounds", "1"], project, env, timeout=180)
    assert done.returncode == 1
    assert "✗ checks (1 new finding at or above medium)" in done.stderr and "FBA101" in done.stderr
    assert not (project / "app/tags.py").exists()


def test_spec_kit_task_is_implemented_and_ticked_in_the_same_commit(fake_api, env, project, run_fba):
    feature = project / "specs" / "001-tags"
    feature.mkdir(parents=True)
    (feature / "spec.md").write_text("# Feature Specification: Tags on items\n\nUsers tag their items.\n")
    (feature / "plan.md").write_text("# Plan\n\nA `tags` router in `app/tags.py`.\n")
    (feature / "tasks.md").write_text("# Tasks\n\n- [x] T001 Set up the project\n"
                                      "- [ ] T002 [US1] Create tag endpoint in app/tags.py\n"
                                      "- [ ] T003 [US1] List tags endpoint\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "spec")
    fake_api.script(*implement_steps())
    done = run_fba(["implement", "specs/001-tags", "--task", "T002", "--yes"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    tasks = (feature / "tasks.md").read_text()
    assert "- [x] T002 [US1] Create tag endpoint" in tasks and "- [ ] T003" in tasks
    committed = git(project, "show", "--name-only", "--format=%B", "HEAD")
    assert "fba: implement Tags on items (T002)" in committed and "Fba-Task: T002" in committed
    assert "specs/001-tags/tasks.md" in committed and "app/tags.py" in committed
    system = "\n".join(block["text"] for block in fake_api.requests[0].body["system"])
    assert "## The task to implement now\n\nT002: [US1] Create tag endpoint in app/tags.py" in system
    assert "## File: app/tags.py" not in system  # named by the task, but it does not exist yet
    first = fake_api.requests[0].body["messages"][0]["content"][0]["text"]
    assert "Implement task T002" in first


OPENAPI = """openapi: 3.1.0
info: {title: Tags API, version: "1.0"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  schemas:
    TagCreate:
      type: object
      required: [name]
      properties:
        name: {type: string, minLength: 1, maxLength: 50}
    TagPublic:
      type: object
      required: [name, owner]
      properties:
        name: {type: string}
        owner: {type: string}
security: [{bearer: []}]
paths:
  /tags/:
    post:
      operationId: createTag
      summary: Create a tag for the signed-in user
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/TagCreate'}
      responses:
        "201":
          description: Created
          content:
            application/json:
              schema: {$ref: '#/components/schemas/TagPublic'}
"""


def test_openapi_spec_with_dry_run(fake_api, env, project, run_fba):
    (project / "openapi.yaml").write_text(OPENAPI)
    fake_api.script(*implement_steps())
    done = run_fba(["implement", "openapi.yaml", "--dry-run"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing was written" in done.stderr
    assert "+++ b/app/tags.py" in done.stdout
    assert not (project / "app/tags.py").exists()
    system = "\n".join(block["text"] for block in fake_api.requests[0].body["system"])
    assert "### POST /tags/ (operationId `createTag`)" in system
    assert "- security: bearer" in system
    assert "- request body (required): application/json TagCreate" in system
    assert "- `TagCreate`: {name: string (minLength=1, maxLength=50)}" in system


def test_writes_outside_the_repo_and_secret_reads_are_refused(fake_api, env, project, run_fba, tmp_path):
    outside = tmp_path / "outside.py"
    fake_api.script(
        tool_reply(("read_file", {"path": ".env"}),
                   ("create_file", {"path": "../outside.py", "content": "x = 1\n"}),
                   ("create_file", {"path": str(outside), "content": "x = 1\n"}),
                   ("edit_file", {"path": ".env", "old_string": "SECRET_KEY=x", "new_string": "SECRET_KEY=y"}),
                   ("create_file", {"path": ".env.local", "content": "A=1\n"}),
                   ("create_file", {"path": ".git/hooks/post-commit", "content": "#!/bin/sh\n"}),
                   ("search", {"pattern": "SECRET_KEY"})),
        text_reply("I could not do it."),
    )
    done = run_fba(["implement", "SPEC.md", "--yes", "--max-rounds", "1"], project, env, timeout=180)
    assert done.returncode == 1
    results = tool_results(fake_api.requests[1])
    assert [r.get("is_error", False) for r in results] == [True] * 6 + [False]
    assert "deny-list" in results[0]["content"] and "'..' is not allowed" in results[1]["content"]
    assert "absolute paths are not allowed" in results[2]["content"] and "deny-list" in results[3]["content"]
    assert "deny-list" in results[4]["content"] and ".git/" in results[5]["content"]
    assert all(ENV_SECRET not in r.text for r in fake_api.requests)
    assert not outside.exists() and not (project / ".env.local").exists()
    assert not (project / ".git/hooks/post-commit").exists()
    assert "✗ changes" in done.stderr
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.parametrize("spec_text, message", [
    ("", "nothing to implement"),
    ("# Just a title\n\n## And a heading\n", "nothing to implement"),
])
def test_a_spec_with_nothing_to_implement_exits_2(project, run_fba, spec_text, message):
    (project / "EMPTY.md").write_text(spec_text)
    done = run_fba(["implement", "EMPTY.md"], project, {"ANTHROPIC_API_KEY": "unused"})
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_missing_spec_exits_2(project, run_fba):
    done = run_fba(["implement", "nope.md"], project, {"ANTHROPIC_API_KEY": "unused"})
    assert done.returncode == 2 and "no such spec file" in done.stderr


def test_implement_help_does_not_import_anthropic():
    code = ("import sys\nsys.argv = ['fba', 'implement', '--help']\nfrom agent.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('anthropic' in sys.modules and 'IMPORTED' or 'CLEAN')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.endswith("CLEAN"), done.stderr
    assert "--max-rounds" in done.stdout


def test_max_cost_stops_the_run_across_rounds(fake_api, env, project, run_fba):
    big = {"input_tokens": 100_000, "output_tokens": 1_000}
    fake_api.script(tool_reply(("list_files", {}), usage=big), tool_reply(("list_files", {}), usage=big))
    done = run_fba(["implement", "SPEC.md", "--yes", "--max-cost", "0.3"], project, env, timeout=180)
    assert done.returncode == 1
    assert len(fake_api.requests) == 1
    assert "NOT verified after 1 round: ✗ changes (the agent created or edited no file)" in done.stderr
    assert "stopped by --max-cost before the change verified" in done.stderr

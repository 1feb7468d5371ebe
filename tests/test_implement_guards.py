"""The agent's own rules, enforced in `fba implement` (issue 9): clarifying questions through
`ask_user` (inline on a terminal; otherwise saved, exit 1, and resumed with `--answers`), and the
schema-change guard (a table-model change needs a migration revision in an Alembic project)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pexpect

from tests.fakeapi import text_reply, tool_reply
from test_implement import env, git, implement_steps, project, standin  # noqa: F401 (fixtures)
from tests.sandbox_marks import needs_sandbox

pytestmark = needs_sandbox  # fba verifies by running the agent's tests: only in a sandbox

QUESTIONS = [
    {"question": "Are tag names unique per user or global?", "why": "decides the uniqueness check",
     "options": ["per user", "global"]},
    {"question": "Should an empty name be rejected with 422?", "why": "the spec does not say"},
]
ASK = tool_reply(("ask_user", {"questions": QUESTIONS}))


def test_questions_without_a_terminal_stop_the_run_then_answers_resume_it(fake_api, env, project, run_fba, tmp_path):
    fake_api.script(ASK, text_reply("I need these answers before I write code."))
    done = run_fba(["implement", "SPEC.md", "--yes"], project, env, timeout=180)
    assert done.returncode == 1, done.stderr
    assert "the agent has 2 question(s) for you; nothing was written" in done.stderr
    assert "questions saved to" in done.stderr
    assert '"Are tag names unique per user or global?": ""' in done.stdout
    assert "# options: per user, global" in done.stdout and "# why: the spec does not say" in done.stdout
    assert "cannot answer now" in fake_api.requests[1].text
    assert git(project, "status", "--porcelain") == ""
    assert json.loads(run_fba(["log", "--json"], project).stdout)[0]["status"] == "not verified"

    saved = Path(re.search(r"questions saved to (\S+);", done.stderr)[1])
    answers = tmp_path / "answers.yaml"
    answers.write_text(saved.read_text().replace('global?": ""', 'global?": per user').replace('422?": ""', '422?": "yes"'))
    fake_api.script(ASK, *implement_steps()[1:])
    resumed = run_fba(["implement", "SPEC.md", "--yes", "--answers", str(answers)], project, env, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    first = fake_api.requests[2].body["messages"][0]["content"][0]["text"]
    assert "- Are tag names unique per user or global?: per user" in first
    assert "Q: Should an empty name be rejected with 422?\\nA: yes" in fake_api.requests[3].text  # JSON text
    message = git(project, "log", "-1", "--format=%B")
    assert "Fba-Answer: Are tag names unique per user or global? => per user" in message
    assert "Fba-Answer: Should an empty name be rejected with 422? => yes" in message


def test_questions_are_answered_inline_on_a_terminal(fake_api, env, project, fba_home):
    fake_api.script(ASK, *implement_steps()[1:])
    child = pexpect.spawn(sys.executable, ["-m", "agent", "implement", "SPEC.md", "--no-commit"], cwd=str(project),
                          env={"PATH": "/usr/bin:/bin", "FBA_HOME": str(fba_home), "NO_COLOR": "1", "COLUMNS": "200", "PAGER": "cat",
                               **env}, encoding="utf-8", timeout=120)
    child.expect("unique per user or global")
    child.expect("answer")
    child.sendline("1")
    child.expect("→ per user")  # the chosen option, echoed
    child.expect("rejected with 422")
    child.expect("answer")
    child.sendline("yes, with a clear message")
    child.expect(r"Apply these changes to 3 file\(s\)\?")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Q: Are tag names unique per user or global?\\nA: per user" in fake_api.requests[1].text
    assert "A: yes, with a clear message" in fake_api.requests[1].text
    assert (project / "app/tags.py").exists()


ALEMBIC = {
    "alembic.ini": "[alembic]\nscript_location = migrations\n",
    "migrations/env.py": "# alembic environment\n",
    "migrations/versions/0001_items.py": (
        'revision = "0001"\ndown_revision = None\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n\n'
        'def upgrade():\n    op.create_table("item", sa.Column("id", sa.Integer(), primary_key=True), '
        'sa.Column("name", sa.String()))\n'
    ),
}
MODELS = ('from sqlmodel import Field, SQLModel\n\n\nclass Item(SQLModel, table=True):\n'
          '    id: int | None = Field(default=None, primary_key=True)\n    name: str\n')
REVISION = ('revision = "0002"\ndown_revision = "0001"\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n\n'
            'def upgrade():\n    op.add_column("item", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))\n')
ADD_COLUMN = ("edit_file", {"path": "app/models.py", "old_string": "    name: str\n",
                            "new_string": "    name: str\n    priority: int = 0\n"})


def add_files(repo, files):
    for relative, text in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")


def test_a_column_without_a_migration_is_sent_back_until_the_revision_is_added(fake_api, env, project, run_fba):
    add_files(project, {**ALEMBIC, "app/models.py": MODELS})
    fake_api.script(
        tool_reply(ADD_COLUMN), text_reply("Added the priority column."),
        tool_reply(("create_file", {"path": "migrations/versions/0002_item_priority.py", "content": REVISION})),
        text_reply("Added the migration."),
    )
    done = run_fba(["implement", "SPEC.md", "--yes", "--no-commit"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    feedback = fake_api.requests[2].body["messages"][-1]["content"][-1]["text"]
    assert "### schema: failed" in feedback
    assert "table model Item (table 'item') columns changed: priority" in feedback
    assert "no migration revision in migrations/versions" in feedback
    assert "verified after 2 rounds" in done.stderr
    assert (project / "migrations/versions/0002_item_priority.py").read_text() == REVISION


def test_a_migration_that_does_not_match_the_model_fails(fake_api, env, project, run_fba):
    add_files(project, {**ALEMBIC, "app/models.py": MODELS})
    wrong = REVISION.replace('"priority"', '"prio"')
    fake_api.script(tool_reply(ADD_COLUMN, ("create_file", {"path": "migrations/versions/0002_x.py", "content": wrong})),
                    text_reply("Done."))
    done = run_fba(["implement", "SPEC.md", "--yes", "--max-rounds", "1"], project, env, timeout=180)
    assert done.returncode == 1
    assert "✗ schema (a table model changed without a migration)" in done.stderr and "does not mention priority" in done.stderr
    assert "priority" not in (project / "app/models.py").read_text()


def test_a_schema_task_may_change_the_model_without_a_migration(fake_api, env, project, run_fba):
    add_files(project, {**ALEMBIC, "app/models.py": MODELS,
                        "SCHEMA.md": "# Priority\n\nSchema change: add column `priority` to items.\n"})
    fake_api.script(tool_reply(ADD_COLUMN), text_reply("Done."))
    done = run_fba(["implement", "SCHEMA.md", "--yes", "--no-commit"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "✓ schema" in done.stderr


def test_without_migrations_a_schema_change_is_a_warning(fake_api, env, project, run_fba):
    add_files(project, {"app/models.py": MODELS})
    fake_api.script(tool_reply(ADD_COLUMN), text_reply("Done."))
    done = run_fba(["implement", "SPEC.md", "--yes", "--no-commit"], project, env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "! schema (no migrations to check)" in done.stderr and "migrated by hand" in done.stderr

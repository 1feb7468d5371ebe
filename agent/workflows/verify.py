"""The verify step of `fba implement`: is the model's change good enough to offer the user?

    verification = verify(changeset, root, VerifyOptions(test_command="pytest -q"))
    verification.passed / verification.report_lines() / verification.evidence()

Checks, in order (a check whose input is broken is "not run", never "passed"):
- `parse`: every touched Python file parses (and every path is inside the repository);
- `checks`: the static rules find nothing NEW at or above `medium` in the touched files;
- `schema`: a change that adds or alters a table model, in a project with Alembic migrations,
  includes a migration revision naming the tables and columns it touches, unless the task is a
  schema task (projects without migrations get a warning instead);
- `tests`: the test command passes on the change set in an isolated copy, in the sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping

from agent.analysis.runner import ReviewOptions
from agent.analysis.runner import build_index
from agent.context.project import Migrations
from agent.edits.testrun import OFF, REQUIRED, run_tests
from agent.edits.validate import Validation, validate_changeset
from agent.errors import ChangeError
from agent.types import ChangeSet, Finding, Severity

PASSED, FAILED, NOT_RUN, WARNING = "passed", "failed", "not run", "warning"
BLOCKING = Severity.MEDIUM


@dataclass(frozen=True)
class Check:
    """One verify check: `status` is passed, failed, not run or warning; `detail` the evidence."""

    name: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Verification:
    checks: tuple[Check, ...]
    validation: Validation = Validation()

    @property
    def passed(self) -> bool:
        return all(c.status in (PASSED, WARNING) for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]

    def summary(self) -> str:
        return ", ".join(f"{c.name} {c.status}" for c in self.checks)

    def evidence(self) -> str:
        """What the model is told when verification fails."""
        parts = [f"### {c.name}: {c.status}\n{c.detail}".rstrip() for c in self.checks if c.status in (FAILED, NOT_RUN)]
        return "\n\n".join(parts)


@dataclass(frozen=True)
class VerifyOptions:
    review: ReviewOptions = field(default_factory=ReviewOptions)
    test_command: str = "pytest -q"
    test_timeout: float = 300.0
    migrations: Migrations = Migrations(None, ())
    schema_task: bool = False
    context: Mapping[str, str] = field(default_factory=dict)  # the project's Python files, for the index
    unsandboxed: bool = False  # the user allowed the tests to run without a sandbox
    copyable: Callable[[str], bool] | None = None  # which project files the tests' copy gets


def verify(changeset: ChangeSet, root: Path, options: VerifyOptions) -> Verification:
    if not changeset:
        return Verification((Check("changes", FAILED, "the change set is empty: no file was created or edited"),))
    try:
        validation = validate_changeset(changeset, root, options.review, options.context)
    except ChangeError as exc:
        skipped = [Check(name, NOT_RUN, "not run: a file does not parse") for name in ("checks", "schema", "tests")]
        return Verification((Check("parse", FAILED, str(exc)), *skipped))
    blocking = [f for f in validation.new if f.severity.rank >= BLOCKING.rank]
    checks = [
        Check("parse", PASSED),
        Check("checks", FAILED if blocking else PASSED, _findings_text(blocking, validation.new)),
        schema_check(changeset, options.migrations, options.schema_task),
    ]
    # The test command is the one configured before the model ran: the change set may edit the
    # config, but never what verifies it. SandboxError (no sandbox, not allowed) stops the run.
    run = run_tests(changeset, root, options.test_command, options.test_timeout,
                    OFF if options.unsandboxed else REQUIRED, options.copyable)
    verdict = "timed out" if run.timed_out else f"exit code {run.exit_code}"
    checks.append(Check("tests", PASSED if run.passed else FAILED, f"$ {run.command} ({verdict})\n{run.output}"))
    return Verification(tuple(checks), validation)


def _findings_text(blocking: list[Finding], new: tuple[Finding, ...]) -> str:
    if not new:
        return "no new static findings"
    lines = [f"{f.path}:{f.line}: {f.severity.value} {f.rule} ({f.category}) {f.message}" for f in new]
    head = (f"{len(blocking)} new finding(s) at or above {BLOCKING.value} in the changed files:" if blocking
            else f"{len(new)} new finding(s) below {BLOCKING.value} (not blocking):")
    return "\n".join([head, *lines])


# -- the schema-change guard -------------------------------------------------------------------------


@dataclass(frozen=True)
class TableChange:
    """A table model the change adds, or the columns it adds to / removes from an existing one."""

    model: str
    table: str
    added: bool
    columns: tuple[str, ...]

    def describe(self) -> str:
        if self.added:
            return f"new table model {self.model} (table '{self.table}')"
        return f"table model {self.model} (table '{self.table}') columns changed: {', '.join(self.columns)}"


def table_changes(changeset: ChangeSet) -> list[TableChange]:
    """Table models added or altered by the change (comparing the changed Python files)."""
    python = [c for c in changeset.files if c.path.endswith(".py")]
    before = _tables({c.path: c.before for c in python if c.before is not None})
    after = _tables({c.path: c.after for c in python if c.after is not None})
    changes = []
    for name, (table, columns) in sorted(after.items()):
        if name not in before:
            changes.append(TableChange(name, table, True, tuple(sorted(columns))))
        elif columns != before[name][1]:
            changes.append(TableChange(name, table, False, tuple(sorted(columns ^ before[name][1]))))
    return changes


def _tables(sources: dict[str, str]) -> dict[str, tuple[str, frozenset[str]]]:
    index = build_index(sources)
    return {m.name: (m.tablename or m.name.lower(), frozenset(f.name for f in m.fields if _is_column(f.annotation)))
            for m in index.table_models()}


def _is_column(annotation: str) -> bool:
    return "Relationship" not in annotation and not re.match(r"^(list|List)\[", annotation)


def schema_check(changeset: ChangeSet, migrations: Migrations, schema_task: bool) -> Check:
    changes = table_changes(changeset)
    if not changes:
        return Check("schema", PASSED, "no table model added or altered")
    described = "; ".join(c.describe() for c in changes)
    if not migrations.managed:
        return Check("schema", WARNING, f"{described}. The project has no migrations (Alembic) that fba can "
                                        "see: the database must be migrated by hand")
    revisions = [c for c in changeset.files if c.kind == "create" and c.path.endswith(".py")
                 and any(PurePosixPath(c.path).parent.as_posix() == folder for folder in migrations.versions)]
    if not revisions:
        if schema_task:
            return Check("schema", PASSED, f"{described}; the task is a schema task")
        where = ", ".join(migrations.versions) or migrations.config or "the migrations folder"
        return Check("schema", FAILED, f"{described}, but the change has no migration revision in {where}. "
                                       "Add an Alembic revision whose operations create/alter exactly these "
                                       "tables and columns (or ask the user if the schema change is not wanted)")
    text = "\n".join(c.after or "" for c in revisions)
    missing = [name for change in changes for name in (change.table, *([] if change.added else change.columns))
               if not re.search(rf"['\"]{re.escape(name)}['\"]", text)]
    if missing:
        return Check("schema", FAILED, f"{described}, but the migration revision does not mention "
                                       f"{', '.join(missing)}: its operations must match the model change")
    return Check("schema", PASSED, f"{described}; migration {', '.join(c.path for c in revisions)}")

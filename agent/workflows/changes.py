"""The one path every change to the user's repo takes: validate -> preview -> confirm -> apply ->
commit. Used by `review --fix` and by implement/chat. Decisions live here; showing things and
asking the user is the `ChangeUI`'s job (see `agent.console.diff.ChangeConsole`).

Guarded changes (`agent.edits.guards`: .gitignore, CI, hooks, lock files, [tool.fba] and pytest
settings, weakened tests) are listed in the preview and never applied by `--yes` alone: they need
`allow_guarded` (`--allow-guarded`) or their own confirmation on a terminal. A file created or
grown past `max_file_bytes` is refused outright.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

from agent.analysis.runner import ReviewOptions
from agent.edits import git
from agent.edits.apply import apply_changeset
from agent.edits.changeset import PendingChanges
from agent.edits.diff import FileStat, diff_stats, unified_diff
from agent.edits.fixes import fix_file, fixable_rules
from agent.edits.guards import oversized
from agent.edits.validate import Validation, validate_changeset
from agent.errors import ChangeError, GitError, UsageError
from agent.types import ChangeSet, Finding


DEFAULT_MAX_FILE_BYTES = 1_000_000


class ChangeUI(Protocol):
    """What the flow needs from the terminal."""

    @property
    def interactive(self) -> bool: ...

    def preview(self, diff: str, stats: list[FileStat], validation: Validation) -> None: ...

    def confirm(self, question: str) -> bool: ...

    def note(self, message: str) -> None: ...


@dataclass(frozen=True)
class FlowOptions:
    """How far to go. `commit`: off, branch or new-branch (config key `commit`); `allow_guarded`:
    `--yes` applies guarded changes too; `max_file_bytes`: config `max-file-size`."""

    dry_run: bool = False
    yes: bool = False
    patch_out: Path | None = None
    allow_dirty: bool = False
    commit: str = "branch"
    review: ReviewOptions = field(default_factory=ReviewOptions)
    allow_guarded: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


@dataclass(frozen=True)
class CommitInfo:
    """The commit subject/body and trailers for an applied change."""

    subject: str
    trailers: git.Trailers
    body: str = ""


@dataclass(frozen=True)
class FlowResult:
    """`status`: empty, dry-run, patch-written, not-confirmed, guarded (guarded changes without
    --allow-guarded and no terminal to confirm them on), declined or applied."""

    status: str
    validation: Validation = Validation()
    commit: git.CommitResult | None = None

    @property
    def applied(self) -> bool:
        return self.status == "applied"


def run_change_flow(
    changeset: ChangeSet, root: Path, info: CommitInfo, options: FlowOptions, ui: ChangeUI
) -> FlowResult:
    """Take `changeset` (paths relative to `root`) as far as `options` allow.

    Raises ChangeError (invalid change, a file over the size limit, apply failed: nothing written)
    or GitError (dirty files, or a failed commit after the files were written — the message says which).
    """
    if not changeset:
        ui.note("no changes to make")
        return FlowResult("empty")
    too_big = oversized(changeset, options.max_file_bytes)
    if too_big:
        raise ChangeError("; ".join(too_big))
    validation = validate_changeset(changeset, root, options.review)
    ui.preview(unified_diff(changeset), diff_stats(changeset), validation)
    if options.dry_run:
        ui.note("dry run: nothing was written")
        return FlowResult("dry-run", validation)
    if options.patch_out is not None:
        _write_patch(options.patch_out, unified_diff(changeset))
        ui.note(f"patch written to {options.patch_out}; apply it with: git apply {options.patch_out}")
        return FlowResult("patch-written", validation)
    in_repo = git.find_root(root) is not None
    if in_repo and not options.allow_dirty:
        _refuse_dirty(root, changeset)
    if not options.yes:
        if not ui.interactive:
            ui.note("not applied: no terminal to confirm on; re-run with --yes to apply")
            return FlowResult("not-confirmed", validation)
        if not ui.confirm(f"Apply these changes to {len(changeset.files)} file(s)?"):
            ui.note("not applied")
            return FlowResult("declined", validation)
    if validation.guarded and not options.allow_guarded:
        refused = _refuse_guarded(validation, ui)
        if refused is not None:
            return FlowResult(refused, validation)
    apply_changeset(changeset, root)
    ui.note(f"applied changes to {len(changeset.files)} file(s)")
    return FlowResult("applied", validation, _commit(changeset, root, info, options, in_repo, ui))


def _refuse_guarded(validation: Validation, ui: ChangeUI) -> str | None:
    """None when the user confirms the guarded changes on a terminal; else the flow's status."""
    files = ", ".join(sorted({g.path for g in validation.guarded}))
    if not ui.interactive:
        ui.note(f"not applied: the change has guarded changes ({files}) that --yes alone never applies; "
                "read the diff and re-run with --allow-guarded to apply them")
        return "guarded"
    if not ui.confirm(f"The change also makes {len(validation.guarded)} guarded change(s) ({files}), listed above. "
                      "Apply them too?"):
        ui.note("not applied")
        return "declined"
    return None


def _refuse_dirty(root: Path, changeset: ChangeSet) -> None:
    existing = [c.path for c in changeset.files if c.before is not None]
    dirty = git.uncommitted(root, existing)
    if dirty:
        raise GitError(f"uncommitted changes in {', '.join(dirty)}; commit or stash them first, "
                       "or pass --allow-dirty")


def _commit(changeset: ChangeSet, root: Path, info: CommitInfo, options: FlowOptions, in_repo: bool,
            ui: ChangeUI) -> git.CommitResult | None:
    if options.commit == "off":
        return None
    if not in_repo:
        ui.note("not a git repository: the changes were written but not committed")
        return None
    try:
        result = git.commit_changes(root, list(changeset.paths), info.subject, info.trailers, options.commit, info.body)
    except GitError as exc:
        raise GitError(f"the changes were written, but {exc}") from None
    where = f" on {result.branch}" if result.branch else ""
    ui.note(f"committed {result.sha[:8]}{where}: {result.subject} (undo with: fba undo)")
    return result


def _write_patch(path: Path, patch: str) -> None:
    try:
        Path(path).write_text(patch, encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def changeset_from_fixes(findings: Iterable[Finding], root: Path, base: Path) -> tuple[ChangeSet, list[Finding]]:
    """Fix what the registered fixers can; returns (the change set, the findings it fixes).

    Finding paths are relative to `base` (the current folder, as reviews report them); the change
    set's paths are relative to `root`.
    """
    rules = fixable_rules()
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.rule in rules:
            by_file.setdefault(finding.path, []).append(finding)
    pending = PendingChanges(root)
    fixed: list[Finding] = []
    for shown, file_findings in sorted(by_file.items()):
        try:
            relative = (Path(base) / shown).resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue  # reviewed, but outside the repository fba may change
        text, done = fix_file(pending.read(relative), file_findings)
        if done:
            pending.rewrite(relative, text)
            fixed.extend(done)
    return pending.snapshot(), fixed


def commit_mode(configured: str, flag: bool | None) -> str:
    """--commit/--no-commit over config `commit`: --commit with `off` configured commits on the branch."""
    if flag is None:
        return configured
    if not flag:
        return "off"
    return configured if configured != "off" else "branch"

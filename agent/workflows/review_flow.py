"""`fba review` from request to result: scope, static pass, fix, model pass, merge. No printing.

    request = ReviewRequest(targets, config, diff_ref="origin/main", model=ModelRequest())
    run = run_review(request, ui)     # ui: progress, warnings, the fix flow's UI, the model's events
    run.result                        # the report's ReviewResult (static, merged with the model's)

The static pass always runs. With `changed` or `diff_ref` one `ChangeScope` (the changed files
and lines, and their texts at the base) decides what the static pass reports and which files the
model pass reviews. `--fix` goes through the change flow; when it writes, the (re-scoped) static
pass runs again on the fixed files. The model pass is merged into the static result; when it fails
as a whole the static result stands alone with every file the model was asked about listed as not
reviewed, and `model_failure` says why.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

from agent.analysis.cache import ReviewCache
from agent.analysis.passes import Progress
from agent.analysis.runner import ReviewOptions
from agent.config import Config
from agent.errors import FbaError, UsageError
from agent.types import ReviewResult, Severity, Skipped

if TYPE_CHECKING:  # the model pass's modules load only when it runs
    from agent.llm.events import EventSink
    from agent.workflows.changes import ChangeUI
    from agent.workflows.diff_review import ChangeScope
    from agent.workflows.review import ModelPass


@dataclass(frozen=True)
class FixRequest:
    """`--fix` and how far it goes (`commit`: --commit/--no-commit, None: config `commit`)."""

    dry_run: bool = False
    yes: bool = False
    patch_out: Path | None = None
    allow_dirty: bool = False
    allow_guarded: bool = False
    allow_no_git: bool = False
    commit: bool | None = None


@dataclass(frozen=True)
class ModelRequest:
    """The model pass: `required` when the user asked for it (--llm, --spec, --batch), so a
    missing key fails before the static pass; otherwise it runs when ANTHROPIC_API_KEY is set."""

    required: bool = False
    spec: Path | None = None
    batch: bool = False
    batch_wait: float | None = None


@dataclass(frozen=True)
class ReviewRequest:
    """What to review and how. `changed`: the files changed against HEAD; `diff_ref`: the lines
    changed since that ref; `app_ref`/`python`: take the routes from the imported app; `fix`,
    `model`: None when not asked for; `read_sources`: the report shows (or fingerprints) the code
    lines of findings."""

    targets: tuple[Path, ...]
    config: Config
    use_cache: bool = True
    changed: bool = False
    diff_ref: str | None = None
    app_ref: str | None = None
    python: str | None = None
    fix: FixRequest | None = None
    model: ModelRequest | None = None
    read_sources: bool = False


class ReviewUI(Protocol):
    """What the review needs from the terminal: progress around each static pass, warnings, the
    fix flow's preview and confirmation, and the model pass's events."""

    def progress(self) -> AbstractContextManager[Progress | None]: ...

    def warn(self, message: str) -> None: ...

    def change_ui(self) -> "ChangeUI": ...

    def model_events(self) -> "EventSink": ...

    def batch_status(self, status) -> None: ...

    def model_stopped(self) -> None: ...


@dataclass(frozen=True)
class ReviewRun:
    """The review's outcome. `result` is what the report renders; `named_failures` are files the
    user named that could not be analysed; `model_pass` and `outside` (files the model could not
    be asked about) are there when the model pass ran; `model_failure` says why it did not do its
    job; `failing`: a finding at or above `fail-on`; `sources`: the text of the files with
    findings, when asked for."""

    result: ReviewResult
    named_failures: tuple[Skipped, ...] = ()
    fixed: bool = False
    model_pass: "ModelPass | None" = None
    outside: tuple[Skipped, ...] = ()
    model_failure: str | None = None
    failing: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)


def run_review(request: ReviewRequest, ui: ReviewUI) -> ReviewRun:
    """Review `request.targets`: the static pass (scoped, cached), the fix, the model pass, merged."""
    options = _review_options(request)
    cache = ReviewCache.for_root(request.config.root) if request.use_cache and request.app_ref is None else None
    _check_ready(request, options, cache)
    result, scope = _static_pass(request, options, cache, ui)
    fixed = request.fix is not None and _fix(request, options, result, ui)
    if fixed:
        result, scope = _static_pass(request, options, cache, ui)
    for warning in result.warnings:
        ui.warn(warning)
    model_pass, outside, model_failure = None, (), None
    if _model_pass_runs(request.model):
        result, model_pass, outside, model_failure = _model_pass(request, options, result, scope, ui)
    threshold = Severity.parse(request.config["fail-on"]).rank
    return ReviewRun(
        result=result,
        named_failures=tuple(s for s in result.skipped if any(_same(s.path, t) for t in request.targets if t.is_file())),
        fixed=fixed, model_pass=model_pass, outside=tuple(outside), model_failure=model_failure,
        failing=any(f.severity.rank >= threshold for f in result.findings),
        sources=_finding_sources(result) if request.read_sources else {},
    )


# -- before the static pass: what needs no review fails first ------------------------------------


def _review_options(request: ReviewRequest) -> ReviewOptions:
    """The static review's options from the config; with --app, with the routes FastAPI itself
    serves (that table is not part of the cache key: such a review runs without the cache)."""
    options = ReviewOptions.from_config(request.config)
    if request.app_ref is None:
        return options
    import sys
    from dataclasses import replace

    from agent.analysis.runtime import read_app, runtime_routes

    app = read_app(request.app_ref, request.python or sys.executable, Path.cwd())
    return replace(options, runtime=runtime_routes(app, Path.cwd()))


def _model_pass_runs(asked: ModelRequest | None) -> bool:
    import os

    return asked is not None and (asked.required or bool(os.environ.get("ANTHROPIC_API_KEY", "").strip()))


def _check_ready(request: ReviewRequest, options: ReviewOptions, cache: ReviewCache | None) -> None:
    """Unknown rule selectors, a model pass asked for without a key, and `--fix --yes` writing
    outside git are refused before any work."""
    from agent.analysis.selection import check_selectors

    check_selectors(options, cache)
    if request.model is not None and request.model.required:
        from agent.llm.client import ModelClient

        ModelClient.from_config(request.config)  # ModelError when ANTHROPIC_API_KEY is not set
    fix = request.fix
    if fix is not None and fix.yes and not (fix.dry_run or fix.patch_out or fix.allow_no_git):
        _refuse_unguarded_write()


def _refuse_unguarded_write() -> None:
    """`--fix --yes` outside a git repository would write with no dirty-file check, no commit and
    no `fba undo`: only when asked explicitly."""
    from agent.edits.git import find_root

    if find_root(Path.cwd()) is None:
        raise UsageError("not inside a git repository: --fix --yes would write without a way back "
                         "(no commit, no 'fba undo'); pass --allow-no-git to write anyway, or use --dry-run "
                         "or --patch-out FILE")


# -- the static pass ---------------------------------------------------------------------------------


def _static_pass(request: ReviewRequest, options: ReviewOptions, cache: ReviewCache | None,
                 ui: ReviewUI) -> tuple[ReviewResult, "ChangeScope | None"]:
    """The static review, cached and parallel, and its change scope (None: everything). With a
    scope the whole project still feeds the index (cross-file facts); only the change is reported."""
    from agent.analysis.runner import review_paths

    targets, root = list(request.targets), request.config.root
    scope = _change_scope(request)
    with ui.progress() as progress:
        if scope is None:
            return review_paths(targets, options, root, cache=cache, progress=progress), None
        from agent.workflows.diff_review import review_scope

        return review_scope(targets, options, root, scope, cache, progress), scope


def _change_scope(request: ReviewRequest) -> "ChangeScope | None":
    """The one scope of --changed (against HEAD) and --diff REF, computed as the tree is now."""
    if request.changed and request.diff_ref:
        raise UsageError("--changed and --diff cannot be combined (--diff REF includes uncommitted changes)")
    if not (request.changed or request.diff_ref):
        return None
    from agent.workflows.diff_review import changes_since, uncommitted_changes

    if request.diff_ref:
        return changes_since(request.targets, Path.cwd(), request.diff_ref)
    return uncommitted_changes(request.targets, Path.cwd())


# -- the fix -------------------------------------------------------------------------------------------


def _fix(request: ReviewRequest, options: ReviewOptions, result: ReviewResult, ui: ReviewUI) -> bool:
    """Fix what can be fixed through the change flow; True when files were written."""
    from agent.edits.git import Trailers, find_root
    from agent.workflows.changes import CommitInfo, FlowOptions, changeset_from_fixes, commit_mode, run_change_flow

    config, fix = request.config, request.fix
    root = find_root(Path.cwd()) or config.root
    changeset, fixed = changeset_from_fixes(result.findings, root, Path.cwd())
    rules = sorted({f.rule for f in fixed})
    info = CommitInfo(
        subject=f"fba: fix {', '.join(rules)} in {len(changeset.files)} file(s)",
        body="\n".join(f"- {f.rule} {f.path}:{f.line} {f.message}" for f in fixed),
        trailers=Trailers(agent=config["agent"], model="none (static fixes)", session=uuid.uuid4().hex[:12],
                          extra=(f"Fba-Fixes: {', '.join(rules)}",) if rules else ()),
    )
    flow = FlowOptions(dry_run=fix.dry_run, yes=fix.yes, patch_out=fix.patch_out, allow_dirty=fix.allow_dirty,
                       commit=commit_mode(config["commit"], fix.commit), review=options,
                       allow_guarded=fix.allow_guarded, max_file_bytes=config["max-file-size"])
    return run_change_flow(changeset, root, info, flow, ui.change_ui()).applied


# -- the model pass --------------------------------------------------------------------------------------


def _model_pass(request: ReviewRequest, options: ReviewOptions, static: ReviewResult, scope: "ChangeScope | None",
                ui: ReviewUI):
    """The model pass over the reviewed (changed) files merged into the static result, the pass,
    the files outside the project root, and None or the one line saying why it failed."""
    from agent.store import SessionLog
    from agent.workflows.review import PassOptions, ProjectSources, merge, model_targets, pass_failed, run_model_pass

    config, asked = request.config, request.model
    spec_text = ""
    if asked.spec is not None:
        from agent.context.specs import load_spec

        spec_text = load_spec(asked.spec).text
    project = ProjectSources.load(config.root, options.exclude)
    targets, outside = model_targets(project, request.targets, options.exclude, scope.lines if scope else None)
    on_event = ui.model_events()
    log = SessionLog.open(ui.warn)
    try:
        outcome = run_model_pass(project, targets, static.findings, config, options, on_event, log,
                                 PassOptions(spec_text=spec_text, batch=asked.batch, batch_wait=asked.batch_wait),
                                 on_batch=ui.batch_status)
    except FbaError as exc:
        ui.model_stopped()
        return pass_failed(static, targets, outside, project, exc), None, outside, f"the model pass failed: {exc}"
    except BaseException:
        ui.model_stopped()
        raise
    finally:
        log.close()
    failure = None
    if outcome.failed:
        failure = (f"the model did not review {len(outcome.failed)} file(s) validly "
                   f"({', '.join(outcome.failed)}); they are not reported as clean")
    return merge(static, outcome, outside), outcome, outside, failure


def case_reviewer(config: Config, options: ReviewOptions, on_event: "EventSink", warn: Callable[[str], None]):
    """The model pass of `fba eval review` over one case (its folder is the repository):
    `review(case, static, show_static)` -> (the model's findings, merged with `static`)."""
    from agent.llm.client import ModelClient
    from agent.store import SessionLog
    from agent.workflows.review import PassOptions, ProjectSources, ReviewTarget, merge_findings, run_model_pass

    ModelClient.from_config(config)  # no key: one line, before any case runs

    def review_case(case, static, show_static):
        project = ProjectSources(case.root.resolve(), case.sources)
        log = SessionLog.open(warn)
        try:
            outcome = run_model_pass(project, [ReviewTarget(p) for p in sorted(case.sources)],
                                     static if show_static else [], config, options, on_event, log,
                                     PassOptions(static_context=show_static))
        finally:
            log.close()
        return outcome.findings, merge_findings(static, outcome.findings)[0]

    return review_case


def _finding_sources(result) -> dict[str, str]:
    """Text of the files with findings (code excerpts, SARIF fingerprints); unreadable ones are left out."""
    from agent.analysis.source import decode_source
    from agent.errors import InputError

    sources = {}
    for path in {f.path for f in result.findings}:
        try:
            sources[path] = decode_source(Path(path).read_bytes(), path)
        except (OSError, InputError):
            pass
    return sources


def _same(shown: str, target: Path) -> bool:
    try:
        return Path(shown).resolve() == target.resolve()
    except OSError:
        return False


"""`fba implement`: from a spec to a verified change set. No printing, no writing to the repo.

    result = implement(spec, config, ImplementOptions(max_rounds=3), on_event, session_log, ask)
    result.verified, result.changeset, result.verification.report_lines()

The model works with the read tools (seeing its own pending changes), the write tools (into the
pending change set only), `run_checks`, `run_tests` and `ask_user`. Each time it ends its turn fba
verifies the change (`agent.workflows.verify`); a failed verification goes back to the model with
the evidence, for up to `max_rounds` rounds and within `max_cost` USD over all of them. When a
`--task` is done and verified, its checkbox is ticked in the same change set.

Questions (`ask_user`) are answered from `answers` (an answers file), else by `ask` (an
interactive terminal), else they are kept in `result.questions` and the run stops before
anything can be written. The caller applies (or not) through `agent.workflows.changes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from agent.analysis.runner import ReviewOptions
from agent.config import Config
from agent.context.files import RepoFiles
from agent.context.project import find_migrations, pack_context, project_overview
from agent.context.redact import redact
from agent.context.specs import Spec, tick_task
from agent.edits.diff import diff_stats, unified_diff
from agent.edits.git import Trailers
from agent.edits.sandbox import require_sandbox
from agent.edits.validate import Validation
from agent.llm.client import ModelClient
from agent.llm.edit_tools import ask_user_tool, edit_tools
from agent.llm.events import Event, EventSink, RequestDone
from agent.llm.loop import Limits, Prompt, run_tool_loop
from agent.llm.models import resolve_model
from agent.llm.tools import read_only_tools
from agent.personas import load_checklist, load_persona, render_checklist, task_prompt
from agent.store import COMPLETED, NOT_VERIFIED, SessionLog, ended_by
from agent.types import ChangeSet, Usage
from agent.workflows.changes import ChangeUI, CommitInfo, FlowOptions, run_change_flow
from agent.workflows.verify import Verification, VerifyOptions, verify
from agent.workflows.workspace import Workspace

CONTEXT_BUDGET_CHARS = 60_000  # about 20k tokens of spec, project overview and files
MAX_TURNS_PER_ROUND = 40
Questions = list[dict[str, Any]]
AskUser = Callable[[Questions], dict[str, str]]


@dataclass(frozen=True)
class RoundStarted:
    """The model starts round `number` (round 1 implements, later rounds fix what verify found)."""

    number: int


@dataclass(frozen=True)
class Verifying:
    """fba starts verifying round `number`'s change (static checks, then the project's tests)."""

    number: int
    test_command: str


@dataclass(frozen=True)
class Verified:
    """Verification after round `number`."""

    number: int
    verification: Verification


@dataclass(frozen=True)
class ImplementOptions:
    max_rounds: int = 3
    max_cost: float | None = None
    answers: Mapping[str, str] = field(default_factory=dict)
    context_budget: int = CONTEXT_BUDGET_CHARS
    unsandboxed: bool = False  # the user allowed the model's tests to run without a sandbox


@dataclass(frozen=True)
class ImplementResult:
    """What an implement run produced. `stop_reason`: verified, unverified (rounds used up),
    max_cost, questions (unanswered questions stopped the run) or the model's own stop reason."""

    spec: Spec
    changeset: ChangeSet
    verification: Verification | None
    rounds: int
    stop_reason: str
    model: str
    agent: str
    usage: Usage
    redactions: int = 0
    session_id: str | None = None
    questions: tuple[dict[str, Any], ...] = ()
    answers: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.passed and not self.questions


class _Questions:
    """ask_user's answers: from the answers file, else the terminal, else kept for later."""

    def __init__(self, answers: Mapping[str, str], ask: AskUser | None) -> None:
        self.known = {_key(q): a for q, a in answers.items()}
        self.ask = ask
        self.given: dict[str, str] = {}
        self.pending: Questions = []

    def __call__(self, questions: Questions) -> str:
        missing = [q for q in questions if _key(q["question"]) not in self.known]
        if missing and self.ask is not None:
            self.known.update({_key(q): a for q, a in self.ask(missing).items()})
            missing = [q for q in questions if _key(q["question"]) not in self.known]
        if missing:
            self.pending.extend(q for q in missing if q not in self.pending)
            return ("The user cannot answer now (non-interactive run). Do not change anything else: end your "
                    "turn now. fba saves your questions; the user will run again with the answers.")
        lines = []
        for q in questions:
            answer = self.known[_key(q["question"])]
            self.given[q["question"]] = answer
            lines.append(f"Q: {q['question']}\nA: {answer}")
        return "The user answered:\n\n" + "\n\n".join(lines)


def _key(question: str) -> str:
    return " ".join(question.split()).casefold()


def implement(spec: Spec, config: Config, options: ImplementOptions, on_event: EventSink, log: SessionLog,
              ask: AskUser | None = None, environ: Mapping[str, str] | None = None) -> ImplementResult:
    """Run the model on `spec` in the project at `config.root` until the change verifies."""
    root = Path(config.root).resolve()
    if not options.unsandboxed:
        require_sandbox()  # every round ends in a test run: fail before the model is paid for
    persona = load_persona(config["agent"], root)
    model = resolve_model(config["model"] or persona.model, config["models"])
    client = ModelClient.from_config(config, environ)
    files = RepoFiles(root, config["deny"])
    review = ReviewOptions.from_config(config)
    listing = [line for line in files.list_files(".").splitlines() if not line.startswith("[")]
    sources = project_sources(files.root, listing)
    workspace = Workspace(root, files, review, config["test-command"], float(config["test-timeout"]), sources,
                          unsandboxed=options.unsandboxed, max_file_bytes=config["max-file-size"])
    verify_options = VerifyOptions(review, config["test-command"], float(config["test-timeout"]),
                                   find_migrations(listing), spec.schema_task, sources, options.unsandboxed,
                                   workspace.copyable)
    questions = _Questions(options.answers, ask)
    tools = [*read_only_tools(workspace), *edit_tools(workspace), ask_user_tool(questions)]
    prompt = Prompt(
        persona=persona.system_prompt,
        task=task_prompt("implement"),
        checklist="# Checklist\n\n" + render_checklist(load_checklist(persona.name)),
        context=implement_context(spec, files.root, listing, sources, config["auth-dependencies"],
                                  options.context_budget),
    )
    log.start("implement", str(root), persona.name, model, redact(spec.title)[0])

    def record(event: Event) -> None:
        if isinstance(event, RequestDone):
            log.usage(model, event.usage)
        on_event(event)

    messages: list[dict[str, Any]] = []
    usage, redactions = Usage(), 0
    verification: Verification | None = None
    message = first_message(spec, options.answers)
    stop_reason, rounds = "unverified", 0
    try:
        for rounds in range(1, options.max_rounds + 1):
            budget = None if options.max_cost is None else options.max_cost - usage.cost_usd
            if budget is not None and budget <= 0:
                stop_reason = "max_cost"
                break
            on_event(RoundStarted(rounds))
            result = run_tool_loop(client, model, prompt, message, tools,
                                   Limits(max_turns=MAX_TURNS_PER_ROUND, max_cost=budget), record, history=messages)
            messages, usage, redactions = result.messages, usage + result.usage, redactions + result.redactions
            for call in result.tool_calls:
                log.tool_call(call.name, call.input, call.is_error, call.output_chars)
            if questions.pending:
                stop_reason = "questions"
                break
            on_event(Verifying(rounds, verify_options.test_command))
            verification = verify(workspace.snapshot(), root, verify_options)
            on_event(Verified(rounds, verification))
            if verification.passed:
                stop_reason = "verified"
                break
            if result.stop_reason in ("max_cost", "refusal"):
                stop_reason = result.stop_reason
                break
            message = feedback_message(verification, rounds, options.max_rounds)
    except BaseException as exc:  # an error, Ctrl-C or a signal: recorded as failed or interrupted
        log.messages(messages)
        log.finish(ended_by(exc))
        raise
    notes = _tick(spec, workspace, root) if stop_reason == "verified" and spec.task else ()
    log.messages(messages)
    log.finish(COMPLETED if stop_reason == "verified" else NOT_VERIFIED)
    return ImplementResult(spec, workspace.snapshot(), verification, rounds, stop_reason, model, persona.name,
                           usage, redactions, log.session_id, tuple(questions.pending),
                           tuple(questions.given.items()), notes)


def _tick(spec: Spec, workspace: Workspace, root: Path) -> tuple[str, ...]:
    """Tick the done task in its tasks file, inside the same change set."""
    try:
        relative = Path(spec.tasks_file).resolve().relative_to(root).as_posix()
    except ValueError:
        return (f"{spec.tasks_file} is outside the project; tick task {spec.task.id} there yourself",)
    text = workspace.pending.read(relative)
    workspace.pending.rewrite(relative, tick_task(text, spec.task.id))
    return ()


def project_sources(root: Path, listing: list[str]) -> dict[str, str]:
    """The project's Python files (path -> text). `listing` is what list_files shows, so secret and
    ignored files are already left out."""
    return {p: text for p in listing if p.endswith(".py") and (text := _read(root / p)) is not None}


def implement_context(spec: Spec, root: Path, listing: list[str], sources: Mapping[str, str],
                      auth_dependencies, budget: int) -> str:
    """The cached context: the spec, the project overview, the file list and the files the spec names."""
    spec_block = f"# The spec ({spec.kind}: {spec.source.name})\n\n{spec.text}"
    overview = project_overview(sources, listing, auth_dependencies)
    tree = "# Repository files\n\n" + "\n".join(listing[:300]) + ("\n[... more; use list_files]" if len(listing) > 300 else "")
    shown = set(listing)
    named = [(p, text) for p in spec.paths if p in shown and (text := sources.get(p) or _read(root / p))]
    return pack_context([spec_block, overview, tree], named, budget)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # unreadable files are left out of the context; the model can still try read_file


def first_message(spec: Spec, answers: Mapping[str, str]) -> str:
    what = f"task {spec.task.id} of the spec: {spec.task.text}" if spec.task else "the spec"
    text = (f"Implement {what} (the spec and a project overview are in your context). Work in the pending "
            "change set with the tools; add or update tests for the behaviour you implement. When you are "
            "done, end your turn with a short summary of what you changed: fba then verifies the change.")
    if answers:
        text += "\n\nAnswers the user already gave to questions:\n" + "\n".join(f"- {q}: {a}" for q, a in answers.items())
    return text


def feedback_message(verification: Verification, round_number: int, max_rounds: int) -> str:
    left = max_rounds - round_number
    return (f"fba verified your change and it did not pass ({verification.summary()}). Fix it; "
            f"{left} round(s) left. Evidence:\n\n{verification.evidence()}")


# -- landing the change ---------------------------------------------------------------------------------


def commit_info(result: ImplementResult, spec_path: str) -> CommitInfo:
    """Commit subject (from the spec title), body (files and verification) and trailers."""
    spec = result.spec
    title = " ".join(spec.title.split())
    title = title if len(title) <= 60 else title[:59] + "…"
    subject = f"fba: implement {title}" + (f" ({spec.task.id})" if spec.task else "")
    stats = [f"- {s.kind} {s.path} (+{s.added} -{s.removed})" for s in diff_stats(result.changeset)]
    verified = (f"Verified: {result.verification.summary()}" if result.verified
                else f"NOT verified: {result.verification.summary() if result.verification else result.stop_reason}")
    extra = [f"Fba-Spec: {spec_path}", *([f"Fba-Task: {spec.task.id}"] if spec.task else []),
             f"Fba-Verified: {'yes' if result.verified else 'no'}"]
    extra += [f"Fba-Answer: {_one_line(q)} => {_one_line(a)}" for q, a in result.answers]
    return CommitInfo(subject, Trailers(result.agent, result.model, result.session_id or "none", tuple(extra)),
                      "\n".join([*stats, "", verified]))


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def land_change(result: ImplementResult, root: Path, info: CommitInfo, options: FlowOptions, ui: ChangeUI,
                unverified_ui: ChangeUI) -> str:
    """Take the change as far as it may go; returns the change flow's status, or `unverified` when
    an unverified change was shown but could not be accepted (no terminal, or --yes)."""
    if not result.changeset:
        ui.note("the agent made no change; nothing to apply")
        return "empty"
    if result.verified:
        return run_change_flow(result.changeset, root, info, options, ui).status
    if options.dry_run or options.patch_out is not None or (unverified_ui.interactive and not options.yes):
        return run_change_flow(result.changeset, root, info, replace(options, yes=False), unverified_ui).status
    validation = result.verification.validation if result.verification else Validation()
    ui.preview(unified_diff(result.changeset), diff_stats(result.changeset), validation)
    why = "--yes never applies an unverified change" if options.yes else "no terminal to accept it on"
    ui.note(f"nothing was written: the change is not verified ({why}); --patch-out FILE saves it")
    return "unverified"

"""`fba chat`: an interactive session with the agent. Session logic and slash commands; no printing.

    session = open_session(config, ChatOptions(continue_last=True), log, store)
    turn = session.send("Why is GET /items slow?", on_event)    # one model turn, streamed via on_event
    outcome = session.command("/diff", ui)                       # a slash command -> Outcome to show

A session holds the conversation (messages as the API sees them, redacted), the files the user
added to the context, and a `Workspace` whose pending change set the model's write tools fill.
Nothing reaches the user's files until `apply`, which goes through the shared
validate -> preview -> confirm -> apply -> commit flow (`agent.workflows.changes`). Each finished
turn is appended to the store, so `--continue` / `--resume ID` pick the conversation up again; an
interrupted or failed turn leaves no trace (its pending edits are rolled back too).

Context: before each request the history is fitted to the model's window; the oldest whole turns
are dropped and replaced by a short note naming what they asked (`Turn.trimmed` says how many).

Spec-first: the user's requests since the last apply are the task. Before applying, files of the
change set that no request names (by path, file name, or a class or function the file defines;
nor added with /add), and new routes or new or altered table models that no request names, are
listed separately as possible scope creep.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Protocol, Sequence

from agent.analysis.facts import extract_facts
from agent.analysis.runner import ReviewOptions, review_paths
from agent.analysis.source import parse_python
from agent.config import Config
from agent.context.files import RepoFiles
from agent.context.redact import redact
from agent.context.specs import Spec, load_spec, parse_markdown
from agent.edits import git
from agent.edits.changeset import PendingChanges
from agent.edits.diff import FileStat, diff_stats, unified_diff
from agent.edits.paths import repo_path
from agent.errors import FbaError, InputError, UsageError
from agent.llm.client import ModelClient
from agent.llm.edit_tools import edit_tools
from agent.llm.events import Event, EventSink, RequestDone
from agent.llm.loop import Limits, Prompt, run_tool_loop
from agent.llm.models import resolve_model
from agent.llm.tools import Tool, read_only_tools
from agent.personas import Persona, agent_files, load_checklist, load_persona, render_checklist, task_prompt
from agent.store import COMPLETED, SessionLog, Store, ended_by
from agent.types import CHARS_PER_TOKEN, ChangeSet, ReviewResult, Usage
from agent.workflows.ask import repository_context
from agent.workflows.changes import ChangeUI, CommitInfo, FlowOptions, FlowResult, run_change_flow
from agent.workflows.implement import AskUser, ImplementOptions, ImplementResult, implement
from agent.workflows.workspace import Workspace, describe_run

COMMAND = "chat"
CONTEXT_WINDOW_TOKENS = 200_000  # every current Claude model's standard window
MAX_CONTEXT_FILE_CHARS = 100_000  # one /add-ed file; bigger ones the model reads in ranges itself
MAX_REVIEW_LINES = 60  # findings put into the conversation after /review
NOTE_REQUESTS = 10  # earlier requests named in a trim note
NOTE_REQUEST_CHARS = 120
# Closes a turn the loop stopped before the model answered its tool results, so the conversation
# never ends on a user message (the next message would be merged into it).
STOPPED_NOTE = "[fba: this turn was stopped ({}) before the agent finished]"

COMMANDS: dict[str, str] = {
    "help": "show these commands",
    "add": "PATH — keep a file (its pending content) in the conversation",
    "drop": "PATH — stop keeping a file in the conversation",
    "files": "list the files kept in the conversation",
    "review": "[PATH] — review the repository (or PATH) and discuss the findings",
    "implement": "SPEC — run fba implement on a spec (a file, a Spec Kit folder, or text); the result is pending",
    "diff": "show the pending changes",
    "apply": "write the pending changes (and commit them, config key 'commit'); --allow-guarded: guarded changes too",
    "discard": "drop the pending changes",
    "undo": "revert fba's last commit",
    "run-tests": "run the tests on the pending changes, in an isolated copy",
    "tokens": "tokens used so far and the size of the conversation",
    "cost": "cost of this session so far",
    "model": "[M] — show or switch the model",
    "agent": "[NAME] — show or switch the agent persona",
    "clear": "forget the conversation (files and pending changes stay)",
    "exit": "leave (Ctrl-D works too)",
}


@dataclass(frozen=True)
class ChatOptions:
    """`fba chat` flags: persona/model overrides, which stored session to resume, files to add."""

    agent: str | None = None
    model: str | None = None
    resume: str | None = None  # a session id or a unique prefix of one
    continue_last: bool = False
    files: tuple[str, ...] = ()
    unsandboxed: bool = False  # the user allowed the agent's tests to run without a sandbox


@dataclass(frozen=True)
class Turn:
    """One answered message. `changed`: the pending change set changed during the turn;
    `trimmed`: earlier turns summarised away to fit the context window."""

    text: str
    usage: Usage
    stop_reason: str
    changed: bool
    trimmed: int = 0
    redactions: int = 0


@dataclass(frozen=True)
class PendingView:
    """The pending change set as shown before applying, with possible scope creep listed apart."""

    diff: str
    stats: list[FileStat]
    scope_creep: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What a slash command did, for the console to show. `send`: a message the console sends to
    the model next (a review to discuss), part of the task when `task`; `implement`: a spec the
    console runs through `ChatSession.implement`; `leave`: end the session."""

    message: str = ""
    level: str = "info"  # info | warn | error
    pending: PendingView | None = None
    review: ReviewResult | None = None
    usage: Usage | None = None
    send: str = ""
    task: bool = True
    implement: str = ""
    leave: bool = False


class ChatUI(ChangeUI, Protocol):
    """The change flow's UI plus the scope-creep list shown with the diff summary."""

    def scope_creep(self, notes: Sequence[str]) -> None: ...


@dataclass
class ChatSession:
    """One conversation: persona, model, messages, context files and pending changes."""

    config: Config
    persona: Persona
    model: str
    client: ModelClient
    log: SessionLog
    messages: list[dict[str, Any]] = field(default_factory=list)
    context_files: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # the task: requests since the last apply
    change_requests: list[str] = field(default_factory=list)  # those of them that changed the pending set
    usage: Usage = field(default_factory=Usage)
    context_window: int = CONTEXT_WINDOW_TOKENS
    recorded: bool = False  # the store has a session for this conversation
    unsandboxed: bool = False  # the user allowed the agent's tests to run without a sandbox

    def __post_init__(self) -> None:
        self.files = RepoFiles(self.config.root, self.config["deny"])
        self.workspace = self._new_workspace()

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def session_id(self) -> str | None:
        return self.log.session_id if self.recorded else None

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if is_turn_start(m))

    # -- talking to the model ------------------------------------------------------------------

    def send(self, text: str, on_event: EventSink, task: bool = True) -> Turn:
        """One model turn for the user's message `text` (part of the task unless `task` is False:
        a review to discuss asks for no change). On any failure or Ctrl-C the turn is undone
        (history, pending changes, task) and the exception propagates."""
        self._record_start(text)
        saved = copy.deepcopy(self.workspace.pending)
        before = saved.snapshot()
        prompt, tools = self._prompt(), read_only_tools(self.workspace) + edit_tools(self.workspace)
        history, trimmed = fit_history(self.messages, self._history_budget(prompt, tools))
        requests = list(self.requests)
        if task:
            self.requests.append(text)
        try:
            result = run_tool_loop(self.client, self.model, prompt, text, tools,
                                   Limits(max_cost=self.config["max-cost"]), self._recorder(on_event), history)
        except BaseException:
            self.workspace.pending = saved
            self.requests = requests
            raise
        # The loop merges the new message into a trailing user message (a lone trim note): keep it whole.
        new = result.messages[len(history) - (1 if history and history[-1]["role"] == "user" else 0):]
        if new[-1]["role"] == "user":  # stopped (max_cost, max_turns) with tool results not yet answered
            new.append({"role": "assistant", "content": [{"type": "text", "text": STOPPED_NOTE.format(result.stop_reason)}]})
        self.messages.extend(new)
        for call in result.tool_calls:
            self.log.tool_call(call.name, call.input, call.is_error, call.output_chars)
        self.log.messages(new)
        changed = self.workspace.snapshot() != before
        if changed:
            self.change_requests.append(text)
        return Turn(result.text, result.usage, result.stop_reason, changed, trimmed, result.redactions)

    def _recorder(self, on_event: EventSink) -> EventSink:
        def record(event: Event) -> None:
            if isinstance(event, RequestDone):
                self.usage += event.usage
                self.log.usage(self.model, event.usage)
            on_event(event)

        return record

    def _record_start(self, first_message: str) -> None:
        if not self.recorded:
            self.log.start(COMMAND, str(self.root), self.persona.name, self.model, redact(first_message)[0])
            self.recorded = True

    def _prompt(self) -> Prompt:
        return Prompt(
            persona=self.persona.system_prompt,
            task=task_prompt(COMMAND),
            checklist="# Checklist\n\n" + render_checklist(load_checklist(self.persona.name)),
            context=repository_context(self.files) + self._context_files_text(),
        )

    def _context_files_text(self) -> str:
        parts = []
        for path in self.context_files:
            try:
                text = self.workspace.read_file(path)
            except FbaError as exc:
                text = f"(cannot show it now: {exc})"
            parts.append(f"## {path}\n\n{text}")
        return "\n\n# Files in the conversation (pending content)\n\n" + "\n\n".join(parts) if parts else ""

    def _history_budget(self, prompt: Prompt, tools: Sequence[Tool]) -> int:
        """Tokens left for the history: the window minus the answer, the system prompt and tools."""
        return self.context_window - Limits().max_tokens - _fixed_tokens(prompt, tools)

    def context_tokens(self) -> int:
        """About how many tokens the next request's system prompt, tools and history take."""
        prompt, tools = self._prompt(), read_only_tools(self.workspace) + edit_tools(self.workspace)
        history, _ = fit_history(self.messages, self._history_budget(prompt, tools))
        return _fixed_tokens(prompt, tools) + _tokens(history)

    def implement(self, spec_argument: str, on_event: EventSink, ask: AskUser | None) -> ImplementResult:
        """Spec-first: run the implement workflow (model, verify rounds, questions through `ask`) on
        a spec file or folder of the repository, or on `spec_argument` as the spec's text, with this
        session's persona and model. Its change set becomes the pending changes and the spec the task."""
        spec = self._spec(spec_argument)
        self._record_start(f"/implement {spec.title}")
        config = self.config.with_overrides({"agent": str(self.persona.source), "model": self.model})
        result = implement(spec, config, ImplementOptions(max_cost=self.config["max-cost"], unsandboxed=self.unsandboxed),
                           self._recorder(on_event), SessionLog(None, lambda message: None), ask)
        self.requests.append(spec.text)
        if result.changeset:
            self.change_requests.append(f"implement {spec.title}")
            _load_changes(self.workspace.pending, result.changeset)
        return result

    def _spec(self, argument: str) -> Spec:
        try:
            candidate = self.root / repo_path(self.root, argument)
            found = candidate.exists()
        except (FbaError, OSError):
            found = False  # not a path: the text is the spec
        return load_spec(candidate) if found else parse_markdown(argument, Path("chat"))

    # -- pending changes -------------------------------------------------------------------------

    def pending_view(self) -> PendingView | None:
        changeset = self.workspace.snapshot()
        if not changeset:
            return None
        return PendingView(unified_diff(changeset), diff_stats(changeset), self.scope_creep(changeset))

    def scope_creep(self, changeset: ChangeSet) -> tuple[str, ...]:
        return scope_creep(changeset, self.requests, self.context_files)

    def apply(self, ui: ChatUI, yes: bool, allow_guarded: bool = False) -> FlowResult:
        """Validate, preview (with scope creep), confirm unless `yes`, write and commit (guarded
        changes only with `allow_guarded` or their own confirmation)."""
        changeset = self.workspace.snapshot()
        options = FlowOptions(yes=yes, commit=self.config["commit"], review=ReviewOptions.from_config(self.config),
                              allow_guarded=allow_guarded, max_file_bytes=self.config["max-file-size"])
        result = run_change_flow(changeset, self.root, self._commit_info(), options,
                                 _ScopedUI(ui, self.scope_creep(changeset)))
        if result.applied:
            self._reset_changes()
        return result

    def _commit_info(self) -> CommitInfo:
        task = self.change_requests or self.requests or ["changes from fba chat"]
        title = " ".join(task[0].split())
        subject = f"fba chat: {title[:60]}{'…' if len(title) > 60 else ''}"
        body = "Requested in fba chat:\n" + "\n".join(f"- {' '.join(r.split())[:200]}" for r in task)
        return CommitInfo(subject, git.Trailers(agent=self.persona.name, model=self.model,
                                                session=self.session_id or "none"), redact(body)[0])

    def _reset_changes(self) -> None:
        self.workspace = self._new_workspace()
        self.requests, self.change_requests = [], []

    def _new_workspace(self) -> Workspace:
        return Workspace(self.root, self.files, ReviewOptions.from_config(self.config),
                         self.config["test-command"], float(self.config["test-timeout"]),
                         unsandboxed=self.unsandboxed, max_file_bytes=self.config["max-file-size"])

    # -- slash commands ---------------------------------------------------------------------------

    def command(self, line: str, ui: ChatUI) -> Outcome:
        """Run a slash command line (`/add app/main.py`). Unknown commands answer with a hint;
        FbaErrors become an error Outcome (the session goes on)."""
        name, _, argument = line.strip()[1:].partition(" ")
        name, argument = name.lower(), argument.strip()
        if name not in COMMANDS:
            return Outcome(unknown_command_hint(name), "warn")
        handler: Callable[[str, ChatUI], Outcome] = getattr(self, "_cmd_" + name.replace("-", "_"))
        try:
            return handler(argument, ui)
        except FbaError as exc:
            return Outcome(str(exc), "error")

    def _cmd_help(self, argument: str, ui: ChatUI) -> Outcome:
        width = max(map(len, COMMANDS)) + 1
        lines = [f"/{name:<{width}} {text}" for name, text in COMMANDS.items()]
        lines.append("Anything else is a message to the agent. Ctrl-C cancels an answer; Ctrl-D leaves.")
        return Outcome("\n".join(lines))

    def add_file(self, argument: str) -> str:
        """Keep a file in the conversation; InputError for denied, ignored, missing or huge files."""
        path = self._context_path(argument, "/add PATH")
        if len(self.workspace.read_file(path)) > MAX_CONTEXT_FILE_CHARS:
            raise InputError(f"{path} is too big to keep in the conversation; ask about it and the agent reads the parts it needs")
        if path not in self.context_files:
            self.context_files.append(path)
        return path

    def _cmd_add(self, argument: str, ui: ChatUI) -> Outcome:
        return Outcome(f"added {self.add_file(argument)} to the conversation")

    def _cmd_drop(self, argument: str, ui: ChatUI) -> Outcome:
        path = self._context_path(argument, "/drop PATH")
        if path not in self.context_files:
            return Outcome(f"{path} is not in the conversation (see /files)", "warn")
        self.context_files.remove(path)
        return Outcome(f"dropped {path} from the conversation")

    def _cmd_files(self, argument: str, ui: ChatUI) -> Outcome:
        if not self.context_files:
            return Outcome("no files in the conversation (add one with /add PATH)")
        return Outcome("files in the conversation:\n" + "\n".join(f"  {p}" for p in self.context_files))

    def _cmd_review(self, argument: str, ui: ChatUI) -> Outcome:
        target = self.root / repo_path(self.root, argument) if argument else self.root
        if not target.exists():
            raise InputError(f"{argument}: no such file or folder in the repository")
        result = review_paths([target], ReviewOptions.from_config(self.config), self.root)
        return Outcome(review=result, send=review_discussion_prompt(argument or ".", result), task=False)

    def _cmd_implement(self, argument: str, ui: ChatUI) -> Outcome:
        if not argument:
            raise UsageError("/implement needs a spec: a file, a Spec Kit folder, or the task as text")
        if self.workspace.snapshot():
            raise UsageError("/implement starts from the files on disk: /apply or /discard the pending changes first")
        return Outcome(implement=argument)

    def _cmd_diff(self, argument: str, ui: ChatUI) -> Outcome:
        view = self.pending_view()
        return Outcome(pending=view) if view else Outcome("no pending changes")

    def _cmd_apply(self, argument: str, ui: ChatUI) -> Outcome:
        if not self.workspace.snapshot():
            return Outcome("no pending changes to apply")
        if argument not in ("", "--allow-guarded"):
            raise UsageError("/apply takes no argument but --allow-guarded")
        result = self.apply(ui, yes=True, allow_guarded=argument == "--allow-guarded")
        return Outcome() if result.applied else Outcome("the changes stay pending", "warn")

    def _cmd_discard(self, argument: str, ui: ChatUI) -> Outcome:
        count = len(self.workspace.snapshot().files)
        self._reset_changes()
        return Outcome(f"discarded pending changes to {count} file(s)" if count else "no pending changes")

    def _cmd_undo(self, argument: str, ui: ChatUI) -> Outcome:
        result = git.undo_last_commit(self.root)
        where = f" on {result.branch}" if result.branch else ""
        return Outcome(f"reverted with {result.sha[:8]}{where}: {result.subject}")

    def _cmd_run_tests(self, argument: str, ui: ChatUI) -> Outcome:
        run = self.workspace.test(argument, by_user=True)
        return Outcome(describe_run(run), "info" if run.passed else "warn")

    def _cmd_tokens(self, argument: str, ui: ChatUI) -> Outcome:
        return Outcome(f"conversation: {self.turns} turn(s), about {self.context_tokens():,} of "
                       f"{self.context_window:,} context tokens", usage=self.usage)

    def _cmd_cost(self, argument: str, ui: ChatUI) -> Outcome:
        return Outcome(usage=self.usage)

    def _cmd_model(self, argument: str, ui: ChatUI) -> Outcome:
        if argument:
            self.model = resolve_model(argument, self.config["models"])
        return Outcome(f"model: {self.model}")

    def _cmd_agent(self, argument: str, ui: ChatUI) -> Outcome:
        if argument:
            self.persona = load_persona(argument, self.root)
            return Outcome(f"agent: {self.persona.name}")
        names = [f"  {'*' if n == self.persona.name else ' '} {n}" for n in agent_files(self.root)]
        return Outcome(f"agent: {self.persona.name}\navailable:\n" + "\n".join(names))

    def _cmd_clear(self, argument: str, ui: ChatUI) -> Outcome:
        self.messages = []
        self.recorded = False  # the next message starts a new stored session
        return Outcome("conversation cleared (files and pending changes kept)")

    def _cmd_exit(self, argument: str, ui: ChatUI) -> Outcome:
        return Outcome(leave=True)

    def _context_path(self, argument: str, usage: str) -> str:
        if not argument:
            raise UsageError(f"usage: {usage}")
        return repo_path(self.root, argument)

    def close(self, exc: BaseException | None = None) -> None:
        """Record how the session ended: completed, or interrupted / failed when `exc` ended it.
        Either way it can still be resumed."""
        if self.recorded:
            self.log.finish(COMPLETED if exc is None else ended_by(exc))


class _ScopedUI:
    """Adds the scope-creep list right after the flow's diff summary."""

    def __init__(self, ui: ChatUI, notes: Sequence[str]) -> None:
        self._ui = ui
        self._notes = notes

    @property
    def interactive(self) -> bool:
        return self._ui.interactive

    def preview(self, diff: str, stats: list[FileStat], validation: Any) -> None:
        self._ui.preview(diff, stats, validation)
        self._ui.scope_creep(self._notes)

    def confirm(self, question: str) -> bool:
        return self._ui.confirm(question)

    def note(self, message: str) -> None:
        self._ui.note(message)


# -- opening a session ----------------------------------------------------------------------------


def open_session(config: Config, options: ChatOptions, log: SessionLog, store: Store | None = None,
                 environ: Mapping[str, str] | None = None) -> ChatSession:
    """A new session, or the stored one `options` asks for (then `store` is required)."""
    if options.resume and options.continue_last:
        raise UsageError("--continue and --resume cannot be combined")
    previous = find_previous(store, config.root, options) if (options.resume or options.continue_last) else None
    persona = load_persona(options.agent or (previous.agent if previous else "") or config["agent"], config.root)
    wanted = options.model or (previous.model if previous else "") or config["model"] or persona.model
    session = ChatSession(config, persona, resolve_model(wanted, config["models"]),
                          ModelClient.from_config(config, environ), log, unsandboxed=options.unsandboxed)
    if previous is not None and store is not None:
        session.messages = store.messages(previous.id)
        log.resume(previous.id)
        session.recorded = True
    for path in options.files:
        session.add_file(path)
    return session


def find_previous(store: Store | None, root: Path, options: ChatOptions):
    """The stored chat session to resume: the last one in this repository, or by id (prefix)."""
    if store is None:
        raise UsageError("the history store is not available; cannot resume a session")
    if options.continue_last:
        found = store.sessions(COMMAND, repo_root=str(root), limit=1)
        if not found:
            raise UsageError("no earlier chat session in this repository (start one with: fba chat)")
        return found[0]
    found = store.sessions(COMMAND, id_prefix=options.resume or "", limit=2)
    if not found:
        raise UsageError(f"no chat session with id '{options.resume}' (see: fba sessions)")
    if len(found) > 1:
        raise UsageError(f"'{options.resume}' matches several sessions; give more of the id (see: fba sessions)")
    return found[0]


# -- pure helpers ---------------------------------------------------------------------------------


def unknown_command_hint(name: str) -> str:
    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.5)
    hint = f"; did you mean /{close[0]}?" if close else ""
    return f"unknown command /{name}{hint} (/help lists the commands)"


def is_turn_start(message: Mapping[str, Any]) -> bool:
    """A user message with text (not only tool results) starts a turn."""
    if message["role"] != "user":
        return False
    content = message["content"]
    return isinstance(content, str) or any(b.get("type") == "text" for b in content)


def fit_history(messages: Sequence[dict[str, Any]], budget_tokens: int) -> tuple[list[dict[str, Any]], int]:
    """`messages` cut to about `budget_tokens`: the oldest whole turns are dropped and named in a
    short note at the start of the first kept turn. Returns (history, turns dropped)."""
    if _tokens(messages) <= budget_tokens:
        return list(messages), 0
    starts = [i for i, m in enumerate(messages) if is_turn_start(m)]
    for dropped, start in enumerate(starts[1:], start=1):
        kept = list(messages[start:])
        kept[0] = _with_note(kept[0], trim_note(messages[:start], dropped))
        if _tokens(kept) <= budget_tokens:
            return kept, dropped
    # Even the last turn alone does not fit: keep only the note (the new message joins it).
    return [{"role": "user", "content": [{"type": "text", "text": trim_note(messages, len(starts))}]}], len(starts)


def trim_note(dropped: Sequence[dict[str, Any]], count: int) -> str:
    asked = [_first_text(m) for m in dropped if is_turn_start(m)][-NOTE_REQUESTS:]
    lines = [f"- {' '.join(a.split())[:NOTE_REQUEST_CHARS]}" for a in asked]
    return (f"[fba: the {count} earliest turn(s) of this conversation were left out to fit the context "
            "window. The user had asked:\n" + "\n".join(lines) + "]")


def _with_note(message: dict[str, Any], note: str) -> dict[str, Any]:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    return {"role": "user", "content": [{"type": "text", "text": note}, *blocks]}


def _first_text(message: Mapping[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return next((b["text"] for b in content if b.get("type") == "text"), "")


def _tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    return len(json.dumps(list(messages), ensure_ascii=False)) // CHARS_PER_TOKEN


def _fixed_tokens(prompt: Prompt, tools: Sequence[Tool]) -> int:
    """The system prompt and tool schemas: sent with every request."""
    return len(json.dumps([asdict(prompt), [t.schema() for t in tools]], ensure_ascii=False)) // CHARS_PER_TOKEN


def review_discussion_prompt(target: str, result: ReviewResult) -> str:
    """The review put into the conversation for the model to discuss."""
    lines = [f"- {f.path}:{f.line} [{f.severity.value}] {f.rule} ({f.category}) {f.message}"
             for f in result.findings[:MAX_REVIEW_LINES]]
    if len(result.findings) > MAX_REVIEW_LINES:
        lines.append(f"- ... and {len(result.findings) - MAX_REVIEW_LINES} more")
    found = "\n".join(lines) if lines else "(no findings)"
    return (f"I ran fba's review on `{target}` ({result.files} file(s), {len(result.findings)} finding(s)):\n\n"
            f"{found}\n\nDiscuss these findings: which matter most, why, and how to fix them. "
            "Do not change any code unless I ask.")


def _load_changes(pending: PendingChanges, changeset: ChangeSet) -> None:
    """Replay a change set made against the files on disk into an empty pending set."""
    for change in changeset.files:
        if change.kind == "create":
            pending.create(change.path, change.after or "")
        elif change.kind == "delete":
            pending.delete(change.path)
        else:
            pending.rewrite(change.path, change.after or "")


# -- scope creep ----------------------------------------------------------------------------------

_PARAM = re.compile(r"\{[^}]*\}")
VERBS = {"create": "creates", "modify": "changes", "delete": "deletes"}


def scope_creep(changeset: ChangeSet, requests: Sequence[str], added: Sequence[str]) -> tuple[str, ...]:
    """What the change touches beyond the requests: unnamed files, new routes and new or altered
    table models that no request names."""
    asked = "\n".join(requests)
    lowered = asked.lower()
    notes = []
    for change in changeset.files:
        if change.path not in added and not _names_file(lowered, change.path) \
                and not _names_a_definition(lowered, change.path, change.before, change.after):
            notes.append(f"{change.path}: {VERBS[change.kind]} a file your request does not mention")
        if change.path.endswith(".py"):
            notes.extend(_route_and_model_notes(change.path, change.before, change.after, lowered))
    return tuple(notes)


def _names_file(text: str, path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    return path.lower() in text or re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text) is not None


def _names_a_definition(text: str, path: str, before: str | None, after: str | None) -> bool:
    """The request names, as a word, a class or function the file defines ("add priority to the
    Task model" is about app/models.py)."""
    names = set()
    for source in (before, after):
        if source is not None and path.endswith(".py"):
            names |= _top_level_names(path, source)
    return any(re.search(rf"(?<![\w.]){re.escape(name.lower())}(?!\w)", text) for name in names if len(name) >= 3)


def _top_level_names(path: str, text: str) -> set[str]:
    import ast

    try:
        tree = parse_python(text, path).tree
    except FbaError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}


def _route_and_model_notes(path: str, before: str | None, after: str | None, asked: str) -> list[str]:
    old, new = _python_facts(path, before), _python_facts(path, after)
    if new is None:
        return []
    old_routes = {_route_key(r) for r in old.routes} if old else set()
    notes = [f"{path}: new route {' '.join(r.methods)} {r.path} ({r.function}) that your request does not name"
             for r in new.routes
             if _route_key(r) not in old_routes and not _names_route(asked, r.path, r.function)]
    old_tables = {c.name: c.fields for c in old.classes if _is_table(c)} if old else {}
    for cls in (c for c in new.classes if _is_table(c)):
        if any(re.search(rf"\b{re.escape(name.lower())}\b", asked) for name in (cls.name, cls.tablename) if name):
            continue  # named as a word: "the Item model", "the item table" (not "/items")
        if cls.name not in old_tables:
            notes.append(f"{path}: new table model {cls.name} that your request does not name")
        elif old_tables[cls.name] != cls.fields:
            notes.append(f"{path}: changes the columns of table model {cls.name}, which your request does not name")
    return notes


def _python_facts(path: str, text: str | None):
    if text is None:
        return None
    try:
        return extract_facts(parse_python(text, path).tree, path)
    except FbaError:
        return None  # validation reports unparsable files


def _route_key(route) -> tuple:
    return tuple(route.methods), _PARAM.sub("{}", route.path)


def _names_route(asked: str, route_path: str, function: str) -> bool:
    normalised = _PARAM.sub("{}", route_path.lower()).rstrip("/")
    return (bool(normalised) and normalised in _PARAM.sub("{}", asked)) or function.lower() in asked


def _is_table(cls) -> bool:
    return cls.table or cls.tablename is not None

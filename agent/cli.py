"""The command line: the only typer user. Parse, call a workflow, map errors to exit codes.

Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or tool error.
Heavy modules (anthropic, git, libcst) are imported inside the commands that need them.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from agent import __version__
from agent.errors import FbaError, UsageError

app = typer.Typer(
    name="fba",
    help=(
        "fba: the fastapi-backend expert agent in your terminal and CI.\n\n"
        "Review FastAPI code against the agent's checklist (offline static engine, plus the model "
        "when ANTHROPIC_API_KEY is set), implement endpoints from a spec, or chat with the agent."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: paragraphs reflow, and rich.markdown stays unimported
    context_settings={"help_option_names": ["-h", "--help"]},
)
cache_app = typer.Typer(help="Manage the review cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
eval_app = typer.Typer(help="Measure fba on labelled cases.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

STATE = {"debug": False}
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fba {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    STATE["debug"] = debug


def _terminal(quiet: bool = False):
    from agent.console import Terminal

    return Terminal(quiet=quiet)


def _config(flags: dict | None = None):
    from agent.config import load_config

    return load_config(Path.cwd(), flags=flags or {})


def _split(values: Optional[List[str]]) -> Optional[list[str]]:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


TEXT_OR_JSON = ("text", "json")


def _format(value: str, allowed: tuple[str, ...] = TEXT_OR_JSON) -> str:
    """A -f/--format value, case-insensitive (as --fail-on)."""
    chosen = value.strip().lower()
    if chosen not in allowed:
        raise UsageError(f"unknown format '{value}' (choose from {', '.join(allowed)})")
    return chosen


def _text_or_json(value: str) -> str:
    return _format(value)


# Options several commands share: declared once, with the same name, short flag and help.
Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Model alias (sonnet, opus, haiku) or a model id.")]
Agent = Annotated[Optional[str], typer.Option("--agent", help="Agent persona: a name or a path to an agent file.")]
MaxCost = Annotated[Optional[float], typer.Option("--max-cost", help="Stop before a request would take this run past USD.")]
TextOrJson = Annotated[str, typer.Option("--format", "-f", callback=_text_or_json, help="text or json.")]
Commit = Annotated[Optional[bool], typer.Option("--commit/--no-commit", help="Commit the change (how: config key 'commit').")]
AllowDirty = Annotated[bool, typer.Option("--allow-dirty", help="Also change files with uncommitted changes.")]
Unsandboxed = Annotated[bool, typer.Option("--unsandboxed", help="Run the agent's tests without the sandbox, with your permissions (see README: What is confined).")]
Python = Annotated[Optional[str], typer.Option("--python", help="With --app: the interpreter that imports the app (default: the one running fba).")]


@app.command()
def review(
    paths: List[str] = typer.Argument(None, help="Files or folders to review (default: the current folder)."),
    output_format: Optional[str] = typer.Option(None, "--format", "-f", help="text (default), json, sarif, github or markdown; with -o, the file's extension (.json, .sarif, .md, .txt) when not given."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 when a finding is at or above this severity (default: medium, or config fail-on)."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only these rules or categories (comma separated)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Turn off these rules or categories."),
    preview: Optional[bool] = typer.Option(None, "--preview", help="Also run the preview rules (see 'fba rules')."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the report: no warnings, progress or totals."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also say how fba tidied the model's answer (findings moved to their quoted code, refused calls)."),
    fix: bool = typer.Option(False, "--fix", help="Apply the safe automatic fixes: preview, confirm, write, commit."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --fix: show the diff and write nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --fix: apply without asking."),
    patch_out: Optional[Path] = typer.Option(None, "--patch-out", help="With --fix: write a git-apply-able patch to FILE instead of applying."),
    allow_dirty: bool = typer.Option(False, "--allow-dirty", help="With --fix: also change files with uncommitted changes."),
    allow_guarded: bool = typer.Option(False, "--allow-guarded", help="With --fix: --yes also applies guarded changes (.gitignore, CI, lock files, [tool.fba], tests)."),
    allow_no_git: bool = typer.Option(False, "--allow-no-git", help="With --fix --yes: write even outside a git repository (no dirty-file check, no commit, no 'fba undo')."),
    commit: Optional[bool] = typer.Option(None, "--commit/--no-commit", help="With --fix: commit the fix (how: config key 'commit')."),
    changed: bool = typer.Option(False, "--changed", help="Only report files changed against HEAD (staged, unstaged, untracked), and findings new because their evidence changed there."),
    diff_ref: Optional[str] = typer.Option(None, "--diff", metavar="REF", help="Only report findings on lines changed since REF (e.g. origin/main)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the review cache (.fba_cache/)."),
    static_only: bool = typer.Option(False, "--static-only", help="Never call a model, even with ANTHROPIC_API_KEY set."),
    llm: bool = typer.Option(False, "--llm", help="Require the model pass (exit 2 when ANTHROPIC_API_KEY is not set)."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="Model pass: also check the code against this spec (Markdown, Spec Kit folder or OpenAPI)."),
    batch: bool = typer.Option(False, "--batch", help="Model pass through the Message Batches API: one request per file, half price, resumable."),
    batch_wait: Optional[float] = typer.Option(None, "--batch-wait", metavar="SECONDS", min=0, help="With --batch: stop waiting after SECONDS; run again to collect."),
    model: Model = None,
    agent: Agent = None,
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Model pass: stop before a request would take the run past USD."),
    app_ref: Optional[str] = typer.Option(None, "--app", metavar="MODULE:ATTR", help="Import this FastAPI app (in a subprocess, your interpreter) and take route paths and dependencies from FastAPI itself."),
    python: Python = None,
) -> None:
    """Review FastAPI code against the checklist.

    The static engine always runs (offline, no key needed). With ANTHROPIC_API_KEY set (or --llm)
    the agent reviews each file too, grounded in the checklist, the static facts and --spec; its
    findings are marked as model findings. Findings are grouped by file; exit code 1 means findings
    at or above --fail-on, 2 means fba could not do its job.
    """
    from agent.console.review_flow import ReviewConsole, print_run
    from agent.workflows.review_flow import ReviewRequest, run_review

    output_format = _report_format(output_format, output)
    targets = _review_targets(paths)
    config = _config({"fail-on": fail_on, "select": _split(select), "ignore": _split(ignore),
                      "preview": preview or None, "model": model, "agent": agent, "max-cost": max_cost})
    if python and not app_ref:
        raise UsageError("--python needs --app")
    request = ReviewRequest(
        tuple(targets), config, use_cache=not no_cache, changed=changed, diff_ref=diff_ref, app_ref=app_ref,
        python=python, model=_model_request(static_only, llm, spec, batch, batch_wait),
        fix=_fix_request(fix, dry_run=dry_run, yes=yes, patch_out=patch_out, allow_dirty=allow_dirty,
                         allow_guarded=allow_guarded, allow_no_git=allow_no_git, commit=commit),
        read_sources=output_format in FORMATS_WITH_SOURCES)
    term = _terminal(quiet)
    progress = not quiet and sys.stderr.isatty() and (output_format == "text" or sys.stdout.isatty())
    ui = ReviewConsole(term, progress, text_report=output_format == "text", verbose=verbose)
    run = run_review(request, ui)
    if run.model_pass is not None:
        ui.model_finished(run.model_pass, run.outside)
    print_run(term, run, output_format, output)
    raise typer.Exit(EXIT_ERROR if run.named_failures or run.model_failure else EXIT_FINDINGS if run.failing else EXIT_OK)


# The formats that show or fingerprint the code lines of findings (the others need no file read).
FORMATS_WITH_SOURCES = ("text", "sarif")
# Report file extensions: the format they imply, and the formats they may hold.
REPORT_SUFFIXES = {
    ".json": ("json", ("json", "sarif")),
    ".sarif": ("sarif", ("sarif",)),
    ".md": ("markdown", ("markdown",)),
    ".markdown": ("markdown", ("markdown",)),
    ".txt": ("text", ("text", "github")),
}


def _report_format(flag: Optional[str], output: Optional[Path]) -> str:
    """The review report's format: -f, else what the -o file's extension implies, else text.
    A -f the extension contradicts (`-f text -o report.json`) is refused."""
    from agent.report import FORMATS

    name = output.name.lower() if output is not None else ""
    suffix = ".sarif" if name.endswith(".sarif.json") else Path(name).suffix
    implied, fits = REPORT_SUFFIXES.get(suffix, (None, FORMATS))
    if flag is None:
        return implied or "text"
    chosen = _format(flag, FORMATS)
    if chosen not in fits:
        raise UsageError(f"--format {chosen} does not fit {output} (a {implied} file name); "
                         f"drop --format or name the file for {chosen}")
    return chosen


def _review_targets(paths: Optional[List[str]]) -> list[Path]:
    """The paths to review (default: the current folder). An empty argument is an error, not the
    current folder, and a file named explicitly must be Python."""
    from agent.analysis.source import looks_like_python

    targets = []
    for raw in paths or ["."]:
        if not raw.strip():
            raise UsageError("empty path argument (name '.' to review the current folder)")
        path = Path(raw)
        if path.is_file() and not looks_like_python(path):
            raise UsageError(f"{raw}: not a Python file")
        targets.append(path)
    return targets


def _model_request(static_only: bool, llm: bool, spec: Optional[Path], batch: bool, batch_wait: Optional[float]):
    """The model pass: asked for (--llm, --spec, --batch: a missing key is an error), or None
    with --static-only (otherwise it runs when a key is set)."""
    from agent.workflows.review_flow import ModelRequest

    asked = llm or spec is not None or batch
    if static_only and asked:
        raise UsageError("--static-only cannot be combined with --llm, --spec or --batch")
    if batch_wait is not None and not batch:
        raise UsageError("--batch-wait needs --batch")
    return None if static_only else ModelRequest(required=asked, spec=spec, batch=batch, batch_wait=batch_wait)


def _fix_request(fix: bool, **flags):
    """--fix and its flags (None without --fix: then none of them may be given)."""
    from agent.workflows.review_flow import FixRequest

    if not fix:
        if any(value not in (None, False) for value in flags.values()):
            raise UsageError("--dry-run, --yes, --patch-out, --allow-dirty, --allow-guarded, --allow-no-git and "
                             "--commit/--no-commit need --fix")
        return None
    return FixRequest(**flags)


@app.command()
def routes(
    paths: List[Path] = typer.Argument(None, help="Files or folders whose routes to list (default: the current folder)."),
    output_format: str = typer.Option("text", "--format", "-f", help="text, json or markdown."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the inventory to FILE instead of stdout."),
    app_ref: Optional[str] = typer.Option(None, "--app", metavar="MODULE:ATTR", help="Import this FastAPI app (in a subprocess, your interpreter) and list the routes it really serves."),
    python: Python = None,
    compare: bool = typer.Option(False, "--compare", help="With --app: list where the static inventory and the runtime one disagree."),
) -> None:
    """List every route: method, full path, handler, and how it is authenticated (which dependency,
    attached where) or why it is public, the principal it receives and the owner scope of its models."""
    from agent.report.routes import ROUTE_FORMATS, render_routes
    from agent.workflows.routes import route_inventory

    if output_format not in ROUTE_FORMATS:
        raise UsageError(f"unknown format '{output_format}' (choose from {', '.join(ROUTE_FORMATS)})")
    if (compare or python) and not app_ref:
        raise UsageError("--compare and --python need --app")
    config = _config()
    found = route_inventory(list(paths) if paths else [Path(".")], config, app_ref, python or sys.executable, compare)
    text = render_routes(found.document, output_format)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None


@app.command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, help="A rule code (FBA102) to show its documentation."),
    output_format: TextOrJson = "text",
) -> None:
    """List the static rules, or show one rule's documentation."""
    import json

    from agent.analysis.rules import all_rules, rule_by_code
    from agent.report.common import FIXABLE_MARK, RULE_DOCS, rule_catalog, rule_page

    term = _terminal()
    if rule_id:
        rule = rule_by_code(rule_id)
        if rule is None:
            raise UsageError(f"unknown rule '{rule_id}' (see 'fba rules')")
        page = rule_catalog()[rule.code]
        if output_format == "json":
            term.write(json.dumps({**_rule_entry(rule), "doc": page.doc}, indent=2) + "\n")
        elif term.out.is_terminal:
            term.markdown(rule_page(page, markdown=True))
        else:  # piped: plain text, not Markdown rendered and padded to the console's width
            term.write(rule_page(page, markdown=False))
        return
    if output_format == "json":
        term.write(json.dumps([_rule_entry(r) for r in all_rules()], indent=2) + "\n")
        return
    term.table(["code", "name", "category", "severity", "fix", "what it catches"],
               [[r.code + (" (preview)" if r.preview else ""), r.name, r.category, r.severity.value, FIXABLE_MARK if r.fixable else "", r.title]
                for r in all_rules()])
    term.write(f"Each rule's documentation: fba rules CODE, or {RULE_DOCS}/CODE.md in fba's repository.\n")


def _rule_entry(rule) -> dict:
    from agent.report.common import rule_doc_path

    return {"code": rule.code, "name": rule.name, "category": rule.category, "severity": rule.severity.value,
            "title": rule.title, "fixable": rule.fixable, "preview": rule.preview, "url": rule_doc_path(rule.code)}


@app.command("config")
def show_config(output_format: TextOrJson = "text") -> None:
    """Show the resolved configuration and where each value came from."""
    config = _config()
    term = _terminal()
    if output_format == "json":
        import json

        term.write(json.dumps({
            "root": str(config.root),
            "pyproject": str(config.pyproject) if config.pyproject else None,
            "values": {k: list(v) if isinstance(v, tuple) else v for k, v in config.values.items()},
            "sources": dict(config.sources),
        }, indent=2) + "\n")
        return
    term.table(["key", "value", "from"], [[k, _show(v), config.sources[k]] for k, v in config.values.items()],
               title=f"fba config ({config.pyproject or 'no pyproject.toml'})")


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return "-" if value in (None, "") else str(value)


@app.command()
def init(path: Path = typer.Option(Path("pyproject.toml"), "--path", help="The pyproject.toml to add the section to.")) -> None:
    """Add a commented [tool.fba] section to pyproject.toml (created if missing)."""
    from agent.config import render_init_section

    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if "[tool.fba]" in existing:
        raise UsageError(f"{path} already has a [tool.fba] section")
    separator = "\n" if existing and not existing.endswith("\n\n") else ""
    try:
        path.write_text(existing + separator + render_init_section(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    _terminal().out.print(f"wrote \\[tool.fba] to {path}", soft_wrap=True)  # \\[ : not rich markup


@app.command()
def agents(output_format: TextOrJson = "text") -> None:
    """List the agent personas fba can load (bundled and .claude/agents/*.md)."""
    from agent.personas import agent_files, load_persona

    config = _config()
    term = _terminal()
    found = [(name, path, load_persona(str(path), config.root)) for name, path in agent_files(config.root).items()]
    if output_format == "json":
        import json

        term.write(json.dumps([{"name": name, "model": persona.model, "description": persona.description,
                                "file": str(path)} for name, path, persona in found], indent=2) + "\n")
        return
    term.table(["name", "model", "description", "file"],
               [[name, persona.model, persona.description.split("\\n")[0][:80], str(path)] for name, path, persona in found])


@app.command()
def undo() -> None:
    """Revert fba's last commit (with a new revert commit).

    Only when HEAD was made by fba (it has fba's trailers), is not pushed to any remote-tracking
    branch, and the work tree has no uncommitted changes; otherwise says why and changes nothing.
    """
    from agent.console import escape
    from agent.edits.git import undo_last_commit

    result = undo_last_commit(Path.cwd())
    where = f" on {result.branch}" if result.branch else ""
    _terminal().out.print(escape(f"reverted with {result.sha[:8]}{where}: {result.subject}"), soft_wrap=True)


@app.command()
def ask(
    question: str = typer.Argument(..., help="Your question about this repository."),
    model: Model = None,
    agent: Agent = None,
    max_cost: MaxCost = None,
    output_format: str = typer.Option("text", "--format", "-f", help="text (streamed) or json (answer + usage)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the answer: no tool lines, warnings or totals."),
) -> None:
    """Ask the agent one question about this repository (needs ANTHROPIC_API_KEY).

    The agent reads the repository with read-only tools (never .env, keys or ignored files;
    secret-looking values are redacted). The run is recorded: see 'fba log'.
    """
    import json

    from agent.console.stream import StreamPrinter
    from agent.store import SessionLog
    from agent.workflows.ask import ask as ask_agent

    output_format = _format(output_format)
    if not question.strip():
        raise UsageError("the question is empty")
    config = _config({"model": model, "agent": agent, "max-cost": max_cost})
    term = _terminal(quiet)
    printer = StreamPrinter(term, stream_text=output_format == "text")
    log = SessionLog.open(term.warn)
    try:
        result = ask_agent(question, config, printer, log)
    except BaseException:
        printer.stopped()
        raise
    finally:
        log.close()
    printer.finish(result.model, result.usage, result.stop_reason)
    if output_format == "json":
        term.write(json.dumps(result.to_dict(), indent=2) + "\n")


@app.command("log")
def show_log(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many recent runs to show."),
    output_format: TextOrJson = "text",
    as_json: bool = typer.Option(False, "--json", hidden=True, help="The same as --format json."),
) -> None:
    """List recent model runs: command, model, tokens, cost and when."""
    import json

    from agent.store import Store

    as_json = as_json or output_format == "json"
    store = Store.open()
    try:
        runs = store.recent_runs(limit)
    finally:
        store.close()
    term = _terminal()
    if as_json:
        term.write(json.dumps([run.to_dict() for run in runs], indent=2) + "\n")
        return
    if not runs:
        term.out.print("no runs recorded yet")
        return
    term.table(
        ["id", "when", "command", "model", "requests", "tokens", "cost", "status", "title"],
        [[r.id, _local_time(r.created_at), r.command, r.model, str(r.requests), _tokens(r.total_tokens, r.estimated),
          _cost(r.cost_usd, r.estimated), r.status, r.title[:50]] for r in runs],
    )
    if any(r.estimated for r in runs):
        term.info("~ partly estimated: a request was cut off before the API reported its usage")
    for run in runs:
        if run.patch:
            term.info(f"{run.id}: the change that was not applied is kept in {run.patch}; apply it with: fba apply {run.id}")


def _tokens(count: int, estimated: bool) -> str:
    return f"{'~' if estimated else ''}{count:,}"


def _cost(cost_usd: Optional[float], estimated: bool = False) -> str:
    return "unknown" if cost_usd is None else f"{'~' if estimated else ''}${cost_usd:.4f}"


@app.command("apply")
def apply_kept(
    run_id: str = typer.Argument(..., help="The run whose kept change to apply (see 'fba log'); a unique prefix is enough."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    commit: Commit = None,
    allow_dirty: AllowDirty = False,
) -> None:
    """Apply the change an implement run kept when it was not applied (declined, or no terminal).

    The change goes through the usual flow: validated against the files as they are now (a file
    changed since the run is refused), shown, confirmed, written and committed with its provenance.
    """
    from agent.analysis.runner import ReviewOptions
    from agent.config import load_config
    from agent.console.diff import ChangeConsole
    from agent.store import APPLIED, Store
    from agent.workflows.changes import FlowOptions, commit_mode, run_change_flow
    from agent.workflows.kept import forget_kept, load_kept

    store = Store.open()
    try:
        found = store.find_runs(run_id)
        if not found:
            raise UsageError(f"no run with id '{run_id}' (see: fba log)")
        if len(found) > 1:
            raise UsageError(f"'{run_id}' matches several runs; give more of the id (see: fba log)")
        run = found[0]
        if not run.patch:
            raise UsageError(f"run {run.id} kept no change to apply ({run.status})")
        changeset, root, info = load_kept(Path(run.patch))
        config = load_config(root)
        flow = FlowOptions(yes=yes, allow_dirty=allow_dirty, commit=commit_mode(config["commit"], commit),
                           review=ReviewOptions.from_config(config))
        result = run_change_flow(changeset, root, info, flow, ChangeConsole(_terminal()))
        if result.applied:
            store.finish_session(run.id, APPLIED)
            store.set_patch(run.id, "")
            forget_kept(Path(run.patch))
    finally:
        store.close()
    raise typer.Exit(EXIT_OK if result.applied else EXIT_FINDINGS)


def _local_time(iso: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


@app.command()
def chat(
    files: List[str] = typer.Argument(None, help="Files to keep in the conversation (as with /add)."),
    agent: Agent = None,
    model: Model = None,
    continue_last: bool = typer.Option(False, "--continue", "-c", help="Resume the last chat session in this repository."),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="ID", help="Resume a stored chat session (see 'fba sessions')."),
    unsandboxed: Unsandboxed = False,
) -> None:
    """Talk with the agent about this repository (needs ANTHROPIC_API_KEY).

    Ask questions, review, ask for changes: the agent's edits collect in a pending change set shown
    as a diff, and nothing is written until you apply it (/apply). /help lists the commands;
    Ctrl-C cancels an answer, Ctrl-D leaves. Sessions are stored: see 'fba sessions'.
    """
    from agent.console.chat import ChatLoop, LineReader
    from agent.home import data_home
    from agent.store import SessionLog, Store
    from agent.workflows.chat import ChatOptions, open_session

    config = _config()
    term = _terminal()
    unconfined = _unsandboxed(term, unsandboxed, may_ask=term.interactive)
    if not unconfined:
        _warn_without_sandbox(term)
    options = ChatOptions(agent=agent, model=model, resume=resume, continue_last=continue_last,
                          files=tuple(files or ()), unsandboxed=unconfined)
    store = Store.open() if (resume or continue_last) else None  # resuming needs the history: fail loudly
    log = SessionLog(store, term.warn) if store is not None else SessionLog.open(term.warn)
    try:
        session = open_session(config, options, log, store)
        ChatLoop(session, term, LineReader(term.interactive, data_home() / "chat-history")).run()
    finally:
        log.close()


@app.command()
def sessions(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many recent sessions to show."),
    output_format: TextOrJson = "text",
    all_repos: bool = typer.Option(False, "--all", help="Sessions of every repository, not only this one."),
) -> None:
    """List stored chat sessions (resume one with: fba chat --resume ID)."""
    import json

    from agent.store import Store

    root = None if all_repos else str(_config().root)
    store = Store.open()
    try:
        found = store.sessions("chat", repo_root=root, limit=limit)
    finally:
        store.close()
    term = _terminal()
    if output_format == "json":
        term.write(json.dumps([s.to_dict() for s in found], indent=2) + "\n")
        return
    if not found:
        term.out.print("no chat sessions yet" + ("" if all_repos else " in this repository (--all shows every repository)"))
        return
    term.table(["id", "title", "when", "turns", "cost", "status"],
               [[s.id, s.title[:60], _local_time(s.updated_at), str(s.turns), _cost(s.cost_usd, s.estimated), s.status]
                for s in found])


@eval_app.command("review")
def eval_review(
    cases: Path = typer.Option(..., "--cases", help="A folder of labelled cases (each with an expected.json), or one case."),
    mode: str = typer.Option("static", "--mode", help="static (offline), llm (the model alone) or both (merged review)."),
    output_format: TextOrJson = "text",
    model: Model = None,
    agent: Agent = None,
) -> None:
    """Run the review on labelled cases and print recall and precision per category."""
    import json

    from agent.analysis.runner import ReviewOptions
    from agent.eval import MODES, evaluate, load_cases, render_text

    if mode not in MODES:
        raise UsageError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    config = _config({"model": model, "agent": agent})
    options = ReviewOptions.from_config(config)
    term = _terminal()
    loaded = load_cases(cases)
    reviewer = None
    if mode != "static":
        from agent.console.stream import StreamPrinter
        from agent.workflows.review_flow import case_reviewer

        reviewer = case_reviewer(config, options, StreamPrinter(term, stream_text=False), term.warn)
    report = evaluate(loaded, mode, options, reviewer)
    if output_format == "json":
        term.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    term.table(["category", "labels", "found", "findings", "recall", "precision"], render_text(report),
               title=f"fba eval review --mode {mode} ({len(loaded)} case(s))")
    for item in report.missed:
        term.info(f"missed: {item}")
    for item in report.extra:
        term.info(f"not labelled: {item}")


@cache_app.command("clean")
def cache_clean() -> None:
    """Delete the project's review cache (.fba_cache/ in the project root)."""
    from agent.analysis.cache import ReviewCache

    cache = ReviewCache.for_root(_config().root)
    removed = cache.clean()
    _terminal().info(f"removed {cache.folder}" if removed else f"no cache at {cache.folder}")


@app.command()
def implement(
    spec: Path = typer.Argument(..., help="A Markdown spec, a Spec Kit feature folder (specs/NNN-x/) or an OpenAPI 3.x file."),
    task: Optional[str] = typer.Option(None, "--task", help="Implement one task of the task list (e.g. T012) and tick it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the diff and write nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply a verified change without asking (never an unverified one)."),
    commit: Commit = None,
    max_rounds: int = typer.Option(3, "--max-rounds", min=1, help="Verification rounds before giving up."),
    max_cost: MaxCost = None,
    patch_out: Optional[Path] = typer.Option(None, "--patch-out", help="Write a git-apply-able patch to FILE instead of applying."),
    answers: Optional[Path] = typer.Option(None, "--answers", help="Answers to the agent's questions (YAML or JSON: question -> answer)."),
    allow_dirty: AllowDirty = False,
    allow_guarded: bool = typer.Option(False, "--allow-guarded", help="With --yes: also apply guarded changes (.gitignore, CI, lock files, [tool.fba] or pytest settings, weakened tests)."),
    agent: Agent = None,
    model: Model = None,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No streamed text or tool lines; the report and the diff only."),
    unsandboxed: Unsandboxed = False,
) -> None:
    """Implement a spec: the agent writes the code and tests, fba verifies them, shows the diff and applies it.

    Verification: every touched file parses, no new static finding at or above medium, table-model
    changes come with a migration (Alembic projects), and the project's tests pass in an isolated
    copy, in a sandbox (bubblewrap on Linux, sandbox-exec on macOS; without one fba refuses unless
    --unsandboxed). Exit 0 when the verified change was applied (or shown with --dry-run, saved with
    --patch-out); 1 when nothing landed (not verified, questions to answer, declined); 2 on errors.
    """
    from agent.console.diff import ChangeConsole
    from agent.console.implement import DecisionUI, ImplementPrinter, ask_questions, print_report
    from agent.context.specs import load_answers, load_spec
    from agent.analysis.runner import ReviewOptions
    from agent.store import SessionLog
    from agent.workflows.changes import FlowOptions, commit_mode
    from agent.workflows.implement import ImplementOptions, commit_info, implement as implement_spec, land_change

    config = _config({"model": model, "agent": agent, "max-cost": max_cost})
    loaded = load_spec(spec, task)
    given = load_answers(answers) if answers else {}
    term = _terminal(quiet)
    ui = ChangeConsole(term)
    ask = (lambda questions: ask_questions(term, questions)) if ui.interactive and not yes else None
    options = ImplementOptions(max_rounds, config["max-cost"], given,
                               unsandboxed=_unsandboxed(term, unsandboxed, may_ask=ui.interactive and not yes))
    printer = ImplementPrinter(term, stream_text=not quiet)
    log = SessionLog.open(term.warn)
    try:
        try:
            result = implement_spec(loaded, config, options, printer, log, ask)
        except BaseException:
            printer.stopped()
            raise
        printer.finish(result.model, result.usage, result.stop_reason)
        print_report(term, result)
        if result.questions:
            _save_questions(term, result)
            raise typer.Exit(EXIT_FINDINGS)
        flow = FlowOptions(dry_run=dry_run, yes=yes, patch_out=patch_out, allow_dirty=allow_dirty,
                           commit=commit_mode(config["commit"], commit), review=ReviewOptions.from_config(config),
                           allow_guarded=allow_guarded, max_file_bytes=config["max-file-size"])
        info = commit_info(result, _spec_label(spec, config.root))
        decision = DecisionUI(ui, result)
        status = land_change(result, config.root, info, flow, decision, decision)
        _record_landing(term, log, result, status, info, config.root)
    except BaseException as exc:
        log.close(exc if not isinstance(exc, typer.Exit) else None)
        raise
    log.close()
    landed = result.verified and status in ("applied", "dry-run", "patch-written")
    raise typer.Exit(EXIT_OK if landed else EXIT_FINDINGS)


def _unsandboxed(term, flag: bool, may_ask: bool) -> bool:
    """Whether the agent's code may run without a sandbox: --unsandboxed, or no sandbox works and
    the user says so on a terminal (`may_ask`)."""
    if flag:
        term.warn("--unsandboxed: the agent's tests run without a sandbox, with your permissions "
                  "(still with a scrubbed environment)")
        return True
    if not may_ask:
        return False
    from agent.edits.sandbox import probe

    sandbox = probe()
    if sandbox.works:
        return False
    term.warn(f"no sandbox works here: {sandbox.problem}")
    return term.confirm("Run the agent's tests without a sandbox, with your permissions?", default=False)


def _warn_without_sandbox(term) -> None:
    from agent.edits.sandbox import probe

    sandbox = probe()
    if not sandbox.works:
        term.warn(f"the agent's tests will not run in this session: {sandbox.refusal()}")


# What the change flow did -> the run's status (others keep the status the workflow recorded).
LANDING_STATUS = {"applied": "applied", "declined": "declined"}
NOT_LANDED = ("declined", "not-confirmed", "unverified", "guarded")


def _record_landing(term, log, result, flow_status: str, info, root: Path) -> None:
    """Record how the run ended; a change that was paid for and not applied is kept for `fba apply`."""
    from agent.home import data_home
    from agent.workflows.kept import keep_change

    if flow_status in LANDING_STATUS:
        log.finish(LANDING_STATUS[flow_status])
    if flow_status not in NOT_LANDED or not result.changeset or not log.session_id:
        return
    try:
        patch = keep_change(result.changeset, root, info, log.session_id, data_home())
    except OSError as exc:
        term.warn(f"cannot keep the change under {data_home()}: {exc.strerror}")
        return
    log.keep_patch(str(patch))
    term.err.print(f"kept the change in {escape_path(patch)}; apply it later with: [bold]fba apply {log.session_id}[/]",
                   soft_wrap=True)


def escape_path(path: Path) -> str:
    from agent.console import escape

    return escape(str(path))


def _spec_label(spec: Path, root: Path) -> str:
    try:
        return spec.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return spec.name


def _save_questions(term, result) -> None:
    """Print the questions as an answers file to fill in (stdout) and save a copy in fba's data folder."""
    from agent.console.implement import questions_template
    from agent.home import data_home

    template = questions_template(result.questions)
    term.write(template)
    target = data_home() / "questions" / f"{result.session_id or 'implement'}.yaml"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template, encoding="utf-8")
    except OSError as exc:
        term.warn(f"cannot save the questions to {target}: {exc.strerror}")
        return
    term.info(f"questions saved to {target}; answer them and run again with --answers {target}")


def _interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP (a closed terminal) stop fba as Ctrl-C does, so a model run records that
    it was interrupted instead of staying `running`. Forked workers keep the default behaviour."""
    import os
    import signal

    main_pid = os.getpid()

    def interrupt(signum, frame) -> None:
        if os.getpid() != main_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


def main() -> None:
    """Console entry point: run the app and turn fba errors into one line and exit code 2."""
    _interrupt_on_termination()
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except FbaError as exc:
        if STATE["debug"]:
            raise
        _terminal().error(str(exc))
        code = EXIT_ERROR
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if not _is_usage_exception(exc):
            raise
        exc.show()  # click's own "Usage: ... Error: ..." message
        code = EXIT_ERROR
    if code == EXIT_INTERRUPTED:
        # typer turns Ctrl-C inside a command into a plain return of 130, not an exception,
        # and no fba command exits with 130 itself.
        sys.stderr.write("interrupted\n")
    # The interpreter's final collections would walk every object the command left (after a
    # touched-file review, the project index: ~40 ms) to reclaim nothing; frozen ones are skipped.
    gc.freeze()
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _is_usage_exception(exc: Exception) -> bool:
    """Click's ClickException family (typer may vendor click, so match by shape, not import)."""
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)

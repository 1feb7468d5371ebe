"""The command line: the only typer user. Parse, call a workflow, map errors to exit codes.

Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or tool error.
Heavy modules (anthropic, git, libcst) are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

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
    context_settings={"help_option_names": ["-h", "--help"]},
)
cache_app = typer.Typer(help="Manage the review cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

STATE = {"debug": False}
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


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


@app.command()
def review(
    paths: List[Path] = typer.Argument(None, help="Files or folders to review (default: the current folder)."),
    output_format: str = typer.Option("text", "--format", "-f", help="text, json, sarif, github or markdown."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 when a finding is at or above this severity [default: medium]."),
    select: Optional[List[str]] = typer.Option(None, "--select", help="Only these rules or categories (comma separated)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Turn off these rules or categories."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the report: no warnings, progress or totals."),
) -> None:
    """Review FastAPI code against the checklist.

    The static engine always runs (offline, no key needed). Findings are grouped by file; exit code
    1 means findings at or above --fail-on, 2 means fba could not do its job.
    """
    from agent.analysis.runner import ReviewOptions, check_selectors, review_paths
    from agent.report import FORMATS
    from agent.types import Severity

    if output_format not in FORMATS:
        raise UsageError(f"unknown format '{output_format}' (choose from {', '.join(FORMATS)})")
    config = _config({"fail-on": fail_on, "select": _split(select), "ignore": _split(ignore)})
    options = ReviewOptions.from_config(config)
    check_selectors(options)
    targets = list(paths) if paths else [Path(".")]
    term = _terminal(quiet)
    result = review_paths(targets, options, config.root)
    _emit_review(term, result, output_format, output)
    explicit_failures = [s for s in result.skipped if any(_same(s.path, t) for t in targets if t.is_file())]
    threshold = Severity.parse(config["fail-on"]).rank
    if explicit_failures and not result.findings:
        raise FbaError(explicit_failures[0].reason)
    failing = any(f.severity.rank >= threshold for f in result.findings)
    raise typer.Exit(EXIT_ERROR if explicit_failures else EXIT_FINDINGS if failing else EXIT_OK)


def _same(shown: str, target: Path) -> bool:
    try:
        return Path(shown).resolve() == target.resolve()
    except OSError:
        return False


def _emit_review(term, result, output_format: str, output: Optional[Path]) -> None:
    if output_format == "text" and output is None:
        from agent.console.review import print_review

        sources = {}
        for path in {f.path for f in result.findings}:
            try:
                sources[path] = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                pass
        print_review(term, result, sources)
        return
    from agent.report import renderer

    text = renderer("json" if output_format == "text" else output_format)(result)
    if output is None:
        term.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        term.info(f"report written to {output}")


@app.command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, help="A rule code (FBA102) to show its documentation."),
    output_format: str = typer.Option("text", "--format", "-f", help="text or json."),
) -> None:
    """List the static rules, or show one rule's documentation."""
    from agent.analysis.rules import all_rules, rule_by_code

    term = _terminal()
    if rule_id:
        rule = rule_by_code(rule_id)
        if rule is None:
            raise UsageError(f"unknown rule '{rule_id}' (see 'fba rules')")
        term.markdown(f"# {rule.code} {rule.name}\n\n*category:* `{rule.category}` · *severity:* `{rule.severity.value}`\n\n{_dedent_doc(rule.doc())}")
        return
    if output_format == "json":
        import json

        term.write(json.dumps([
            {"code": r.code, "name": r.name, "category": r.category, "severity": r.severity.value, "title": r.title}
            for r in all_rules()
        ], indent=2) + "\n")
        return
    term.table(["code", "name", "category", "severity", "what it catches"],
               [[r.code, r.name, r.category, r.severity.value, r.title] for r in all_rules()])


def _dedent_doc(doc: str) -> str:
    import textwrap

    first, _, rest = doc.partition("\n")
    return first + "\n" + textwrap.dedent(rest)


@app.command("config")
def show_config(output_format: str = typer.Option("text", "--format", "-f", help="text or json.")) -> None:
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
    """Add a commented \\[tool.fba] section to pyproject.toml (created if missing)."""
    from agent.config import render_init_section

    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if "[tool.fba]" in existing:
        raise UsageError(f"{path} already has a [tool.fba] section")
    separator = "\n" if existing and not existing.endswith("\n\n") else ""
    try:
        path.write_text(existing + separator + render_init_section(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    _terminal().out.print(f"wrote [tool.fba] to {path}")


@app.command()
def agents() -> None:
    """List the agent personas fba can load (bundled and .claude/agents/*.md)."""
    from agent.personas import agent_files, load_persona

    config = _config()
    term = _terminal()
    rows = []
    for name, path in agent_files(config.root).items():
        persona = load_persona(str(path), config.root)
        rows.append([name, persona.model, persona.description.split("\\n")[0][:80], str(path)])
    term.table(["name", "model", "description", "file"], rows)


def main() -> None:
    """Console entry point: run the app and turn fba errors into one line and exit code 2."""
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
        sys.stderr.write("interrupted\n")
        code = 130
    except Exception as exc:
        if not _is_usage_exception(exc):
            raise
        exc.show()  # click's own "Usage: ... Error: ..." message
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _is_usage_exception(exc: Exception) -> bool:
    """Click's ClickException family (typer may vendor click, so match by shape, not import)."""
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)

"""Text output of a review: each finding as `path:line:col: severity RULE message` (as ruff and
compilers print them, so editors and terminals open the place), the message wrapped with a hanging
indent at the terminal's width, then the code it is about; files apart by a blank line; then a
one-line summary."""

from __future__ import annotations

import io
import textwrap
from itertools import groupby
from typing import Collection, Iterable, Mapping

from rich.text import Text

from agent.console import Terminal, escape
from agent.report.common import summary_line
from agent.types import Finding, ReviewResult, Severity, Skipped

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
MAX_EXCERPT_LINES = 3


def print_review(term: Terminal, result: ReviewResult, sources: Mapping[str, str] | None = None) -> None:
    """Findings to stdout, then the summary (unless quiet)."""
    _print_findings(term.out, result, sources or {})
    if not term.quiet:
        term.out.print(_styled_summary(result))


def print_skipped(term: Terminal, skipped: Iterable[Skipped], failed: Collection[str] = ()) -> None:
    """One stderr line per file not (fully) analysed: an error for the `failed` paths (files the
    user named), a warning (hidden by --quiet) for files found by walking a folder."""
    for item in skipped:
        message = item.reason if item.reason.startswith(item.path) else f"{item.path}: {item.reason}"
        if item.path in failed:
            term.error(message)
        else:
            term.warn(message)


def review_text(result: ReviewResult, sources: Mapping[str, str] | None = None) -> str:
    """The same report as plain text (no colour), for `--output FILE`."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, no_color=True, highlight=False, soft_wrap=True, width=200)
    _print_findings(console, result, sources or {})
    for skipped in result.skipped:
        console.print(escape(f"not fully analysed: {skipped.path}: {skipped.reason}"))
    console.print(summary_line(result))
    return buffer.getvalue()


def _print_findings(out, result: ReviewResult, sources: Mapping[str, str]) -> None:
    """Each finding leads with `path:line:col:` (what editors and terminals open), its message
    wrapped at the console's width with a hanging indent; then the code it is about."""
    width = out.width
    for path, group in groupby(result.findings, key=lambda f: f.path):
        lines = sources.get(path, "").splitlines()
        for finding in group:
            for line in hanging_lines(_headline(finding), width):
                out.print(line, soft_wrap=True)
            for number in _excerpt_lines(finding, len(lines)):
                out.print(_excerpt(number, lines[number - 1], width), soft_wrap=True)
            if finding.fix is not None:
                fix = Text(" " * HANGING_INDENT) + Text("fix: ", style="green") + Text(finding.fix.description)
                for line in hanging_lines(fix, width):
                    out.print(line, soft_wrap=True)
        out.print()


HANGING_INDENT = 4


def hanging_lines(text: Text, width: int, indent: int = HANGING_INDENT) -> list[Text]:
    """`text` wrapped at word boundaries to `width` columns, lines after the first indented."""
    plain = text.plain
    wrapped = textwrap.wrap(plain, width=max(width, indent + 20), subsequent_indent=" " * indent,
                            break_long_words=False, break_on_hyphens=False, replace_whitespace=False)
    lines, cursor = [], 0
    for number, line in enumerate(wrapped):
        content = line[indent:] if number else line
        start = plain.find(content, cursor)
        if start < 0:  # textwrap changed the text (it never should): show it unwrapped
            return [text]
        cursor = start + len(content)
        piece = text[start:cursor]
        lines.append(Text(" " * indent) + piece if number else piece)
    return lines or [text]


def _headline(finding: Finding) -> Text:
    headline = Text(f"{finding.path}:{finding.line}:{finding.column}:", style="bold")
    headline.append(" ")
    headline.append(finding.severity.value, style=SEVERITY_STYLE[finding.severity])
    headline.append(" ")
    headline.append(finding.rule, style="bold")
    headline.append(f" {finding.message}")
    if finding.source != "static":
        headline.append(f" (model, confidence {finding.confidence:.2f})", style="magenta")
    return headline


def _excerpt(number: int, code: str, width: int) -> Text:
    line = Text(f"{number:>8} │", style="dim")
    line.append(f" {code.rstrip()}")
    line.truncate(width, overflow="ellipsis")
    return line


def _excerpt_lines(finding: Finding, available: int) -> range:
    last = min(max(finding.end_line or finding.line, finding.line), finding.line + MAX_EXCERPT_LINES - 1, available)
    return range(finding.line, last + 1) if 0 < finding.line <= available else range(0)


def _styled_summary(result: ReviewResult) -> str:
    text = escape(summary_line(result))
    if not result.findings:
        return f"[green]{text}[/]"
    worst = max((f.severity for f in result.findings), key=lambda s: s.rank)
    return f"[{SEVERITY_STYLE[worst]}]{text}[/]"

"""Text output of a review: findings grouped by file with a code excerpt, then a one-line summary."""

from __future__ import annotations

import io
from itertools import groupby
from typing import Collection, Iterable, Mapping

from agent.console import Terminal, escape
from agent.report.common import plural, summary_line
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
    _print_not_reviewed(term.out, result)
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
    _print_not_reviewed(console, result)
    console.print(escape(summary_line(result)))
    return buffer.getvalue()


def _print_not_reviewed(out, result: ReviewResult) -> None:
    """Part of the report (stdout, even with --quiet): a file the model did not review is not clean."""
    for item in result.not_reviewed:
        out.print(escape(f"{item.path}: {item.reason}"), soft_wrap=True)


def _print_findings(out, result: ReviewResult, sources: Mapping[str, str]) -> None:
    for path, group in groupby(result.findings, key=lambda f: f.path):
        findings = list(group)
        out.print(f"[bold underline]{escape(path)}[/] [dim]({plural(len(findings), 'finding')})[/]")
        lines = sources.get(path, "").splitlines()
        for finding in findings:
            out.print(_headline(finding), soft_wrap=True)
            for number in _excerpt_lines(finding, len(lines)):
                out.print(f"[dim]{number:>8} │[/] {escape(lines[number - 1].rstrip())}", soft_wrap=True)
            if finding.fix is not None:
                out.print(f"         [green]fix:[/] {escape(finding.fix.description)}", soft_wrap=True)
        out.print()


def _headline(finding: Finding) -> str:
    origin = f" [magenta](model, confidence {finding.confidence:.2f})[/]" if finding.source != "static" else ""
    style = SEVERITY_STYLE[finding.severity]
    return (f"  {finding.line}:{finding.column} [{style}]{finding.severity.value:<8}[/] "
            f"[bold]{finding.rule}[/] {escape(finding.message)}{origin}")


def _excerpt_lines(finding: Finding, available: int) -> range:
    last = min(max(finding.end_line or finding.line, finding.line), finding.line + MAX_EXCERPT_LINES - 1, available)
    return range(finding.line, last + 1) if 0 < finding.line <= available else range(0)


def _styled_summary(result: ReviewResult) -> str:
    text = escape(summary_line(result))
    if not result.findings:
        return f"[yellow]{text}[/]" if result.not_reviewed else f"[green]{text}[/]"
    worst = max((f.severity for f in result.findings), key=lambda s: s.rank)
    return f"[{SEVERITY_STYLE[worst]}]{text}[/]"

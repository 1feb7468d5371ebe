"""Text output of a review: findings grouped by file with a code excerpt, then a summary line."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from agent.console import Terminal, escape
from agent.types import ReviewResult, Severity

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def print_review(term: Terminal, result: ReviewResult, sources: dict[str, str] | None = None) -> None:
    out = term.out
    sources = sources or {}
    for path, group in groupby(result.findings, key=lambda f: f.path):
        out.print(f"[bold underline]{escape(path)}[/]")
        lines = sources.get(path, "").splitlines()
        for f in group:
            origin = " [magenta](model)[/]" if f.source == "llm" else ""
            out.print(
                f"  {f.line}:{f.column} [{SEVERITY_STYLE[f.severity]}]{f.severity.value:<8}[/] "
                f"[bold]{f.rule}[/] {escape(f.message)}{origin}"
            )
            if 0 < f.line <= len(lines):
                out.print(f"      [dim]{escape(lines[f.line - 1].strip())}[/]")
        out.print()
    for skipped in result.skipped:
        term.warn(f"{skipped.path}: {skipped.reason}" if not skipped.reason.startswith(skipped.path) else skipped.reason)
    out.print(summary_line(result))


def summary_line(result: ReviewResult) -> str:
    counts = Counter(f.severity for f in result.findings)
    parts = [f"{counts[s]} {s.value}" for s in Severity if counts[s]]
    found = f"{len(result.findings)} finding{'s' if len(result.findings) != 1 else ''}"
    detail = f" ({', '.join(parts)})" if parts else ""
    extra = f", {result.suppressed} suppressed" if result.suppressed else ""
    return f"{found}{detail} in {result.files} file{'s' if result.files != 1 else ''}{extra}"

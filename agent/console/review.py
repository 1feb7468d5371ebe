"""Text output of a review: findings grouped by file with a code excerpt, then a one-line summary."""

from __future__ import annotations

from itertools import groupby
from typing import Callable, Collection, Iterable, Mapping

from agent.console import Terminal
from agent.report.common import FIXABLE_MARK, plural, summary_line
from agent.textformats import printable
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
    paint = _painter(term.out)
    parts = _finding_lines(result, sources or {}, paint)
    parts += _not_reviewed_lines(result)
    if not term.quiet:
        parts += _summary_lines(result, paint)
    _write(term.out, "".join(parts))


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
    parts = _finding_lines(result, sources or {}, _plain)
    parts += [f"not fully analysed: {_safe(skipped.path)}: {_safe(skipped.reason)}\n" for skipped in result.skipped]
    parts += _not_reviewed_lines(result)
    parts += _summary_lines(result, _plain)
    return "".join(parts)


# The report is built as text and written once: printing each line through rich (markup
# parsing, measuring, segments) took five times as long as the JSON report on 2,000+ findings.
Paint = Callable[[str, str], str]


def _plain(text: str, style: str) -> str:
    return text


def _painter(console) -> Paint:
    """`paint(text, style)` in the console's colours (plain when it has none, bold and underline
    only with NO_COLOR), as rich would print it."""
    if console.color_system is None:
        return _plain
    from rich.console import COLOR_SYSTEMS
    from rich.style import Style

    system = COLOR_SYSTEMS[console.color_system]
    codes: dict[str, tuple[str, str]] = {}

    def paint(text: str, style: str) -> str:
        if style not in codes:
            parsed = Style.parse(style)
            opening, _, closing = (parsed.without_color if console.no_color else parsed).render("\0", color_system=system).partition("\0")
            codes[style] = (opening, closing)
        opening, closing = codes[style]
        return f"{opening}{text}{closing}"

    return paint


def _write(console, text: str) -> None:
    console.file.write(text)
    console.file.flush()


def _safe(text: str) -> str:
    """Text from files, messages and the model with every control character shown, never obeyed."""
    return printable(text)


def _not_reviewed_lines(result: ReviewResult) -> list[str]:
    """Part of the report (stdout, even with --quiet): a file the model did not review is not clean."""
    return [f"{_safe(item.path)}: {_safe(item.reason)}\n" for item in result.not_reviewed]


def _finding_lines(result: ReviewResult, sources: Mapping[str, str], paint: Paint) -> list[str]:
    parts: list[str] = []
    for path, group in groupby(result.findings, key=lambda f: f.path):
        findings = list(group)
        count = f"({plural(len(findings), 'finding')})"
        parts.append(f"{paint(_safe(path), 'bold underline')} {paint(count, 'dim')}\n")
        lines = sources.get(path, "").splitlines()
        for finding in findings:
            parts.append(_headline(finding, paint))
            for number in _excerpt_lines(finding, len(lines)):
                parts.append(f"{paint(f'{number:>8} │', 'dim')} {_safe(lines[number - 1].rstrip().expandtabs())}\n")
            if finding.fix is not None:
                parts.append(f"         {paint('fix:', 'green')} {_safe(finding.fix.description)}\n")
        parts.append("\n")
    return parts


def _headline(finding: Finding, paint: Paint) -> str:
    origin = " " + paint(f"(model, confidence {finding.confidence:.2f})", "magenta") if finding.source != "static" else ""
    fixable = f" {FIXABLE_MARK}" if finding.fixable else ""
    severity = paint(f"{finding.severity.value:<8}", SEVERITY_STYLE[finding.severity])
    return (f"  {finding.line}:{finding.column} {severity} {paint(finding.rule, 'bold')}{fixable} "
            f"{_safe(finding.message)}{origin}\n")


def _excerpt_lines(finding: Finding, available: int) -> range:
    last = min(max(finding.end_line or finding.line, finding.line), finding.line + MAX_EXCERPT_LINES - 1, available)
    return range(finding.line, last + 1) if 0 < finding.line <= available else range(0)


def _summary_lines(result: ReviewResult, paint: Paint) -> list[str]:
    """The summary line (in the colour of the worst severity), and how many findings --fix can fix."""
    text = summary_line(result)
    if not result.findings:
        lines = [paint(text, "yellow" if result.not_reviewed else "green") + "\n"]
    else:
        worst = max((f.severity for f in result.findings), key=lambda s: s.rank)
        lines = [paint(text, SEVERITY_STYLE[worst]) + "\n"]
    fixable = sum(1 for f in result.findings if f.fixable)
    if fixable:
        lines.append(f"{FIXABLE_MARK} {fixable} fixable with fba review --fix\n")
    return lines

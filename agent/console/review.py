"""Text output of a review: each finding as `path:line:col: severity RULE message` (as ruff and
compilers print them, so editors and terminals open the place), the message wrapped with a hanging
indent at the terminal's width, then the code it is about; files apart by a blank line; then a
one-line summary."""

from __future__ import annotations

import textwrap
from itertools import groupby
from typing import Callable, Collection, Iterable, Mapping

from agent.console import Terminal
from agent.report.common import FIXABLE_MARK, summary_line
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
    parts = _finding_lines(result, sources or {}, paint, term.out.width)
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
    parts = _finding_lines(result, sources or {}, _plain, None)
    parts += [f"not fully analysed: {_safe(skipped.path)}: {_safe(skipped.reason)}\n" for skipped in result.skipped]
    parts += _not_reviewed_lines(result)
    parts += _summary_lines(result, _plain)
    return "".join(parts)


# The report is built as text and written once: printing each line through rich (markup
# parsing, measuring, segments) took five times as long as the JSON report on 2,000+ findings.
Paint = Callable[[str, str], str]
Segments = list[tuple[str, str]]  # (text, style); "" is no style
HANGING_INDENT = 4


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


def _finding_lines(result: ReviewResult, sources: Mapping[str, str], paint: Paint, width: int | None) -> list[str]:
    """Each finding leads with `path:line:col:` (what editors and terminals open), wrapped at `width`
    (None: never) with a hanging indent; then the code it is about. Files apart by a blank line."""
    parts: list[str] = []
    for path, group in groupby(result.findings, key=lambda f: f.path):
        lines = sources.get(path, "").splitlines()
        for finding in group:
            parts += _wrapped(_headline(finding), paint, width)
            for number in _excerpt_lines(finding, len(lines)):
                parts.append(_excerpt(number, lines[number - 1], paint, width))
            if finding.fix is not None:
                fix = [(" " * HANGING_INDENT, ""), ("fix:", "green"), (" " + _safe(finding.fix.description), "")]
                parts += _wrapped(fix, paint, width)
        parts.append("\n")
    return parts


def _headline(finding: Finding) -> Segments:
    segments = [(f"{_safe(finding.path)}:{finding.line}:{finding.column}:", "bold"), (" ", ""),
                (finding.severity.value, SEVERITY_STYLE[finding.severity]), (" ", ""), (finding.rule, "bold")]
    if finding.fixable:
        segments.append((f" {FIXABLE_MARK}", ""))
    segments.append((f" {_safe(finding.message)}", ""))
    if finding.source != "static":
        segments.append((f" (model, confidence {finding.confidence:.2f})", "magenta"))
    return segments


def _wrapped(segments: Segments, paint: Paint, width: int | None) -> list[str]:
    """The segments as lines of at most `width` columns, broken between words, lines after the first
    indented by HANGING_INDENT; each piece keeps its segment's style."""
    plain = "".join(text for text, _ in segments)
    return [(" " * HANGING_INDENT if indented else "") + _painted(segments, start, end, paint) + "\n"
            for start, end, indented in _line_spans(plain, width)]


def _line_spans(plain: str, width: int | None) -> list[tuple[int, int, bool]]:
    """(start, end, indented) of each wrapped line in `plain`."""
    whole = [(0, len(plain), False)]
    if width is None or len(plain) <= width:
        return whole
    wrapped = textwrap.wrap(plain, width=max(width, HANGING_INDENT + 20), subsequent_indent=" " * HANGING_INDENT,
                            break_long_words=False, break_on_hyphens=False, replace_whitespace=False)
    spans, cursor = [], 0
    for number, line in enumerate(wrapped):
        content = line[HANGING_INDENT:] if number else line
        start = plain.find(content, cursor)
        if start < 0:  # textwrap changed the text (tabs): show it unwrapped
            return whole
        cursor = start + len(content)
        spans.append((start, cursor, number > 0))
    return spans or whole


def _painted(segments: Segments, start: int, end: int, paint: Paint) -> str:
    pieces, offset = [], 0
    for text, style in segments:
        low, high = max(start, offset), min(end, offset + len(text))
        if low < high:
            piece = text[low - offset:high - offset]
            pieces.append(paint(piece, style) if style else piece)
        offset += len(text)
    return "".join(pieces)


def _excerpt(number: int, code: str, paint: Paint, width: int | None) -> str:
    """A code line under its finding, cut (not wrapped) at `width`."""
    gutter = f"{number:>8} │"
    code = _safe(code.rstrip().expandtabs())
    room = None if width is None else width - len(gutter) - 1
    if room is not None and len(code) > room:
        code = code[:max(room - 1, 0)] + "…"
    return f"{paint(gutter, 'dim')} {code}\n"


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

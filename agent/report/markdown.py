"""A Markdown report for pull-request comments: severity table, findings by file, rule index."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from agent.report.common import rule_catalog, summary_line
from agent.textformats import printable
from agent.types import Finding, ReviewResult, Severity

HEADING = "## fba review"


def _cell(text: str) -> str:
    """Text safe inside a table cell: one line, pipes escaped, no HTML, no control characters."""
    return " ".join(printable(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _finding_row(finding: Finding) -> str:
    origin = f" _(model, confidence {finding.confidence:.2f})_" if finding.source != "static" else ""
    return (f"| {finding.line} | {finding.severity.value} | `{finding.rule}` | "
            f"{_cell(finding.message)}{origin} |")


def render_markdown(result: ReviewResult) -> str:
    lines = [HEADING, "", f"**{summary_line(result)}**", ""]
    counts = Counter(f.severity for f in result.findings)
    lines += ["| severity | findings |", "|---|---:|"]
    lines += [f"| {s.value} | {counts[s]} |" for s in Severity]
    lines.append("")
    for path, group in groupby(result.findings, key=lambda f: f.path):
        lines += [f"### `{_cell(path)}`", "", "| line | severity | rule | message |", "|---:|---|---|---|"]
        lines += [_finding_row(f) for f in group]
        lines.append("")
    if result.skipped:
        lines += ["### Not fully analysed", ""]
        lines += [f"- `{_cell(s.path)}`: {_cell(s.reason)}" for s in result.skipped]
        lines.append("")
    if result.not_reviewed:
        lines += ["### Not reviewed by the model", ""]
        lines += [f"- `{_cell(s.path)}`: {_cell(s.reason)}" for s in result.not_reviewed]
        lines.append("")
    used = sorted({f.rule for f in result.findings})
    if used:
        catalog = rule_catalog(result.findings)
        lines += ["### Rules", ""]
        lines += [
            f"- `{code}` {catalog[code].name}: {_cell(catalog[code].title)}"
            + (f" (details: `fba rules {code}`)" if catalog[code].static else "")
            for code in used
        ]
        lines.append("")
    return "\n".join(lines)

"""GitHub Actions workflow commands: one `::error|warning|notice ...::message` line per finding.

GitHub shows them as annotations on the pull request's diff. Values are escaped as the runner
expects: `%`, CR and LF everywhere, plus `:` and `,` inside `key=value` properties. Other control
characters (terminal escapes in a model's message) are shown as visible escapes: CI logs render them.
"""

from __future__ import annotations

from agent.report.common import RepositoryBase, summary_line
from agent.textformats import printable
from agent.types import Finding, ReviewResult, Severity

COMMANDS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
    Severity.INFO: "notice",
}


def escape_data(text: str) -> str:
    """Escape a command's message (after the `::`); other control characters are made visible."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    """Escape a `key=value` property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    title = f"{finding.rule} {finding.title}".strip() if finding.title else f"{finding.rule} {finding.category}"
    if finding.source != "static":
        title += f" (model, confidence {finding.confidence:.2f})"
    properties = {
        "file": finding.path,
        "line": str(finding.line),
        "endLine": str(max(finding.end_line or finding.line, finding.line)),
        "col": str(max(finding.column, 1)),
        "title": title,
    }
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{COMMANDS[finding.severity]} {props}::{escape_data(finding.message)}"


def render_github(result: ReviewResult, base: RepositoryBase | None = None) -> str:
    """One annotation per finding and per file not fully analysed, paths relative to `base`."""
    if base is not None:
        result, _ = base.rebase(result, None)
    lines = [annotation(f) for f in result.findings]
    lines += [
        f"::warning file={escape_property(s.path)},title=fba could not fully analyse this file::{escape_data(s.reason)}"
        for s in result.skipped
    ]
    lines += [
        f"::warning file={escape_property(s.path)},title=fba model pass did not review this file::{escape_data(s.reason)}"
        for s in result.not_reviewed
    ]
    lines.append(f"fba: {summary_line(result)}")
    return "\n".join(lines) + "\n"

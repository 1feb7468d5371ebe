"""Helpers shared by the report formats: the one-line summary, rule metadata, line text."""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import Mapping

from agent.types import Finding, ReviewResult, Severity

# Categories whose findings are security problems (SARIF `security` tag and security-severity).
SECURITY_CATEGORIES = frozenset({
    "auth-missing", "ownership", "client-identity", "jwt", "secrets", "injection", "error-leak",
    "rate-limit", "validation", "cors", "password-storage",
})


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(result: ReviewResult) -> str:
    """`3 findings (1 high, 2 medium) in 12 files, 1 suppressed, 1 file not reviewed by the model`."""
    counts = Counter(f.severity for f in result.findings)
    parts = [f"{counts[s]} {s.value}" for s in Severity if counts[s]]
    detail = f" ({', '.join(parts)})" if parts else ""
    extra = f", {result.suppressed} suppressed" if result.suppressed else ""
    skipped = f", {plural(len(result.skipped), 'file')} not fully analysed" if result.skipped else ""
    unreviewed = f", {plural(len(result.not_reviewed), 'file')} not reviewed by the model" if result.not_reviewed else ""
    return f"{plural(len(result.findings), 'finding')}{detail} in {plural(result.files, 'file')}{extra}{skipped}{unreviewed}"


@dataclass(frozen=True)
class RuleInfo:
    """What the reports say about a rule: static rules from their class, others from a finding."""

    code: str
    name: str
    category: str
    severity: Severity
    title: str
    doc: str = ""
    static: bool = True

    @property
    def summary(self) -> str:
        return self.doc.partition("\n")[0].strip() or self.title or self.name


def rule_catalog(findings: tuple[Finding, ...] | list[Finding] = ()) -> dict[str, RuleInfo]:
    """Every static rule by code, plus an entry for any other rule id a finding uses (model findings)."""
    from agent.analysis.rules import all_rules

    catalog = {
        r.code: RuleInfo(r.code, r.name, r.category, r.severity, r.title, _dedent_doc(r.doc()))
        for r in all_rules()
    }
    for f in findings:
        if f.rule not in catalog:
            catalog[f.rule] = RuleInfo(f.rule, f.category, f.category, f.severity, f.title or f.category, static=False)
    return catalog


def _dedent_doc(doc: str) -> str:
    first, _, rest = doc.partition("\n")
    return (first + "\n" + textwrap.dedent(rest)).strip()


def line_text(sources: Mapping[str, str] | None, path: str, line: int) -> str | None:
    """The text of a 1-based line of `path`, or None when the source is not at hand."""
    lines = (sources or {}).get(path)
    if lines is None:
        return None
    split = lines.splitlines()
    return split[line - 1] if 0 < line <= len(split) else None

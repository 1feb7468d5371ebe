"""Helpers shared by the report formats: the one-line summary, rule metadata, line text."""

from __future__ import annotations

import posixpath
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from agent.types import Finding, ReviewResult, Severity

# Categories whose findings are security problems (SARIF `security` tag and security-severity).
SECURITY_CATEGORIES = frozenset({
    "auth-missing", "ownership", "client-identity", "jwt", "secrets", "injection", "error-leak",
    "rate-limit", "validation", "cors", "password-storage",
})
FIXABLE_MARK = "[*]"  # beside a fixable finding or rule, as ruff marks them
RULE_DOCS = "docs/rules"  # one reference page per static rule, written by scripts/gen_rule_docs.py
_DOC_HEADING = re.compile(r"^\*\*(?P<title>[^*]+)\*\*[ \t]*$")


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
class RepositoryBase:
    """Where the repository root is, for the formats GitHub reads (SARIF, workflow annotations):
    their paths are relative to the root wherever fba was started, the others' to the current
    folder. `cwd` is the current folder relative to `root` (POSIX, "" at the root)."""

    root: Path
    cwd: str = ""

    def path(self, shown: str) -> str:
        """A path relative to the current folder, made relative to the root."""
        return posixpath.normpath(posixpath.join(self.cwd, shown)) if self.cwd else shown

    def rebase(self, result: ReviewResult, sources: Mapping[str, str] | None) -> tuple[ReviewResult, dict[str, str]]:
        """The result and the sources with every path relative to the root."""
        rebased = {self.path(path): text for path, text in (sources or {}).items()}
        if not self.cwd:
            return result, rebased
        return replace(
            result,
            findings=tuple(f.with_(path=self.path(f.path)) for f in result.findings),
            skipped=tuple(replace(s, path=self.path(s.path)) for s in result.skipped),
        ), rebased


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
    fixable: bool = False
    preview: bool = False  # not in the default rule set yet (runs with --preview)

    @property
    def summary(self) -> str:
        return self.doc.partition("\n")[0].strip() or self.title or self.name

    @property
    def doc_path(self) -> str | None:
        """The rule's reference page (static rules only), see `rule_doc_path`."""
        return rule_doc_path(self.code) if self.static else None


def rule_doc_path(code: str) -> str:
    """Where a static rule's reference page is, relative to the root of fba's repository:
    `docs/rules/FBA102.md` (what `fba rules` shows and the README links)."""
    return f"{RULE_DOCS}/{code}.md"


def rule_help_uri(code: str) -> str:
    """The rule's reference page as an absolute `file:` URI, in the fba that is running (the wheel
    ships the pages). SARIF's `helpUri` must be an absolute URI, and fba has no published
    documentation site to point at."""
    from agent.personas import data_dir

    return (data_dir(RULE_DOCS) / f"{code}.md").resolve().as_uri()


def rule_catalog(findings: tuple[Finding, ...] | list[Finding] = ()) -> dict[str, RuleInfo]:
    """Every static rule by code, plus an entry for any other rule id a finding uses (model findings)."""
    from agent.analysis.rules import all_rules

    catalog = {
        r.code: RuleInfo(r.code, r.name, r.category, r.severity, r.title, _dedent_doc(r.doc()), fixable=r.fixable,
                         preview=r.preview)
        for r in all_rules()
    }
    for f in findings:
        if f.rule not in catalog:
            catalog[f.rule] = RuleInfo(f.rule, f.category, f.category, f.severity, f.title or f.category, static=False)
    return catalog


def _dedent_doc(doc: str) -> str:
    first, _, rest = doc.partition("\n")
    return (first + "\n" + textwrap.dedent(rest)).strip()


def rule_page(rule: RuleInfo, markdown: bool) -> str:
    """`fba rules CODE`: the rule's documentation as Markdown (for a terminal) or plain text
    (piped), with each section heading on a line of its own."""
    facts = [f"category: {rule.category}", f"severity: {rule.severity.value}"]
    if rule.fixable:
        facts.append(f"fixable {FIXABLE_MARK}: fba review --fix")
    if rule.preview:
        facts.append("preview: runs with --preview")
    if rule.doc_path:
        facts.append(f"reference: {rule.doc_path} in fba's repository")
    if markdown:
        return f"# {rule.code} {rule.name}\n\n{' · '.join(facts)}\n\n{doc_markdown(rule.doc)}\n"
    lines, fenced = [], False
    for line in rule.doc.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(f"    {line}".rstrip())
        else:
            heading = _DOC_HEADING.match(line)
            lines.append(heading["title"] if heading else line)
    return f"{rule.code} {rule.name}\n{' · '.join(facts)}\n\n" + "\n".join(lines) + "\n"


def doc_markdown(doc: str) -> str:
    """A rule docstring as Markdown: each `**Section**` line becomes a `## Section` heading."""
    return "\n".join(f"## {heading['title']}\n" if (heading := _DOC_HEADING.match(line)) else line
                     for line in doc.splitlines())


def line_text(sources: Mapping[str, str] | None, path: str, line: int) -> str | None:
    """The text of a 1-based line of `path`, or None when the source is not at hand."""
    lines = (sources or {}).get(path)
    if lines is None:
        return None
    split = lines.splitlines()
    return split[line - 1] if 0 < line <= len(split) else None

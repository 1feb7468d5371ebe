"""Per-file work of a review, the same in the main process and in parallel workers.

A review has two passes: facts (parse + extract, per file, independent) and findings (the enabled
rules over each file with the whole project's index). An `Analyzer` keeps the parse trees of the
first pass so the second does not parse again. Everything it takes and returns is plain,
picklable and cacheable data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Mapping, Sequence

from agent.analysis.facts import FileFacts, RuntimeRoute, extract_facts
from agent.analysis.index import ProjectIndex
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.source import parse_python
from agent.analysis.suppressions import MODEL_RULE_PREFIX, is_suppressed, suppressions, unknown_codes
from agent.analysis.walk import TreeWalk
from agent.errors import InputError
from agent.types import CATEGORIES, Finding, Severity


@dataclass(frozen=True)
class SourceFile:
    """One file to review: display path, dotted module name, text and a hash of the text."""

    path: str
    module: str
    text: str
    digest: str


@dataclass(frozen=True)
class FactsEntry:
    """The facts pass of one file: its facts, or why it could not be parsed."""

    facts: FileFacts | None
    notes: tuple[str, ...] = ()
    partial: bool = False
    error: str | None = None


@dataclass(frozen=True)
class FindingsEntry:
    """The rules pass of one file: findings (severity overrides applied), suppressed lines and
    the (line, code) of suppression codes that name no rule or category."""

    findings: tuple[Finding, ...] = ()
    suppressed_lines: tuple[int, ...] = ()
    unknown_suppressions: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class IndexInputs:
    """What the project index is built from: each parsed file's facts (path order) and the settings.

    Worker processes build the index from these themselves: the facts they computed are already
    theirs, the others arrive as the bytes their worker sent, and building costs less than
    pickling the built index in the main process and unpickling it in every worker.
    """

    facts: tuple[FileFacts, ...]
    auth_dependencies: tuple[str, ...] = ()
    public_routes: tuple[str, ...] = ()
    runtime: tuple[RuntimeRoute, ...] = ()  # FastAPI's own route table (`--app`)

    def build(self) -> ProjectIndex:
        return ProjectIndex.build(self.facts, self.auth_dependencies, self.public_routes, self.runtime)


class Analyzer:
    """Runs both passes file by file; keeps each file's tree walk from the facts pass for the
    findings pass (one traversal per file for the whole review)."""

    def __init__(self) -> None:
        self._walks: dict[str, TreeWalk] = {}
        self._facts: dict[str, FileFacts] = {}  # the facts this analyzer computed, by path
        self._index: ProjectIndex | None = None
        self._rules: Sequence[Rule] = ()
        self._severity: Mapping[str, str] = {}

    def facts(self, source: SourceFile) -> FactsEntry:
        try:
            parsed = parse_python(source.text, source.path)
        except InputError as exc:
            return FactsEntry(None, error=str(exc))
        walk = self._walks[source.path] = TreeWalk(parsed.tree)
        facts = self._facts[source.path] = extract_facts(parsed.tree, source.path, source.module, walk)
        return FactsEntry(facts, parsed.notes, parsed.partial)

    def prepare(self, index: ProjectIndex, rules: Sequence[Rule], severity: Mapping[str, str]) -> None:
        """Set what the findings pass needs: the project index, enabled rules, severity overrides."""
        self._index, self._rules, self._severity = index, rules, severity

    def prepare_from_facts(
        self,
        paths: Sequence[str],
        others: Mapping[str, FileFacts],
        settings: tuple[tuple[str, ...], tuple[str, ...], tuple[RuntimeRoute, ...]],
        rules: Sequence[Rule],
        severity: Mapping[str, str],
    ) -> None:
        """`prepare` with an index built here: the facts of `paths` (path order) are this
        analyzer's own or in `others`; `settings` are (auth dependencies, public routes, runtime routes)."""
        facts = tuple(self._facts[path] if path in self._facts else others[path] for path in paths)
        self.prepare(IndexInputs(facts, *settings).build(), rules, severity)

    def findings(self, source: SourceFile) -> FindingsEntry:
        if self._index is None:
            raise RuntimeError("Analyzer.prepare() must run before findings()")
        # Kept, not popped: freeing a tree node by node costs as much as a cheap rule, and a
        # worker process exits without freeing anything (see `parallel._serve`).
        walk = self._walks.get(source.path)
        tree = walk.tree if walk is not None else parse_python(source.text, source.path).tree
        ctx = FileContext(source.path, source.text, tree, self._index, walk)
        table = suppressions(source.text)
        findings: list[Finding] = []
        suppressed: list[int] = []
        for rule in self._rules:
            for finding in rule.check(ctx):
                if is_suppressed(table, finding.line, finding.rule, finding.category):
                    suppressed.append(finding.line)
                else:
                    findings.append(apply_severity(finding, self._severity))
        findings.sort(key=Finding.sort_key)
        return FindingsEntry(tuple(findings), tuple(suppressed), unknown_codes(table, suppression_codes()))

    def release(self) -> None:
        """Drop the trees (the findings pass keeps them) and the facts."""
        self._walks.clear()
        self._facts.clear()


@cache
def suppression_codes() -> frozenset[str]:
    """What `# fba: ignore[...]` may name: every rule code, category and model rule id."""
    from agent.analysis.rules import all_rules

    categories = {c.upper() for c in CATEGORIES}
    return frozenset({r.code for r in all_rules()} | categories | {MODEL_RULE_PREFIX + c for c in categories})


def apply_severity(finding: Finding, overrides: Mapping[str, str]) -> Finding:
    override = overrides.get(finding.rule) or overrides.get(finding.category.upper())
    return finding.with_(severity=Severity.parse(override)) if override else finding

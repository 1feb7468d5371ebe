"""`fba eval review`: measure the review on labelled cases, offline (static) or with a model.

    cases = load_cases(Path("tests/data/eval_cases"))
    report = evaluate(cases, "static", config)           # or "llm" / "both" with a model pass
    report.to_dict()                                      # recall and precision per category

A case is a folder with Python files and an `expected.json`: a list of the problems a good review
reports, `{"path", "category", "line_start", "line_end"}` (paths relative to the case folder). The
folder given may be one case or hold one case per sub-folder.

A finding matches a label when path and category are equal and its lines overlap the label's.
Recall per category = labels matched / labels; precision = findings that match a label /
findings. Modes: `static` scores the static engine; `llm` the model alone (it is not shown the
static findings, and only its findings are scored); `both` the merged review as `fba review`
produces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from agent.analysis.discovery import collect_files
from agent.analysis.runner import ReviewOptions, review_sources
from agent.analysis.source import decode_source
from agent.errors import InputError, UsageError
from agent.types import CATEGORIES, Finding

MODES = ("static", "llm", "both")
EXPECTED_FILE = "expected.json"


@dataclass(frozen=True)
class Label:
    """A problem a review should report."""

    path: str
    category: str
    line_start: int
    line_end: int

    def matches(self, finding: Finding) -> bool:
        end = finding.end_line or finding.line
        return (finding.path == self.path and finding.category == self.category
                and finding.line <= self.line_end and self.line_start <= end)


@dataclass(frozen=True)
class Case:
    """One labelled project: its folder, sources (relative path -> text) and labels."""

    name: str
    root: Path
    sources: Mapping[str, str]
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class Score:
    """Counts of one category (or of all): labels, labels found, findings, findings that match."""

    labels: int = 0
    found_labels: int = 0
    findings: int = 0
    true_findings: int = 0

    def __add__(self, other: "Score") -> "Score":
        return Score(self.labels + other.labels, self.found_labels + other.found_labels,
                     self.findings + other.findings, self.true_findings + other.true_findings)

    @property
    def recall(self) -> float | None:
        return self.found_labels / self.labels if self.labels else None

    @property
    def precision(self) -> float | None:
        return self.true_findings / self.findings if self.findings else None

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "found_labels": self.found_labels, "findings": self.findings,
                "true_findings": self.true_findings,
                "recall": None if self.recall is None else round(self.recall, 3),
                "precision": None if self.precision is None else round(self.precision, 3)}


@dataclass(frozen=True)
class EvalReport:
    mode: str
    cases: tuple[str, ...]
    by_category: Mapping[str, Score]
    missed: tuple[str, ...] = ()  # labels no finding matched, `case:path:line category`
    extra: tuple[str, ...] = ()  # findings that match no label

    @property
    def total(self) -> Score:
        return sum(self.by_category.values(), Score())

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "cases": list(self.cases),
                "categories": {c: s.to_dict() for c, s in sorted(self.by_category.items())},
                "total": self.total.to_dict(), "missed": list(self.missed), "extra": list(self.extra)}


def load_cases(folder: Path) -> list[Case]:
    """The case in `folder`, or one case per sub-folder with an `expected.json`."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder of eval cases")
    if (folder / EXPECTED_FILE).is_file():
        return [load_case(folder)]
    cases = [load_case(sub) for sub in sorted(folder.iterdir()) if (sub / EXPECTED_FILE).is_file()]
    if not cases:
        raise UsageError(f"{folder}: no eval cases (folders with an {EXPECTED_FILE})")
    return cases


def load_case(root: Path) -> Case:
    root = root.resolve()  # the files found under it are absolute
    try:
        raw = json.loads((root / EXPECTED_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{root / EXPECTED_FILE}: cannot read the labels: {exc}") from None
    labels = tuple(_label(item, root) for item in (raw if isinstance(raw, list) else [None]))
    sources = {}
    for file in collect_files([root], root):
        relative = file.relative_to(root).as_posix()
        sources[relative] = decode_source(file.read_bytes(), relative)
    return Case(root.name, root, sources, labels)


def _label(item: Any, root: Path) -> Label:
    where = f"{root / EXPECTED_FILE}"
    if not isinstance(item, dict) or not {"path", "category", "line_start"} <= set(item):
        raise InputError(f"{where}: expected a list of {{path, category, line_start, line_end}} objects")
    if item["category"] not in CATEGORIES:
        raise InputError(f"{where}: unknown category '{item['category']}'")
    start = int(item["line_start"])
    return Label(str(item["path"]), str(item["category"]), start, int(item.get("line_end", start)))


def score(labels: Sequence[Label], findings: Sequence[Finding]) -> dict[str, Score]:
    """Per-category counts of one case."""
    scores: dict[str, Score] = {}
    for label in labels:
        found = any(label.matches(f) for f in findings)
        scores[label.category] = scores.get(label.category, Score()) + Score(1, int(found), 0, 0)
    for finding in findings:
        true = any(label.matches(finding) for label in labels)
        scores[finding.category] = scores.get(finding.category, Score()) + Score(0, 0, 1, int(true))
    return scores


ModelReview = Callable[[Case, Sequence[Finding], bool], tuple[Sequence[Finding], Sequence[Finding]]]
"""(case, static findings, static context?) -> (model findings, merged findings)."""


def evaluate(cases: Sequence[Case], mode: str, options: ReviewOptions,
             model_review: ModelReview | None = None) -> EvalReport:
    """Run the review in `mode` on every case and score it; `model_review` runs the model pass."""
    if mode not in MODES:
        raise UsageError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    if mode != "static" and model_review is None:
        raise UsageError(f"--mode {mode} needs the model")
    totals: dict[str, Score] = {}
    missed: list[str] = []
    extra: list[str] = []
    for case in cases:
        static = list(review_sources(case.sources, options).findings)
        findings = static
        if mode != "static":
            model, merged = model_review(case, static, mode == "both")
            findings = list(model) if mode == "llm" else list(merged)
        for category, counts in score(case.labels, findings).items():
            totals[category] = totals.get(category, Score()) + counts
        missed += [f"{case.name}:{l.path}:{l.line_start} {l.category}" for l in case.labels
                   if not any(l.matches(f) for f in findings)]
        extra += [f"{case.name}:{f.path}:{f.line} {f.category} ({f.rule})" for f in findings
                  if not any(l.matches(f) for l in case.labels)]
    return EvalReport(mode, tuple(c.name for c in cases), totals, tuple(missed), tuple(extra))


def render_text(report: EvalReport) -> list[list[str]]:
    """Table rows: category, labels, found, findings, recall, precision; the total last."""
    def row(name: str, s: Score) -> list[str]:
        return [name, str(s.labels), str(s.found_labels), str(s.findings), _percent(s.recall), _percent(s.precision)]

    return [*(row(c, s) for c, s in sorted(report.by_category.items())), row("total", report.total)]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"

"""Validation of a change set before anything is written: paths, syntax, what the static engine
thinks of the result compared with the previous state, and the guarded changes in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from agent.analysis.runner import ReviewOptions, review_sources
from agent.analysis.source import parse_python
from agent.edits.guards import Guard, guarded_changes
from agent.edits.paths import repo_path
from agent.errors import ChangeError, InputError
from agent.types import ChangeSet, Finding


@dataclass(frozen=True)
class Validation:
    """Static findings the change introduces (`new`) and removes (`resolved`), and its guarded
    changes (`agent.edits.guards`: never applied by `--yes` alone)."""

    new: tuple[Finding, ...] = ()
    resolved: tuple[Finding, ...] = ()
    guarded: tuple[Guard, ...] = ()


def validate_changeset(changeset: ChangeSet, root: Path, options: ReviewOptions = ReviewOptions(),
                       context: Mapping[str, str] | None = None) -> Validation:
    """Raise ChangeError for a path outside the repo or a Python file that does not parse;
    otherwise return the findings the change adds and removes (the caller decides what to do).

    `context` (path -> text) holds the project's other Python files: they feed the index (auth
    dependencies and models defined elsewhere) but are not reported."""
    for change in changeset.files:
        if repo_path(root, change.path) != change.path:
            raise ChangeError(f"{change.path}: not a normalised repository path")
    python = [c for c in changeset.files if c.path.endswith(".py")]
    for change in python:
        _check_parses(change.path, change.before, change.after)
    others = {p: t for p, t in (context or {}).items() if p not in {c.path for c in python}}
    old = {c.path: c.before for c in python if c.before is not None}
    new = {c.path: c.after for c in python if c.after is not None}
    before = review_sources({**others, **old}, options, jobs=1, report=dict.fromkeys(old))
    after = review_sources({**others, **new}, options, jobs=1, report=dict.fromkeys(new))
    old_sources = {c.path: c.before or "" for c in python}
    new_sources = {c.path: c.after or "" for c in python}
    return Validation(
        new=_difference(after.findings, new_sources, before.findings, old_sources),
        resolved=_difference(before.findings, old_sources, after.findings, new_sources),
        guarded=guarded_changes(changeset),
    )


def _check_parses(path: str, before: str | None, after: str | None) -> None:
    if after is None:
        return
    try:
        parsed = parse_python(after, path)
    except InputError as exc:
        raise ChangeError(f"the change leaves a Python file that does not parse: {exc}") from None
    # The engine tolerates unparsable lines by blanking them; a change must not add such lines.
    if parsed.partial and not (before is not None and _partial(before, path)):
        raise ChangeError(f"the change leaves a Python file that does not parse: {path}: {'; '.join(parsed.notes)}")


def _partial(text: str, path: str) -> bool:
    try:
        return parse_python(text, path).partial
    except InputError:
        return True


def _difference(findings, sources, baseline, baseline_sources) -> tuple[Finding, ...]:
    """Findings with no counterpart in `baseline`. Line numbers shift when code is added above, so
    findings are paired by rule, file and the text of the flagged line, then (for a flagged line
    the change edited) by rule, file and message."""
    left, pool = list(findings), list(baseline)
    for key in (_line_key, _message_key):
        buckets: dict[tuple, list[Finding]] = {}
        for finding in pool:
            buckets.setdefault(key(finding, baseline_sources), []).append(finding)
        unmatched = []
        for finding in left:
            bucket = buckets.get(key(finding, sources))
            if bucket:
                pool.remove(bucket.pop())
            else:
                unmatched.append(finding)
        left = unmatched
    return tuple(left)


def _line_key(finding: Finding, sources: dict[str, str]) -> tuple[str, str, str]:
    lines = sources.get(finding.path, "").splitlines()
    text = lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""
    return finding.rule, finding.path, text


def _message_key(finding: Finding, sources: dict[str, str]) -> tuple[str, str, str]:
    return finding.rule, finding.path, finding.message

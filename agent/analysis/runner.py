"""Run the static engine: collect files, parse, build the index, run the enabled rules.

`review_sources` is the pure core (text in, findings out); `review_paths` adds the disk edge.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from agent.analysis.facts import extract_facts, module_name
from agent.analysis.index import ProjectIndex
from agent.analysis.rules import all_rules
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.source import ParsedFile, decode_source, parse_python
from agent.analysis.suppressions import is_suppressed, suppressions
from agent.errors import InputError, UsageError
from agent.types import Finding, ReviewResult, Severity, Skipped

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "node_modules", "site-packages",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".fba_cache", "build", "dist",
})


@dataclass(frozen=True)
class ReviewOptions:
    """What a static review needs from the configuration."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)
    public_routes: tuple[str, ...] = ()
    auth_dependencies: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config) -> "ReviewOptions":
        return cls(
            select=tuple(config["select"]),
            ignore=tuple(config["ignore"]),
            severity=dict(config["severity"]),
            public_routes=tuple(config["public-routes"]),
            auth_dependencies=tuple(config["auth-dependencies"]),
            exclude=tuple(config["exclude"]),
        )


def _matches(rule: type[Rule], selectors: Iterable[str]) -> bool:
    for selector in selectors:
        s = selector.strip()
        if s.upper() == "ALL" or rule.category == s.lower() or rule.code.startswith(s.upper()):
            return True
    return False


def enabled_rules(options: ReviewOptions) -> list[Rule]:
    rules = [r for r in all_rules() if (not options.select or _matches(r, options.select))]
    return [r() for r in rules if not _matches(r, options.ignore)]


def check_selectors(options: ReviewOptions) -> None:
    """Unknown rule codes or categories in select/ignore/severity are usage errors."""
    from agent.types import CATEGORIES

    codes = {r.code for r in all_rules()}
    for selector in (*options.select, *options.ignore, *options.severity):
        s = selector.strip()
        if s.upper() == "ALL" or s.lower() in CATEGORIES or any(c.startswith(s.upper()) for c in codes):
            continue
        raise UsageError(f"unknown rule or category '{selector}' (see 'fba rules')")


@dataclass
class ParsedSource:
    path: str
    text: str
    parsed: ParsedFile


def parse_sources(sources: Mapping[str, str]) -> tuple[list[ParsedSource], list[Skipped]]:
    """Parse every source; returns (parsed files, files not or only partly analysed)."""
    parsed: list[ParsedSource] = []
    skipped: list[Skipped] = []
    for path, text in sources.items():
        try:
            result = parse_python(text, path)
        except InputError as exc:
            skipped.append(Skipped(path, str(exc)))
            continue
        parsed.append(ParsedSource(path, text, result))
        if result.partial:
            skipped.append(Skipped(path, "; ".join(result.notes)))
    return parsed, skipped


def review_sources(
    sources: Mapping[str, str],
    options: ReviewOptions = ReviewOptions(),
    modules: Mapping[str, str] | None = None,
) -> ReviewResult:
    """Review in-memory sources (path -> text). `modules` maps path -> dotted module name."""
    parsed, skipped = parse_sources(sources)
    modules = modules or {}
    facts = [extract_facts(p.parsed.tree, p.path, modules.get(p.path, module_name(p.path))) for p in parsed]
    index = ProjectIndex.build(facts, options.auth_dependencies, options.public_routes)
    rules = enabled_rules(options)
    findings: list[Finding] = []
    suppressed = 0
    for source in parsed:
        ctx = FileContext(source.path, source.text, source.parsed.tree, index)
        table = suppressions(source.text)
        for rule in rules:
            for finding in rule.check(ctx):
                if is_suppressed(table, finding.line, finding.rule, finding.category):
                    suppressed += 1
                    continue
                findings.append(_apply_severity(finding, options.severity))
    findings.sort(key=Finding.sort_key)
    return ReviewResult(tuple(findings), files=len(sources), skipped=tuple(skipped), suppressed=suppressed)


def _apply_severity(finding: Finding, overrides: Mapping[str, str]) -> Finding:
    override = overrides.get(finding.rule) or overrides.get(finding.category.upper())
    return finding.with_(severity=Severity.parse(override)) if override else finding


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.rstrip("/") + "/*") for p in patterns)


def collect_files(paths: Sequence[Path], root: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """Python files under `paths`; a missing path or a folder without Python is a UsageError.

    Explicitly named files are always kept; files found by walking honour `exclude` (globs
    relative to `root`) and skip virtualenvs, caches and hidden folders.
    """
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if path.is_file():
            found.append(path)
            continue
        before = len(found)
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(files):
                if name.endswith(".py"):
                    file = Path(folder) / name
                    if not _excluded(_relative(file, root), exclude):
                        found.append(file)
        if len(found) == before:
            raise UsageError(f"{path}: no Python files to review")
    return list(dict.fromkeys(found))


def _relative(path: Path, base: Path) -> str:
    absolute = path.resolve()
    try:
        return absolute.relative_to(base.resolve()).as_posix()
    except ValueError:
        return os.path.relpath(absolute, base.resolve()).replace(os.sep, "/")


def display_path(path: Path) -> str:
    """Paths in output are relative to the current directory (the JSON contract)."""
    return _relative(path, Path.cwd())


def read_sources(files: Sequence[Path], root: Path) -> tuple[dict[str, str], dict[str, str], list[Skipped]]:
    """Read files as text: (display path -> text, display path -> module, unreadable files)."""
    sources: dict[str, str] = {}
    modules: dict[str, str] = {}
    skipped: list[Skipped] = []
    for file in files:
        shown = display_path(file)
        try:
            sources[shown] = decode_source(file.read_bytes(), shown)
        except InputError as exc:
            skipped.append(Skipped(shown, str(exc)))
            continue
        except OSError as exc:
            skipped.append(Skipped(shown, f"{shown}: cannot read: {exc.strerror}"))
            continue
        modules[shown] = module_name(_relative(file, root))
    return sources, modules, skipped


def review_paths(paths: Sequence[Path], options: ReviewOptions, root: Path) -> ReviewResult:
    """Review files and folders on disk (the disk edge around `review_sources`)."""
    files = collect_files(paths, root, options.exclude)
    sources, modules, unreadable = read_sources(files, root)
    result = review_sources(sources, options, modules)
    return ReviewResult(
        result.findings,
        files=len(files),
        skipped=tuple(unreadable) + result.skipped,
        suppressed=result.suppressed,
    )

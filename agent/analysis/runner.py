"""Run the static engine: collect files, index the project, run the enabled rules.

`review_sources` is the core (text in, findings out); `review_paths` adds the disk edge. Both
passes (facts per file -> project index -> rules per file) run in parallel worker processes for
big inputs, read and fill an optional persistent cache, and can limit what is reported to some
files or lines (the named files, `--changed`, `--diff`) while the index covers the whole
project (the import roots of the named files).

With a cache a re-run does only what changed. A file whose stat signature is unchanged is not
read; an unchanged project is answered from the cache without importing the engine (analyzer,
facts, index and rules are imported only when something must be computed); an edit that leaves
a file's facts alone re-checks that file against the stored index; one that changes facts
rebuilds the index and re-checks the files whose cross-file fingerprint moved.

The parts live beside it: `selection` (which rules run), `discovery` (which files, their import
roots), `reading` (the files' texts from disk, unread where the cache vouches for them),
`memory` (what the cache remembers of a project), `passes` (this process or workers).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from agent.analysis.cache import ReviewCache, content_digest, digest
from agent.analysis.discovery import add_walked, collect, index_roots, python_files, relative_to
from agent.analysis.memory import ReviewMemory, Status
from agent.analysis.passes import Passes, Progress
from agent.analysis.reading import ReviewSource, disk_sources, module_name_of
from agent.analysis.selection import enabled_rules
from agent.types import Finding, ReviewResult, Skipped

if TYPE_CHECKING:
    from agent.analysis.analyzer import FactsEntry, IndexInputs, SourceFile
    from agent.analysis.index import ProjectIndex

@dataclass(frozen=True)
class ReviewOptions:
    """What a static review needs from the configuration."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)
    public_routes: tuple[str, ...] = ()
    auth_dependencies: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    preview: bool = False
    runtime: tuple = ()  # `RuntimeRoute`s of FastAPI's own route table (`review --app`)

    @classmethod
    def from_config(cls, config) -> "ReviewOptions":
        return cls(
            select=tuple(config["select"]),
            ignore=tuple(config["ignore"]),
            severity=dict(config["severity"]),
            public_routes=tuple(config["public-routes"]),
            auth_dependencies=tuple(config["auth-dependencies"]),
            exclude=tuple(config["exclude"]),
            preview=bool(config["preview"]),
        )


ReportScope = Mapping[str, "frozenset[int] | None"]


def source_files(sources: Mapping[str, str], modules: Mapping[str, str] | None = None) -> list[SourceFile]:
    """Sources (path -> text) as `SourceFile`s in path order, with module names and content hashes."""
    from agent.analysis.analyzer import SourceFile

    return [
        SourceFile(path, _module(path, modules), sources[path], digest(sources[path]))
        for path in sorted(sources)
    ]


def _module(path: str, modules: Mapping[str, str] | None) -> str:
    return modules[path] if modules and path in modules else module_name_of(path)


def build_index(
    sources: Mapping[str, str], auth_dependencies: Sequence[str] = (), public_routes: Sequence[str] = (),
    modules: Mapping[str, str] | None = None,
) -> ProjectIndex:
    """The project index of in-memory sources (path -> text; `modules`: path -> module name);
    files that do not parse are left out."""
    from agent.analysis.analyzer import Analyzer
    from agent.analysis.index import ProjectIndex

    analyzer = Analyzer()
    facts = [entry.facts for file in source_files(sources, modules) if (entry := analyzer.facts(file)).facts is not None]
    analyzer.release()
    return ProjectIndex.build(facts, auth_dependencies, public_routes)


def review_sources(
    sources: Mapping[str, str],
    options: ReviewOptions = ReviewOptions(),
    modules: Mapping[str, str] | None = None,
    *,
    cache: ReviewCache | None = None,
    jobs: int | None = None,
    report: ReportScope | None = None,
    progress: Progress | None = None,
) -> ReviewResult:
    """Review in-memory sources (path -> text). `modules` maps path -> dotted module name.

    Every source feeds the project index; `report` (path -> changed lines, or None for the whole
    file) limits which files are checked and which findings are kept. `jobs` caps the worker
    processes (default: all cores; small inputs run in this process). `cache` serves and stores
    facts, the index and findings.
    """
    with _gc_paused():
        memory = ReviewMemory(cache, options, os.getcwd()) if cache is not None else None
        files = [
            ReviewSource(path, _module(path, modules), digest(text) if memory is not None else "", text)
            for path, text in sorted(sources.items())
        ]
        return _review(files, options, memory, jobs, report, progress)


def _review(
    sources: list[ReviewSource],
    options: ReviewOptions,
    memory: ReviewMemory | None,
    jobs: int | None,
    report: ReportScope | None,
    progress: Progress | None,
) -> ReviewResult:
    reported = [s for s in sources if report is None or s.path in report]
    if not reported:
        return ReviewResult((), files=0)
    known = memory.unchanged(sources, reported) if memory is not None else None
    if known is not None:
        memory.remember_signatures(sources)
        return _result(reported, *known, report)
    with Passes(jobs, progress) as passes:
        run = _Run(sources, options, memory, passes)
        entries = run.findings(reported)
    if memory is not None:
        memory.save(run, entries)
    return _result(reported, run.statuses, entries, report)


def _status(entry: FactsEntry) -> Status:
    if entry.error is not None:
        return False, entry.error
    return True, "; ".join(entry.notes) if entry.partial else None


class _Run:
    """The computing path of a review: parse the files the cache cannot vouch for, then build
    (or load) the index and run the rules only where the cache has no findings."""

    def __init__(
        self, sources: list[ReviewSource], options: ReviewOptions, memory: ReviewMemory | None, passes: Passes
    ) -> None:
        self.sources, self.options, self.memory, self.passes = sources, options, memory, passes
        changed = [s for s in sources if memory is None or not memory.same(s)]
        self.parsed = passes.facts([s.source_file() for s in changed])
        self.statuses: dict[str, Status] = {
            s.path: _status(self.parsed[s.path]) if s.path in self.parsed else memory.status(s.path) for s in sources
        }
        self.facts_digests: dict[str, str] = {}
        self.identity = ""
        if memory is not None:
            self.facts_digests = {
                s.path: content_digest(self.parsed[s.path]) if s.path in self.parsed else memory.facts_digest(s.path)
                for s in sources
            }
            self.identity = memory.identity(self.facts_digests)
        self.fingerprints: dict[str, str] = {}
        self._index: ProjectIndex | None = None
        self._inputs: IndexInputs | None = None
        self.built_index = False

    def findings(self, reported: Sequence[ReviewSource]) -> dict[str, Any]:
        """Findings entries of the reported files that parsed: from the cache or computed."""
        checkable = [s for s in reported if self.statuses[s.path][0]]
        entries: dict[str, Any] = {}
        if self.memory is not None:
            self._fingerprint(checkable)
            for source in checkable:
                hit = self.memory.cached_findings(source, self.fingerprints[source.path])
                if hit is not None:
                    entries[source.path] = hit
        missing = [s for s in checkable if s.path not in entries]
        if missing:
            rules = enabled_rules(self.options)
            files = [s.source_file() for s in missing]
            entries.update(self.passes.findings(files, self.index_inputs, self.index, rules, self.options.severity))
        return entries

    def _fingerprint(self, checkable: Sequence[ReviewSource]) -> None:
        """Each file's cross-file fingerprint (`fingerprint_for` plus the project-wide `PerIndex`
        values), kept per project index: an edit that changes no file's facts (a comment, a fix
        inside a function that moves no definition) cannot change any fingerprint."""
        self.fingerprints = self.memory.fingerprints(self.identity)
        lacking = [s.path for s in checkable if s.path not in self.fingerprints]
        if not lacking:
            return
        from agent.analysis.rules import all_rules
        from agent.analysis.rules.base import PerIndex

        all_rules()  # every rule module registers its project-wide values when imported
        index = self.index()
        project = PerIndex.digest_all(index)
        self.fingerprints.update((path, digest(project, index.fingerprint_for(path))) for path in lacking)

    def index(self) -> ProjectIndex:
        if self._index is None:
            self._index = self._stored_index() or self._build_index()
        return self._index

    def _stored_index(self) -> ProjectIndex | None:
        stored = self.memory.load_index() if self.memory is not None else None
        return stored.index if stored is not None and stored.identity == self.identity else None

    def _build_index(self) -> ProjectIndex:
        self.built_index = True  # stored by `ReviewMemory.save`, once rules have added their project-wide values
        index = self.index_inputs().build()
        stored = self.memory.load_index() if self.memory is not None else None
        if stored is not None and stored.identity == self.memory.identity(stored.facts):  # same engine and settings
            changed = [path for path, facts in self.facts_digests.items() if stored.facts.get(path) != facts]
            index.carry_over(stored.index, changed)  # only what the changed facts reach is fingerprinted again
        return index

    def index_inputs(self) -> IndexInputs:
        """What the index is built from (workers build it themselves from this)."""
        if self._inputs is None:
            from agent.analysis.analyzer import IndexInputs

            facts = self._all_facts()
            # Path order, not completion order: the index (and so the output) must not depend on
            # which worker or cache answered first.
            parsed = tuple(facts[s.path] for s in self.sources if facts[s.path] is not None)
            self._inputs = IndexInputs(parsed, tuple(self.options.auth_dependencies), tuple(self.options.public_routes),
                                       tuple(self.options.runtime))
        return self._inputs

    def _all_facts(self) -> dict[str, Any]:
        """Every file's facts (None for a file that did not parse): parsed in this run, taken from
        the last stored index where the file's facts are unchanged, else parsed now."""
        stored = self.memory.load_index() if self.memory is not None else None
        facts: dict[str, Any] = {}
        unknown = []
        for source in self.sources:
            if source.path in self.parsed:
                facts[source.path] = self.parsed[source.path].facts
            elif stored is not None and stored.facts.get(source.path) == self.facts_digests[source.path]:
                facts[source.path] = stored.index.files.get(source.path)
            else:
                unknown.append(source)
        for path, entry in self.passes.facts([s.source_file() for s in unknown]).items():
            facts[path] = entry.facts
        return facts


def _result(
    reported: Sequence[ReviewSource],
    statuses: Mapping[str, Status],
    entries: Mapping[str, Any],
    report: ReportScope | None,
) -> ReviewResult:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    suppressed = 0
    warnings: list[str] = []
    for file in reported:
        reason = statuses[file.path][1]
        if reason is not None:
            skipped.append(Skipped(file.path, reason))
        entry = entries.get(file.path)
        if entry is None:
            continue
        lines = report.get(file.path) if report is not None else None
        findings.extend(f for f in entry.findings if lines is None or f.line in lines)
        suppressed += sum(1 for line in entry.suppressed_lines if lines is None or line in lines)
        warnings += (f"{file.path}:{line}: unknown rule or category '{code}' in '# fba: ignore[...]' (see 'fba rules')"
                     for line, code in entry.unknown_suppressions)
    findings.sort(key=Finding.sort_key)
    return ReviewResult(tuple(findings), files=len(reported), skipped=tuple(skipped), suppressed=suppressed,
                        warnings=tuple(warnings))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic GC while many AST nodes are alive: its full passes over them cost more
    than the parsing itself, and AST trees hold no reference cycles to reclaim."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # What the pause allocated and kept (imported rule modules, the index that project-wide
            # values hold on to) is long-lived: file it with the oldest generation at once (freeze
            # + unfreeze moves lists, it walks nothing) instead of letting the next young
            # collection walk all of it (~20 ms after a touched-file review).
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def review_paths(
    paths: Sequence[Path],
    options: ReviewOptions,
    root: Path,
    *,
    cache: ReviewCache | None = None,
    jobs: int | None = None,
    report: Mapping[Path, "frozenset[int] | None"] | None = None,
    progress: Progress | None = None,
    overlay: Mapping[Path, "str | None"] | None = None,
) -> ReviewResult:
    """Review files and folders on disk (the disk edge around `review_sources`).

    Without `report`, the files named in `paths` and the Python files under its folders are
    reported; with `report` (absolute file -> changed lines, or None for all lines: `--changed`,
    `--diff`), that is what is reported. Either way the index covers every Python file of the
    projects of `paths` (`discovery.index_roots`), so auth added by an `include_router` in
    another file is seen, whatever was named. Module names: see `reading.read_sources`; the rest: see
    `review_sources`.

    `overlay` (absolute file -> its text, or None where the file is absent) reviews the project
    as it was at another time (`--diff`: at the base commit): those texts stand in for the files
    on disk; the cache serves what still holds but stores nothing then.
    """
    walks: dict[Path, list[Path]] = {}

    def walk(folder: Path) -> list[Path]:  # `fba review .` walks its project only once
        key = folder.resolve()
        if key not in walks:
            walks[key] = python_files(key, root, options.exclude)
        return walks[key]

    files = collect(paths, root, options.exclude, walk)
    wanted: Mapping[Path, frozenset[int] | None] = dict.fromkeys(files)
    if report is not None:
        wanted = {path.resolve(): lines for path, lines in report.items()}
    roots = index_roots(paths, root)
    for folder in roots:
        add_walked(files, walk(folder))
    cwd = Path.cwd().resolve()
    with _gc_paused():
        if cache is not None and overlay is not None:
            cache = cache.read_only()
        memory = ReviewMemory(cache, options, str(cwd)) if cache is not None else None
        sources, unreadable = disk_sources(files, root, roots, memory, overlay)
        scope = {relative_to(absolute, cwd): lines for absolute, lines in wanted.items() if absolute in files}
        result = _review(sources, options, memory, jobs, scope, progress)
    return ReviewResult(
        result.findings,
        files=len(scope),
        skipped=tuple(s for s in unreadable if s.path in scope) + result.skipped,
        suppressed=result.suppressed,
        warnings=result.warnings,
    )

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
"""

from __future__ import annotations

import fnmatch
import gc
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from agent.analysis.cache import (
    CachedFindings,
    FileRecord,
    FileStates,
    FindingStates,
    IndexState,
    ReviewCache,
    RuleCatalogue,
    Signature,
    content_digest,
    digest,
    engine_digest,
    stat_signature,
)
from agent.errors import InputError, UsageError
from agent.types import Finding, ReviewResult, Skipped

if TYPE_CHECKING:
    from agent.analysis.analyzer import FactsEntry, FindingsEntry, IndexInputs, SourceFile
    from agent.analysis.index import ProjectIndex
    from agent.analysis.rules.base import Rule

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
    from agent.analysis.rules import all_rules

    rules = [r for r in all_rules() if (not options.select or _matches(r, options.select))]
    return [r() for r in rules if not _matches(r, options.ignore)]


def check_selectors(options: ReviewOptions, cache: ReviewCache | None = None) -> None:
    """Unknown rule codes or categories in select/ignore/severity are usage errors."""
    from agent.types import CATEGORIES

    codes: tuple[str, ...] | None = None
    for selector in (*options.select, *options.ignore, *options.severity):
        s = selector.strip()
        if s.upper() == "ALL" or s.lower() in CATEGORIES:
            continue
        codes = codes if codes is not None else rule_codes(cache)
        if not any(c.startswith(s.upper()) for c in codes):
            raise UsageError(f"unknown rule or category '{selector}' (see 'fba rules')")


def rule_codes(cache: ReviewCache | None = None) -> tuple[str, ...]:
    """Every static rule's code, from the cache's catalogue of this engine when it has one
    (importing every rule module costs more than a warm review)."""
    engine = engine_digest()
    known = cache.load(RULES_ENTRY) if cache is not None else None
    if isinstance(known, RuleCatalogue) and known.engine == engine:
        return known.codes
    from agent.analysis.rules import all_rules

    codes = tuple(r.code for r in all_rules())
    if cache is not None:
        cache.store(RULES_ENTRY, RuleCatalogue(engine, codes))
    return codes


# Measured on open-webui files (2 cores): workers break even around 1.5k lines of source (fork,
# shipping the index and results ~30 ms) and halve the time from ~5k lines; below this (not
# counting the largest file, which one worker takes alone), one process.
MIN_PARALLEL_CHARS = 150_000
RULES_ENTRY = "rules"
Progress = Callable[[str, int, int], None]
ReportScope = Mapping[str, "frozenset[int] | None"]
Status = tuple[bool, "str | None"]  # (parsed, why the file was not (fully) analysed)


def source_files(sources: Mapping[str, str], modules: Mapping[str, str] | None = None) -> list[SourceFile]:
    """Sources (path -> text) as `SourceFile`s in path order, with module names and content hashes."""
    from agent.analysis.analyzer import SourceFile

    return [
        SourceFile(path, _module(path, modules), sources[path], digest(sources[path]))
        for path in sorted(sources)
    ]


def _module(path: str, modules: Mapping[str, str] | None) -> str:
    return modules[path] if modules and path in modules else _module_name(path)


def _module_name(import_path: str) -> str:
    from agent.analysis.facts import module_name  # the facts module is heavy: only when needed

    return module_name(import_path)


def build_index(
    sources: Mapping[str, str], auth_dependencies: Sequence[str] = (), public_routes: Sequence[str] = ()
) -> ProjectIndex:
    """The project index of in-memory sources (path -> text); files that do not parse are left out."""
    from agent.analysis.analyzer import Analyzer
    from agent.analysis.index import ProjectIndex

    analyzer = Analyzer()
    facts = [entry.facts for file in source_files(sources) if (entry := analyzer.facts(file)).facts is not None]
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
        memory = _Memory(cache, options, os.getcwd()) if cache is not None else None
        files = [
            _Source(path, _module(path, modules), digest(text) if memory is not None else "", text)
            for path, text in sorted(sources.items())
        ]
        return _review(files, options, memory, jobs, report, progress)


@dataclass
class _Source:
    """One file of the project. A file the cache vouches for by its stat signature has no text
    until it is needed (to parse it, or to run the rules on it)."""

    path: str
    module: str
    digest: str  # of the text ("" without a cache: nothing compares it)
    text: str | None = None
    absolute: Path | None = None
    signature: Signature | None = None
    import_path: str | None = None

    def source_file(self) -> SourceFile:
        from agent.analysis.analyzer import SourceFile

        if self.text is None:
            self.text = _read_text(self.absolute, self.path)
            if digest(self.text) != self.digest:
                self.signature = None  # edited since its stat was taken: hash it next time
        return SourceFile(self.path, self.module, self.text, self.digest)


def _read_text(absolute: Path, shown: str) -> str:
    from agent.analysis.source import decode_source

    try:
        return decode_source(absolute.read_bytes(), shown)
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror}") from None


def _review(
    sources: list[_Source],
    options: ReviewOptions,
    memory: _Memory | None,
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
    with _Passes(jobs, progress) as passes:
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
        self, sources: list[_Source], options: ReviewOptions, memory: _Memory | None, passes: _Passes
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

    def findings(self, reported: Sequence[_Source]) -> dict[str, Any]:
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

    def _fingerprint(self, checkable: Sequence[_Source]) -> None:
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
        self.built_index = True  # stored by `_Memory.save`, once rules have added their project-wide values
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
            self._inputs = IndexInputs(parsed, tuple(self.options.auth_dependencies), tuple(self.options.public_routes))
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


class _Memory:
    """What the cache knows about this project (the current folder: display paths are relative
    to it) under these options, and what a run adds to it."""

    def __init__(self, cache: ReviewCache, options: ReviewOptions, cwd: str) -> None:
        self.cache = cache
        self.read_from_ns = time.time_ns()  # before any file of this run is stat'ed or read
        index_options = (repr(sorted(options.auth_dependencies)), repr(options.public_routes))
        # The engine digest covers the rule catalogue, so the selectors stand for the rule set.
        report_options = (*index_options, repr(options.select), repr(options.ignore),
                          repr(sorted(options.severity.items())))
        self.index_settings = digest(engine_digest(), *index_options)
        self.settings = digest(engine_digest(), *report_options)
        # Blob names leave the engine out: a new fba version overwrites the old blobs.
        self._names = {
            "files": f"files-{digest(cwd, *index_options)[:20]}",
            "index": f"index-{digest(cwd, *index_options)[:20]}",
            "findings": f"findings-{digest(cwd, *report_options)[:20]}",
        }
        files = cache.load(self._names["files"])
        self.files = files if isinstance(files, FileStates) and files.index_settings == self.index_settings else None
        self.records: dict[str, FileRecord] = self.files.records if self.files is not None else {}
        found = cache.load(self._names["findings"])
        self.findings = found if isinstance(found, FindingStates) and found.settings == self.settings else None
        self._index: IndexState | None = None

    def trusted_text(self, path: str, signature: Signature) -> str | None:
        return self.files.trusted_text(self.records.get(path), signature) if self.files is not None else None

    def record(self, path: str) -> FileRecord | None:
        return self.records.get(path)

    def same(self, source: _Source) -> bool:
        record = self.records.get(source.path)
        return record is not None and record.text == source.digest and record.module == source.module

    def status(self, path: str) -> Status:
        record = self.records[path]
        return record.parsed, record.skipped

    def facts_digest(self, path: str) -> str:
        return self.records[path].facts

    def identity(self, facts_digests: Mapping[str, str]) -> str:
        """What the project index is built from: its settings and every file's facts (not texts)."""
        return digest(self.index_settings, *(f"{path}:{facts}" for path, facts in sorted(facts_digests.items())))

    def unchanged(self, sources: Sequence[_Source], reported: Sequence[_Source]) -> tuple[dict, dict] | None:
        """Statuses and findings of an unchanged project straight from the cache (no parsing, no
        index, no engine import), or None when anything differs or is missing."""
        if self.findings is None or len(self.records) != len(sources) or not all(map(self.same, sources)):
            return None
        if self.findings.index != self.identity({path: r.facts for path, r in self.records.items()}):
            return None
        statuses, entries = {}, {}
        for source in reported:
            statuses[source.path] = self.status(source.path)
            if statuses[source.path][0]:
                hit = self.cached_findings(source, self.findings.fingerprints.get(source.path))
                if hit is None:
                    return None
                entries[source.path] = hit
        return statuses, entries

    def remember_signatures(self, sources: Sequence[_Source]) -> None:
        """Store the new stat of files whose text turned out unchanged (touched, checked out
        again), so that the next run need not read them."""
        if all(self.records[s.path].signature == s.signature for s in sources):
            return
        records = {s.path: self.records[s.path]._replace(signature=s.signature) for s in sources}
        self.cache.store(self._names["files"], FileStates(self.index_settings, self.read_from_ns, records))

    def fingerprints(self, identity: str) -> dict[str, str]:
        """The fingerprints known for the project index `identity` (a copy)."""
        found = self.findings
        return dict(found.fingerprints) if found is not None and found.index == identity else {}

    def _findings_key(self, source: _Source, fingerprint: str) -> str:
        return digest(self.settings, source.path, source.digest, fingerprint)

    def cached_findings(self, source: _Source, fingerprint: str | None) -> CachedFindings | None:
        cached = self.findings.findings.get(source.path) if self.findings is not None else None
        if cached is None or fingerprint is None or cached.key != self._findings_key(source, fingerprint):
            return None
        return cached

    def load_index(self) -> IndexState | None:
        if self._index is None:
            stored = self.cache.load(self._names["index"])
            self._index = stored if isinstance(stored, IndexState) else None
        return self._index

    def save(self, run: _Run, entries: Mapping[str, Any]) -> None:
        """Store what changed: the file states, the index the run built and this settings' findings."""
        if run.built_index:
            self.cache.store(self._names["index"], IndexState(run.identity, dict(run.facts_digests), run.index()))
        records = {
            s.path: FileRecord(s.signature, s.digest, s.module, s.import_path, run.facts_digests[s.path],
                               *run.statuses[s.path])
            for s in run.sources
        }
        if self.files is None or records != self.records:
            self.cache.store(self._names["files"], FileStates(self.index_settings, self.read_from_ns, records))
        state = FindingStates(self.settings, run.identity, run.fingerprints, self._findings_after(run, entries))
        if state != self.findings:
            self.cache.store(self._names["findings"], state)

    def _findings_after(self, run: _Run, entries: Mapping[str, Any]) -> dict[str, CachedFindings]:
        """This run's findings, plus the stored ones of other files of the project: a review of
        another report scope may still use them (their keys say whether they hold)."""
        kept = self.findings.findings.items() if self.findings is not None else ()
        findings = {path: cached for path, cached in kept if path in run.statuses}
        by_path = {s.path: s for s in run.sources}
        for path, entry in entries.items():
            if not isinstance(entry, CachedFindings):
                key = self._findings_key(by_path[path], run.fingerprints[path])
                entry = CachedFindings(key, entry.findings, entry.suppressed_lines, entry.unknown_suppressions)
            findings[path] = entry
        return findings


def _result(
    reported: Sequence[_Source],
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


class _Passes:
    """Runs a pass in this process or in worker processes, whichever is cheaper for its size.

    Worker start-up costs more than it saves on a few thousand lines, so small passes stay here;
    once workers exist (the facts pass was big) the findings pass uses them too, because they
    hold the parse trees.
    """

    def __init__(self, jobs: int | None, progress: Progress | None) -> None:
        self.jobs = jobs if jobs is not None else _cpu_count()
        self.progress = progress
        from agent.analysis.analyzer import Analyzer

        self._local = Analyzer()
        self._pool = None  # a parallel.WorkerPool once a pass is big enough

    def __enter__(self) -> "_Passes":
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if self._pool is not None:
            self._pool.close(abort=exc_type is not None)
        self._local.release()

    def _use_pool(self, files: Sequence[SourceFile]) -> bool:
        # What can run beside the largest file: one big file plus a small one (a touched module
        # and the big `main.py` importing it) gains nothing from workers that must parse again.
        sizes = [len(f.text) for f in files]
        big = len(sizes) > 1 and sum(sizes) - max(sizes) >= MIN_PARALLEL_CHARS
        if self._pool is None and self.jobs > 1 and big:
            from agent.analysis import parallel
            from agent.analysis.rules import all_rules

            all_rules()  # imported before the fork: workers inherit the rule modules instead of each importing them
            self._pool = parallel.WorkerPool(min(self.jobs, len(files)), files)
        return self._pool is not None

    def _ticker(self, stage: str, total: int) -> Callable[[], None]:
        done = 0
        progress = self.progress

        def tick() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(stage, done, total)

        if progress is not None and total:
            progress(stage, 0, total)
        return tick

    def facts(self, files: Sequence[SourceFile]) -> dict[str, FactsEntry]:
        tick = self._ticker("indexing", len(files))
        if self._use_pool(files):
            return self._pool.facts(files, tick)
        results = {}
        for file in files:
            results[file.path] = self._local.facts(file)
            tick()
        return results

    def findings(
        self,
        files: Sequence[SourceFile],
        inputs: Callable[[], IndexInputs],
        index: Callable[[], ProjectIndex],
        rules: Sequence[Rule],
        severity: Mapping[str, str],
    ) -> dict[str, FindingsEntry]:
        """Findings of `files`; workers build the index from `inputs()`, this process uses `index()`."""
        tick = self._ticker("checking", len(files))
        if files and self._use_pool(files):
            return self._pool.findings(files, inputs(), rules, severity, tick)
        self._local.prepare(index(), rules, severity)
        results = {}
        for file in files:
            results[file.path] = self._local.findings(file)
            tick()
        return results


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.rstrip("/") + "/*") for p in patterns)


def collect_files(
    paths: Sequence[Path], root: Path, exclude: Sequence[str] = (), walk: Callable[[Path], list[Path]] | None = None
) -> list[Path]:
    """Python files under `paths`; a missing path or a folder without Python is a UsageError.

    Explicitly named files are always kept; files found by walking (`python_files`, or `walk`
    when the caller shares walks) honour `exclude` (globs relative to `root`) and skip
    virtualenvs, caches and hidden folders.
    """
    return list(_collect(paths, root, exclude, walk).values())


def _collect(
    paths: Sequence[Path], root: Path, exclude: Sequence[str], walk: Callable[[Path], list[Path]] | None
) -> dict[Path, Path]:
    """`collect_files` keyed by resolved path (each file resolved once: it costs a syscall per part)."""
    found: dict[Path, Path] = {}
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if path.is_file():
            found.setdefault(path.resolve(), path)
            continue
        walked = walk(path) if walk is not None else python_files(path, root, exclude)
        if not walked:
            hidden = bool(exclude) and bool(python_files(path, root))
            reason = " (all excluded by the 'exclude' setting)" if hidden else ""
            raise UsageError(f"{path}: no Python files to review{reason}")
        _add_walked(found, walked)
    return found


def _add_walked(found: dict[Path, Path], walked: Iterable[Path]) -> None:
    """Add `python_files` results: already absolute, so only file symlinks need resolving."""
    for file in walked:
        if file not in found:
            found.setdefault(file.resolve() if file.is_symlink() else file, file)


def python_files(folder: Path, root: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """The Python files under `folder` (as absolute paths), honouring `exclude` and skipping
    SKIP_DIRS and hidden folders."""
    base = str(root.resolve())
    found: list[Path] = []
    for current, dirs, files in os.walk(folder.resolve()):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                file = os.path.join(current, name)
                if not exclude or not _excluded(os.path.relpath(file, base).replace(os.sep, "/"), exclude):
                    found.append(Path(file))
    return found


def import_root(target: Path, root: Path) -> Path:
    """The folder `target` is imported from: climbing from `target` (a file's folder, or a folder)
    while the folder is a package (has `__init__.py`), the parent of the topmost package.

    Climbing stops at `root` (the project root) and at a git work tree's top, so it never leaves
    the project or the repository.
    """
    folder = (target if target.is_dir() else target.parent).resolve()
    stops = {root.resolve()}
    while (folder / "__init__.py").is_file() and folder not in stops and not (folder / ".git").exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    return folder


def _relative_to(absolute: Path, base: Path) -> str:
    """POSIX path of `absolute` relative to `base` (both resolved), with `..` when outside it."""
    # String prefix first: `Path.relative_to` costs more than the rest of a warm file's work.
    text, prefix = str(absolute), os.path.join(str(base), "")
    if text.startswith(prefix):
        return text[len(prefix):].replace(os.sep, "/")
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return os.path.relpath(absolute, base).replace(os.sep, "/")


def _import_base(folder: Path, root: Path, roots: Sequence[Path]) -> Path:
    """The folder the module names of the files in `folder` start from: inside a package its own
    import root (`backend/app/x.py` is `app.x` whatever was named on the command line), else
    the deepest of `roots` that holds it."""
    if (folder / "__init__.py").is_file():
        return import_root(folder, root)
    return next((r for r in roots if r == folder or r in folder.parents), roots[-1])


def _disk_sources(
    files: Iterable[Path], root: Path, roots: Sequence[Path], memory: _Memory | None
) -> tuple[list[_Source], list[Skipped]]:
    """The files (resolved absolute paths) as `_Source`s in path order, and the unreadable ones.
    With a cache, a file whose stat signature the cache vouches for is not read."""
    roots = sorted({r.resolve() for r in (roots or [root])}, key=lambda r: len(r.parts), reverse=True)
    bases: dict[str, Path] = {}  # folder -> its `_import_base`
    cwd = Path.cwd().resolve()
    sources: list[_Source] = []
    skipped: list[Skipped] = []
    for absolute in files:
        shown = _relative_to(absolute, cwd)
        folder = os.path.dirname(absolute)
        if folder not in bases:
            bases[folder] = _import_base(absolute.parent, root, roots)
        try:
            sources.append(_disk_source(absolute, shown, _relative_to(absolute, bases[folder]), memory))
        except InputError as exc:
            skipped.append(Skipped(shown, str(exc)))
    sources.sort(key=lambda s: s.path)
    return sources, skipped


def _disk_source(absolute: Path, shown: str, import_path: str, memory: _Memory | None) -> _Source:
    record = memory.record(shown) if memory is not None else None
    # Module names are a function of the import path: reuse the cached one (no facts import).
    module = record.module if record is not None and record.import_path == import_path else _module_name(import_path)
    if memory is None:
        return _Source(shown, module, "", _read_text(absolute, shown), absolute, None, import_path)
    try:
        signature = stat_signature(absolute)  # before reading: a later edit then shows in the stat
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror}") from None
    text_digest = memory.trusted_text(shown, signature)
    text = None
    if text_digest is None:
        text = _read_text(absolute, shown)
        text_digest = digest(text)
    return _Source(shown, module, text_digest, text, absolute, signature, import_path)


def read_sources(
    files: Iterable[Path], root: Path, roots: Sequence[Path] = ()
) -> tuple[dict[str, str], dict[str, str], list[Skipped]]:
    """Read files (resolved absolute paths) as text: (display path -> text, display path ->
    module, unreadable files). Display paths are relative to the current directory (the JSON
    contract); module names: see `_import_base` (`roots` are the targets' import roots,
    default `root`).
    """
    sources, skipped = _disk_sources(files, root, roots, None)
    return {s.path: s.text for s in sources}, {s.path: s.module for s in sources}, skipped


def review_paths(
    paths: Sequence[Path],
    options: ReviewOptions,
    root: Path,
    *,
    cache: ReviewCache | None = None,
    jobs: int | None = None,
    report: Mapping[Path, "frozenset[int] | None"] | None = None,
    progress: Progress | None = None,
) -> ReviewResult:
    """Review files and folders on disk (the disk edge around `review_sources`).

    Without `report`, the files named in `paths` and the Python files under its folders are
    reported, while the index covers every Python file of their import roots (`import_root`),
    so auth added by an `include_router` in another file is seen. With `report` (absolute file
    -> changed lines, or None for all lines: `--changed`, `--diff`), that is what is reported,
    and every file under `paths` feeds the index. Module names: see `read_sources`; the rest:
    see `review_sources`.
    """
    walks: dict[Path, list[Path]] = {}

    def walk(folder: Path) -> list[Path]:  # `fba review .` walks its import root only once
        key = folder.resolve()
        if key not in walks:
            walks[key] = python_files(key, root, options.exclude)
        return walks[key]

    files = _collect(paths, root, options.exclude, walk)
    if report is None:
        wanted: Mapping[Path, frozenset[int] | None] = dict.fromkeys(files)
        roots = sorted({import_root(path, root) for path in paths})
        for folder in roots:
            _add_walked(files, walk(folder))
    else:
        wanted = {path.resolve(): lines for path, lines in report.items()}
        roots = [root]
    cwd = Path.cwd().resolve()
    with _gc_paused():
        memory = _Memory(cache, options, str(cwd)) if cache is not None else None
        sources, unreadable = _disk_sources(files, root, roots, memory)
        scope = {_relative_to(absolute, cwd): lines for absolute, lines in wanted.items() if absolute in files}
        result = _review(sources, options, memory, jobs, scope, progress)
    return ReviewResult(
        result.findings,
        files=len(scope),
        skipped=tuple(s for s in unreadable if s.path in scope) + result.skipped,
        suppressed=result.suppressed,
        warnings=result.warnings,
    )

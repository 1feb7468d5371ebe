"""Run the static engine: collect files, index the project, run the enabled rules.

`review_sources` is the core (text in, findings out); `review_paths` adds the disk edge. Both
passes (facts per file -> project index -> rules per file) run in parallel worker processes for
big inputs, read and fill an optional persistent cache, and can limit what is reported to some
files or lines (the named files, `--changed`, `--diff`) while the index covers the whole
project (the import roots of the named files).
"""

from __future__ import annotations

import fnmatch
import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from agent.analysis.analyzer import Analyzer, FactsEntry, FindingsEntry, SourceFile
from agent.analysis.cache import ReviewCache, digest, engine_digest
from agent.analysis.facts import module_name
from agent.analysis.index import ProjectIndex
from agent.analysis.rules import all_rules
from agent.analysis.rules.base import PerIndex, Rule
from agent.analysis.source import decode_source
from agent.errors import InputError, UsageError
from agent.types import Finding, ReviewResult, Skipped

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


# Measured on open-webui files (2 cores): workers break even around 1.5k lines of source (fork,
# shipping the index and results ~30 ms) and halve the time from ~5k lines; below this (not
# counting the largest file, which one worker takes alone), one process.
MIN_PARALLEL_CHARS = 150_000
PROJECT_ENTRY = "<project>"
FINGERPRINTS_ENTRY = "<fingerprints>"
CLEAN = FactsEntry(None)
Progress = Callable[[str, int, int], None]
ReportScope = Mapping[str, "frozenset[int] | None"]


def source_files(sources: Mapping[str, str], modules: Mapping[str, str] | None = None) -> list[SourceFile]:
    """Sources (path -> text) as `SourceFile`s in path order, with module names and content hashes."""
    modules = modules or {}
    return [
        SourceFile(path, modules.get(path, module_name(path)), sources[path], digest(sources[path]))
        for path in sorted(sources)
    ]


def build_index(
    sources: Mapping[str, str], auth_dependencies: Sequence[str] = (), public_routes: Sequence[str] = ()
) -> ProjectIndex:
    """The project index of in-memory sources (path -> text); files that do not parse are left out."""
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
    per-file facts and findings.
    """
    files = source_files(sources, modules)
    reported = [f for f in files if report is None or f.path in report]
    if not reported:
        return ReviewResult((), files=0)
    rules = enabled_rules(options)
    keys = _Keys(files, _settings_digest(rules, options))
    with _gc_paused():
        known = _from_snapshot(reported, keys, cache) if cache is not None else None
        if known is not None:
            return _result(reported, *known, report)
        with _Passes(jobs, progress) as passes:
            facts = _facts_pass(files, keys, cache, passes)
            # Path order, not completion order: the index (and so the output) must not depend
            # on which worker or cache answered first.
            parsed = [facts[f.path].facts for f in files if facts[f.path].facts is not None]
            index = ProjectIndex.build(parsed, options.auth_dependencies, options.public_routes)
            checkable = [f for f in reported if facts[f.path].facts is not None]
            entries = _findings_pass(checkable, index, rules, options, keys, cache, passes)
    if cache is not None:
        snapshot = _snapshot(reported, facts, keys)
        earlier = cache.get("project", PROJECT_ENTRY, keys.project)
        if isinstance(earlier, ProjectSnapshot):  # the same project reviewed with another report scope
            snapshot = ProjectSnapshot({**earlier.fingerprints, **snapshot.fingerprints},
                                       {**earlier.problems, **snapshot.problems})
        cache.put("project", PROJECT_ENTRY, keys.project, snapshot)
    return _result(reported, facts, entries, report)


@dataclass(frozen=True)
class ProjectSnapshot:
    """What a re-run of an unchanged project needs instead of the facts and the index: each
    reported file's index fingerprint, and the facts entries (without facts) of files that
    did not parse cleanly."""

    fingerprints: Mapping[str, str]
    problems: Mapping[str, FactsEntry]


class _Keys:
    """Cache keys of one run: facts per file, findings per (file, fingerprint), the project."""

    def __init__(self, files: Sequence[SourceFile], settings: str) -> None:
        engine = engine_digest()
        self.settings = digest(engine, settings)
        self.files = {f.path: f for f in files}
        self.facts = {f.path: digest(engine, f.path, f.module, f.digest) for f in files}
        self.project = digest(self.settings, *(f"{path}:{key}" for path, key in self.facts.items()))
        self.fingerprints: dict[str, str] = {}
        self.facts_content: dict[str, str] = {}  # path -> digest of its facts entry's content

    def index_identity(self) -> str:
        """What the project index is built from: settings and every file's facts (not texts)."""
        return digest(self.settings, *(f"{path}:{self.facts_content[path]}" for path in self.facts))

    def findings(self, path: str, fingerprint: str) -> str:
        self.fingerprints[path] = fingerprint
        return digest(self.settings, path, self.files[path].digest, fingerprint)


def _from_snapshot(
    reported: Sequence[SourceFile], keys: _Keys, cache: ReviewCache
) -> tuple[dict[str, FactsEntry], dict[str, FindingsEntry]] | None:
    """Facts status and findings of an unchanged project straight from the cache (no parsing,
    no index), or None when anything is missing."""
    snapshot = cache.get("project", PROJECT_ENTRY, keys.project)
    if not isinstance(snapshot, ProjectSnapshot):
        return None
    facts = {f.path: snapshot.problems.get(f.path, CLEAN) for f in reported}
    entries: dict[str, FindingsEntry] = {}
    for file in reported:
        if facts[file.path].error is not None:
            continue
        fingerprint = snapshot.fingerprints.get(file.path)
        hit = cache.get("findings", file.path, keys.findings(file.path, fingerprint)) if fingerprint else None
        if not isinstance(hit, FindingsEntry):
            return None
        entries[file.path] = hit
    return facts, entries


def _snapshot(reported: Sequence[SourceFile], facts: Mapping[str, FactsEntry], keys: _Keys) -> ProjectSnapshot:
    problems = {
        f.path: FactsEntry(None, e.notes, e.partial, e.error)
        for f in reported
        if (e := facts[f.path]).error is not None or e.partial
    }
    return ProjectSnapshot(dict(keys.fingerprints), problems)


def _facts_pass(
    files: Sequence[SourceFile], keys: _Keys, cache: ReviewCache | None, passes: "_Passes"
) -> dict[str, FactsEntry]:
    entries: dict[str, FactsEntry] = {}
    if cache is not None:
        for file in files:
            hit = cache.get_with_digest("facts", file.path, keys.facts[file.path])
            if hit is not None and isinstance(hit[0], FactsEntry):
                entries[file.path], keys.facts_content[file.path] = hit
    missing = [f for f in files if f.path not in entries]
    computed = passes.facts(missing)
    if cache is not None:
        for path, entry in computed.items():
            keys.facts_content[path] = cache.put("facts", path, keys.facts[path], entry)
    return {**entries, **computed}


def _findings_pass(
    files: Sequence[SourceFile],
    index: ProjectIndex,
    rules: Sequence[Rule],
    options: ReviewOptions,
    keys: _Keys,
    cache: ReviewCache | None,
    passes: "_Passes",
) -> dict[str, FindingsEntry]:
    entries: dict[str, FindingsEntry] = {}
    findings_keys: dict[str, str] = {}
    if cache is not None:
        fingerprints = _fingerprints(files, index, keys, cache)
        for file in files:
            findings_keys[file.path] = keys.findings(file.path, fingerprints[file.path])
            hit = cache.get("findings", file.path, findings_keys[file.path])
            if isinstance(hit, FindingsEntry):
                entries[file.path] = hit
    missing = [f for f in files if f.path not in entries]
    computed = passes.findings(missing, index, rules, options.severity)
    if cache is not None:
        for path, entry in computed.items():
            cache.put("findings", path, findings_keys[path], entry)
    return {**entries, **computed}


def _fingerprints(files: Sequence[SourceFile], index: ProjectIndex, keys: _Keys, cache: ReviewCache) -> dict[str, str]:
    """Each file's cross-file fingerprint (`fingerprint_for` plus the project-wide `PerIndex`
    values), remembered per project index: an edit that changes no file's facts (a comment, a
    fix inside a function that moves no definition) cannot change any fingerprint."""
    identity = keys.index_identity()
    known = cache.get("project", FINGERPRINTS_ENTRY, identity)
    known = dict(known) if isinstance(known, dict) else {}
    missing = [f.path for f in files if f.path not in known]
    if missing:
        project = PerIndex.digest_all(index)
        known.update((path, digest(project, index.fingerprint_for(path))) for path in missing)
        cache.put("project", FINGERPRINTS_ENTRY, identity, known)
    return known


def _settings_digest(rules: Sequence[Rule], options: ReviewOptions) -> str:
    """What, besides the file and the index, decides a file's findings."""
    return digest(
        ",".join(r.code for r in rules),
        repr(sorted(options.severity.items())),
        repr(sorted(options.auth_dependencies)),
        repr(options.public_routes),
    )


def _result(
    reported: Sequence[SourceFile],
    facts: Mapping[str, FactsEntry],
    entries: Mapping[str, FindingsEntry],
    report: ReportScope | None,
) -> ReviewResult:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    suppressed = 0
    for file in reported:
        fact = facts[file.path]
        if fact.error is not None:
            skipped.append(Skipped(file.path, fact.error))
        elif fact.partial:
            skipped.append(Skipped(file.path, "; ".join(fact.notes)))
        entry = entries.get(file.path, FindingsEntry())
        lines = report.get(file.path) if report is not None else None
        findings.extend(f for f in entry.findings if lines is None or f.line in lines)
        suppressed += sum(1 for line in entry.suppressed_lines if lines is None or line in lines)
    findings.sort(key=Finding.sort_key)
    return ReviewResult(tuple(findings), files=len(reported), skipped=tuple(skipped), suppressed=suppressed)


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

            self._pool = parallel.WorkerPool(min(self.jobs, len(files)))
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
        self, files: Sequence[SourceFile], index: ProjectIndex, rules: Sequence[Rule], severity: Mapping[str, str]
    ) -> dict[str, FindingsEntry]:
        tick = self._ticker("checking", len(files))
        if files and self._use_pool(files):
            return self._pool.findings(files, index, rules, severity, tick)
        self._local.prepare(index, rules, severity)
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
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return os.path.relpath(absolute, base).replace(os.sep, "/")


def read_sources(
    files: Iterable[Path], root: Path, roots: Sequence[Path] = ()
) -> tuple[dict[str, str], dict[str, str], list[Skipped]]:
    """Read files (resolved absolute paths) as text: (display path -> text, display path ->
    module, unreadable files). Display paths are relative to the current directory (the JSON
    contract). A module inside a package is named from its own import root (`backend/app/x.py`
    is `app.x` whatever was named on the command line); any other from the deepest of `roots`
    (the targets' import roots, default `root`) that holds it.
    """
    roots = sorted({r.resolve() for r in (roots or [root])}, key=lambda r: len(r.parts), reverse=True)
    package_roots: dict[Path, Path | None] = {}
    cwd = Path.cwd().resolve()
    sources: dict[str, str] = {}
    modules: dict[str, str] = {}
    skipped: list[Skipped] = []
    for absolute in files:
        shown = _relative_to(absolute, cwd)
        try:
            sources[shown] = decode_source(absolute.read_bytes(), shown)
        except InputError as exc:
            skipped.append(Skipped(shown, str(exc)))
            continue
        except OSError as exc:
            skipped.append(Skipped(shown, f"{shown}: cannot read: {exc.strerror}"))
            continue
        folder = absolute.parent
        if folder not in package_roots:
            package_roots[folder] = import_root(folder, root) if (folder / "__init__.py").is_file() else None
        base = package_roots[folder] or next((r for r in roots if r == folder or r in folder.parents), roots[-1])
        modules[shown] = module_name(_relative_to(absolute, base))
    return sources, modules, skipped


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
    sources, modules, unreadable = read_sources(files, root, roots)
    cwd = Path.cwd().resolve()
    scope = {_relative_to(absolute, cwd): lines for absolute, lines in wanted.items() if absolute in files}
    unreadable = [s for s in unreadable if s.path in scope]
    result = review_sources(sources, options, modules, cache=cache, jobs=jobs, report=scope, progress=progress)
    return ReviewResult(
        result.findings,
        files=len(scope),
        skipped=tuple(unreadable) + result.skipped,
        suppressed=result.suppressed,
    )

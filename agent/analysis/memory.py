"""The review cache's memory of one project: what the last runs knew (file states, the project
index, findings with their keys), read at the start of a run and updated at its end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from agent.analysis.cache import (
    CachedFindings,
    FileRecord,
    FileStates,
    FindingStates,
    IndexState,
    ReviewCache,
    Signature,
    digest,
    engine_digest,
)

if TYPE_CHECKING:
    from agent.analysis.reading import ReviewSource
    from agent.analysis.runner import ReviewOptions, _Run

Status = tuple[bool, "str | None"]  # (parsed, why the file was not (fully) analysed)


class ReviewMemory:
    """What the cache knows about this project (the current folder: display paths are relative
    to it) under these options, and what a run adds to it."""

    def __init__(self, cache: ReviewCache, options: ReviewOptions, cwd: str) -> None:
        self.cache = cache
        self.read_from_ns = time.time_ns()  # before any file of this run is stat'ed or read
        index_options = (repr(sorted(options.auth_dependencies)), repr(options.public_routes))
        # The engine digest covers the rule catalogue, so the selectors stand for the rule set.
        report_options = (*index_options, repr(options.select), repr(options.ignore),
                          repr(sorted(options.severity.items())), repr(options.preview))
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

    def same(self, source: ReviewSource) -> bool:
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

    def unchanged(self, sources: Sequence[ReviewSource], reported: Sequence[ReviewSource]) -> tuple[dict, dict] | None:
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

    def remember_signatures(self, sources: Sequence[ReviewSource]) -> None:
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

    def _findings_key(self, source: ReviewSource, fingerprint: str) -> str:
        # The module too: rules read it (test code is judged by it) and a file keeps its text
        # when the folder its module is named from changes.
        return digest(self.settings, source.path, source.module, source.digest, fingerprint)

    def cached_findings(self, source: ReviewSource, fingerprint: str | None) -> CachedFindings | None:
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

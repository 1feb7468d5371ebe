"""What the imports of the reviewed files reach: the symbols an import binding can name and the
files one file's imports read, and from those the import graph between reviewed files.

Fingerprints (which files a change can reach) and the applications' auth (which files an
application reaches) are both questions about this graph. An import target (`app.models`,
`app.api.deps.get_user`) is resolved once per index (`ImportMemo`), not once per importing file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.analysis.facts import FileFacts

if TYPE_CHECKING:
    from agent.analysis.index import ProjectIndex


class ImportMemo:
    """What import resolution computes once per index: the symbols and files of each import
    target, the direct symbols of each module and the module an import target names."""

    def __init__(self) -> None:
        self.targets: dict[str, list[str]] = {}
        self.target_files: dict[str, set[str]] = {}
        self._members: dict[str, list[str]] | None = None
        self._suffixes: dict[str, int] | None = None
        self._order: dict[str, int] = {}
        self._modules: list[str] = []

    def members(self, index: ProjectIndex) -> dict[str, list[str]]:
        """module -> its direct symbols (`app.models` -> `app.models.Item`, not `...Item.__call__`), sorted."""
        if self._members is None:
            self._members = {}
            for qual in sorted(index.symbols):
                parent, dot, _ = qual.rpartition(".")
                if dot:
                    self._members.setdefault(parent, []).append(qual)
        return self._members

    def module_for(self, index: ProjectIndex, target: str) -> str | None:
        """The first module (in index order) that `target` names, or whose name ends `target`, or
        that ends `target`: absolute imports rooted above or below the review root."""
        if self._suffixes is None:
            self._modules = list(index._modules)
            self._order = {module: i for i, module in enumerate(self._modules)}
            self._suffixes = {}
            for module, position in self._order.items():
                parts = module.split(".")
                for start in range(len(parts)):
                    self._suffixes.setdefault(".".join(parts[start:]), position)
        parts = target.split(".")
        candidates = [self._suffixes.get(target)]
        candidates += [self._order.get(".".join(parts[start:])) for start in range(1, len(parts))]
        found = [c for c in candidates if c is not None]
        return self._modules[min(found)] if found else None


def memo_of(index: ProjectIndex) -> ImportMemo:
    """The index's import memo (made on first use; a stored index leaves it out)."""
    memo = index._imports = index._imports or ImportMemo()
    return memo


def import_quals(index: ProjectIndex, facts: FileFacts, local: str) -> list[str]:
    """The symbols an import binding can reach: what its target names (`_imported_symbols`)
    and what `_lookup` resolves it to (through re-exports). Both depend on the target only,
    so they are memoised per target."""
    memo = memo_of(index)
    target = facts.imports[local]
    found = memo.targets.get(target)
    if found is None:
        found = _imported_symbols(index, target, memo)
        resolved = index._lookup(facts, local)
        if resolved is not None:
            found = [*found, resolved]
        memo.targets[target] = found
    return found


def _imported_symbols(index: ProjectIndex, target: str, memo: ImportMemo) -> list[str]:
    """Known symbols an import target names: the symbol itself, or a module's symbols (and
    what a package `__init__` re-exports)."""
    if target in index.symbols:
        return [target]
    match = index._suffix_match(target)
    if match is not None:
        return [match]
    module = memo.module_for(index, target)
    if module is None:
        return []
    members = memo.members(index).get(module, [])
    exporter = index._modules[module]
    if not exporter.path.endswith("__init__.py"):
        return members
    exported = (index._lookup(exporter, name) for name in sorted(exporter.imports))
    return [*members, *(q for q in exported if q is not None)]


def imported_files(index: ProjectIndex, path: str) -> set[str]:
    """The files whose facts resolving `path`'s imports reads: the files of the symbols they
    resolve to, and the modules (or packages re-exporting) they name."""
    memo = memo_of(index)
    facts = index.files[path]
    found: set[str] = set()
    for local, target in facts.imports.items():
        files = memo.target_files.get(target)  # like `import_quals`, a function of the target
        if files is None:
            files = {index.symbols[qual].path for qual in import_quals(index, facts, local)}
            for name in (target, target.rpartition(".")[0]):
                for module in (name in index._modules and name, memo.module_for(index, name)):
                    if module:
                        files.add(index._modules[module].path)
            memo.target_files[target] = files
        found |= files
    return found


def reaching(index: ProjectIndex, targets: set[str]) -> set[str]:
    """The files that reach one of `targets` through imports (the targets included)."""
    importers: dict[str, set[str]] = {}
    for path in index.files:
        for imported in imported_files(index, path):
            importers.setdefault(imported, set()).add(path)
    found, stack = set(targets), list(targets)
    while stack:
        for importer in importers.get(stack.pop(), ()):
            if importer not in found:
                found.add(importer)
                stack.append(importer)
    return found


def import_closure(index: ProjectIndex, files: set[str], imported: dict[str, set[str]]) -> set[str]:
    """`files` and every reviewed file they import, transitively (`imported` memoises each file's imports)."""
    seen = set(files)
    pending = sorted(files)
    while pending:
        path = pending.pop()
        if path not in imported:
            facts = index.files[path]
            imported[path] = {index.symbols[q].path for local in facts.imports for q in import_quals(index, facts, local)}
        for target in imported[path] - seen:
            seen.add(target)
            pending.append(target)
    return seen

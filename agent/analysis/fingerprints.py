"""Fingerprints: for each file, a hash of the cross-file facts its findings can depend on (part
of the review cache's key), and their carry-over from the previous index after an edit.

A fingerprint hashes the project-wide settings, the file's resolved routes and a summary of
every symbol the file defines or imports (its resolved auth, admin and model shape, never line
numbers). Summaries are computed once per index (`FingerprintMemo`); the fingerprints themselves
are kept in `ProjectIndex.fingerprints`, stored with the index.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Iterable

from agent.analysis import auth_policy
from agent.analysis.facts import FileFacts
from agent.analysis.import_graph import import_quals, reaching
from agent.analysis.models import model_of

if TYPE_CHECKING:
    from agent.analysis.index import ProjectIndex


class FingerprintMemo:
    """What `fingerprint` computes once per index instead of once per file: the symbols each file
    defines and each symbol's summary digest."""

    def __init__(self) -> None:
        self.summaries: dict[str, bytes] = {}
        self._defined_in: dict[str, list[str]] | None = None

    def defined_in(self, index: ProjectIndex) -> dict[str, list[str]]:
        """path -> qualified names of the symbols that file defines, sorted."""
        if self._defined_in is None:
            self._defined_in = {}
            for qual in sorted(index.symbols):
                self._defined_in.setdefault(index.symbols[qual].path, []).append(qual)
        return self._defined_in


def fingerprint(index: ProjectIndex, path: str) -> str:
    """The fingerprint of `path` (see `ProjectIndex.fingerprint_for`, which keeps it)."""
    memo = index._fingerprints = index._fingerprints or FingerprintMemo()
    digest = hashlib.sha256()
    digest.update(repr((sorted(index.extra_auth_dependencies), index.public_routes)).encode())
    for route in index.routes_in(path):
        digest.update(repr(route).encode())
    facts = index.files.get(path)
    if facts is None:
        return digest.hexdigest()
    for local in sorted(facts.imports):
        digest.update(local.encode())
        for qual in import_quals(index, facts, local):
            digest.update(_summary_digest(index, memo, qual))
    digest.update(b"\x00")
    for qual in memo.defined_in(index).get(path, ()):
        digest.update(_summary_digest(index, memo, qual))
    return digest.hexdigest()


def carry_over(index: ProjectIndex, previous: ProjectIndex, changed: Iterable[str]) -> None:
    """Take over `previous`'s fingerprint of every file no change can reach.

    A file's fingerprint hashes its routes and the summaries of the symbols it defines and
    imports; a summary is resolved through the imports of the file defining it, and so on.
    So a file keeps its fingerprint unless its routes changed, or it reaches a changed file
    through imports (or imports a name that a changed file added or removed: such names are
    matched by suffix across the project). Nothing is taken over when files were added or
    removed, a module was renamed, or the settings differ.
    """
    files = previous.files
    changed = set(changed)
    if (not previous.fingerprints or files.keys() != index.files.keys()
            or (previous.extra_auth_dependencies, previous.public_routes) != (index.extra_auth_dependencies, index.public_routes)
            or any(files[path].module != index.files[path].module for path in changed)):
        return
    renamed = set().union(*(_defined_names(files[path]) ^ _defined_names(index.files[path]) for path in changed))
    seeds = changed | {path for path, facts in index.files.items()
                       if any(target.rpartition(".")[2] in renamed for target in facts.imports.values())}
    reached = reaching(index, seeds)
    for path, known in previous.fingerprints.items():
        if path not in reached and index.routes_in(path) == previous.routes_in(path):
            index.fingerprints[path] = known


def _summary_digest(index: ProjectIndex, memo: FingerprintMemo, qual: str) -> bytes:
    """A short digest of `qual` and its summary (memoised: many files import the same symbols)."""
    found = memo.summaries.get(qual)
    if found is None:
        text = repr((qual, _summary(index, qual))).encode()
        found = memo.summaries[qual] = hashlib.blake2b(text, digest_size=16).digest()
    return found


def _summary(index: ProjectIndex, qual: str) -> tuple:
    """What other files' findings can depend on: no line numbers (an edit that only moves
    code in `deps.py` or `models.py` does not re-check their importers)."""
    symbol = index.symbols[qual]
    if symbol.kind == "class":
        model = model_of(index, qual)
        shape = model and (model.name, model.table, model.schema, model.tablename, model.owner_column,
                           tuple((f.name, f.annotation, f.foreign_key, f.column) for f in model.fields))
        return ("class", shape, auth_policy.symbol_auth(index, qual), auth_policy.symbol_admin(index, qual),
                symbol.value.init_prefix, symbol.value.init_params)  # a router class's prefix
    if symbol.kind == "instance":  # the callee decides auth and declarative bases
        return (symbol.kind, symbol.value, auth_policy.symbol_auth(index, qual), auth_policy.symbol_admin(index, qual))
    if symbol.kind in {"function", "alias"}:
        return (symbol.kind, auth_policy.symbol_auth(index, qual), auth_policy.symbol_admin(index, qual))
    return (symbol.kind, symbol.value if symbol.kind == "constant" else None)


def _defined_names(facts: FileFacts) -> set[str]:
    """The last parts of the names a file defines (what suffix matching looks symbols up by)."""
    from agent.analysis.index import definitions  # the index imports this module

    return {name.rpartition(".")[2] for _, name, _ in definitions(facts)}

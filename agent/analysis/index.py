"""The project index: facts from every file merged once per run, queried by the rules.

Built from `FileFacts` (plain data), so it can be built from cached facts and shipped to
parallel workers. It is a store of facts plus symbol lookup: every top-level symbol by
qualified name, what a name written in a file refers to (`resolve`, `_lookup`: imports,
re-exports through packages, dotted-suffix matches), the include edges between routers, and the
resolved routes. What is computed from those lives in its own module, each reading the index:

* `routing` — each route's mount chains, full path, applications and auth (built once here);
* `auth_policy` — which dependencies authenticate, what is public by design;
* `models` — table models and schemas after inheritance (`model`, `owned_table`, ...);
* `import_graph` — what each import reaches, the import graph between files;
* `fingerprints` — each file's cache fingerprint and its carry-over after an edit.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

from agent.analysis import auth_policy, fingerprints, models, routing
from agent.analysis.facts import FileFacts, Include, Route, RuntimeRoute
from agent.analysis.fingerprints import FingerprintMemo
from agent.analysis.import_graph import ImportMemo
from agent.analysis.models import ModelInfo

class Symbol:
    """Something a module defines at top level, keyed by qualified name in the index.

    `kind` is function | alias | instance | class | router | constant; `value` its facts (a
    `FunctionFacts`, `ClassFacts`, `RouterDef`, or the alias target, callee or constant text). An
    index loaded from the cache finds `value` in its file's facts on first use.
    """

    __slots__ = ("kind", "path", "name", "_value", "_files")

    def __init__(self, kind: str, path: str, name: str, value: object = None,
                 files: Mapping[str, FileFacts] | None = None) -> None:
        self.kind, self.path, self.name, self._value, self._files = kind, path, name, value, files

    @property
    def value(self) -> object:
        if self._files is not None:
            self._value, self._files = _definition(self._files[self.path], self.kind, self.name), None
        return self._value

    def __repr__(self) -> str:
        return f"Symbol({self.kind!r}, {self.path!r}, {self.name!r})"


def _definition(facts: FileFacts, kind: str, name: str) -> object:
    """What `_collect_symbols` records as the value of the `kind` symbol `name` of `facts`."""
    if kind == "function":
        return {f.name: f for f in facts.functions}[name]
    if kind == "class":
        return {c.name: c for c in facts.classes}[name]
    if kind == "router":
        return {r.name: r for r in facts.routers}[name]
    return {"alias": facts.aliases, "instance": facts.instances, "constant": facts.constants}[kind][name]


class _StoredFacts(Mapping[str, FileFacts]):
    """Each file's facts as stored in the cache, unpickled on first use: a re-check of one edited
    file reads a few files' facts, not the whole project's."""

    def __init__(self, stored: dict[str, bytes]) -> None:
        self._stored = stored
        self._loaded: dict[str, FileFacts] = {}

    def __getitem__(self, path: str) -> FileFacts:
        found = self._loaded.get(path)
        if found is None:
            found = self._loaded[path] = pickle.loads(self._stored[path])
        return found

    def stored_bytes(self, path: str, facts: FileFacts) -> bytes | None:
        """The stored bytes of `facts`, when they are what this mapping unpickled for `path`."""
        return self._stored[path] if self._loaded.get(path) is facts else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


class _StoredSymbols(Mapping[str, Symbol]):
    """Qualified name -> `Symbol`, made on first use from the stored (kind, path, name)."""

    def __init__(self, stored: dict[str, tuple[str, str, str]], files: Mapping[str, FileFacts]) -> None:
        self._stored, self._files = stored, files
        self._made: dict[str, Symbol] = {}

    def __getitem__(self, qual: str) -> Symbol:
        found = self._made.get(qual)
        if found is None:
            kind, path, name = self._stored[qual]
            found = self._made[qual] = Symbol(kind, path, name, files=self._files)
        return found

    def __contains__(self, qual: object) -> bool:
        return qual in self._stored

    def get(self, qual: str, default: Symbol | None = None) -> Symbol | None:  # type: ignore[override]
        return self[qual] if qual in self._stored else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


class _FactsByModule(Mapping[str, FileFacts]):
    """Module name -> facts, over `_StoredFacts` (the loaded form of `ProjectIndex._modules`)."""

    def __init__(self, paths: dict[str, str], files: Mapping[str, FileFacts]) -> None:
        self._paths, self._files = paths, files

    def __getitem__(self, module: str) -> FileFacts:
        return self._files[self._paths[module]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


@dataclass
class ProjectIndex:
    """Cross-file facts: routes, auth dependencies, models. Rules only read it."""

    files: dict[str, FileFacts] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    extra_auth_dependencies: frozenset[str] = frozenset()
    public_routes: tuple[str, ...] = ()
    symbols: dict[str, Symbol] = field(default_factory=dict, repr=False)
    _modules: dict[str, FileFacts] = field(default_factory=dict, repr=False)
    _by_last: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _includes_into: dict[str, list[tuple[str, Include, str]]] = field(default_factory=dict, repr=False)
    _auth_memo: dict[str, str | None] = field(default_factory=dict, repr=False)
    _admin_memo: dict[str, bool] = field(default_factory=dict, repr=False)
    _model_memo: dict[str, ModelInfo | None] = field(default_factory=dict, repr=False)
    _by_file: dict[str, list[Route]] | None = field(default=None, repr=False)
    _fingerprints: FingerprintMemo | None = field(default=None, repr=False)
    _imports: ImportMemo | None = field(default=None, repr=False)
    # Project-wide values rules compute from the whole index (`rules.base.PerIndex`), by name:
    # kept with the index, so a re-check against a stored index does not read every file again.
    per_index: dict[str, object] = field(default_factory=dict, repr=False)
    # Each file's `fingerprint_for`, kept with the index: after an edit that changes some files'
    # facts, the next index takes over those of the files no change can reach (`carry_over`).
    fingerprints: dict[str, str] = field(default_factory=dict, repr=False)
    _stored_bytes: dict[str, bytes] = field(default_factory=dict, repr=False)  # facts pickled as before

    def __getstate__(self) -> dict:
        """The stored form (the review cache): each file's facts pickled on their own and symbols
        without values, so that loading it unpickles only what a re-check reads (`__setstate__`).
        Left out: the fingerprint and import memos, the routes-by-file table and the models memo (a model is
        computed without asking the memo again, so rebuilding it on demand answers alike). Kept:
        the auth and admin memos (their cycle guard makes answers depend on the order of the
        questions, which a re-check must not change) and project-wide rule values (`per_index`)."""
        stored = self._stored_bytes
        return {
            **self.__dict__,
            "files": {path: stored.get(path) or pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
                      for path, facts in self.files.items()},
            "_stored_bytes": {},
            "symbols": {qual: (s.kind, s.path, s.name) for qual, s in self.symbols.items()},
            "_modules": {module: facts.path for module, facts in self._modules.items()},
            "_model_memo": {},
            "_by_file": None,
            "_fingerprints": None,
            "_imports": None,
        }

    def __setstate__(self, state: dict) -> None:
        files = _StoredFacts(state["files"])
        self.__dict__.update({**state, "files": files, "symbols": _StoredSymbols(state["symbols"], files),
                              "_modules": _FactsByModule(state["_modules"], files)})

    @classmethod
    def build(
        cls,
        facts: Iterable[FileFacts],
        auth_dependencies: Iterable[str] = (),
        public_routes: Iterable[str] = (),
        runtime: Iterable[RuntimeRoute] = (),
    ) -> "ProjectIndex":
        """The index of `facts`; `runtime` (FastAPI's own route table, `--app`) replaces the
        inferred full path and authentication of each route FastAPI serves."""
        index = cls(
            files={f.path: f for f in facts},
            extra_auth_dependencies=frozenset(auth_dependencies),
            public_routes=tuple(public_routes),
        )
        index._collect_symbols()
        index.routes = routing.resolve_routes(index)
        if runtime:
            index.routes = routing.with_runtime(index, tuple(runtime))
        return index

    # --- queries used by rules -------------------------------------------------------------

    def routes_in(self, path: str) -> list[Route]:
        if self._by_file is None:
            self._by_file = {}
            for route in self.routes:
                self._by_file.setdefault(route.file, []).append(route)
        return list(self._by_file.get(path, ()))

    def route_for(self, path: str, line: int) -> Route | None:
        """The route whose handler `def` is at `line` in `path`."""
        return next((r for r in self.routes_in(path) if r.line == line), None)

    def resolve(self, path: str, name: str) -> str:
        """Qualified name of `name` as written in `path` (the name itself when unknown)."""
        facts = self.files.get(path)
        if facts is None:
            return name
        found = self._lookup(facts, name)
        return found if found is not None else self._qualified_guess(facts, name)

    def is_auth_dependency(self, path: str, name: str) -> bool:
        """Does the dependency `name` (as written in `path`) authenticate the caller? (`auth_policy`)"""
        return auth_policy.dependency_auth(self, path, name) is not None

    def is_admin_dependency(self, path: str, name: str) -> bool:
        """Does the dependency `name` require a superuser/admin? (`auth_policy`)"""
        return auth_policy.is_admin_dependency(self, path, name)

    def model(self, path: str, name: str) -> ModelInfo | None:
        """The table model or schema named `name` in `path` (`Item`, `models.Item`)."""
        return models.model(self, path, name)

    def models_in(self, path: str, annotation: str) -> list[ModelInfo]:
        """Every model or schema named in a type expression: `list[ItemPublic]`, `Page[Item] | None`."""
        return models.models_in(self, path, annotation)

    def owned_table(self, path: str, name: str) -> ModelInfo | None:
        """The table model `name` if its rows belong to a user (it has an owner column)."""
        return models.owned_table(self, path, name)

    def table_models(self) -> list[ModelInfo]:
        return models.table_models(self)

    def fingerprint_for(self, path: str) -> str:
        """A hash of the cross-file facts that findings in `path` can depend on (cache key part).

        It covers the project-wide settings, the resolved routes of `path` (auth level, include
        chains, full paths, admin, their applications and whether those authenticate), and the
        resolved status (auth, admin, model shape) of every symbol `path` defines or imports
        (directly, through a module, or re-exported by a package); a change elsewhere that alters
        none of these leaves it unchanged. Project-wide values that rules compute from the whole
        index (`PerIndex`) are added by the runner.
        """
        known = self.fingerprints.get(path)
        if known is None:
            known = self.fingerprints[path] = fingerprints.fingerprint(self, path)
        return known

    def carry_over(self, previous: "ProjectIndex", changed: Iterable[str]) -> None:
        """Continue from `previous`, the index before the facts of the `changed` files changed:
        take over its stored bytes of the facts this index shares with it (so storing this index
        pickles only the new ones) and its fingerprint of every file no change can reach
        (`fingerprints.carry_over`)."""
        files = previous.files
        if isinstance(files, _StoredFacts):
            self._stored_bytes = {path: data for path, facts in self.files.items()
                                  if path in files and (data := files.stored_bytes(path, facts)) is not None}
        fingerprints.carry_over(self, previous, changed)

    # --- symbols and name resolution ---------------------------------------------------------

    def _collect_symbols(self) -> None:
        for facts in self.files.values():
            self._modules[facts.module] = facts
            for kind, name, value in definitions(facts):
                qual = f"{facts.module}.{name}" if facts.module else name
                if kind == "instance" and qual in self.symbols:
                    continue  # a router is also an instance; keep the richer kind
                self.symbols[qual] = Symbol(kind, facts.path, name, value)
        for qual in self.symbols:
            self._by_last.setdefault(qual.rsplit(".", 1)[-1], []).append(qual)
        for facts in self.files.values():
            for include in facts.includes:
                parent = self._lookup(facts, include.parent)
                child = self._lookup(facts, include.child)
                if parent is not None and child is not None:
                    self._includes_into.setdefault(child, []).append((facts.path, include, parent))

    def _qualified_guess(self, facts: FileFacts, name: str) -> str:
        head, _, rest = name.partition(".")
        if head in facts.imports:
            return facts.imports[head] + ("." + rest if rest else "")
        return name

    def _lookup(self, facts: FileFacts, name: str, depth: int = 0) -> str | None:
        """The qualified name of a known symbol that `name` refers to in `facts`' module, or None.

        Tries the file's imports, then its own top level, then re-exports through a package
        `__init__`, then a dotted-suffix match (absolute imports rooted above or below the
        review root: `app.api.deps.X` vs `backend.app.api.deps.X` or `api.deps.X`).
        """
        head, _, rest = name.partition(".")
        if head in facts.imports:
            candidate = facts.imports[head] + ("." + rest if rest else "")
        else:
            local = f"{facts.module}.{name}" if facts.module else name
            if local in self.symbols:
                return local
            return None
        if candidate in self.symbols:
            return candidate
        module, _, last = candidate.rpartition(".")
        exporter = self._modules.get(module)
        if exporter is not None and depth < 5 and last in exporter.imports:
            return self._lookup(exporter, last, depth + 1)
        return self._suffix_match(candidate)

    def _suffix_match(self, candidate: str) -> str | None:
        matches = [q for q in self._by_last.get(candidate.rsplit(".", 1)[-1], ())
                   if q.endswith("." + candidate) or candidate.endswith("." + q)]
        if not matches:
            return None
        # The closest match shares the most trailing components with the candidate.
        return max(matches, key=lambda q: (_shared_tail(q, candidate), -len(q)))


def definitions(facts: FileFacts) -> Iterator[tuple[str, str, object]]:
    """(kind, name, value) of every top-level symbol a file defines, in `_collect_symbols` order."""
    for kind, names in (
        ("function", {f.name: f for f in facts.functions}),
        ("alias", facts.aliases),
        ("instance", facts.instances),
        ("class", {c.name: c for c in facts.classes}),
        ("constant", facts.constants),
        ("router", {r.name: r for r in facts.routers}),
    ):
        for name, value in names.items():
            yield kind, name, value


def _shared_tail(a: str, b: str) -> int:
    count = 0
    for x, y in zip(reversed(a.split(".")), reversed(b.split("."))):
        if x != y:
            break
        count += 1
    return count

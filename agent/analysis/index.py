"""The project index: facts from every file merged once per run, queried by the rules.

Built from `FileFacts` (plain data), so it can be built from cached facts and shipped to
parallel workers. `build` resolves what no single file knows: which dependencies authenticate
(transitively, through `Annotated` aliases, `Security(...)`, security scheme instances, JWT
decoding and credential checks), which routers are mounted where (`include_router` chains with
their prefixes and `dependencies=`), each route's auth level, full URL path and applications
(and whether those authenticate anywhere), and the table models and schemas.
"""

from __future__ import annotations

import ast
import hashlib
import pickle
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, TypeVar

from agent.analysis import auth_policy, router_classes
from agent.analysis.facts import (
    ClassFacts,
    FieldDef,
    FileFacts,
    Include,
    Param,
    Route,
    RuntimeRoute,
    dotted_name,
)

T = TypeVar("T")

OWNER_COLUMNS = ("owner_id", "user_id", "created_by", "created_by_id", "author_id", "creator_id", "owner_user_id")
USER_TABLE_WORDS = ("user", "account", "member", "owner", "author", "person", "customer", "profile")
SENSITIVE_FIELDS = frozenset({
    "password", "hashed_password", "password_hash", "passwd", "secret", "client_secret", "secret_key",
    "api_key", "apikey", "private_key", "otp_secret", "totp_secret", "mfa_secret", "salt",
})
TOKEN_FIELDS = frozenset({"token", "refresh_token", "reset_token", "verification_token", "access_token", "session_token"})
SCHEMA_ROOTS = frozenset({"BaseModel", "SQLModel", "RootModel"})
DECLARATIVE_ROOTS = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta", "Base", "Model"})

MAX_CHAINS = 32


@dataclass(frozen=True)
class ModelInfo:
    """A class after inheritance: a table model (SQLModel `table=True`, SQLAlchemy declarative) or a
    request/response schema (Pydantic BaseModel, non-table SQLModel), with all its fields."""

    name: str
    qualname: str
    table: bool
    schema: bool
    fields: tuple[FieldDef, ...] = ()
    tablename: str | None = None
    owner_column: str | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def sensitive_fields(self) -> tuple[str, ...]:
        """Fields a response must not carry: password hashes, secrets, API keys."""
        return tuple(n for n in self.field_names if n.lower() in SENSITIVE_FIELDS or n.lower().endswith("_password"))

    @property
    def token_fields(self) -> tuple[str, ...]:
        """Token fields: sensitive except in the answer of a login/token endpoint."""
        return tuple(n for n in self.field_names if n.lower() in TOKEN_FIELDS)


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
    _fingerprints: "_FingerprintMemo | None" = field(default=None, repr=False)
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
        Left out: the fingerprint memo, the routes-by-file table and the models memo (a model is
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
        routes = [index._resolve_route(f, r) for f in sorted(index.files.values(), key=lambda f: f.path)
                  for r in f.routes]
        with_auth = index._apps_with_auth(routes)
        index.routes = [_replace(r, app_has_auth=bool(with_auth.intersection(r.apps))) for r in routes]
        if runtime:
            index.routes = index._with_runtime(tuple(runtime))
        return index

    def _with_runtime(self, runtime: tuple[RuntimeRoute, ...]) -> list[Route]:
        served: dict[tuple[str, int], list[RuntimeRoute]] = {}
        for item in runtime:
            served.setdefault((item.file, item.line), []).append(item)
        routes = []
        for route in self.routes:
            items = [i for i in served.get((route.file, route.line), ()) if i.method in route.methods]
            if not items:
                routes.append(route)
                continue
            item = next((i for i in items if i.path == route.full_path), items[0])
            decision = auth_policy.runtime_decision(self, item, route)
            level = decision.level
            routes.append(_replace(route, full_path=item.path, auth=level, public=decision.status == "public",
                                   auth_via=decision.via[0].dependency if level else None,
                                   auth_status=decision.status, auth_reason=decision.reason, auth_chain=decision.via))
        return routes

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
        facts = self.files.get(path)
        qual = self._lookup(facts, name) if facts is not None else None
        if qual is None or self.symbols[qual].kind != "class":
            return None
        return self._model(qual)

    def models_in(self, path: str, annotation: str) -> list[ModelInfo]:
        """Every model or schema named in a type expression: `list[ItemPublic]`, `Page[Item] | None`."""
        try:
            tree = ast.parse(annotation, mode="eval")
        except SyntaxError:
            return []
        found: list[ModelInfo] = []
        for node in ast.walk(tree):
            name = dotted_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            info = self.model(path, name) if name else None
            if info is not None and info not in found:
                found.append(info)
        return found

    def owned_table(self, path: str, name: str) -> ModelInfo | None:
        """The table model `name` if its rows belong to a user (it has an owner column)."""
        info = self.model(path, name)
        return info if info is not None and info.table and info.owner_column else None

    def table_models(self) -> list[ModelInfo]:
        return [m for q, s in sorted(self.symbols.items()) if s.kind == "class" and (m := self._model(q)) and m.table]

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
            known = self.fingerprints[path] = self._fingerprint(path)
        return known

    def _fingerprint(self, path: str) -> str:
        memo = self._fingerprints = self._fingerprints or _FingerprintMemo()
        digest = hashlib.sha256()
        digest.update(repr((sorted(self.extra_auth_dependencies), self.public_routes)).encode())
        for route in self.routes_in(path):
            digest.update(repr(route).encode())
        facts = self.files.get(path)
        if facts is None:
            return digest.hexdigest()
        for local in sorted(facts.imports):
            digest.update(local.encode())
            for qual in self._import_quals(facts, local):
                digest.update(self._summary_digest(qual))
        digest.update(b"\x00")
        for qual in memo.defined_in(self).get(path, ()):
            digest.update(self._summary_digest(qual))
        return digest.hexdigest()

    def carry_over(self, previous: "ProjectIndex", changed: Iterable[str]) -> None:
        """Continue from `previous`, the index before the facts of the `changed` files changed:
        take over its fingerprint of every file no change can reach, and its stored bytes of the
        facts this index shares with it (so storing this index pickles only the new ones).

        A file's fingerprint hashes its routes and the summaries of the symbols it defines and
        imports; a summary is resolved through the imports of the file defining it, and so on.
        So a file keeps its fingerprint unless its routes changed, or it reaches a changed file
        through imports (or imports a name that a changed file added or removed: such names are
        matched by suffix across the project). Nothing is taken over when files were added or
        removed, a module was renamed, or the settings differ.
        """
        files = previous.files
        if isinstance(files, _StoredFacts):
            self._stored_bytes = {path: data for path, facts in self.files.items()
                                  if path in files and (data := files.stored_bytes(path, facts)) is not None}
        changed = set(changed)
        if (not previous.fingerprints or files.keys() != self.files.keys()
                or (previous.extra_auth_dependencies, previous.public_routes) != (self.extra_auth_dependencies, self.public_routes)
                or any(files[path].module != self.files[path].module for path in changed)):
            return
        renamed = set().union(*(_defined_names(files[path]) ^ _defined_names(self.files[path]) for path in changed))
        seeds = changed | {path for path, facts in self.files.items()
                           if any(target.rpartition(".")[2] in renamed for target in facts.imports.values())}
        reached = self._reaching(seeds)
        for path, known in previous.fingerprints.items():
            if path not in reached and self.routes_in(path) == previous.routes_in(path):
                self.fingerprints[path] = known

    def _reaching(self, targets: set[str]) -> set[str]:
        """The files that reach one of `targets` through imports (the targets included)."""
        importers: dict[str, set[str]] = {}
        for path in self.files:
            for imported in self._imported_files(path):
                importers.setdefault(imported, set()).add(path)
        found, stack = set(targets), list(targets)
        while stack:
            for importer in importers.get(stack.pop(), ()):
                if importer not in found:
                    found.add(importer)
                    stack.append(importer)
        return found

    def _imported_files(self, path: str) -> set[str]:
        """The files whose facts resolving `path`'s imports reads: the files of the symbols they
        resolve to, and the modules (or packages re-exporting) they name."""
        memo = self._fingerprints = self._fingerprints or _FingerprintMemo()
        facts = self.files[path]
        found: set[str] = set()
        for local, target in facts.imports.items():
            files = memo.target_files.get(target)  # like `_import_quals`, a function of the target
            if files is None:
                files = {self.symbols[qual].path for qual in self._import_quals(facts, local)}
                for name in (target, target.rpartition(".")[0]):
                    for module in (name in self._modules and name, memo.module_for(self, name)):
                        if module:
                            files.add(self._modules[module].path)
                memo.target_files[target] = files
            found |= files
        return found

    # --- symbols and name resolution ---------------------------------------------------------

    def _collect_symbols(self) -> None:
        for facts in self.files.values():
            self._modules[facts.module] = facts
            for kind, name, value in _definitions(facts):
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

    def _import_quals(self, facts: FileFacts, local: str) -> list[str]:
        """The symbols an import binding can reach: what its target names (`_imported_symbols`)
        and what `_lookup` resolves it to (through re-exports). Both depend on the target only,
        so they are memoised per target."""
        memo = self._fingerprints = self._fingerprints or _FingerprintMemo()
        target = facts.imports[local]
        found = memo.targets.get(target)
        if found is None:
            found = self._imported_symbols(target, memo)
            resolved = self._lookup(facts, local)
            if resolved is not None:
                found = [*found, resolved]
            memo.targets[target] = found
        return found

    def _imported_symbols(self, target: str, memo: "_FingerprintMemo") -> list[str]:
        """Known symbols an import target names: the symbol itself, or a module's symbols (and
        what a package `__init__` re-exports)."""
        if target in self.symbols:
            return [target]
        match = self._suffix_match(target)
        if match is not None:
            return [match]
        module = memo.module_for(self, target)
        if module is None:
            return []
        members = memo.members(self).get(module, [])
        exporter = self._modules[module]
        if not exporter.path.endswith("__init__.py"):
            return members
        exported = (self._lookup(exporter, name) for name in sorted(exporter.imports))
        return [*members, *(q for q in exported if q is not None)]

    def _summary_digest(self, qual: str) -> bytes:
        """A short digest of `qual` and its summary (memoised: many files import the same symbols)."""
        memo = self._fingerprints = self._fingerprints or _FingerprintMemo()
        found = memo.summaries.get(qual)
        if found is None:
            text = repr((qual, self._summary(qual))).encode()
            found = memo.summaries[qual] = hashlib.blake2b(text, digest_size=16).digest()
        return found

    def _summary(self, qual: str) -> tuple:
        """What other files' findings can depend on: no line numbers (an edit that only moves
        code in `deps.py` or `models.py` does not re-check their importers)."""
        symbol = self.symbols[qual]
        if symbol.kind == "class":
            model = self._model(qual)
            shape = model and (model.name, model.table, model.schema, model.tablename, model.owner_column,
                               tuple((f.name, f.annotation, f.foreign_key, f.column) for f in model.fields))
            return ("class", shape, auth_policy.symbol_auth(self, qual), auth_policy.symbol_admin(self, qual),
                    symbol.value.init_prefix, symbol.value.init_params)  # a router class's prefix
        if symbol.kind == "instance":  # the callee decides auth and declarative bases
            return (symbol.kind, symbol.value, auth_policy.symbol_auth(self, qual), auth_policy.symbol_admin(self, qual))
        if symbol.kind in {"function", "alias"}:
            return (symbol.kind, auth_policy.symbol_auth(self, qual), auth_policy.symbol_admin(self, qual))
        return (symbol.kind, symbol.value if symbol.kind == "constant" else None)

    # --- routes ------------------------------------------------------------------------------------

    def _resolve_route(self, facts: FileFacts, route: Route) -> Route:
        params = tuple(self._resolved_param(facts, p) for p in route.params)
        extra = tuple(p.dependency for p, old in zip(params, route.params) if p.dependency and not old.dependency)
        route = _replace(route, params=params, dependencies=route.dependencies + extra)
        if route.path_ref is not None:
            route = _replace(route, path=self._expression_value(facts.path, route.path_ref) or "")
        router_qual = self._lookup(facts, route.owner)
        router = self.symbols[router_qual] if router_qual is not None else None
        chains = self._chains(router_qual) if router is not None and router.kind == "router" else [[]]
        full_paths = [self._full_path(chain, router_qual, route.path) for chain in chains]
        # The first path whose mounts all have a known prefix is the one shown (`app.mount(
        # settings.BASE or "/api", ...)` next to `app.mount("/api", ...)`).
        known = [i for i, chain in enumerate(chains) if all(inc.prefix is not None or
                 self._expression_value(path, inc.prefix_ref or "") is not None for path, inc, _ in chain)]
        if known and known[0]:
            full_paths.insert(0, full_paths.pop(known[0]))
        route = _replace(route, apps=self._route_apps(facts, router_qual, chains))
        decision = auth_policy.decide(self, facts, route, router_qual, chains, full_paths)
        admin = any(self.is_admin_dependency(facts.path, d) for d in route.dependencies) or any(
            self.is_admin_dependency(path, d) for chain in chains[:1] for path, d in self._chain_dependencies(chain, router_qual)
        )
        user_param, principal = auth_policy.principal(self, facts, route)
        level = decision.level
        return _replace(route, auth=level, auth_via=decision.via[0].dependency if level else None,
                        full_path=full_paths[0], public=decision.status == "public", admin=admin,
                        user_param=user_param, principal=principal, auth_status=decision.status,
                        auth_reason=decision.reason, auth_chain=decision.via)

    # --- applications -------------------------------------------------------------------------------

    def _route_apps(self, facts: FileFacts, router_qual: str | None,
                    chains: list[list[tuple[str, Include, str]]]) -> tuple[str, ...]:
        """The applications a route belongs to: the `FastAPI()` object at the root of each of its
        mount chains (`app.main.app`), or, where a chain's root is a router no reviewed app
        includes (or the route's owner is unknown), the top package of that root's file (`app.*`)."""
        found: set[str] = set()
        for chain in chains:
            root = chain[0][2] if chain else router_qual
            symbol = self.symbols[root] if root is not None else None
            if symbol is not None and symbol.kind == "router" and symbol.value.kind == "FastAPI":
                found.add(root)  # type: ignore[arg-type]
            else:
                home = self.files[symbol.path] if symbol is not None and symbol.kind == "router" else facts
                found.add(_top_package(home.module) + ".*")
        return tuple(sorted(found))

    def _apps_with_auth(self, routes: list[Route]) -> set[str]:
        """The applications that authenticate somewhere: the `auth-dependencies` setting names a
        dependency, one of their routes has auth, or a file they reach defines an auth dependency.

        An application reaches its route files, its `FastAPI()` file and what those import,
        transitively; a file that no application reaches counts for every application reaching a
        file of the same top package (a `deps.py` nobody imports yet still says the app has auth).
        """
        apps = {app for route in routes for app in route.apps}
        if self.extra_auth_dependencies:
            return apps
        seeds: dict[str, set[str]] = {app: ({self.symbols[app].path} if app in self.symbols else set()) for app in apps}
        with_auth: set[str] = set()
        for route in routes:
            for app in route.apps:
                seeds[app].add(route.file)
                if route.auth:
                    with_auth.add(app)
        if with_auth == apps:
            return with_auth  # the usual case: no import closure needed
        auth_files = {s.path for q, s in self.symbols.items()
                      if s.kind in {"function", "alias", "instance"} and auth_policy.symbol_auth(self, q)}
        imported: dict[str, set[str]] = {}
        reach = {app: self._import_closure(files, imported) for app, files in seeds.items()}
        reached = set().union(*reach.values())
        stray_packages = {_top_package(self.files[path].module) for path in auth_files - reached}
        for app, files in reach.items():
            packages = {_top_package(self.files[path].module) for path in files}
            if files & auth_files or packages & stray_packages:
                with_auth.add(app)
        return with_auth

    def _import_closure(self, files: set[str], imported: dict[str, set[str]]) -> set[str]:
        """`files` and every reviewed file they import, transitively (`imported` memoises each file's imports)."""
        seen = set(files)
        pending = sorted(files)
        while pending:
            path = pending.pop()
            if path not in imported:
                facts = self.files[path]
                imported[path] = {self.symbols[q].path for local in facts.imports for q in self._import_quals(facts, local)}
            for target in imported[path] - seen:
                seen.add(target)
                pending.append(target)
        return seen

    def _resolved_param(self, facts: FileFacts, param: Param) -> Param:
        if param.source == "depends":
            return param
        dependency = auth_policy.param_dependency(self, facts, param)
        return _replace(param, source="depends", dependency=dependency) if dependency else param

    def _chain_dependencies(self, chain: list[tuple[str, Include, str]], router_qual: str | None) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for path, include, parent in chain:
            symbol = self.symbols[parent]
            if symbol.kind == "router":
                found.extend((symbol.path, d) for d in symbol.value.dependencies)
            found.extend((path, d) for d in include.dependencies)
        if router_qual is not None and self.symbols[router_qual].kind == "router":
            symbol = self.symbols[router_qual]
            found.extend((symbol.path, d) for d in symbol.value.dependencies)
        return found

    def _chains(self, router_qual: str, seen: frozenset[str] = frozenset()) -> list[list[tuple[str, Include, str]]]:
        """Every mount chain from a root (an app, or a router nobody includes) down to `router_qual`."""
        mounts = self._includes_into.get(router_qual, [])
        if not mounts or router_qual in seen:
            return [[]]
        chains: list[list[tuple[str, Include, str]]] = []
        for mount in sorted(mounts, key=lambda m: (m[0], m[1].line)):
            for chain in self._chains(mount[2], seen | {router_qual}):
                chains.append([*chain, mount])
                if len(chains) >= MAX_CHAINS:
                    return chains
        return chains

    def _full_path(self, chain: list[tuple[str, Include, str]], router_qual: str | None, path: str) -> str:
        parts: list[str] = []
        for include_path, include, parent in chain:
            parts.append(self._prefix_of(parent))
            parts.append(self._prefix_value(include_path, include.prefix, include.prefix_ref))
        if router_qual is not None:
            parts.append(self._prefix_of(router_qual))
        parts.append(path)
        joined = "".join(parts)
        return joined if joined.startswith("/") else "/" + joined

    def _prefix_of(self, qual: str) -> str:
        symbol = self.symbols[qual]
        if symbol.kind != "router":
            return ""
        return (self._prefix_value(symbol.path, symbol.value.prefix, symbol.value.prefix_ref)
                or router_classes.init_prefix(self, symbol.path, symbol.value))

    def _prefix_value(self, path: str, prefix: str | None, ref: str | None) -> str:
        """A prefix's text; `settings.API_V1_STR` is followed to the Settings class default,
        `API + VERSION_1 + ITEMS` to the constants of other files."""
        if prefix is not None:
            return prefix
        return (self._expression_value(path, ref) if ref else None) or ""

    def _expression_value(self, path: str, text: str) -> str | None:
        """The string an expression of constants builds (names, `+`, f-strings), else None."""
        try:
            node = ast.parse(text, mode="eval").body
        except SyntaxError:
            return None
        return self._string_of(path, node)

    def _string_of(self, path: str, node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._string_of(path, node.left), self._string_of(path, node.right)
            return left + right if left is not None and right is not None else None
        if isinstance(node, ast.JoinedStr):
            parts = [self._string_of(path, v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
            return None if None in parts else "".join(parts)  # type: ignore[arg-type]
        name = dotted_name(node)
        return self._constant(path, name) if name else None

    def _constant(self, path: str, ref: str) -> str | None:
        facts = self.files[path]
        qual = self._lookup(facts, ref)
        if qual is not None and self.symbols[qual].kind == "constant":
            return self.symbols[qual].value  # type: ignore[return-value]
        head, _, attribute = ref.rpartition(".")
        owner = self._lookup(facts, head) if head else None
        if owner is None or self.symbols[owner].kind != "instance":
            return None
        instance = self.symbols[owner]
        class_qual = self._lookup(self.files[instance.path], instance.value)
        constant = f"{class_qual}.{attribute}" if class_qual else None
        if constant is not None and constant in self.symbols:
            return self.symbols[constant].value  # type: ignore[return-value]
        return None

    # --- models -----------------------------------------------------------------------------------

    def _model(self, qual: str) -> ModelInfo | None:
        if qual not in self._model_memo:
            self._model_memo[qual] = None
            self._model_memo[qual] = self._compute_model(qual)
        return self._model_memo[qual]

    def _compute_model(self, qual: str) -> ModelInfo | None:
        symbol = self.symbols[qual]
        cls: ClassFacts = symbol.value  # type: ignore[assignment]
        roots, fields, declarative = self._lineage(qual, set())
        table = (cls.table and "SQLModel" in roots) or (
            (declarative or bool(roots & DECLARATIVE_ROOTS)) and not cls.abstract
            and (cls.tablename is not None or any(f.column for f in cls.fields))
        )
        schema = not table and bool(roots & SCHEMA_ROOTS) and "BaseSettings" not in roots
        if not table and not schema:
            return None
        merged = tuple({f.name: f for f in fields}.values())
        owner = next((f.name for name in OWNER_COLUMNS for f in merged if f.name == name and _user_fk(f.foreign_key)), None)
        return ModelInfo(cls.name, qual, table, schema, merged, cls.tablename, owner if table else None)

    def _lineage(self, qual: str, seen: set[str]) -> tuple[set[str], list[FieldDef], bool]:
        """(external base names, fields base-first, declarative base seen) of a project class."""
        seen.add(qual)
        symbol = self.symbols[qual]
        cls: ClassFacts = symbol.value  # type: ignore[assignment]
        facts = self.files[symbol.path]
        roots: set[str] = set()
        fields: list[FieldDef] = []
        declarative = False
        for base in reversed(cls.bases):
            base_qual = self._lookup(facts, base)
            if base_qual is None or base_qual in seen:
                roots.add(base.rsplit(".", 1)[-1])
                continue
            base_symbol = self.symbols[base_qual]
            if base_symbol.kind == "class":
                sub_roots, sub_fields, sub_declarative = self._lineage(base_qual, seen)
                roots |= sub_roots
                fields.extend(sub_fields)
                declarative = declarative or sub_declarative or base_symbol.name in DECLARATIVE_ROOTS
            elif base_symbol.kind == "instance" and str(base_symbol.value).endswith(("declarative_base", "generate_base")):
                declarative = True
        fields.extend(cls.fields)
        return roots, fields, declarative


class _FingerprintMemo:
    """What `fingerprint_for` computes once per index instead of once per file: symbols by file
    and by module, the module an import target names, each target's symbols, each summary."""

    def __init__(self) -> None:
        self.targets: dict[str, list[str]] = {}
        self.target_files: dict[str, set[str]] = {}
        self.summaries: dict[str, bytes] = {}
        self._defined_in: dict[str, list[str]] | None = None
        self._members: dict[str, list[str]] | None = None
        self._suffixes: dict[str, int] | None = None
        self._order: dict[str, int] = {}
        self._modules: list[str] = []

    def defined_in(self, index: ProjectIndex) -> dict[str, list[str]]:
        """path -> qualified names of the symbols that file defines, sorted."""
        if self._defined_in is None:
            self._defined_in = {}
            for qual in sorted(index.symbols):
                self._defined_in.setdefault(index.symbols[qual].path, []).append(qual)
        return self._defined_in

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


def _definitions(facts: FileFacts) -> Iterator[tuple[str, str, object]]:
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


def _defined_names(facts: FileFacts) -> set[str]:
    """The last parts of the names a file defines (what suffix matching looks symbols up by)."""
    return {name.rpartition(".")[2] for _, name, _ in _definitions(facts)}


def _shared_tail(a: str, b: str) -> int:
    count = 0
    for x, y in zip(reversed(a.split(".")), reversed(b.split("."))):
        if x != y:
            break
        count += 1
    return count


def _top_package(module: str) -> str:
    """`app.api.routes.items` -> `app`: the import root that groups routers no app includes."""
    return module.partition(".")[0]


def _user_fk(foreign_key: str | None) -> bool:
    """No foreign key known, or one pointing at a user-like table (`user.id`, `users.id`, `User.id`)."""
    if foreign_key is None:
        return True
    table = foreign_key.split(".", 1)[0].lower()
    return any(word in table for word in USER_TABLE_WORDS)


def _replace(value: T, **changes: object) -> T:
    """`dataclasses.replace` for our frozen fact classes (no `__post_init__`, no init-only fields)
    without re-running `__init__`: the index copies every route three times while it resolves them."""
    assert changes.keys() <= value.__dataclass_fields__.keys(), changes.keys()  # type: ignore[attr-defined]
    copy = object.__new__(type(value))
    copy.__dict__.update(value.__dict__)
    copy.__dict__.update(changes)
    return copy

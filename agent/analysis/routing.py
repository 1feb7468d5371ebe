"""Route resolution: what each route is once the whole project is known.

Given the index's symbols and include edges, it resolves each route's dependencies, its mount
chains (`include_router` chains with their prefixes and `dependencies=`, at most `MAX_CHAINS`),
its full URL path (prefixes followed through constants and settings defaults), its
applications and whether those authenticate anywhere, and, where FastAPI's own route table is
given (`--app`), what the running application serves. Whether a route is authenticated is
decided by `auth_policy`; this module only gathers what that decision reads.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, TypeVar

from agent.analysis import auth_policy, router_classes
from agent.analysis.auth_policy import Chain
from agent.analysis.facts import FileFacts, Param, Route, RuntimeRoute, dotted_name
from agent.analysis.import_graph import import_closure

if TYPE_CHECKING:
    from agent.analysis.index import ProjectIndex

T = TypeVar("T")

MAX_CHAINS = 32


def resolve_routes(index: ProjectIndex) -> list[Route]:
    """Every route of the project (files in path order), resolved, with `app_has_auth` set."""
    routes = [_resolve_route(index, f, r) for f in sorted(index.files.values(), key=lambda f: f.path)
              for r in f.routes]
    with_auth = _apps_with_auth(index, routes)
    return [_replace(r, app_has_auth=bool(with_auth.intersection(r.apps))) for r in routes]


def with_runtime(index: ProjectIndex, runtime: tuple[RuntimeRoute, ...]) -> list[Route]:
    """The index's routes with the full path and authentication of each one FastAPI serves."""
    served: dict[tuple[str, int], list[RuntimeRoute]] = {}
    for item in runtime:
        served.setdefault((item.file, item.line), []).append(item)
    routes = []
    for route in index.routes:
        items = [i for i in served.get((route.file, route.line), ()) if i.method in route.methods]
        if not items:
            routes.append(route)
            continue
        item = next((i for i in items if i.path == route.full_path), items[0])
        decision = auth_policy.runtime_decision(index, item, route)
        level = decision.level
        routes.append(_replace(route, full_path=item.path, auth=level, public=decision.status == "public",
                               auth_via=decision.via[0].dependency if level else None,
                               auth_status=decision.status, auth_reason=decision.reason, auth_chain=decision.via))
    return routes


def expression_value(index: ProjectIndex, path: str, text: str) -> str | None:
    """The string an expression of constants builds (names, `+`, f-strings), else None."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    return string_of(index, path, node)


def _resolve_route(index: ProjectIndex, facts: FileFacts, route: Route) -> Route:
    params = tuple(_resolved_param(index, facts, p) for p in route.params)
    extra = tuple(p.dependency for p, old in zip(params, route.params) if p.dependency and not old.dependency)
    route = _replace(route, params=params, dependencies=route.dependencies + extra)
    if route.path_ref is not None:
        route = _replace(route, path=expression_value(index, facts.path, route.path_ref) or "")
    router_qual = index._lookup(facts, route.owner)
    router = index.symbols[router_qual] if router_qual is not None else None
    chains = _chains(index, router_qual) if router is not None and router.kind == "router" else [[]]
    full_paths = [_full_path(index, chain, router_qual, route.path) for chain in chains]
    # The first path whose mounts all have a known prefix is the one shown (`app.mount(
    # settings.BASE or "/api", ...)` next to `app.mount("/api", ...)`).
    known = [i for i, chain in enumerate(chains) if all(inc.prefix is not None or
             expression_value(index, path, inc.prefix_ref or "") is not None for path, inc, _ in chain)]
    if known and known[0]:
        full_paths.insert(0, full_paths.pop(known[0]))
    route = _replace(route, apps=_route_apps(index, facts, router_qual, chains))
    decision = auth_policy.decide(index, facts, route, router_qual, chains, full_paths)
    admin = any(index.is_admin_dependency(facts.path, d) for d in route.dependencies) or any(
        index.is_admin_dependency(path, d) for chain in chains[:1] for path, d in _chain_dependencies(index, chain, router_qual)
    )
    user_param, principal = auth_policy.principal(index, facts, route)
    level = decision.level
    return _replace(route, auth=level, auth_via=decision.via[0].dependency if level else None,
                    full_path=full_paths[0], public=decision.status == "public", admin=admin,
                    user_param=user_param, principal=principal, auth_status=decision.status,
                    auth_reason=decision.reason, auth_chain=decision.via)


def _route_apps(index: ProjectIndex, facts: FileFacts, router_qual: str | None, chains: list[Chain]) -> tuple[str, ...]:
    """The applications a route belongs to: the `FastAPI()` object at the root of each of its
    mount chains (`app.main.app`), or, where a chain's root is a router no reviewed app
    includes (or the route's owner is unknown), the top package of that root's file (`app.*`)."""
    found: set[str] = set()
    for chain in chains:
        root = chain[0][2] if chain else router_qual
        symbol = index.symbols[root] if root is not None else None
        if symbol is not None and symbol.kind == "router" and symbol.value.kind == "FastAPI":
            found.add(root)  # type: ignore[arg-type]
        else:
            home = index.files[symbol.path] if symbol is not None and symbol.kind == "router" else facts
            found.add(_top_package(home.module) + ".*")
    return tuple(sorted(found))


def _apps_with_auth(index: ProjectIndex, routes: list[Route]) -> set[str]:
    """The applications that authenticate somewhere: the `auth-dependencies` setting names a
    dependency, one of their routes has auth, or a file they reach defines an auth dependency.

    An application reaches its route files, its `FastAPI()` file and what those import,
    transitively; a file that no application reaches counts for every application reaching a
    file of the same top package (a `deps.py` nobody imports yet still says the app has auth).
    """
    apps = {app for route in routes for app in route.apps}
    if index.extra_auth_dependencies:
        return apps
    seeds: dict[str, set[str]] = {app: ({index.symbols[app].path} if app in index.symbols else set()) for app in apps}
    with_auth: set[str] = set()
    for route in routes:
        for app in route.apps:
            seeds[app].add(route.file)
            if route.auth:
                with_auth.add(app)
    if with_auth == apps:
        return with_auth  # the usual case: no import closure needed
    auth_files = {s.path for q, s in index.symbols.items()
                  if s.kind in {"function", "alias", "instance"} and auth_policy.symbol_auth(index, q)}
    imported: dict[str, set[str]] = {}
    reach = {app: import_closure(index, files, imported) for app, files in seeds.items()}
    reached = set().union(*reach.values())
    stray_packages = {_top_package(index.files[path].module) for path in auth_files - reached}
    for app, files in reach.items():
        packages = {_top_package(index.files[path].module) for path in files}
        if files & auth_files or packages & stray_packages:
            with_auth.add(app)
    return with_auth


def _resolved_param(index: ProjectIndex, facts: FileFacts, param: Param) -> Param:
    if param.source == "depends":
        return param
    dependency = auth_policy.param_dependency(index, facts, param)
    return _replace(param, source="depends", dependency=dependency) if dependency else param


def _chain_dependencies(index: ProjectIndex, chain: Chain, router_qual: str | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path, include, parent in chain:
        symbol = index.symbols[parent]
        if symbol.kind == "router":
            found.extend((symbol.path, d) for d in symbol.value.dependencies)
        found.extend((path, d) for d in include.dependencies)
    if router_qual is not None and index.symbols[router_qual].kind == "router":
        symbol = index.symbols[router_qual]
        found.extend((symbol.path, d) for d in symbol.value.dependencies)
    return found


def _chains(index: ProjectIndex, router_qual: str, seen: frozenset[str] = frozenset()) -> list[Chain]:
    """Every mount chain from a root (an app, or a router nobody includes) down to `router_qual`."""
    mounts = index._includes_into.get(router_qual, [])
    if not mounts or router_qual in seen:
        return [[]]
    chains: list[Chain] = []
    for mount in sorted(mounts, key=lambda m: (m[0], m[1].line)):
        for chain in _chains(index, mount[2], seen | {router_qual}):
            chains.append([*chain, mount])
            if len(chains) >= MAX_CHAINS:
                return chains
    return chains


def _full_path(index: ProjectIndex, chain: Chain, router_qual: str | None, path: str) -> str:
    parts: list[str] = []
    for include_path, include, parent in chain:
        parts.append(_prefix_of(index, parent))
        parts.append(_prefix_value(index, include_path, include.prefix, include.prefix_ref))
    if router_qual is not None:
        parts.append(_prefix_of(index, router_qual))
    parts.append(path)
    joined = "".join(parts)
    return joined if joined.startswith("/") else "/" + joined


def _prefix_of(index: ProjectIndex, qual: str) -> str:
    symbol = index.symbols[qual]
    if symbol.kind != "router":
        return ""
    return (_prefix_value(index, symbol.path, symbol.value.prefix, symbol.value.prefix_ref)
            or router_classes.init_prefix(index, symbol.path, symbol.value))


def _prefix_value(index: ProjectIndex, path: str, prefix: str | None, ref: str | None) -> str:
    """A prefix's text; `settings.API_V1_STR` is followed to the Settings class default,
    `API + VERSION_1 + ITEMS` to the constants of other files."""
    if prefix is not None:
        return prefix
    return (expression_value(index, path, ref) if ref else None) or ""


def string_of(index: ProjectIndex, path: str, node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = string_of(index, path, node.left), string_of(index, path, node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [string_of(index, path, v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return None if None in parts else "".join(parts)  # type: ignore[arg-type]
    name = dotted_name(node)
    return _constant(index, path, name) if name else None


def _constant(index: ProjectIndex, path: str, ref: str) -> str | None:
    facts = index.files[path]
    qual = index._lookup(facts, ref)
    if qual is not None and index.symbols[qual].kind == "constant":
        return index.symbols[qual].value  # type: ignore[return-value]
    head, _, attribute = ref.rpartition(".")
    owner = index._lookup(facts, head) if head else None
    if owner is None or index.symbols[owner].kind != "instance":
        return None
    instance = index.symbols[owner]
    class_qual = index._lookup(index.files[instance.path], instance.value)
    constant = f"{class_qual}.{attribute}" if class_qual else None
    if constant is not None and constant in index.symbols:
        return index.symbols[constant].value  # type: ignore[return-value]
    return None


def _top_package(module: str) -> str:
    """`app.api.routes.items` -> `app`: the import root that groups routers no app includes."""
    return module.partition(".")[0]


def _replace(value: T, **changes: object) -> T:
    """`dataclasses.replace` for our frozen fact classes (no `__post_init__`, no init-only fields)
    without re-running `__init__`: resolving copies every route three times."""
    assert changes.keys() <= value.__dataclass_fields__.keys(), changes.keys()  # type: ignore[attr-defined]
    copy = object.__new__(type(value))
    copy.__dict__.update(value.__dict__)
    copy.__dict__.update(changes)
    return copy

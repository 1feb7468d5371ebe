"""The route inventory (`fba routes`): every path operation with how it is authenticated, as the
JSON contract in DESIGN.md ("Route inventory") spells it; static entries come from the project
index, runtime entries from `runtime.py`, and `compare` lists where they disagree."""

from __future__ import annotations

from typing import Any, Iterable

from agent.analysis.facts import Route
from agent.analysis.index import ProjectIndex

INVENTORY_VERSION = 1


def static_entries(index: ProjectIndex, files: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One contract entry per (method, route) of `files` (default: every route), sorted by path."""
    wanted = None if files is None else set(files)
    entries = [_entry(index, route, method) for route in index.routes if wanted is None or route.file in wanted
               for method in route.methods]
    return sorted(entries, key=_order)


def _entry(index: ProjectIndex, route: Route, method: str) -> dict[str, Any]:
    return {
        "method": method,
        "path": route.full_path or route.path or "/",
        "handler": route.function,
        "file": route.file,
        "line": route.line,
        "auth": {
            "status": route.auth_status,
            "via": [{"dependency": v.dependency, "attached": v.attached, "file": v.file, "line": v.line}
                    for v in route.auth_chain],
            "reason": route.auth_reason,
        },
        "principal": route.principal,
        "owner_scope": owner_scope(index, route),
        "source": "static",
    }


def owner_scope(index: ProjectIndex, route: Route) -> list[str]:
    """`Model.owner_column` of each owned table model the handler names (body, parameters, response model)."""
    names = [*route.names, *(p.annotation for p in route.params if p.annotation)]
    if route.response_model:
        names.append(route.response_model)
    found: list[str] = []
    for name in names:
        for model in index.models_in(route.file, name):
            scope = f"{model.name}.{model.owner_column}"
            if model.table and model.owner_column and scope not in found:
                found.append(scope)
    return sorted(found)


def _order(entry: dict[str, Any]) -> tuple:
    return (entry["path"], entry["method"], entry["file"], entry["line"])


def document(routes: list[dict[str, Any]], disagreements: list[dict[str, Any]] | None = None,
             agreement: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document: `{"version": 1, "routes": [...]}`, plus the comparison when asked for."""
    found: dict[str, Any] = {"version": INVENTORY_VERSION, "routes": routes}
    if disagreements is not None:
        found["disagreements"] = disagreements
        found["agreement"] = agreement
    return found


# --- runtime ---------------------------------------------------------------------------------------


def runtime_entries(index: ProjectIndex, raw: list[dict[str, Any]], shown: dict[str, str]) -> list[dict[str, Any]]:
    """Contract entries for the routes FastAPI serves (`runtime.read_app`), judged by the auth
    policy over FastAPI's own dependency graph. `shown` maps absolute file paths to the paths
    the index uses. What the graph cannot hold (a check in the handler body, an auth decorator,
    an authenticating middleware, a public kind) is taken from the static route of the same handler."""
    from agent.analysis import auth_policy

    static = {(r.file, r.line): r for r in index.routes}
    entries = []
    for item in raw:
        file = shown.get(item["file"], item["file"])
        route = static.get((file, item["line"]))
        via = [_runtime_via(index, dep, shown) for dep in item["dependencies"]]
        confirmed = [v for v, code in via if code not in {None, "by-name"}]
        by_name = [v for v, code in via if code == "by-name"]
        if confirmed:
            auth = {"status": "authenticated", "via": confirmed, "reason": "an authenticating dependency in FastAPI's graph"}
        elif by_name:
            auth = {"status": "unknown", "via": by_name, "reason": auth_policy.REASONS["by-name"]}
        elif route is not None and (own := _outside_graph(route)):
            auth = {"status": "authenticated", "reason": route.auth_reason,
                    "via": [{"dependency": v.dependency, "attached": v.attached, "file": v.file, "line": v.line} for v in own]}
        else:
            reason = auth_policy.public_reason(route, item["path"], index.public_routes) if route is not None else None
            if reason is None and route is not None and route.auth_status == "public":
                reason = route.auth_reason  # a kind found in the handler (optional auth, stateless utility)
            auth = {"status": "public", "via": [], "reason": reason} if reason else \
                {"status": "missing", "via": [], "reason": "no authenticating dependency in FastAPI's graph"}
        entries.append({
            "method": item["method"], "path": item["path"], "handler": item["handler"], "file": file,
            "line": item["line"], "auth": auth, "principal": route.principal if route is not None else None,
            "owner_scope": owner_scope(index, route) if route is not None else [], "source": "runtime",
        })
    return sorted(entries, key=_order)


def _outside_graph(route: Route) -> list:
    """The static evidence FastAPI's dependency graph cannot hold: a check in the handler body,
    an auth decorator, an authenticating middleware."""
    from agent.analysis.auth_policy import AUTH_DECORATOR

    if route.auth_status != "authenticated":
        return []
    return [v for v in route.auth_chain if v.dependency in {route.function, "middleware"}
            or AUTH_DECORATOR.match(v.dependency.rsplit(".", 1)[-1])]


def _runtime_via(index: ProjectIndex, dependency: dict[str, Any], shown: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    from agent.analysis import auth_policy

    file = shown.get(dependency["file"] or "", dependency["file"] or "")
    via = {"dependency": dependency["name"], "attached": dependency["attached"], "file": file, "line": dependency["line"]}
    if dependency["scheme"]:
        return via, "security-scheme"
    if file in index.files:
        return via, auth_policy.dependency_auth(index, file, dependency["name"])
    return via, auth_policy.dependency_auth(index, "", dependency["name"])


# --- static vs runtime -------------------------------------------------------------------------------

AUTHENTICATED = {"authenticated", "unknown"}


def compare(static: list[dict[str, Any]], runtime: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Where the static inventory and FastAPI's own route table disagree, and the agreement.

    Routes are matched by handler (file and `def` line) and method. A disagreement is a route
    one side does not have, a different full path, or a different authentication status (both
    judged by the same policy, `runtime_entries`: what differs is the route table and dependency
    graph the static engine inferred).
    """
    by_handler: dict[tuple, list[dict[str, Any]]] = {}
    for entry in static:
        by_handler.setdefault(_handler_key(entry), []).append(entry)
    disagreements: list[dict[str, Any]] = []
    agreed = 0
    for entry in runtime:
        candidates = by_handler.get(_handler_key(entry), [])
        mine = next((e for e in candidates if e["path"] == entry["path"]), candidates[0] if candidates else None)
        if mine is None:
            disagreements.append(_disagreement("only-runtime", entry, None, "fba found no such route"))
            continue
        candidates.remove(mine)
        problems = []
        if mine["path"] != entry["path"]:
            problems.append(f"path: static {mine['path']} vs runtime {entry['path']}")
        if _authenticated(mine) != _authenticated(entry):
            problems.append(f"auth: static {mine['auth']['status']} ({mine['auth']['reason']}) vs runtime "
                            f"{entry['auth']['status']} ({entry['auth']['reason']})")
        if problems:
            disagreements.append(_disagreement("differs", entry, mine, "; ".join(problems)))
        else:
            agreed += 1
    left = [mine for candidates in by_handler.values() for mine in candidates]
    disagreements += [_disagreement("only-static", None, mine, "FastAPI does not serve it") for mine in left]
    total = len(runtime) + len(left)
    return disagreements, {"routes": total, "agree": agreed, "ratio": round(agreed / total, 3) if total else None}


def _handler_key(entry: dict[str, Any]) -> tuple:
    return (entry["file"], entry["line"], entry["method"])


def _authenticated(entry: dict[str, Any]) -> bool:
    return entry["auth"]["status"] in AUTHENTICATED


def _disagreement(kind: str, runtime: dict[str, Any] | None, static: dict[str, Any] | None, detail: str) -> dict[str, Any]:
    shown = runtime or static
    return {"kind": kind, "method": shown["method"], "path": shown["path"], "handler": shown["handler"],
            "file": shown["file"], "line": shown["line"], "detail": detail}

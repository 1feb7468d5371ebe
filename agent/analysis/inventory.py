"""The route inventory (`fba routes`): every path operation with how it is authenticated, as the
JSON contract in DESIGN.md ("Route inventory") spells it; static entries come from the project
index, runtime entries from `runtime.py`, and `compare` lists where they disagree."""

from __future__ import annotations

from typing import Any, Iterable

from agent.analysis.facts import Route, RuntimeRoute, Via
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
            "via": [_via(v) for v in route.auth_chain],
            "reason": route.auth_reason,
        },
        "principal": route.principal,
        "owner_scope": owner_scope(index, route),
        "source": "static",
    }


def _via(via: Via) -> dict[str, Any]:
    return {"dependency": via.dependency, "attached": via.attached, "file": via.file, "line": via.line}


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


def runtime_entries(index: ProjectIndex, served: tuple[RuntimeRoute, ...]) -> list[dict[str, Any]]:
    """Contract entries for the routes FastAPI serves (`runtime.runtime_routes`), judged by the
    auth policy over FastAPI's own dependency graph (`auth_policy.runtime_decision`)."""
    from agent.analysis.auth_policy import runtime_decision

    static = {(r.file, r.line): r for r in index.routes}
    entries = []
    for item in served:
        route = static.get((item.file, item.line))
        decision = runtime_decision(index, item, route)
        entries.append({
            "method": item.method, "path": item.path, "handler": item.handler, "file": item.file, "line": item.line,
            "auth": {"status": decision.status, "via": [_via(v) for v in decision.via], "reason": decision.reason},
            "principal": route.principal if route is not None else None,
            "owner_scope": owner_scope(index, route) if route is not None else [], "source": "runtime",
        })
    return sorted(entries, key=_order)


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

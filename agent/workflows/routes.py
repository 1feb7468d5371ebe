"""`fba routes`: the route inventory of a project, static and (with `--app`) runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from agent.analysis.reading import indexed_sources
from agent.analysis.runner import build_index


@dataclass(frozen=True)
class RouteInventory:
    """The contract document (`inventory.document`) and whether it came with a comparison."""

    document: dict[str, Any]
    compared: bool = False


def route_inventory(paths: Sequence[Path], config, app_ref: str | None = None, python: str | None = None,
                    compare: bool = False) -> RouteInventory:
    """The routes of the files under `paths` (the index covers their projects, as a review does). With `app_ref` the routes are FastAPI's own (imported in a subprocess with `python`);
    with `compare` too, the static inventory is compared with them."""
    from agent.analysis import inventory

    sources, modules, wanted = indexed_sources(paths, config.root, tuple(config["exclude"]))
    index = build_index(sources, config["auth-dependencies"], config["public-routes"], modules)
    static = inventory.static_entries(index, wanted)
    if app_ref is None:
        return RouteInventory(inventory.document(static))
    from agent.analysis.runtime import read_app, runtime_routes

    runtime = inventory.runtime_entries(index, runtime_routes(read_app(app_ref, python, Path.cwd()), Path.cwd()))
    if not compare:
        return RouteInventory(inventory.document(runtime))
    disagreements, agreement = inventory.compare(static, runtime)
    return RouteInventory(inventory.document(runtime, disagreements, agreement), compared=True)

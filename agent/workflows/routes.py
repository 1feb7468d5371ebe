"""`fba routes`: the route inventory of a project, static and (with `--app`) runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from agent.analysis.runner import build_index, collect_files, import_root, python_files, read_sources


@dataclass(frozen=True)
class RouteInventory:
    """The contract document (`inventory.document`) and whether it came with a comparison."""

    document: dict[str, Any]
    compared: bool = False


def route_inventory(paths: Sequence[Path], config, app_ref: str | None = None, python: str | None = None,
                    compare: bool = False) -> RouteInventory:
    """The routes of the files under `paths` (the index covers their import roots, as a review
    does). With `app_ref` the routes are FastAPI's own (imported in a subprocess with `python`);
    with `compare` too, the static inventory is compared with them."""
    from agent.analysis import inventory

    exclude = tuple(config["exclude"])
    files = collect_files(paths, config.root, exclude)
    reported = set(files)
    for folder in sorted({import_root(path, config.root) for path in paths}):
        files.extend(f for f in python_files(folder, config.root, exclude) if f not in reported)
    sources, modules, _ = read_sources([f.resolve() for f in files], config.root,
                                       sorted({import_root(p, config.root) for p in paths}))
    index = build_index(sources, config["auth-dependencies"], config["public-routes"], modules)
    shown = {str(Path(path).resolve()): path for path in sources}
    wanted = {shown[str(f.resolve())] for f in reported if str(f.resolve()) in shown}
    static = inventory.static_entries(index, wanted)
    if app_ref is None:
        return RouteInventory(inventory.document(static))
    from agent.analysis.runtime import read_app, runtime_routes

    runtime = inventory.runtime_entries(index, runtime_routes(read_app(app_ref, python, Path.cwd()), Path.cwd()))
    if not compare:
        return RouteInventory(inventory.document(runtime))
    disagreements, agreement = inventory.compare(static, runtime)
    return RouteInventory(inventory.document(runtime, disagreements, agreement), compared=True)

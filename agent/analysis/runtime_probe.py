"""Print FastAPI's own route table of an application as JSON (run by `fba ... --app module:attr`).

Runs as a script in the user's interpreter and environment, in a subprocess: it imports only the
standard library, the user's application and the FastAPI it uses (never fba). Usage:

    python runtime_probe.py module:attr OUTPUT.json   # attr may be dotted; a factory is called

The table goes to a file: the application may print to stdout while it is imported.
"""

import importlib
import inspect
import json
import os
import sys


def main() -> None:
    sys.path.insert(0, os.getcwd())
    module_name, _, attribute = sys.argv[1].partition(":")
    target = importlib.import_module(module_name)
    for part in (attribute or "app").split("."):
        target = getattr(target, part)
    if callable(target) and not hasattr(target, "routes"):
        target = target()  # an application factory: `create_app`
    with open(sys.argv[2], "w", encoding="utf-8") as output:
        json.dump({"routes": list(_routes(target, ""))}, output)


def _routes(app, prefix):
    from fastapi.routing import APIRoute, APIWebSocketRoute
    from starlette.routing import Mount

    for route in _flat(getattr(app, "routes", ())):
        original = getattr(route, "original_route", route)
        if isinstance(original, (APIRoute, APIWebSocketRoute)):
            endpoint = inspect.unwrap(route.endpoint)
            file, line = _where(endpoint)
            route_level = len(getattr(route, "dependencies", None) or ())
            dependencies = [_dependency(d, "route" if i < route_level else "handler")
                            for i, d in enumerate(route.dependant.dependencies)]
            methods = sorted(route.methods) if isinstance(original, APIRoute) else ["WEBSOCKET"]
            for method in methods:
                yield {"method": method, "path": prefix + route.path, "handler": endpoint.__name__, "file": file,
                       "line": line, "dependencies": [d for d in dependencies if d is not None]}
        elif isinstance(original, Mount) and original.app is not None:
            yield from _routes(original.app, prefix + (route.path or ""))


def _flat(routes):
    """Each route with its effective state: FastAPI >= 0.16x keeps included routers lazily
    (`iter_route_contexts` resolves prefixes and dependencies); older versions copy the routes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return list(routes)
    return list(iter_route_contexts(routes))


def _dependency(dependant, attached):
    call = dependant.call
    if call is None:
        return None
    target = call if inspect.isfunction(call) or inspect.ismethod(call) or inspect.isclass(call) else type(call)
    target = inspect.unwrap(target) if inspect.isfunction(target) else target
    file, line = _where(target)
    name = getattr(call, "__name__", None) or type(call).__name__
    return {"name": name, "attached": attached, "file": file, "line": line, "scheme": _has_scheme(dependant)}


def _has_scheme(dependant):
    """The dependency or one of its own dependencies is a `fastapi.security` scheme."""
    from fastapi.security.base import SecurityBase

    pending, seen = [dependant], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current.call, SecurityBase):
            return True
        pending.extend(current.dependencies)
    return False


def _where(obj):
    """(absolute file, line of the `def`/`class` statement, after any decorators)."""
    try:
        file = inspect.getsourcefile(obj)
        lines, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None, 0
    for offset, text in enumerate(lines):
        if text.lstrip().startswith(("def ", "async def ", "class ")):
            return os.path.realpath(file), start + offset
    return os.path.realpath(file), start


if __name__ == "__main__":
    main()

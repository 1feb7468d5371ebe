"""Per-file facts: what one module declares that other files and rules need to know.

Facts are plain frozen dataclasses (picklable, cacheable); `extract_facts` runs one walk over a
module's top level. The project index (`index.py`) merges the facts of all files.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
ROUTE_DECORATORS = frozenset(HTTP_METHODS) | {"api_route", "websocket"}
APP_CLASSES = frozenset({"FastAPI", "APIRouter"})


@dataclass(frozen=True)
class Param:
    """A handler or dependency parameter.

    `source` is where FastAPI takes it from: path, query, body, header, cookie, form, file,
    depends (a dependency), request (Request/WebSocket/BackgroundTasks/Response objects).
    `dependency` is the dependency callable's dotted name for `Depends(x)`, `Security(x)` and
    `Annotated[T, Depends(x)]` (aliases resolved by the index).
    """

    name: str
    annotation: str = ""
    source: str = "query"
    dependency: str | None = None
    default: str = ""
    line: int = 0


@dataclass(frozen=True)
class Route:
    """One path operation. `auth` is filled by the index: where authentication comes from
    ("handler", "router", "include", "app") or None when the route has none."""

    file: str
    function: str
    line: int
    end_line: int
    decorator_line: int
    methods: tuple[str, ...]
    path: str
    owner: str
    is_async: bool
    params: tuple[Param, ...] = ()
    dependencies: tuple[str, ...] = ()
    response_model: str | None = None
    status_code: str | None = None
    auth: str | None = None
    auth_via: str | None = None


@dataclass(frozen=True)
class FileFacts:
    """Everything one module contributes to the project index."""

    path: str
    module: str
    imports: dict[str, str] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()


def module_name(path: str) -> str:
    """Dotted module name for a POSIX relative path: `app/api/items.py` -> `app.api.items`."""
    name = path[:-3] if path.endswith(".py") else path
    parts = [p for p in name.split("/") if p]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for Name/Attribute chains, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def call_name(node: ast.AST) -> str | None:
    """Dotted name of a call's callee (`Depends` for `Depends(x)`, `db.query` for `db.query(X)`)."""
    return dotted_name(node.func) if isinstance(node, ast.Call) else None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def collect_imports(tree: ast.Module, module: str) -> dict[str, str]:
    """Local name -> fully qualified dotted name, for top-level (and nested) imports."""
    imports: dict[str, str] = {}
    package = module.rsplit(".", 1)[0] if "." in module else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                imports[local] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                if alias.name != "*":
                    imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
    return imports


def route_decorator(decorator: ast.expr) -> tuple[str, str, ast.Call] | None:
    """(owner, method, call) for `@owner.method(...)` route decorators, else None."""
    if not isinstance(decorator, ast.Call) or not isinstance(decorator.func, ast.Attribute):
        return None
    method = decorator.func.attr
    if method not in ROUTE_DECORATORS:
        return None
    owner = dotted_name(decorator.func.value)
    if owner is None:
        return None
    return owner, method, decorator


def _methods(method: str, call: ast.Call) -> tuple[str, ...]:
    if method == "api_route":
        node = keyword(call, "methods")
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            found = tuple(str(v).upper() for e in node.elts if (v := literal_str(e)))
            return found or ("GET",)
        return ("GET",)
    return (method.upper(),)


def _source(node: ast.AST | None) -> str | None:
    return ast.unparse(node) if node is not None else None


PARAM_SOURCES = {
    "Path": "path", "Query": "query", "Body": "body", "Header": "header", "Cookie": "cookie",
    "Form": "form", "File": "file", "UploadFile": "file", "Depends": "depends", "Security": "depends",
}
REQUEST_TYPES = frozenset({"Request", "WebSocket", "BackgroundTasks", "Response", "HTTPConnection"})
SCALAR_TYPES = frozenset({"int", "str", "float", "bool", "bytes", "UUID", "datetime", "date", "time", "timedelta", "Decimal", "EmailStr"})


def _marker_call(node: ast.AST | None) -> ast.Call | None:
    """The FastAPI marker (`Depends(...)`, `Query(...)`, ...) in a default or Annotated metadata."""
    if isinstance(node, ast.Call):
        name = call_name(node)
        if name and name.rsplit(".", 1)[-1] in PARAM_SOURCES:
            return node
    return None


def _annotated_parts(annotation: ast.expr | None) -> tuple[ast.expr | None, list[ast.expr]]:
    """(type, metadata) for `Annotated[T, m1, m2]`, else (annotation, [])."""
    if isinstance(annotation, ast.Subscript):
        base = dotted_name(annotation.value)
        if base and base.rsplit(".", 1)[-1] == "Annotated" and isinstance(annotation.slice, ast.Tuple):
            elts = annotation.slice.elts
            return (elts[0] if elts else None), list(elts[1:])
    return annotation, []


def describe_param(arg: ast.arg, default: ast.expr | None, path_params: set[str]) -> Param:
    """Classify one parameter the way FastAPI would (marker, annotation, path template)."""
    base_type, metadata = _annotated_parts(arg.annotation)
    marker = next((m for m in (_marker_call(x) for x in [*metadata, default]) if m), None)
    annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
    type_text = ast.unparse(base_type) if base_type is not None else ""
    default_text = ast.unparse(default) if default is not None else ""
    if marker is not None:
        kind = PARAM_SOURCES[call_name(marker).rsplit(".", 1)[-1]]
        dependency = None
        if kind == "depends":
            target = marker.args[0] if marker.args else keyword(marker, "dependency")
            dependency = dotted_name(target) if target is not None else type_text or None
        return Param(arg.arg, annotation, kind, dependency, default_text, arg.lineno)
    if arg.arg in path_params:
        return Param(arg.arg, annotation, "path", None, default_text, arg.lineno)
    if type_text.rsplit(".", 1)[-1] in REQUEST_TYPES:
        return Param(arg.arg, annotation, "request", None, default_text, arg.lineno)
    if _scalar_type(base_type):
        return Param(arg.arg, annotation, "query", None, default_text, arg.lineno)
    # A class-typed parameter (a Pydantic model, dict, Any): FastAPI reads it from the body.
    return Param(arg.arg, annotation, "body", None, default_text, arg.lineno)


CONTAINER_TYPES = frozenset({"Optional", "list", "List", "Literal", "set", "Set", "Union", "None", "typing"})


def _scalar_type(node: ast.expr | None) -> bool:
    """True for untyped parameters and scalars, also inside Optional/list/Union (query params)."""
    if node is None:
        return True
    if isinstance(node, ast.Subscript) and (dotted_name(node.value) or "").endswith("Literal"):
        return True
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    names -= {"typing", "uuid", "datetime", "decimal"}
    return names <= SCALAR_TYPES | CONTAINER_TYPES


def function_params(func: ast.FunctionDef | ast.AsyncFunctionDef, path_params: set[str]) -> tuple[Param, ...]:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    return tuple(describe_param(arg, default, path_params) for arg, default in pairs if arg.arg not in {"self", "cls"})


def path_parameters(path: str) -> set[str]:
    """`/items/{item_id}/{rest:path}` -> {"item_id", "rest"}."""
    names: set[str] = set()
    for chunk in path.split("{")[1:]:
        name = chunk.split("}", 1)[0].split(":", 1)[0].strip()
        if name:
            names.add(name)
    return names


def extract_routes(tree: ast.Module, path: str) -> tuple[Route, ...]:
    routes: list[Route] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            found = route_decorator(decorator)
            if found is None:
                continue
            owner, method, call = found
            url = literal_str(call.args[0]) if call.args else literal_str(keyword(call, "path"))
            url = url if url is not None else ""
            dep_list = keyword(call, "dependencies")
            decorator_deps = _dependency_names(dep_list)
            params = function_params(node, path_parameters(url))
            response_model = _source(keyword(call, "response_model"))
            routes.append(
                Route(
                    file=path,
                    function=node.name,
                    line=node.lineno,
                    end_line=node.end_lineno or node.lineno,
                    decorator_line=decorator.lineno,
                    methods=_methods(method, call),
                    path=url,
                    owner=owner,
                    is_async=isinstance(node, ast.AsyncFunctionDef),
                    params=params,
                    dependencies=decorator_deps + tuple(p.dependency for p in params if p.dependency),
                    response_model=response_model,
                    status_code=_source(keyword(call, "status_code")),
                )
            )
    return tuple(sorted(routes, key=lambda r: (r.line, r.decorator_line)))


def _dependency_names(node: ast.AST | None) -> tuple[str, ...]:
    """Names of the callables in `dependencies=[Depends(a), Security(b, scopes=[...])]`."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        return ()
    names: list[str] = []
    for element in node.elts:
        marker = _marker_call(element)
        if marker is not None and marker.args:
            name = dotted_name(marker.args[0])
            if name:
                names.append(name)
    return tuple(names)


def extract_facts(tree: ast.Module, path: str, module: str | None = None) -> FileFacts:
    """Facts of one module; `module` defaults to the dotted name derived from `path`."""
    module = module if module is not None else module_name(path)
    return FileFacts(path=path, module=module, imports=collect_imports(tree, module), routes=extract_routes(tree, path))

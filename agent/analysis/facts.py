"""Per-file facts: what one module declares that other files and rules need to know.

Facts are plain frozen dataclasses (picklable, cacheable); `extract_facts` reads a module through
its one shared walk (`walk.TreeWalk`). Names in facts are written as in the source
(`items.router`, `CurrentUser`); the project index (`index.py`) resolves them through each file's
imports and merges the facts of all files.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Iterator

from agent.analysis.walk import TreeWalk

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
class Via:
    """Where a route's authentication comes from: the dependency (or check) and the level it is
    attached at (`handler`, `route`, `router`, `include`, `app`), with the file and line saying so."""

    dependency: str
    attached: str
    file: str
    line: int


@dataclass(frozen=True)
class RuntimeDependency:
    """A dependency of a route in FastAPI's own graph (`--app`): its callable's name, where it is
    attached ("handler": a parameter; "route": the route's, router's, include's or app's
    `dependencies=`), its definition, and whether it or one of its own dependencies is a
    `fastapi.security` scheme."""

    name: str
    attached: str
    file: str
    line: int
    scheme: bool = False


@dataclass(frozen=True)
class RuntimeRoute:
    """A route FastAPI serves (`--app`): method, full path, handler `def` (file as the index shows it, line)."""

    method: str
    path: str
    handler: str
    file: str
    line: int
    dependencies: tuple[RuntimeDependency, ...] = ()


@dataclass(frozen=True)
class Route:
    """One path operation. `auth` is filled by the index: where authentication comes from
    ("handler", "router", "include", "app") or None when the route has none. `apps` are the
    applications it belongs to (`ProjectIndex._route_apps`) and `app_has_auth` says whether one of
    them authenticates anywhere (an application without any auth is a deliberately public API).

    Extracted from the handler: `decorators` (its other decorators, as callee names), `signals`
    (auth evidence in its own body, as in `FunctionFacts`), `calls` (what it calls),
    `answer` ("redirect": every `return` answers a `RedirectResponse`; "literal": every `return`
    answers a literal built without calls or awaits, a stateless utility; "template": it only
    renders a template), `names` (class-like names it uses).
    Decided by the auth policy (`auth_policy.py`): `auth_status` (authenticated, public, missing,
    unknown), `auth_reason`, `auth_chain` and `principal` (the annotation of the authenticated
    caller's parameter)."""

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
    full_path: str = ""
    public: bool = False
    admin: bool = False
    user_param: str | None = None
    apps: tuple[str, ...] = ()
    app_has_auth: bool = False
    decorators: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    answer: str = ""
    names: tuple[str, ...] = ()
    auth_status: str = "missing"
    auth_reason: str = ""
    auth_chain: tuple[Via, ...] = ()
    principal: str | None = None
    path_ref: str | None = None

    def path_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.source == "path")


@dataclass(frozen=True)
class RouterDef:
    """A module-level `APIRouter(...)` or `FastAPI(...)` object.

    For a router class of the project (`VersionedRouter(1)`), `cls` is the class as written and
    `init_args` the literal arguments of the call (position or keyword -> text): the index
    follows the class to the prefix its `__init__` sets (`ClassFacts.init_prefix`)."""

    name: str
    kind: str
    line: int
    prefix: str | None = ""
    dependencies: tuple[str, ...] = ()
    prefix_ref: str | None = None
    cls: str = ""
    init_args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Include:
    """`parent.include_router(child, prefix=..., dependencies=[...])`.

    `prefix` is None when it is not a literal of this file; `prefix_ref` then names it
    (`settings.API_V1_STR`) for the index to resolve across files.
    """

    parent: str
    child: str
    line: int
    prefix: str | None = ""
    dependencies: tuple[str, ...] = ()
    prefix_ref: str | None = None


@dataclass(frozen=True)
class FunctionFacts:
    """A module-level function (or a class's `__call__`, named `Class.__call__`) that may be a dependency.

    `signals` are the auth evidence found in its body: "jwt-decode", "http-401", "http-403",
    "credential-check" (a 4xx rejection that depends on a credential-like parameter, see
    `credential_rejections`), "login-redirect" (a redirect to a login page); `admin_check` is
    True when it raises on a superuser/admin/role test. `returns` are the names it returns
    (a factory returning the dependency it picked); `inner_dependencies` the dependencies that
    functions defined inside it take (`Depends(make_checker(...))`'s checker).

    What it does with its parameters and answers, for rules that follow a payload across
    functions (`payload_flow`): `forwards` are (parameter, target) pairs, target "http" when the
    parameter (as a whole, or a copy) is the body of an outgoing HTTP request it sends, else
    "callee#slot" (positional index or keyword) when it is handed whole to another call;
    `relays` is True when it returns the answer of an outgoing request it sends, and
    `returned_calls` are the callees whose result it returns as is.
    """

    name: str
    line: int
    params: tuple[Param, ...] = ()
    calls: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    admin_check: bool = False
    returns: tuple[str, ...] = ()
    inner_dependencies: tuple[str, ...] = ()
    forwards: tuple[tuple[str, str], ...] = ()
    relays: bool = False
    returned_calls: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldDef:
    """A class attribute with an annotation or a column: `owner_id: uuid.UUID = Field(foreign_key="user.id")`."""

    name: str
    annotation: str
    line: int
    foreign_key: str | None = None
    column: bool = False


@dataclass(frozen=True)
class ClassFacts:
    """A module-level class: its bases (as written), `table=True`, `__tablename__`, fields.

    A router class that sets its prefix in `__init__` (`super().__init__(prefix=f"/v{version}",
    **kwargs)`): `init_prefix` is that expression's source, `init_params` the `__init__`
    parameters with their literal defaults (None: no literal default)."""

    name: str
    line: int
    bases: tuple[str, ...] = ()
    table: bool = False
    tablename: str | None = None
    abstract: bool = False
    fields: tuple[FieldDef, ...] = ()
    init_prefix: str | None = None
    init_params: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class FileFacts:
    """Everything one module contributes to the project index.

    `aliases`: `CurrentUser = Annotated[User, Depends(get_current_user)]` -> {"CurrentUser": "get_current_user"}.
    `instances`: module-level `name = Callee(...)` -> {"name": "Callee"} (security schemes,
    fastapi-users `current_user(...)`, settings objects, callable dependency instances).
    `constants`: module-level and class-level string literals (`API_V1_STR`, `Settings.API_V1_STR`).
    `auth_middleware`: lines of HTTP middleware that answer 401/403 (`@app.middleware("http")`
    functions, `BaseHTTPMiddleware` classes): authentication for the whole application.
    """

    path: str
    module: str
    imports: dict[str, str] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    routers: tuple[RouterDef, ...] = ()
    includes: tuple[Include, ...] = ()
    functions: tuple[FunctionFacts, ...] = ()
    classes: tuple[ClassFacts, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    auth_middleware: tuple[int, ...] = ()


def module_name(path: str) -> str:
    """Dotted module name for a POSIX relative path: `app/api/items.py` -> `app.api.items`."""
    name = path[:-3] if path.endswith(".py") else path
    parts = [p for p in name.split("/") if p]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_Name, _Attribute, _Call = ast.Name, ast.Attribute, ast.Call
_NAMING = frozenset({ast.Name, ast.Attribute})
_UNSET = object()


def dotted_name(node: ast.AST | None) -> str | None:
    """`a.b.c` for Name/Attribute chains, else None.

    Rules ask for the same callee names many times (some 3.5 times per node on a real codebase),
    so an `Attribute`'s answer is kept on the node (`_fba_dotted`; trees are never edited).
    """
    cls = node.__class__
    if cls is _Name:
        return node.id  # type: ignore[union-attr]
    if cls is not _Attribute:
        return None
    known = node.__dict__.get("_fba_dotted", _UNSET)
    if known is not _UNSET:
        return known
    parts: list[str] = []
    current = node
    while current.__class__ is _Attribute:
        parts.append(current.attr)  # type: ignore[union-attr]
        current = current.value  # type: ignore[union-attr]
    found = None
    if current.__class__ is _Name:
        parts.append(current.id)  # type: ignore[union-attr]
        found = ".".join(reversed(parts))
    node._fba_dotted = found  # type: ignore[union-attr]
    return found


def call_name(node: ast.AST | None) -> str | None:
    """Dotted name of a call's callee (`Depends` for `Depends(x)`, `db.query` for `db.query(X)`)."""
    return dotted_name(node.func) if node.__class__ is _Call else None  # type: ignore[union-attr]


def callee_attr(node: ast.AST | None) -> str | None:
    """The called function's own name: `limit` for `select(X).where(...).limit(10)`, `select` for
    `sa.select(X)`, also when the callee has no dotted name. The cheap first test of many rules."""
    if node.__class__ is not _Call:
        return None
    func = node.func  # type: ignore[union-attr]
    if func.__class__ is _Attribute:
        return func.attr
    return func.id if func.__class__ is _Name else None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def collect_imports(tree: ast.Module, module: str, is_package: bool = False) -> dict[str, str]:
    """Local name -> fully qualified dotted name, for top-level (and nested) imports.

    `is_package` says `module` is a package's `__init__`, the anchor of its relative imports.
    """
    imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.update(import_bindings(node, module, is_package))
    return imports


def import_bindings(node: ast.Import | ast.ImportFrom, module: str, is_package: bool = False) -> dict[str, str]:
    """The names one import statement binds: `from ..core import security` -> {"security": "app.core.security"}."""
    bound: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            bound[local] = alias.name if alias.asname else alias.name.split(".")[0]
        return bound
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        if alias.name != "*":
            bound[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
    return bound


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
    return unparse(node) if node is not None else None


def unparse(node: ast.AST) -> str:
    """`ast.unparse`, answering names, dotted names and `None`/`True`/`False`/int constants (most
    annotations and defaults) directly: the unparser's visitor machinery costs more than the
    whole facts pass of a simple function."""
    name = dotted_name(node)
    if name is not None:
        return name
    if node.__class__ is ast.Constant and (node.value is None or node.value.__class__ in (bool, int)):
        return repr(node.value)
    return ast.unparse(node)


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
    annotation = unparse(arg.annotation) if arg.annotation is not None else ""
    type_text = unparse(base_type) if base_type is not None else ""
    default_text = unparse(default) if default is not None else ""
    if marker is not None:
        kind = PARAM_SOURCES[call_name(marker).rsplit(".", 1)[-1]]
        dependency = None
        if kind == "depends":
            target = marker.args[0] if marker.args else keyword(marker, "dependency")
            # `Depends(ProjectAdmin())`, `Security(HTTPBearer())`: the class or factory called.
            target = target.func if isinstance(target, ast.Call) else target
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
    names = {n.id if n.__class__ is _Name else n.attr for n in ast.walk(node) if n.__class__ in _NAMING}
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


def route_of_function(node: ast.FunctionDef | ast.AsyncFunctionDef, path: str, walk: TreeWalk | None = None) -> list[Route]:
    """One Route per route decorator on `node` (usually one). `app.webhooks.post(...)` documents
    an outgoing webhook in OpenAPI: not a served route."""
    routes: list[Route] = []
    evidence: tuple | None = None
    for decorator in node.decorator_list:
        found = route_decorator(decorator)
        if found is None or found[0].rpartition(".")[2] == "webhooks" and "." in found[0]:
            continue
        owner, method, call = found
        if evidence is None:
            evidence = _handler_evidence(node, walk if walk is not None else TreeWalk(node))
        url_node = call.args[0] if call.args else keyword(call, "path")
        url = literal_str(url_node)
        path_ref = _prefix_ref(url_node) if url is None else None
        url = url if url is not None else ""
        params = function_params(node, path_parameters(url))
        dependencies = _dependency_names(keyword(call, "dependencies")) + tuple(p.dependency for p in params if p.dependency)
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
                dependencies=_resolve_local_dependencies(dependencies, node, walk),
                response_model=_source(keyword(call, "response_model")),
                status_code=_source(keyword(call, "status_code")),
                decorators=tuple(n for d in node.decorator_list if route_decorator(d) is None
                                 and (n := dotted_name(d.func if isinstance(d, ast.Call) else d))),
                signals=evidence[0],
                calls=evidence[1],
                answer="redirect" if "RedirectResponse" in (_source(keyword(call, "response_class")) or "") else evidence[2],
                names=evidence[3],
                path_ref=path_ref,
            )
        )
    return routes


def _resolve_local_dependencies(names: tuple[str, ...], handler: ast.AST, walk: TreeWalk | None) -> tuple[str, ...]:
    """A dependency bound by the function that registers the route (`auth = make_auth(key)`, then
    `@router.get(..., dependencies=[Depends(auth)])` inside a router factory) is recorded as the
    callable that builds it, as a module-level binding would be."""
    if walk is None or not names:
        return names
    scopes = []
    parent = walk.parent(handler)
    while parent is not None:
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scopes.append(parent)
        parent = walk.parent(parent)
    return tuple(_local_callee(name, scopes) or name for name in names)


def _local_callee(name: str, scopes: list[ast.FunctionDef | ast.AsyncFunctionDef]) -> str | None:
    """The callee of the innermost `name = callee(...)` among the scopes' own statements, else None."""
    for scope in scopes:
        for stmt in scope.body:
            assigned = _assignment(stmt)
            if assigned is not None and assigned[0] == name:
                return call_name(assigned[1]) if isinstance(assigned[1], ast.Call) else None
    return None


def _handler_evidence(node: ast.FunctionDef | ast.AsyncFunctionDef, walk: TreeWalk) -> tuple:
    """(auth signals, calls, answer kind, class-like names) of a handler's body."""
    _, signals, _ = _body_evidence(node, walk)
    if credential_rejections(node, function_params(node, set()), walk):
        signals = tuple(sorted({*signals, "credential-check"}))
    body = [n for statement in node.body for n in (statement, *walk.body(statement))]  # not its decorators
    calls = tuple(dict.fromkeys(name for n in body if isinstance(n, ast.Call) and (name := call_name(n))))
    returns = [n.value for n in body if isinstance(n, ast.Return) and n.value is not None]
    answer = ""
    if returns and all((call_name(r) or "").endswith("RedirectResponse") for r in returns):
        answer = "redirect"
    elif returns and not any(isinstance(n, (ast.Call, ast.Await)) for n in body) \
            and all(isinstance(r, (ast.Dict, ast.List)) and (r.keys if isinstance(r, ast.Dict) else r.elts) for r in returns):
        answer = "literal"  # a fixed non-empty literal (`return []` is a stub, not an answer)
    elif returns and all((call_name(r) or "").endswith(("TemplateResponse", "render_template")) for r in returns) \
            and len([n for n in body if isinstance(n, ast.Call)]) == len(returns):
        answer = "template"
    if any(isinstance(n, ast.Attribute) and n.attr == "is_authenticated" for n in body):
        signals = tuple(sorted({*signals, "optional-auth"}))
    names = sorted({n.id for n in body if isinstance(n, ast.Name) and n.id[:1].isupper()})
    return signals, calls, answer, tuple(names)


def _dependency_names(node: ast.AST | None) -> tuple[str, ...]:
    """Names of the callables in `dependencies=[Depends(a), Security(b, scopes=[...])]`.

    `Depends(Checker(...))` (a callable instance) is recorded under the class name `Checker`.
    """
    if not isinstance(node, (ast.List, ast.Tuple)):
        return ()
    names: list[str] = []
    for element in node.elts:
        marker = _marker_call(element)
        if marker is not None and marker.args:
            target = marker.args[0]
            name = dotted_name(target.func if isinstance(target, ast.Call) else target)
            if name:
                names.append(name)
    return tuple(names)


# --- status codes ----------------------------------------------------------------------------

_HTTPSTATUS_NAMES = {"UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "CREATED": 201,
                     "NO_CONTENT": 204, "OK": 200, "BAD_REQUEST": 400}


def status_value(node: ast.AST | None) -> int | None:
    """The integer of a status code expression: `401`, `status.HTTP_401_UNAUTHORIZED`, `HTTPStatus.FORBIDDEN`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    name = dotted_name(node) if node is not None else None
    if name is None:
        return None
    last = name.rsplit(".", 1)[-1]
    if last.startswith("HTTP_") and last[5:8].isdigit():
        return int(last[5:8])
    return _HTTPSTATUS_NAMES.get(last) if "HTTPStatus" in name else None


def http_exception_status(call: ast.AST) -> int | None:
    """Status of `HTTPException(401, ...)` / `HTTPException(status_code=status.HTTP_403_FORBIDDEN)`."""
    name = call_name(call)
    if not name or not name.endswith("HTTPException"):
        return None
    node = keyword(call, "status_code") or (call.args[0] if call.args else None)
    return status_value(node)


# --- dependencies and auth evidence ------------------------------------------------------------

# Qualified-name endings of JWT verification calls (PyJWT, python-jose, joserfc, authlib).
JWT_DECODERS = ("jwt.decode", "jwt.decode_complete", "jws.verify", "jose.jwt.decode")
ADMIN_ATTRIBUTES = frozenset({"is_superuser", "is_admin", "is_staff", "superuser", "admin", "role", "roles",
                              "scopes", "permissions", "is_owner"})


def _body_evidence(func: ast.AST, walk: TreeWalk) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(calls, auth signals, admin check) found in a function body; calls in `ast.walk` order."""
    calls: list[str] = []
    signals: set[str] = set()
    admin = False
    for node in walk.subtree_of_type(func, ast.Call):
        name = call_name(node)
        if name:
            calls.append(name)
            if name.endswith(JWT_DECODERS):
                signals.add("jwt-decode")
            if name.endswith("HTTPException"):
                code = http_exception_status(node)
                if code in (401, 403):
                    signals.add(f"http-{code}")
            if _login_redirect(node, name):
                signals.add("login-redirect")
    for node in walk.subtree_of_type(func, ast.If):
        if _tests_admin(node.test, walk) and walk.subtree_of_type(node, ast.Raise):
            admin = True
            break
    return tuple(dict.fromkeys(calls)), tuple(sorted(signals)), admin


def _login_redirect(call: ast.Call, name: str) -> bool:
    """`RedirectResponse("/login")`, `HTTPException(307, headers={"Location": "/login?next=..."})`:
    a session check that sends the anonymous caller to sign in."""
    if name.endswith("HTTPException"):
        status = http_exception_status(call)
        if not (status is not None and 300 <= status < 400 or keyword(call, "headers") is not None):
            return False  # `HTTPException(429, "Ran out of login attempts")` sends nobody anywhere
    elif not name.endswith(("RedirectResponse", "redirect")):
        return False
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and re.search(r"log_?in|sign_?in", n.value)
               for n in ast.walk(call))


def _tests_admin(test: ast.AST, walk: TreeWalk) -> bool:
    for node in walk.subtree(test):
        if isinstance(node, ast.Attribute) and node.attr in ADMIN_ATTRIBUTES:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in {"admin", "superuser", "staff"}:
            return True
    return False


def function_facts(
    node: ast.FunctionDef | ast.AsyncFunctionDef, name: str | None = None, walk: TreeWalk | None = None
) -> FunctionFacts:
    """Facts of one function; `walk` is its module's walk when the caller has one."""
    walk = walk if walk is not None else TreeWalk(node)
    calls, signals, admin = _body_evidence(node, walk)
    for decorator_or_default in [*node.args.defaults, *node.args.kw_defaults]:
        marker = _marker_call(decorator_or_default)
        if marker is not None and _admin_scopes(marker):
            admin = True
    params = function_params(node, set())
    if credential_rejections(node, params, walk):
        signals = tuple(sorted({*signals, "credential-check"}))
    returns = tuple(dict.fromkeys(n for r in walk.body(node) if isinstance(r, ast.Return)
                                  and (n := dotted_name(r.value)) is not None))
    inner = tuple(dict.fromkeys(
        p.dependency for f in walk.subtree_of_type(node, ast.FunctionDef, ast.AsyncFunctionDef) if f is not node
        for p in function_params(f, set()) if p.dependency))
    forwards, relays, returned_calls = payload_flow(node, walk)
    return FunctionFacts(name or node.name, node.lineno, params, calls, signals, admin, returns, inner,
                         forwards, relays, returned_calls)


# --- payloads sent upstream -------------------------------------------------------------------

# An outgoing HTTP request with a body: `client.post(url, json=...)` (httpx, requests, aiohttp),
# `session.request("POST", url, data=...)`. A database session's methods take no such keyword.
OUTGOING_METHODS = frozenset({"post", "put", "patch", "request", "stream"})
REQUEST_BODY_KEYWORDS = frozenset({"json", "data", "content", "files"})
# Calls that hand back their argument whole: copies and serialisations of a payload.
WHOLE_COPIES = frozenset({"dict", "copy", "deepcopy", "dumps", "jsonable_encoder", "encode"})


def outgoing_request(node: ast.AST) -> bool:
    """`client.post(url, json=payload)`, also awaited: a request to another service carrying a body."""
    if isinstance(node, ast.Await):
        node = node.value
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in OUTGOING_METHODS
            and any(k.arg in REQUEST_BODY_KEYWORDS for k in node.keywords))


def _whole_source(node: ast.AST, origin: dict[str, str]) -> str | None:
    """The parameter `node` is, as a whole: the name or an alias of it, awaited, `{**name, ...}`,
    a copy or a serialisation (`dict(name)`, `name.copy()`, `json.dumps(name).encode()`)."""
    if isinstance(node, ast.Await):
        node = node.value
    if isinstance(node, ast.Name):
        return origin.get(node.id)
    if isinstance(node, ast.Dict):
        return next((found for key, value in zip(node.keys, node.values)
                     if key is None and (found := _whole_source(value, origin))), None)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr in WHOLE_COPIES:
            found = _whole_source(node.func.value, origin)
            if found is not None:
                return found
        if (call_name(node) or "").rsplit(".", 1)[-1] in WHOLE_COPIES and node.args:
            return _whole_source(node.args[0], origin)
    return None


def payload_flow(
    func: ast.FunctionDef | ast.AsyncFunctionDef, walk: TreeWalk
) -> tuple[tuple[tuple[str, str], ...], bool, tuple[str, ...]]:
    """(forwards, relays, returned_calls) of `func` (see `FunctionFacts`), from its own body in
    source order; an alias stays one once made (`payload = {**form}; payload = dumps(payload)`)."""
    args = func.args
    origin = {a.arg: a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs] if a.arg not in {"self", "cls"}}
    answers: set[str] = set()  # names bound to an outgoing request's answer, or derived from it
    forwards: dict[tuple[str, str], None] = {}
    relays = False
    returned: list[str] = []
    for node in walk.body(func):
        kind = node.__class__
        if kind not in _FLOW_NODES:
            continue
        if kind is ast.Call:
            for target, value in _call_slots(node, origin):
                if (source := _whole_source(value, origin)) is not None:
                    forwards[(source, target)] = None
        elif kind is ast.withitem:
            if node.optional_vars.__class__ is ast.Name and outgoing_request(node.context_expr):
                answers.add(node.optional_vars.id)
        elif kind is ast.Return:
            if node.value is None:
                continue
            relays = relays or outgoing_request(node.value) or _mentions(node.value, answers, walk)
            value = node.value.value if node.value.__class__ is ast.Await else node.value
            if value.__class__ is ast.Call and (callee := call_name(value)):
                returned.append(callee)
        elif (bound := _assignment(node)) is not None:
            target, value = bound
            if (source := _whole_source(value, origin)) is not None:
                origin[target] = source
            if outgoing_request(value) or _mentions(value, answers, walk):
                answers.add(target)
    return tuple(forwards), relays, tuple(dict.fromkeys(returned))


_FLOW_NODES = frozenset({ast.Assign, ast.AnnAssign, ast.withitem, ast.Call, ast.Return})
_WHOLE_CANDIDATES = frozenset({ast.Await, ast.Dict, ast.Call})


def _call_slots(call: ast.Call, origin: dict[str, str]) -> Iterator[tuple[str, ast.expr]]:
    """(target, argument) of a call for the arguments that may be a parameter as a whole: "http"
    for the body of an outgoing request, else "callee#slot" (its position, or its keyword)."""
    slots = [(str(i), arg) for i, arg in enumerate(call.args) if _candidate(arg, origin)]
    slots += [(k.arg, k.value) for k in call.keywords if k.arg is not None and _candidate(k.value, origin)]
    if not slots:
        return
    if outgoing_request(call):
        yield from (("http", value) for slot, value in slots if slot in REQUEST_BODY_KEYWORDS)
        return
    callee = call_name(call)
    if callee is None or callee.rsplit(".", 1)[-1] in WHOLE_COPIES:
        return
    yield from ((f"{callee}#{slot}", value) for slot, value in slots)


def _candidate(node: ast.expr, origin: dict[str, str]) -> bool:
    """Cheap test before `_whole_source`: a parameter's name or an expression that may wrap one."""
    kind = node.__class__
    return (kind is ast.Name and node.id in origin) or kind in _WHOLE_CANDIDATES


def _mentions(node: ast.AST, names: set[str], walk: TreeWalk) -> bool:
    return bool(names) and any(isinstance(n, ast.Name) and n.id in names for n in walk.subtree(node))


# Words that make a header/query/cookie parameter a presented credential: `x_token`, `x_api_key`,
# `authorization`, `session_id`, `apiKey`, `accesstoken`.
CREDENTIAL_WORDS = frozenset({"token", "key", "apikey", "auth", "authorization", "secret", "session", "sessionid",
                              "credential", "credentials", "password", "passwd"})
# Words that make such a name something else: pagination cursors (`page_token`, `next_token`),
# lookup keys (`sort_key`, `cache_key`, `idempotency_key`), values being chosen (`new_password`).
NOT_CREDENTIAL_WORDS = frozenset({"page", "next", "prev", "previous", "cursor", "continuation", "sync", "sort", "order",
                                  "cache", "idempotency", "partition", "group", "lookup", "search", "public", "new",
                                  "confirm"})
CREDENTIAL_SOURCES = frozenset({"header", "query", "cookie"})
# A lookup miss (404) or a throttle (429) is an answer about the resource or the rate, not the credential.
NOT_CREDENTIAL_STATUSES = frozenset({404, 429})


def is_credential_name(name: str) -> bool:
    """`x_token`, `x_api_key`, `authToken`, `session_id`: yes; `page_token`, `sort_key`, `keyword`: no."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    if NOT_CREDENTIAL_WORDS.intersection(words):
        return False
    return any(w in CREDENTIAL_WORDS or w.endswith(("token", "apikey")) for w in words)


def credential_rejections(
    func: ast.FunctionDef | ast.AsyncFunctionDef, params: tuple[Param, ...], walk: TreeWalk
) -> list[tuple[ast.Raise, int]]:
    """(raise, status) of each `HTTPException` 4xx (not 404/429) that `func` raises in a branch
    depending on a credential-like header/query/cookie parameter: under an `if` whose test reads
    it (or a local computed from it), or in an `except` of a `try` whose body reads it.

    FastAPI's docs check `x_token: Annotated[str, Header()]` this way (`raise HTTPException(400)`
    when it is wrong); a dependency that only reads a `page_token`, or rejects a non-credential
    parameter, has none.
    """
    tainted = {p.name for p in params if p.source in CREDENTIAL_SOURCES and is_credential_name(p.name)}
    if not tainted:
        return []
    body = walk.body(func)
    for node in body:  # pre-order is source order: `user = lookup(token)` taints `user`
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None \
                and _reads(node.value, tainted, walk):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            tainted |= {n.id for t in targets for n in walk.subtree(t) if isinstance(n, ast.Name)}
    bound = _bound_exceptions(body)
    found: dict[ast.Raise, int] = {}
    for node in body:
        if isinstance(node, ast.If) and _reads(node.test, tainted, walk):
            branches: list[ast.AST] = [*node.body, *node.orelse]
        elif isinstance(node, ast.Try) and any(_reads(s, tainted, walk) for s in node.body):
            branches = list(node.handlers)
        else:
            continue
        for branch in branches:
            for raised in walk.subtree(branch):
                status = _rejection_status(raised, bound) if isinstance(raised, ast.Raise) else None
                if status is not None:
                    found[raised] = status
    return sorted(found.items(), key=lambda pair: (pair[0].lineno, pair[0].col_offset))


def _reads(node: ast.AST, names: set[str], walk: TreeWalk) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in walk.subtree(node))


def _bound_exceptions(body: list[ast.AST]) -> dict[str, int]:
    """`credentials_error = HTTPException(status_code=400, ...)` -> {"credentials_error": 400}."""
    bound: dict[str, int] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            status = http_exception_status(node.value)
            if status is not None:
                bound[node.targets[0].id] = status
    return bound


def _rejection_status(node: ast.Raise, bound: dict[str, int]) -> int | None:
    if isinstance(node.exc, ast.Name):
        status = bound.get(node.exc.id)
    else:
        status = http_exception_status(node.exc) if node.exc is not None else None
    return status if status is not None and 400 <= status < 500 and status not in NOT_CREDENTIAL_STATUSES else None


def _admin_scopes(marker: ast.Call) -> bool:
    """`Security(get_current_user, scopes=["admin"])`."""
    scopes = keyword(marker, "scopes")
    return scopes is not None and any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and "admin" in n.value.lower() for n in ast.walk(scopes)
    )


# --- routers, includes, aliases -----------------------------------------------------------------


def literal_path(node: ast.AST | None, constants: dict[str, str]) -> str | None:
    """A prefix given as a literal, a module constant or an f-string of those; None when unknown."""
    if node is None:
        return ""
    text = literal_str(node)
    if text is not None:
        return text
    name = dotted_name(node)
    if name is not None:
        return constants.get(name)
    if isinstance(node, ast.JoinedStr):
        parts = [literal_path(v.value if isinstance(v, ast.FormattedValue) else v, constants) for v in node.values]
        return None if any(p is None for p in parts) else "".join(parts)  # type: ignore[arg-type]
    return None


def _router_def(name: str, call: ast.Call, constants: dict[str, str]) -> RouterDef | None:
    """`APIRouter(...)`, `FastAPI(...)`, or a router class of a project or library
    (`PrefectRouter(...)`, `VersionedAPIRouter(...)`: a callee named `*Router`)."""
    kind = (call_name(call) or "").rsplit(".", 1)[-1]
    if kind not in APP_CLASSES and not kind.endswith("Router"):
        return None
    prefix_node = keyword(call, "prefix") if kind != "FastAPI" else None
    subclass = kind not in APP_CLASSES
    return RouterDef(name, kind, call.lineno, literal_path(prefix_node, constants),
                     _dependency_names(keyword(call, "dependencies")), _prefix_ref(prefix_node),
                     call_name(call) or "" if subclass else "", _literal_arguments(call) if subclass else ())


def _literal_arguments(call: ast.Call) -> tuple[tuple[str, str], ...]:
    """`VersionedRouter(1, tags=["orders"])` -> (("0", "1"),): the constant arguments, as text."""
    slots = [*((str(i), arg) for i, arg in enumerate(call.args)), *((k.arg, k.value) for k in call.keywords if k.arg)]
    return tuple((slot, str(value.value)) for slot, value in slots
                 if isinstance(value, ast.Constant) and isinstance(value.value, (str, int, float)))


def _prefix_ref(node: ast.AST | None) -> str | None:
    """A prefix or path that is not a literal of this file, as written (`settings.API_V1_STR`,
    `API + VERSION_1 + ARTIFACTS`): the index follows its names across files."""
    return unparse(node) if node is not None else None


def _include(call: ast.Call, constants: dict[str, str]) -> Include | None:
    """`parent.include_router(child, prefix=...)`, or `parent.mount("/api", app=child)` (a
    sub-application mounted under a path: its routes get the path as a prefix)."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in {"include_router", "mount"}:
        return None
    parent = dotted_name(call.func.value)
    if call.func.attr == "mount":
        child_node = call.args[1] if len(call.args) > 1 else keyword(call, "app")
        prefix_node = call.args[0] if call.args else keyword(call, "path")
    else:
        child_node = call.args[0] if call.args else keyword(call, "router")
        prefix_node = keyword(call, "prefix")
    child = dotted_name(child_node) if child_node is not None else None
    if parent is None or child is None:
        return None
    return Include(parent, child, call.lineno, literal_path(prefix_node, constants),
                   _dependency_names(keyword(call, "dependencies")), _prefix_ref(prefix_node))


def _alias_target(value: ast.AST | None) -> str | None:
    """`Annotated[User, Depends(get_current_user)]` -> "get_current_user"; also a marker bound to
    a name, used as parameter defaults (`CURRENT = Depends(get_current_user)`; `user=CURRENT`)."""
    marker = _marker_call(value)
    if marker is not None and PARAM_SOURCES[call_name(marker).rsplit(".", 1)[-1]] == "depends" and marker.args:
        target = marker.args[0]
        return dotted_name(target.func if isinstance(target, ast.Call) else target)
    if not isinstance(value, ast.Subscript):
        return None
    base_type, metadata = _annotated_parts(value)
    for item in metadata:
        marker = _marker_call(item)
        if marker is not None and PARAM_SOURCES[call_name(marker).rsplit(".", 1)[-1]] == "depends":
            target = marker.args[0] if marker.args else keyword(marker, "dependency")
            if target is None:
                return dotted_name(base_type) if base_type is not None else None
            return dotted_name(target.func if isinstance(target, ast.Call) else target)
    return None


# --- classes: models and schemas ---------------------------------------------------------------


def _foreign_key(value: ast.AST | None) -> str | None:
    """`Field(foreign_key="user.id")`, `mapped_column(ForeignKey("users.id"))`, `Column(Integer, ForeignKey(User.id))`."""
    if value is None:
        return None
    for node in ast.walk(value):
        if not isinstance(node, ast.Call):
            continue
        fk = literal_str(keyword(node, "foreign_key"))
        if fk:
            return fk
        if (call_name(node) or "").endswith("ForeignKey") and node.args:
            return literal_str(node.args[0]) or ast.unparse(node.args[0])
    return None


def _is_column(value: ast.AST | None) -> bool:
    name = call_name(value) if value is not None else None
    return bool(name) and name.rsplit(".", 1)[-1] in {"Column", "mapped_column", "Field"}


def class_facts(node: ast.ClassDef) -> ClassFacts:
    bases = tuple(n for n in (dotted_name(b) for b in node.bases) if n)
    table = any(kw.arg == "table" and isinstance(kw.value, ast.Constant) and kw.value.value is True for kw in node.keywords)
    tablename: str | None = None
    abstract = False
    fields: list[FieldDef] = []
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            annotation = unparse(stmt.annotation)
            if stmt.target.id == "__tablename__":
                tablename = literal_str(stmt.value)
                continue
            fields.append(FieldDef(stmt.target.id, annotation, stmt.lineno, _foreign_key(stmt.value),
                                   annotation.startswith("Mapped[") or _is_column(stmt.value)))
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0].id
            if target == "__tablename__":
                tablename = literal_str(stmt.value)
            elif target == "__abstract__":
                abstract = isinstance(stmt.value, ast.Constant) and stmt.value.value is True
            elif _is_column(stmt.value):
                fields.append(FieldDef(target, "", stmt.lineno, _foreign_key(stmt.value), True))
    init_prefix, init_params = _init_prefix(node)
    return ClassFacts(node.name, node.lineno, bases, table, tablename, abstract, tuple(fields), init_prefix, init_params)


def _init_prefix(node: ast.ClassDef) -> tuple[str | None, tuple[tuple[str, str | None], ...]]:
    """(prefix expression, `__init__` parameters) of `def __init__(self, version, **kw):
    super().__init__(prefix=f"/v{version}", **kw)`; (None, ()) for any other class."""
    init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
    if init is None:
        return None, ()
    for call in (n for n in ast.walk(init) if isinstance(n, ast.Call)):
        if isinstance(call.func, ast.Attribute) and call.func.attr == "__init__" and (prefix := keyword(call, "prefix")):
            args = init.args
            positional = [*args.posonlyargs, *args.args][1:]
            defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
            pairs = [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]
            return unparse(prefix), tuple((arg.arg, literal_str(default)) for arg, default in pairs)
    return None, ()


def _class_constants(node: ast.ClassDef) -> dict[str, str]:
    found: dict[str, str] = {}
    for stmt in node.body:
        target = stmt.target if isinstance(stmt, ast.AnnAssign) else (stmt.targets[0] if isinstance(stmt, ast.Assign) else None)
        value = literal_str(getattr(stmt, "value", None))
        if isinstance(target, ast.Name) and value is not None:
            found[f"{node.name}.{target.id}"] = value
    return found


def _call_method(node: ast.ClassDef) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return next((s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "__call__"), None)


# --- the one walk --------------------------------------------------------------------------------


def _assignment(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
    """(name, value) for `name = value`, `name: T = value` and 3.12 `type name = value` at module level."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return stmt.target.id, stmt.value
    type_alias = getattr(ast, "TypeAlias", None)
    if type_alias is not None and isinstance(stmt, type_alias) and isinstance(stmt.name, ast.Name):
        return stmt.name.id, stmt.value
    return None


def extract_facts(tree: ast.Module, path: str, module: str | None = None, walk: TreeWalk | None = None) -> FileFacts:
    """Facts of one module; `module` defaults to the dotted name derived from `path`, `walk` is
    the tree's `TreeWalk` (built here when not given; the runner keeps it for the rules)."""
    module = module if module is not None else module_name(path)
    walk = walk if walk is not None else TreeWalk(tree)
    is_package = path.endswith("__init__.py")
    imports: dict[str, str] = {}
    routes: list[Route] = []
    routers: list[RouterDef] = []
    includes: list[Include] = []
    functions: list[FunctionFacts] = []
    classes: list[ClassFacts] = []
    aliases: dict[str, str] = {}
    instances: dict[str, str] = {}
    constants: dict[str, str] = {}
    for node in walk.of_type(ast.Import, ast.ImportFrom):
        imports.update(import_bindings(node, module, is_package))
    for node in walk.of_type(ast.FunctionDef, ast.AsyncFunctionDef):
        routes.extend(route_of_function(node, path, walk))
    for node in _module_statements(tree.body):  # the module's own definitions, in source order
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append(function_facts(node, walk=walk))
        elif isinstance(node, ast.ClassDef):
            classes.append(class_facts(node))
            constants.update(_class_constants(node))
            call = _call_method(node)
            if call is not None:
                functions.append(function_facts(call, f"{node.name}.__call__", walk))
        elif (assigned := _assignment(node)) is not None:
            name, value = assigned
            if (text := literal_str(value)) is not None:
                constants[name] = text
            elif (target := _alias_target(value)) is not None:
                aliases[name] = target
            elif isinstance(value, ast.Call) and (callee := call_name(value)) and name not in instances:
                instances[name] = callee
                router = _router_def(name, value, constants)
                if router is not None:
                    routers.append(router)
    pending_includes = [call for call in walk.of_type(ast.Call)
                        if isinstance(call.func, ast.Attribute) and call.func.attr in {"include_router", "mount"}]
    includes = [one for call in pending_includes for one in _includes_of(call, constants, walk, tree.body)]
    routers.extend(_routers_in_functions(walk, includes, {*instances, *(r.name for r in routers)}, constants))
    return FileFacts(
        path=path,
        module=module,
        imports=imports,
        routes=tuple(sorted(routes, key=lambda r: (r.line, r.decorator_line))),
        routers=tuple(routers),
        includes=tuple(sorted(includes, key=lambda i: i.line)),
        functions=tuple(functions),
        classes=tuple(classes),
        aliases=aliases,
        instances=instances,
        constants=constants,
        auth_middleware=_auth_middleware(walk),
    )


def _includes_of(call: ast.Call, constants: dict[str, str], walk: TreeWalk, module_body: list[ast.stmt]) -> list[Include]:
    """The includes one `include_router`/`mount` call makes: its own, one per router a loop runs
    over, or one per keyword mapping it spreads (`include_router(**spec)`)."""
    spread = next((k.value for k in call.keywords if k.arg is None), None)
    if spread is not None:
        return [include for mapping in _spread_mappings(spread, call, walk, module_body)
                if (include := _include(_with_mapping(call, mapping, module_body), constants)) is not None]
    include = _include(call, constants)
    return _loop_includes(include, call, walk, module_body) if include is not None else []


def _loop_includes(include: Include, call: ast.Call, walk: TreeWalk, module_body: list[ast.stmt]) -> list[Include]:
    """`for router in API_ROUTERS: app.include_router(router)`: one include per router the loop
    runs over (a literal tuple/list, or a module-level one of this file); else the include itself."""
    loop = _enclosing_loop(call, include.child, walk)
    items = _sequence_items(loop.iter, module_body) if loop is not None else None
    children = [name for element in items or () if (name := dotted_name(element))]
    return [Include(include.parent, child, include.line, include.prefix, include.dependencies, include.prefix_ref)
            for child in children] or [include]


def _enclosing_loop(node: ast.AST, variable: str, walk: TreeWalk) -> ast.For | ast.AsyncFor | None:
    """The `for variable in ...` loop around `node`, or None."""
    parent = walk.parent(node)
    while parent is not None and not (isinstance(parent, (ast.For, ast.AsyncFor)) and isinstance(parent.target, ast.Name)
                                      and parent.target.id == variable):
        parent = walk.parent(parent)
    return parent


def _module_value(name: str, module_body: list[ast.stmt]) -> ast.expr | None:
    """The value a module-level `name = value` of this file binds (the first one)."""
    return next((found[1] for stmt in module_body if (found := _assignment(stmt)) is not None and found[0] == name), None)


def _sequence_items(node: ast.expr, module_body: list[ast.stmt], depth: int = 0) -> list[ast.expr] | None:
    """The elements of a literal list/tuple, a module-level name bound to one, or a `+` of
    them (`ALL = BASE + [...]`); None when they are not all known."""
    if isinstance(node, ast.Name) and depth < 4:
        value = _module_value(node.id, module_body)
        return _sequence_items(value, module_body, depth + 1) if value is not None else None
    if isinstance(node, (ast.List, ast.Tuple)):
        return list(node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sequence_items(node.left, module_body, depth), _sequence_items(node.right, module_body, depth)
        return left + right if left is not None and right is not None else None
    return None


def _spread_mappings(spread: ast.expr, call: ast.Call, walk: TreeWalk, module_body: list[ast.stmt]) -> list[ast.Dict]:
    """The dict literals `**spread` stands for: itself, the module-level one a name binds, or each
    element of the module-level list/tuple a loop over dicts runs over (`for spec in ROUTERS:
    app.include_router(**spec)`)."""
    if isinstance(spread, ast.Dict):
        return [spread]
    if not isinstance(spread, ast.Name):
        return []
    loop = _enclosing_loop(call, spread.id, walk)
    if loop is not None:
        items = _sequence_items(loop.iter, module_body) or []
    else:
        items = [value] if (value := _module_value(spread.id, module_body)) is not None else []
    return [item for item in items if isinstance(item, ast.Dict)]


def _with_mapping(call: ast.Call, mapping: ast.Dict, module_body: list[ast.stmt]) -> ast.Call:
    """`call` with the string keys of `mapping` as keywords in place of its `**` spread; a value that
    names a module-level list (`"dependencies": OWNER_ONLY`) is replaced by that list."""
    spelled = [ast.keyword(arg=key.value, value=_module_list(value, module_body))
               for key, value in zip(mapping.keys, mapping.values)
               if isinstance(key, ast.Constant) and isinstance(key.value, str)]
    keywords = [k for k in call.keywords if k.arg is not None] + spelled
    return ast.copy_location(ast.Call(func=call.func, args=list(call.args), keywords=keywords), call)


def _module_list(value: ast.expr, module_body: list[ast.stmt]) -> ast.expr:
    if isinstance(value, ast.Name) and isinstance(bound := _module_value(value.id, module_body), (ast.List, ast.Tuple)):
        return bound
    return value


def _module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The module's statements, also inside top-level `if`/`try`/`with` blocks (a dependency or
    router chosen by a setting: `if TOKEN: _auth = ServiceAccount(TOKEN) else: _auth = Forbidden()`)."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            found += _module_statements([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            found += _module_statements([*node.body, *(s for h in node.handlers for s in h.body), *node.orelse, *node.finalbody])
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            found += _module_statements(node.body)
        else:
            found.append(node)
    return found


def _routers_in_functions(walk: TreeWalk, includes: list[Include], known: set[str],
                          constants: dict[str, str]) -> list[RouterDef]:
    """Routers made inside functions (`def create_app(): app = FastAPI(...)`) and the
    application a helper receives (`def register(app): app.include_router(items, prefix="/items")`):
    the prefixes and dependencies of their includes still apply. Names defined at module level win."""
    found: dict[str, RouterDef] = {}
    for func in walk.of_type(ast.FunctionDef, ast.AsyncFunctionDef):
        for node in walk.body(func):
            assigned = _assignment(node) if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if assigned is not None and isinstance(assigned[1], ast.Call) and assigned[0] not in known:
                router = _router_def(assigned[0], assigned[1], constants)
                if router is not None:
                    found.setdefault(router.name, router)
        parameters = {a.arg: a for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
        for include in includes:
            arg = parameters.get(include.parent)
            if arg is not None and include.parent not in known and func.lineno <= include.line <= (func.end_lineno or 0):
                annotation = unparse(arg.annotation) if arg.annotation is not None else ""
                kind = "FastAPI" if "FastAPI" in annotation or include.parent in {"app", "application"} else "APIRouter"
                found.setdefault(include.parent, RouterDef(include.parent, kind, func.lineno, ""))
    return list(found.values())


def _auth_middleware(walk: TreeWalk) -> tuple[int, ...]:
    """Lines of HTTP middleware that reject requests with 401/403: `@app.middleware("http")`
    functions and `BaseHTTPMiddleware` subclasses whose body answers 401 or 403."""
    found: list[int] = []
    for node in walk.of_type(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        if isinstance(node, ast.ClassDef):
            middleware = any((dotted_name(b) or "").endswith("BaseHTTPMiddleware") for b in node.bases)
        else:
            middleware = any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "middleware"
                             for d in node.decorator_list)
        if middleware and _answers_unauthorized(node, walk):
            found.append(node.lineno)
    return tuple(found)


def _answers_unauthorized(node: ast.AST, walk: TreeWalk) -> bool:
    for call in walk.subtree_of_type(node, ast.Call):
        status = http_exception_status(call) or status_value(keyword(call, "status_code"))
        if status in (401, 403):
            return True
    return False

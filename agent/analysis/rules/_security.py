"""Helpers shared by the security rules (jwt, secrets, cors, error-leak, password-storage, injection).

Not a rule module: it defines no `Rule`. Names are resolved through the file's imports so that
`jwt.decode` means PyJWT only when `jwt` really is the PyJWT module (or python-jose's `jwt`).
"""

from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.facts import collect_imports, dotted_name, keyword, module_name
from agent.analysis.rules.base import FileContext, FunctionNode
from agent.analysis.walk import walk_nodes_of_type

# Fully qualified module prefixes of JWT libraries whose `decode`/`encode` we understand.
PYJWT = "jwt"
JOSE = "jose.jwt"
AUTHLIB = "authlib.jose.jwt"
JWT_MODULES = (PYJWT, JOSE, AUTHLIB)
# authlib's JWT class: `jwt = JsonWebToken(["RS256"])` is used like the `authlib.jose.jwt` instance.
AUTHLIB_CLASSES = frozenset({"authlib.jose.JsonWebToken", "authlib.jose.rfc7519.JsonWebToken",
                             "authlib.jose.rfc7519.jwt.JsonWebToken"})
# jwcrypto's token object: `JWT(header=..., claims=...)` issues, `JWT(jwt=raw, key=key)` verifies.
JWCRYPTO_JWT = frozenset({"jwcrypto.jwt.JWT"})
JWCRYPTO_JWS = frozenset({"jwcrypto.jws.JWS"})

_JWT_ROOTS = frozenset(library.split(".", 1)[0] for library in JWT_MODULES)
_TEST_DIRS = frozenset({"tests", "test", "testing"})


def imports_of(ctx: FileContext) -> dict[str, str]:
    """Local name -> qualified name for the file (from the index when it has the file)."""
    facts = ctx.index.files.get(ctx.path)
    return facts.imports if facts is not None else collect_imports(ctx.tree, module_name(ctx.path))


def resolve(node: ast.AST, imports: dict[str, str]) -> str | None:
    """Qualified dotted name of `node` when its head is an imported name, else None."""
    name = dotted_name(node)  # kept on the node: cheap to ask again
    if name is None:
        return None
    head, _, rest = name.partition(".")
    base = imports.get(head)
    if base is None:
        return None
    return f"{base}.{rest}" if rest else base


def import_paths(names: frozenset[str]) -> frozenset[str]:
    """Every dotted prefix of `names` (`fastapi.middleware.cors.CORSMiddleware` -> also
    `fastapi.middleware.cors`, `fastapi.middleware`, `fastapi`): what an import must bind for a
    name in the file to resolve to one of `names`. A file importing none of them cannot."""
    return frozenset(name.rsplit(".", i)[0] for name in names for i in range(name.count(".") + 1))


def jwt_call(call: ast.Call, imports: dict[str, str]) -> tuple[str, str] | None:
    """(library, function) for a call into a JWT library (`("jwt", "decode")`), else None."""
    name = resolve(call.func, imports)
    if name is None:
        return None
    # PyJWT also exposes `jwt.api_jwt.decode` and `jwt.PyJWT().decode`; the module-level API is what apps use.
    for library in sorted(JWT_MODULES, key=len, reverse=True):
        if name.startswith(library + "."):
            function = name[len(library) + 1:]
            if "." not in function:
                return library, function
    return None


def jwt_calls(ctx: FileContext, *functions: str) -> Iterator[tuple[ast.Call, str, str]]:
    """Every call of `library.function` for the given JWT functions: (call, library, function).
    An authlib `JsonWebToken(...)` instance bound to a name counts as authlib's `jwt`."""
    imports = imports_of(ctx)
    # A call resolves into a JWT library only through an import rooted at one.
    if not any(target.split(".", 1)[0] in _JWT_ROOTS for target in imports.values()):
        return
    instances = _authlib_instances(ctx, imports)
    for node in ctx.nodes_of(ast.Call):
        found = jwt_call(node, imports)
        if found is None and instances and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in instances:
                found = (AUTHLIB, node.func.attr)
        if found is not None and found[1] in functions:
            yield node, found[0], found[1]


def _authlib_instances(ctx: FileContext, imports: dict[str, str]) -> set[str]:
    """Names bound to an authlib `JsonWebToken(...)` anywhere in the file."""
    if not any(target.startswith("authlib") for target in imports.values()):
        return set()
    return {target.id for node in ctx.nodes_of(ast.Assign)
            if isinstance(node.value, ast.Call) and resolve(node.value.func, imports) in AUTHLIB_CLASSES
            for target in node.targets if isinstance(target, ast.Name)}


def jwcrypto_tokens(ctx: FileContext, classes: frozenset[str] = JWCRYPTO_JWT) -> Iterator[ast.Call]:
    """Every jwcrypto `JWT(...)` constructor call (`jwt.JWT(...)` after `from jwcrypto import jwt`),
    or of the other jwcrypto `classes` given."""
    imports = imports_of(ctx)
    if not any(target.startswith("jwcrypto") for target in imports.values()):
        return
    for node in ctx.nodes_of(ast.Call):
        if resolve(node.func, imports) in classes:
            yield node


def argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    """The argument passed as keyword `name` or at `position` (skipping starred arguments)."""
    value = keyword(call, name)
    if value is not None:
        return value
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    if len(positional) == len(call.args) and position < len(positional):
        return positional[position]
    return None


def has_star_kwargs(call: ast.Call) -> bool:
    return any(kw.arg is None for kw in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)


def is_test_file(ctx: FileContext) -> bool:
    """Test code (`tests/`, `test_*.py`, `*_test.py`, `conftest.py`) holds fixtures, not deployed secrets.

    Judged on the display path and on the module name: the module is named from the project,
    not from where fba was started (`cd tests && fba review factories.py` is still test code).
    """
    facts = ctx.index.files.get(ctx.path)
    module = facts.module.replace(".", "/") + ".py" if facts is not None and facts.module else ""
    return _is_test_path(ctx.path) or bool(module) and _is_test_path(module)


def _is_test_path(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in _TEST_DIRS for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Top-level `NAME = value` / `NAME: T = value` bindings (the last one wins)."""
    constants: dict[str, ast.expr] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and statement.value is not None:
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None and isinstance(statement.target, ast.Name):
            constants[statement.target.id] = statement.value
    return constants


_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)


def local_values(scope: ast.AST, name: str) -> list[ast.expr]:
    """Values assigned to `name` inside `scope` (plain, annotated, augmented and walrus assignments)."""
    values: list[ast.expr] = []
    for node in walk_nodes_of_type(scope, *_ASSIGNMENTS):
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                values.append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            if isinstance(node.target, ast.Name) and node.target.id == name and node.value is not None:
                values.append(node.value)
    return values


def resolve_value(ctx: FileContext, node: ast.expr, scope: FunctionNode | None) -> list[ast.expr]:
    """What a bare name may hold: its assignments in the enclosing function, else at module level.

    Anything else (calls, attributes, literals) is returned as is.
    """
    if not isinstance(node, ast.Name):
        return [node]
    if scope is not None:
        found = local_values(scope, node.id)
        if found:
            return found
    constant = module_constants(ctx.tree).get(node.id)
    return [constant] if constant is not None else [node]


def constant_strings(node: ast.AST) -> list[str]:
    return [n.value for n in walk_nodes_of_type(node, ast.Constant) if isinstance(n.value, str)]


def is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_words(name: str) -> list[str]:
    """`FIRST_SUPERUSER_PASSWORD` -> [first, superuser, password]; `tokenUrl` -> [token, url]."""
    return [w.lower() for chunk in re.split(r"[_\W]+", name) for w in _WORD.findall(chunk)]


def target_name(node: ast.AST) -> str | None:
    """The last component of a Name/Attribute/string-subscript target (`settings.SECRET_KEY` -> SECRET_KEY)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def skips_signature(ctx: FileContext, call: ast.Call, scope: FunctionNode | None) -> bool:
    """PyJWT/python-jose decode with `verify=False` or `options={"verify_signature": False}` (literal or local)."""
    verify = keyword(call, "verify")
    if isinstance(verify, ast.Constant) and verify.value is False:
        return True
    options = keyword(call, "options")
    if options is None:
        return False
    return any(_disables_signature(value) for value in resolve_value(ctx, options, scope))


def _disables_signature(node: ast.expr) -> bool:
    if isinstance(node, ast.Dict):
        pairs = zip(node.keys, node.values)
        return any(isinstance(k, ast.Constant) and k.value == "verify_signature"
                   and isinstance(v, ast.Constant) and v.value is False for k, v in pairs)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict":
        return any(kw.arg == "verify_signature" and isinstance(kw.value, ast.Constant) and kw.value.value is False
                   for kw in node.keywords)
    return False

"""The prefix a project's router class sets in its `__init__`.

`class VersionedRouter(APIRouter): def __init__(self, version, **kw): super().__init__(prefix=f"/v{version}", **kw)`
and `router = VersionedRouter(1)` serve `/v1/...`: the index asks here for the prefix of a router
made by such a class (`RouterDef.cls`), evaluated with the call's literal arguments and the
`__init__` defaults (`ClassFacts.init_prefix`, `init_params`), and constants of the class's file.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from agent.analysis.facts import ClassFacts, RouterDef

if TYPE_CHECKING:
    from agent.analysis.index import ProjectIndex


def init_prefix(index: ProjectIndex, path: str, router: RouterDef) -> str:
    """The prefix `router` (defined in `path`) gets from its class's `__init__`, else ""."""
    if not router.cls or router.prefix_ref is not None:
        return ""  # not a project router class, or the call passes its own prefix
    facts = index.files.get(path)
    qual = index._lookup(facts, router.cls) if facts is not None else None
    symbol = index.symbols.get(qual) if qual is not None else None
    if symbol is None or symbol.kind != "class":
        return ""
    found: ClassFacts = symbol.value  # type: ignore[assignment]
    if found.init_prefix is None:
        return ""
    try:
        node = ast.parse(found.init_prefix, mode="eval").body
    except SyntaxError:
        return ""
    return _evaluate(index, symbol.path, node, _bindings(found, router)) or ""


def _bindings(cls: ClassFacts, router: RouterDef) -> dict[str, str]:
    """`__init__` parameter -> the text it gets: the call's argument, else its literal default."""
    given = dict(router.init_args)
    bound: dict[str, str] = {}
    for position, (name, default) in enumerate(cls.init_params):
        value = given.get(str(position), given.get(name, default))
        if value is not None:
            bound[name] = value
    return bound


def _evaluate(index: ProjectIndex, path: str, node: ast.AST, bound: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name) and node.id in bound:
        return bound[node.id]
    if isinstance(node, ast.JoinedStr):
        parts = [_evaluate(index, path, v.value if isinstance(v, ast.FormattedValue) else v, bound) for v in node.values]
        return None if None in parts else "".join(parts)  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _evaluate(index, path, node.left, bound), _evaluate(index, path, node.right, bound)
        return left + right if left is not None and right is not None else None
    from agent.analysis.routing import string_of  # routing imports this module

    return string_of(index, path, node)

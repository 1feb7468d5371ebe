"""The calls of a file that can reach given imported functions, found without resolving each one.

Not a rule module: it defines no `Rule`. Resolving every call of a file through its imports was
the main cost of the rules that look for calls of imported functions (`subprocess.run`,
`sqlalchemy.text`, `time.sleep`). A call can reach such a function only as `<anything>.<its
name>(...)` or through a name imported as the function itself, so these rules first keep the
calls whose callee's own name passes that test (`calls_named`) and resolve only those.
"""

from __future__ import annotations

import ast
from typing import Container, Iterable, Iterator

from agent.analysis.rules.base import FileContext


def last_names(functions: Iterable[str]) -> frozenset[str]:
    """The functions' own names (`subprocess.run` -> `run`): what a method-style call must end in."""
    return frozenset(name.rsplit(".", 1)[-1] for name in functions)


def imported_as(imports: dict[str, str], functions: Container[str]) -> frozenset[str]:
    """The local names an import binds to one of `functions` (`from os import system as run` -> `run`)."""
    return frozenset(local for local, target in imports.items() if target in functions)


def calls_named(ctx: FileContext, methods: frozenset[str], names: frozenset[str]) -> Iterator[ast.Call]:
    """The file's calls `x.m(...)` with `m` in `methods` and `f(...)` with `f` in `names`, in
    `ast.walk` order."""
    for node in ctx.nodes_of(ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in methods:
                yield node
        elif isinstance(func, ast.Name) and func.id in names:
            yield node

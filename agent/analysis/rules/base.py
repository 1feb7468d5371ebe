"""The rule base class and the per-file context rules read.

A rule is a small class: `code`, `name`, `category`, `severity`, a docstring with the sections
**What it does / Why is this bad? / Example / Use instead / Known problems**, and `VALID` /
`INVALID` examples (run as tests by tests/test_rule_examples.py). An example is either a
source string (reviewed as `app/main.py`) or a dict of path -> source for cross-file cases.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Iterator, Mapping, Union

from agent.analysis.facts import Route
from agent.analysis.index import ProjectIndex
from agent.types import Finding, Fix, Severity

Example = Union[str, Mapping[str, str]]
FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]


@dataclass
class FileContext:
    """One parsed file plus the project index: what a rule's `check` receives."""

    path: str
    text: str
    tree: ast.Module
    index: ProjectIndex
    _parents: dict[ast.AST, ast.AST] | None = field(default=None, repr=False)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def parent(self, node: ast.AST) -> ast.AST | None:
        if self._parents is None:
            self._parents = {child: parent for parent in ast.walk(self.tree) for child in ast.iter_child_nodes(parent)}
        return self._parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        return next((a for a in self.ancestors(node) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef))), None)

    @cached_property
    def functions(self) -> list[FunctionNode]:
        return [n for n in ast.walk(self.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

    @cached_property
    def routes(self) -> list[Route]:
        return self.index.routes_in(self.path)

    def route_handlers(self) -> Iterator[tuple[Route, FunctionNode]]:
        """Each route of this file with its handler's function node."""
        by_line = {f.lineno: f for f in self.functions}
        for route in self.routes:
            node = by_line.get(route.line)
            if node is not None:
                yield route, node

    def route_of(self, func: ast.AST) -> Route | None:
        line = getattr(func, "lineno", None)
        return self.index.route_for(self.path, line) if line is not None else None

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ast.unparse(node)


class Rule:
    """Base class of all static rules. Subclasses set the class attributes and `check`."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    category: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.MEDIUM
    title: ClassVar[str] = ""
    VALID: ClassVar[tuple[Example, ...]] = ()
    INVALID: ClassVar[tuple[Example, ...]] = ()

    def check(self, ctx: FileContext) -> Iterator[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def finding(
        self,
        ctx: FileContext,
        node: ast.AST,
        message: str,
        *,
        line: int | None = None,
        end_line: int | None = None,
        fix: Fix | None = None,
        confidence: float = 1.0,
    ) -> Finding:
        """A finding of this rule at `node` (or an explicit line span)."""
        start = line if line is not None else getattr(node, "lineno", 1)
        end = end_line if end_line is not None else (getattr(node, "end_lineno", None) if line is None else start)
        return Finding(
            rule=self.code,
            category=self.category,
            severity=self.severity,
            path=ctx.path,
            line=start,
            end_line=end or start,
            column=getattr(node, "col_offset", 0) + 1,
            message=message,
            title=self.title,
            confidence=confidence,
            fix=fix,
        )

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip()

"""The rule base class and the per-file context rules read.

A rule is a small class: `code`, `name`, `category`, `severity`, a docstring with the sections
**What it does / Why is this bad? / Example / Use instead / Known problems**, and `VALID` /
`INVALID` examples (run as tests by tests/test_rule_examples.py). An example is either a
source string (reviewed as `app/main.py`) or a dict of path -> source for cross-file cases.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable, ClassVar, Generic, Iterator, Mapping, TypeVar, Union

from agent.analysis.facts import Route
from agent.analysis.index import ProjectIndex
from agent.analysis.walk import TreeWalk
from agent.types import Finding, Fix, Severity

Example = Union[str, Mapping[str, str]]
FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
T = TypeVar("T")
_SOURCE_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


@dataclass
class FileContext:
    """One parsed file plus the project index: what a rule's `check` receives.

    Its `walk` (one traversal of the tree, see `agent.analysis.walk`) is shared by every rule,
    and node-only helpers such as `walk_body` find it through the nodes it numbered.
    """

    path: str
    text: str
    tree: ast.Module
    index: ProjectIndex
    walk: TreeWalk | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.walk is None or self.walk.tree is not self.tree:
            self.walk = TreeWalk(self.tree)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.walk.parent(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def enclosing_scope(self, node: ast.AST) -> ast.AST | None:
        """The innermost function, lambda or class around `node` (None at module level)."""
        return self.walk.enclosing_scope(node)

    def may_name(self, *words: str) -> bool:
        """Can the file hold an identifier containing one of `words`? A cheap text prefilter for
        rules that only fire on such a name (an attribute, a callee): an identifier is in the
        source text as written, except that Python reads identifiers in NFKC form (`ｃommit` is
        `commit`), so a non-ASCII file is also searched in that form."""
        text = self.text
        if any(word in text for word in words):
            return True
        return not text.isascii() and any(word in _nfkc(text) for word in words)

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        return next((a for a in self.ancestors(node) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef))), None)

    def nodes_of(self, *types: type) -> list[ast.AST]:
        """Every node of these types in the file, in `ast.walk` order (shared: do not modify)."""
        return self.walk.of_type(*types)

    @property
    def functions(self) -> list[FunctionNode]:
        return self.walk.of_type(ast.FunctionDef, ast.AsyncFunctionDef)  # type: ignore[return-value]

    @cached_property
    def routes(self) -> list[Route]:
        return self.index.routes_in(self.path)

    @cached_property
    def _handlers(self) -> list[tuple[Route, FunctionNode]]:
        by_line = {f.lineno: f for f in self.functions}
        return [(route, by_line[route.line]) for route in self.routes if route.line in by_line]

    def route_handlers(self) -> Iterator[tuple[Route, FunctionNode]]:
        """Each route of this file with its handler's function node."""
        return iter(self._handlers)

    def route_of(self, func: ast.AST) -> Route | None:
        line = getattr(func, "lineno", None)
        return self.index.route_for(self.path, line) if line is not None else None

    def segment(self, node: ast.AST) -> str:
        """The source text of `node` (as `ast.get_source_segment`), else its unparsed form."""
        return self._source_segment(node) or ast.unparse(node)

    @cached_property
    def _source_lines(self) -> list[str]:
        # The parser's line split (\r\n, \r or \n; not form feeds), once per file:
        # `ast.get_source_segment` splits the whole file, character by character, on every call.
        return _SOURCE_LINE.findall(self.text)

    def _source_segment(self, node: ast.AST) -> str | None:
        end_line, end_column = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_line is None or end_column is None:
            return None
        lines, first, last = self._source_lines, node.lineno - 1, end_line - 1
        if first == last:
            return lines[first].encode()[node.col_offset:end_column].decode()
        head = lines[first].encode()[node.col_offset:].decode()
        return "".join([head, *lines[first + 1:last], lines[last].encode()[:end_column].decode()])


@lru_cache(maxsize=1)  # the file being checked: several rules ask about the same text
def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def route_label(route: Route, methods: str | None = None) -> str:
    """How messages name a route: methods and the full URL path (with router and include prefixes)."""
    where = route.full_path or route.path or route.function
    return f"{methods or '/'.join(route.methods)} {where}"


class PerIndex(Generic[T]):
    """A project-wide value computed once per project index, not once per file.

    A rule that reads facts of other files beyond what the index answers per file (every file's
    imports, every route's parameters) computes them through a `PerIndex`: every instance is
    registered, and `digest_all` folds their values into each file's cache key, so a change to
    such a fact anywhere re-checks the files whose findings depend on it.
    """

    registry: ClassVar[list["PerIndex"]] = []

    def __init__(self, compute: Callable[[ProjectIndex], T]) -> None:
        self._compute = compute
        self.name = f"{compute.__module__}.{compute.__qualname__}"
        PerIndex.registry.append(self)

    def __call__(self, index: ProjectIndex) -> T:
        """The value for `index`, kept on the index (and so stored with it by the cache)."""
        values = index.per_index
        if self.name not in values:
            values[self.name] = self._compute(index)
        return values[self.name]  # type: ignore[return-value]

    @classmethod
    def digest_all(cls, index: ProjectIndex) -> str:
        """Every registered project-wide value for `index`, as stable text (by name, sets sorted)."""
        values = {p.name: p(index) for p in cls.registry}
        return repr([(name, sorted(map(repr, v)) if isinstance(v, (set, frozenset)) else v)
                     for name, v in sorted(values.items())])


class Rule:
    """Base class of all static rules. Subclasses set the class attributes and `check`."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    category: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.MEDIUM
    title: ClassVar[str] = ""
    # Not yet precise enough on real code (bench/precision) for the default set: runs only with
    # `--preview` / `preview = true`, or when selected by its code.
    preview: ClassVar[bool] = False
    fixable: ClassVar[bool] = False  # `fba review --fix` has a safe automatic fix (agent/edits/fixes.py)
    # Config keys, besides select/ignore/severity/preview, that change what the rule reports
    # (listed on its reference page, docs/rules/).
    config_keys: ClassVar[tuple[str, ...]] = ()
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
            fixable=self.fixable,
        )

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip()

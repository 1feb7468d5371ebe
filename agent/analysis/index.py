"""The project index: facts from every file merged once per run, queried by the rules.

Built from `FileFacts` (plain data), so it can be built from cached facts and shipped to
parallel workers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

from agent.analysis.facts import FileFacts, Route


@dataclass
class ProjectIndex:
    """Cross-file facts: routes, auth dependencies, models. Rules only read it."""

    files: dict[str, FileFacts] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    extra_auth_dependencies: frozenset[str] = frozenset()
    public_routes: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        facts: Iterable[FileFacts],
        auth_dependencies: Iterable[str] = (),
        public_routes: Iterable[str] = (),
    ) -> "ProjectIndex":
        index = cls(
            files={f.path: f for f in facts},
            extra_auth_dependencies=frozenset(auth_dependencies),
            public_routes=tuple(public_routes),
        )
        index.routes = [r for f in sorted(index.files.values(), key=lambda f: f.path) for r in f.routes]
        return index

    def routes_in(self, path: str) -> list[Route]:
        return [r for r in self.routes if r.file == path]

    def route_for(self, path: str, line: int) -> Route | None:
        """The route whose handler `def` is at `line` in `path`."""
        return next((r for r in self.routes if r.file == path and r.line == line), None)

    def fingerprint_for(self, path: str) -> str:
        """A hash of the cross-file facts that findings in `path` can depend on (cache key part)."""
        digest = hashlib.sha256()
        for fact_path in sorted(self.files):
            digest.update(repr(self.files[fact_path]).encode())
        digest.update(repr((sorted(self.extra_auth_dependencies), self.public_routes)).encode())
        return digest.hexdigest()

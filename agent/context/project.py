"""What the model is told about a project before it starts work: an overview built from the static
engine's index (routes with their auth, routers, auth dependencies, table models, schemas,
settings), the test layout and fixtures, the migration setup, plus chosen files, packed into a
character budget.

    overview = project_overview(sources)                      # sources: path -> text
    context = pack_context([spec_block, overview], files_to_show, budget_chars=60_000)

Pure functions over text; the caller reads the files (through `RepoFiles`, so secret and ignored
files never get here).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable, Mapping, Sequence

from agent.analysis.index import ProjectIndex
from agent.analysis.runner import build_index

MAX_ITEMS = 60  # per overview section; the model lists and reads the rest itself
MIGRATION_ROOTS = ("alembic", "migrations")


@dataclass(frozen=True)
class Migrations:
    """How a project manages its database schema: Alembic's config and revision folders."""

    config: str | None
    versions: tuple[str, ...]

    @property
    def managed(self) -> bool:
        return self.config is not None or bool(self.versions)


def find_migrations(paths: Iterable[str]) -> Migrations:
    """Alembic setup among repository paths: `alembic.ini`, and `versions/` folders under an
    `alembic/` or `migrations/` folder (or next to an `env.py`)."""
    paths = list(paths)
    config = next((p for p in sorted(paths) if PurePosixPath(p).name == "alembic.ini"), None)
    env_dirs = {str(PurePosixPath(p).parent) for p in paths if PurePosixPath(p).name == "env.py"}
    versions = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if "versions" in parts[:-1]:
            folder = "/".join(parts[: parts.index("versions") + 1])
            parent = str(PurePosixPath(folder).parent)
            if parent in env_dirs or any(root in PurePosixPath(folder).parts for root in MIGRATION_ROOTS):
                versions.add(folder)
    for folder in env_dirs:
        if any(root in PurePosixPath(folder).parts for root in MIGRATION_ROOTS):
            versions.add(f"{folder}/versions" if folder != "." else "versions")
    return Migrations(config, tuple(sorted(versions)))


def project_overview(sources: Mapping[str, str], all_paths: Sequence[str] = (),
                     auth_dependencies: Sequence[str] = ()) -> str:
    """A Markdown overview of a FastAPI project for the model."""
    python = {p: t for p, t in sources.items() if p.endswith(".py")}
    index = build_index(python, auth_dependencies)
    sections = [
        ("Routes (method, full path, handler, auth)", _routes(index)),
        ("Routers", _routers(index)),
        ("Auth dependencies", _auth_dependencies(index)),
        ("Table models", _models(index, table=True)),
        ("Schemas (request/response models)", _models(index, table=False)),
        ("Settings", _settings(index)),
        ("Tests", _tests(python, all_paths or list(sources))),
        ("Database migrations", _migrations(find_migrations(all_paths or list(sources)))),
    ]
    parts = ["# Project overview (from fba's static index)"]
    for title, lines in sections:
        shown = lines[:MAX_ITEMS] + ([f"- ... {len(lines) - MAX_ITEMS} more"] if len(lines) > MAX_ITEMS else [])
        parts.append(f"## {title}\n" + ("\n".join(shown) if shown else "- none found"))
    return "\n\n".join(parts) + "\n"


def _routes(index: ProjectIndex) -> list[str]:
    lines = []
    for route in index.routes:
        auth = f"auth: {route.auth} via {route.auth_via}" if route.auth else ("public" if route.public else "NO AUTH")
        extra = f", response_model {route.response_model}" if route.response_model else ""
        status = f", status {route.status_code}" if route.status_code else ""
        lines.append(f"- {'/'.join(route.methods)} {route.full_path or route.path} -> {route.function} "
                     f"({route.file}:{route.line}); {auth}{extra}{status}")
    return lines


def _routers(index: ProjectIndex) -> list[str]:
    lines = []
    for symbol in sorted(index.symbols.values(), key=lambda s: (s.path, s.name)):
        if symbol.kind == "router":
            router = symbol.value
            prefix = f" prefix={router.prefix!r}" if router.prefix else ""
            deps = f" dependencies={list(router.dependencies)}" if router.dependencies else ""
            lines.append(f"- {symbol.path}: `{symbol.name}` = {router.kind}(){prefix}{deps}")
    for facts in sorted(index.files.values(), key=lambda f: f.path):
        for include in facts.includes:
            lines.append(f"- {facts.path}:{include.line}: include_router({include.child}"
                         + (f", prefix={include.prefix!r}" if include.prefix else "") + ")")
    return lines


def _auth_dependencies(index: ProjectIndex) -> list[str]:
    handlers = {(r.file, r.function) for r in index.routes}  # a handler using auth is not itself one
    return [f"- `{s.name}` ({s.kind}, {s.path})"
            for s in sorted(index.symbols.values(), key=lambda s: (s.path, s.name))
            if s.kind in {"function", "alias", "instance"} and (s.path, s.name) not in handlers
            and index.is_auth_dependency(s.path, s.name)]


def _models(index: ProjectIndex, table: bool) -> list[str]:
    lines = []
    for symbol in sorted(index.symbols.values(), key=lambda s: (s.path, s.name)):
        if symbol.kind != "class":
            continue
        model = index.model(symbol.path, symbol.name)
        if model is None or model.table != table:
            continue
        fields = ", ".join(f"{f.name}: {f.annotation}" if f.annotation else f.name for f in model.fields)
        extra = f" table={model.tablename!r}" if model.tablename else ""
        extra += f" owner column {model.owner_column}" if model.owner_column else ""
        lines.append(f"- `{model.name}` ({symbol.path}){extra}: {fields}")
    return lines


def _settings(index: ProjectIndex) -> list[str]:
    lines = []
    for symbol in sorted(index.symbols.values(), key=lambda s: (s.path, s.name)):
        if symbol.kind == "class" and any(b.rsplit(".", 1)[-1] == "BaseSettings" for b in symbol.value.bases):
            names = ", ".join(f.name for f in symbol.value.fields)
            lines.append(f"- `{symbol.name}` ({symbol.path}): {names}")
    return lines


def _tests(python: Mapping[str, str], all_paths: Sequence[str]) -> list[str]:
    tests = [p for p in all_paths if _is_test_file(p)]
    lines = [f"- test files: {', '.join(tests[:30])}" + (f" (+{len(tests) - 30} more)" if len(tests) > 30 else "")] if tests else []
    for path in sorted(p for p in python if PurePosixPath(p).name == "conftest.py"):
        names = fixtures(python[path])
        lines.append(f"- fixtures in {path}: {', '.join(names) if names else 'none'}")
    return lines


def _is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def fixtures(text: str) -> list[str]:
    """Names of the pytest fixtures a conftest defines (`@pytest.fixture`, `@fixture(...)`)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if re.search(r"(^|\.)fixture$", ast.unparse(target)):
                    found.append(node.name)
    return found


def _migrations(migrations: Migrations) -> list[str]:
    if not migrations.managed:
        return ["- none found (no alembic.ini or migrations/versions folder)"]
    lines = [f"- Alembic config: {migrations.config}"] if migrations.config else []
    lines += [f"- revisions folder: {folder}" for folder in migrations.versions]
    return lines


def pack_context(blocks: Sequence[str], files: Sequence[tuple[str, str]], budget_chars: int) -> str:
    """`blocks` (always kept, in order), then as many `files` (path, text) as fit in the budget;
    the ones left out are named so the model can read them with `read_file`."""
    parts = list(blocks)
    used = sum(len(b) for b in parts)
    left_out = []
    for path, text in files:
        block = f"## File: {path}\n```\n{text.rstrip()}\n```"
        if used + len(block) > budget_chars:
            left_out.append(path)
            continue
        parts.append(block)
        used += len(block)
    if left_out:
        parts.append("## Files not shown (over the context budget; use read_file)\n"
                     + "\n".join(f"- {p}" for p in left_out))
    return "\n\n".join(parts) + "\n"

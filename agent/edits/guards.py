"""Guarded changes: edits that are legitimate now and then, but that a model could use to weaken
the checks around it, so `--yes` alone never applies them (see `agent.workflows.changes`).

    guarded_changes(changeset)            # (Guard("tests/test_items.py", "removes 2 assertion(s): ..."), ...)
    oversized(changeset, 1_000_000)       # ["data/blob.json: 5,000,000 bytes, over ..."]

Guarded: `.gitignore` (could un-ignore a secret), CI files (run with the repository's secrets),
git hook managers (run on the user's next commit), lock files and requirement pins, fba's own
`[tool.fba]` (e.g. the test command verify runs) and pytest settings, and test files that lose
tests or assertions, gain skip/xfail marks, or change conftest hooks. Pure functions of the
change set's text: nothing is read from disk.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterator

from agent.types import ChangeSet, FileChange

CI_FOLDERS = (".github/workflows", ".github/actions", ".ci", ".circleci", ".buildkite", ".gitlab")
CI_FILES = (".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml", "Jenkinsfile",
            ".drone.yml", "cloudbuild.yaml", "cloudbuild.yml")
HOOK_FOLDERS = (".githooks", ".husky")
HOOK_FILES = (".pre-commit-config.yaml", "lefthook.yml", "lefthook.yaml", ".lefthook.yml")
LOCK_FILES = ("poetry.lock", "uv.lock", "Pipfile.lock", "Pipfile", "pdm.lock", "package-lock.json", "yarn.lock",
              "pnpm-lock.yaml")
PIN_FILES = ("requirements*.txt", "constraints*.txt")
PYTEST_SECTIONS = {"pytest.ini": ("pytest",), "setup.cfg": ("tool:pytest",), "tox.ini": ("pytest",)}
SKIP_NAMES = frozenset({"skip", "skipif", "xfail", "importorskip", "skipTest", "expectedFailure"})
SHOWN_ASSERTIONS = 3


@dataclass(frozen=True)
class Guard:
    """One guarded change: the file and what the change does there."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def guarded_changes(changeset: ChangeSet) -> tuple[Guard, ...]:
    """Every guarded change in `changeset`, in path order."""
    return tuple(guard for change in changeset.files for guard in _guards(change))


def oversized(changeset: ChangeSet, limit: int) -> list[str]:
    """Files the change creates, or grows, past `limit` bytes (UTF-8)."""
    problems = []
    for change in changeset.files:
        size = len(change.after.encode("utf-8")) if change.after is not None else 0
        before = len(change.before.encode("utf-8")) if change.before is not None else 0
        if size > limit and size > before:
            problems.append(f"{change.path}: {size:,} bytes, over the {limit:,}-byte limit for a file fba writes "
                            "(config max-file-size)")
    return problems


def _guards(change: FileChange) -> Iterator[Guard]:
    path = PurePosixPath(change.path)
    folders = "/" + "/".join(path.parts[:-1]) + "/"
    if path.name == ".gitignore":
        yield Guard(change.path, "changes what git ignores (a secret file could end up committed)")
    if path.name in CI_FILES or any(f"/{folder}/" in folders for folder in CI_FOLDERS):
        yield Guard(change.path, "changes CI configuration (it runs with the repository's secrets)")
    if path.name in HOOK_FILES or any(f"/{folder}/" in folders for folder in HOOK_FOLDERS):
        yield Guard(change.path, "changes git hooks (they run on your next commit)")
    if path.name in LOCK_FILES or any(fnmatch.fnmatchcase(path.name, p) for p in PIN_FILES):
        yield Guard(change.path, "changes locked or pinned dependencies")
    if path.name == "pyproject.toml":
        yield from _pyproject_guards(change)
    if path.name in PYTEST_SECTIONS:
        yield from _ini_guards(change, PYTEST_SECTIONS[path.name])
    if path.suffix == ".py" and _is_test_file(path):
        yield from _test_guards(change)


# -- configuration files -----------------------------------------------------------------------


def _pyproject_guards(change: FileChange) -> Iterator[Guard]:
    before, after = _toml(change.before), _toml(change.after)
    if before is None or after is None:
        yield Guard(change.path, "leaves pyproject.toml unreadable (it holds fba's and pytest's settings)")
        return
    if _table(before, "tool", "fba") != _table(after, "tool", "fba"):
        yield Guard(change.path, "changes [tool.fba], fba's own settings (e.g. the test command verify runs)")
    if _table(before, "tool", "pytest") != _table(after, "tool", "pytest"):
        yield Guard(change.path, "changes the pytest settings in [tool.pytest]")


def _toml(text: str | None) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        return None


def _table(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        data = data.get(key, {}) if isinstance(data, dict) else {}
    return data


def _ini_guards(change: FileChange, sections: tuple[str, ...]) -> Iterator[Guard]:
    before, after = _ini_sections(change.before, sections), _ini_sections(change.after, sections)
    if before is None or after is None or before != after:
        yield Guard(change.path, f"changes the pytest settings ([{'], ['.join(sections)}])")


def _ini_sections(text: str | None, sections: tuple[str, ...]) -> dict[str, dict[str, str]] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text or "")
    except configparser.Error:
        return None
    return {name: dict(parser[name]) for name in sections if parser.has_section(name)}


# -- tests ---------------------------------------------------------------------------------------


def _is_test_file(path: PurePosixPath) -> bool:
    return (path.name.startswith("test_") or path.name.endswith("_test.py") or path.name == "conftest.py"
            or any(part in ("tests", "test") for part in path.parts[:-1]))


@dataclass(frozen=True)
class _TestFacts:
    """What a test file holds that a change could weaken."""

    tests: frozenset[str]
    assertions: Counter
    skips: int
    hooks: dict[str, str]  # pytest_* hook name -> its source


def _test_guards(change: FileChange) -> Iterator[Guard]:
    before, after = _test_facts(change.before), _test_facts(change.after)
    if before is None or after is None:  # created (nothing to weaken) or unparsable (validation refuses it)
        if change.before is not None and change.after is None and before is not None and before.tests:
            yield Guard(change.path, f"deletes a test file with {len(before.tests)} test(s)")
        return
    removed_tests = sorted(before.tests - after.tests)
    if removed_tests:
        yield Guard(change.path, f"removes {len(removed_tests)} test(s): {', '.join(removed_tests)}")
    removed = list((before.assertions - after.assertions).elements())
    if removed:
        shown = "; ".join(removed[:SHOWN_ASSERTIONS]) + (" ..." if len(removed) > SHOWN_ASSERTIONS else "")
        yield Guard(change.path, f"removes or changes {len(removed)} assertion(s): {shown}")
    if after.skips > before.skips:
        yield Guard(change.path, f"adds {after.skips - before.skips} skip/xfail mark(s) or call(s)")
    changed_hooks = sorted(name for name, source in after.hooks.items() if before.hooks.get(name) != source)
    if changed_hooks:
        yield Guard(change.path, f"adds or changes pytest hook(s) {', '.join(changed_hooks)} (they can skip or deselect tests)")


def _test_facts(text: str | None) -> _TestFacts | None:
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    tests, hooks = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("test"):
                tests.add(node.name)
            elif node.name.startswith("pytest_"):
                hooks[node.name] = ast.unparse(node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            tests |= {f"{node.name}.{item.name}" for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test")}
    return _TestFacts(frozenset(tests), Counter(_assertions(tree)), _skips(tree), hooks)


def _assertions(tree: ast.AST) -> Iterator[str]:
    """`assert` statements, `self.assertX(...)` / `mock.assert_called...()` calls and
    `pytest.raises(...)` / `pytest.warns(...)`, as source text."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            yield "assert " + ast.unparse(node.test)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                node.func.attr.startswith("assert") or node.func.attr in ("raises", "warns")):
            yield ast.unparse(node)


def _skips(tree: ast.AST) -> int:
    return sum(1 for node in ast.walk(tree)
               if (isinstance(node, ast.Attribute) and node.attr in SKIP_NAMES)
               or (isinstance(node, ast.Name) and node.id in SKIP_NAMES))

"""Property: applying any change set gives exactly the expected files, or (when a write fails
midway) leaves the tree byte-for-byte as it was."""

from __future__ import annotations

import codecs
import os
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.edits.apply import apply_changeset
from agent.edits.changeset import PendingChanges
from agent.errors import ChangeError

NAMES = ("a.txt", "b.py", "d/c.txt", "d/e/f.txt", "g/h.txt")
WORDS = st.text(alphabet="abc xyz_=()", max_size=12)


@st.composite
def files(draw):
    """A file: unique lines ("L<n>:" prefixes make every line substring unique), an ending style,
    final newline or not, BOM or not."""
    words = draw(st.lists(WORDS, min_size=1, max_size=6))
    lines = [f"L{index}:{word}" for index, word in enumerate(words)]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    final = draw(st.booleans())
    bom = draw(st.booleans())
    if len(lines) == 1 and not final:
        eol = "\n"  # no line ending to follow: a file without one gets LF, like any new line
    text = eol.join(lines) + (eol if final else "")
    return {"lines": lines, "eol": eol, "bom": bom, "bytes": (codecs.BOM_UTF8 if bom else b"") + text.encode()}


@st.composite
def scenarios(draw):
    tree = draw(st.dictionaries(st.sampled_from(NAMES[:3]), files(), min_size=1, max_size=3))
    operations = []
    for path in sorted(tree):
        kind = draw(st.sampled_from(["edit", "delete", "keep"]))
        if kind == "edit":
            lines = tree[path]["lines"]
            start = draw(st.integers(0, len(lines) - 1))
            count = draw(st.integers(1, min(2, len(lines) - start)))
            replacement = draw(st.lists(WORDS, min_size=1, max_size=3))
            operations.append(("edit", path, start, count, [f"N{i}:{w}" for i, w in enumerate(replacement)]))
        elif kind == "delete":
            operations.append(("delete", path))
    for path in draw(st.lists(st.sampled_from(NAMES[3:]), unique=True, max_size=2)):
        operations.append(("create", path, draw(st.text(alphabet="abc\n\r xyz", max_size=30))))
    return tree, operations


def expected_tree(tree, operations) -> dict[str, bytes]:
    """The result computed independently of the change set code, on bytes."""
    result = {path: spec["bytes"] for path, spec in tree.items()}
    for operation in operations:
        if operation[0] == "edit":
            _, path, start, count, new_lines = operation
            spec = tree[path]
            old = spec["eol"].join(spec["lines"][start : start + count]).encode()
            result[path] = result[path].replace(old, spec["eol"].join(new_lines).encode(), 1)
        elif operation[0] == "delete":
            del result[operation[1]]
        else:
            result[operation[1]] = operation[2].encode()
    return result


def build(root: Path, tree) -> None:
    for path, spec in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(spec["bytes"])


def read_tree(root: Path) -> tuple[dict[str, bytes], set[str]]:
    """Every file's bytes and every folder (leftover temp files or folders would show here)."""
    found, folders = {}, set()
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            folders.add((Path(folder) / name).relative_to(root).as_posix())
        for name in names:
            file = Path(folder) / name
            found[file.relative_to(root).as_posix()] = file.read_bytes()
    return found, folders


def pending_for(root: Path, tree, operations) -> PendingChanges:
    pending = PendingChanges(root)
    for operation in operations:
        if operation[0] == "edit":
            _, path, start, count, new_lines = operation
            old = "\n".join(tree[path]["lines"][start : start + count])  # LF, as a model sends it
            pending.edit(path, old, "\n".join(new_lines))
        elif operation[0] == "delete":
            pending.delete(operation[1])
        else:
            pending.create(operation[1], operation[2])
    return pending


def _failing_replace(fail_on: int):
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fail_on:
            raise OSError(28, "No space left on device (simulated)", str(dst))
        return real(src, dst, *args, **kwargs)

    return replace, calls


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_apply_produces_exactly_the_expected_files(scenario):
    tree, operations = scenario
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root, tree)
        changeset = pending_for(root, tree, operations).snapshot()
        apply_changeset(changeset, root)
        files, _ = read_tree(root)
        assert files == expected_tree(tree, operations)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(min_value=1, max_value=6))
def test_a_write_failing_midway_leaves_the_tree_unchanged(scenario, fail_on):
    tree, operations = scenario
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root, tree)
        before = read_tree(root)
        changeset = pending_for(root, tree, operations).snapshot()
        replace, calls = _failing_replace(fail_on)
        with mock.patch("os.replace", replace):
            try:
                apply_changeset(changeset, root)
                failed = False
            except ChangeError as exc:
                failed = True
                assert "nothing was changed" in str(exc)
        if failed:
            assert read_tree(root) == before
        else:
            assert calls["n"] < fail_on  # only a run that never reached the failing call may succeed
            assert read_tree(root)[0] == expected_tree(tree, operations)

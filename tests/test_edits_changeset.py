"""The pending change set overlay, path checks, validation, diffs and apply refusals."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from agent.edits.apply import apply_changeset
from agent.edits.changeset import EditError, PendingChanges
from agent.edits.diff import diff_stats, unified_diff
from agent.edits.validate import validate_changeset
from agent.errors import ChangeError

APP = '''from fastapi import APIRouter

router = APIRouter()


@router.get("/items")
def list_items():
    return []
'''


def write(root, path, data: bytes | str):
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data.encode() if isinstance(data, str) else data)
    return file


# edit --------------------------------------------------------------------------------------------


def test_reads_see_pending_edits(tmp_path):
    write(tmp_path, "a.txt", "one\ntwo\n")
    pending = PendingChanges(tmp_path)
    pending.edit("a.txt", "two", "2")
    assert pending.read("a.txt") == "one\n2\n"
    assert (tmp_path / "a.txt").read_text() == "one\ntwo\n"


def test_no_match_names_the_most_similar_lines(tmp_path):
    write(tmp_path, "app.py", APP)
    pending = PendingChanges(tmp_path)
    with pytest.raises(EditError) as info:
        pending.edit("app.py", "def list_item():\n    return []", "x")
    assert "not found" in str(info.value)
    assert "line 7: 'def list_items():'" in str(info.value)
    assert info.value.lines[0] == 7


def test_several_matches_names_each_line(tmp_path):
    write(tmp_path, "a.py", "x = 1\ny = 2\nx = 1\n")
    with pytest.raises(EditError) as info:
        PendingChanges(tmp_path).edit("a.py", "x = 1", "x = 3")
    assert "occurs 2 times (lines 1, 3)" in str(info.value)
    assert info.value.lines == (1, 3)


def test_crlf_file_stays_crlf_when_the_model_sends_lf(tmp_path):
    write(tmp_path, "w.py", b"a = 1\r\nb = 2\r\nc = 3\r\n")
    pending = PendingChanges(tmp_path)
    pending.edit("w.py", "a = 1\nb = 2", "a = 10\nb = 20\nbb = 21")
    apply_changeset(pending.snapshot(), tmp_path)
    assert (tmp_path / "w.py").read_bytes() == b"a = 10\r\nb = 20\r\nbb = 21\r\nc = 3\r\n"


def test_bom_mode_and_missing_final_newline_are_kept(tmp_path):
    file = write(tmp_path, "run.sh", b"\xef\xbb\xbfecho one\necho two")
    file.chmod(0o755)
    pending = PendingChanges(tmp_path)
    assert pending.read("run.sh") == "echo one\necho two"
    pending.edit("run.sh", "echo two", "echo 2")
    apply_changeset(pending.snapshot(), tmp_path)
    assert file.read_bytes() == b"\xef\xbb\xbfecho one\necho 2"
    assert stat.S_IMODE(file.stat().st_mode) == 0o755


def test_an_edit_of_the_last_line_keeps_the_final_newline(tmp_path):
    write(tmp_path, "a.txt", "one\ntwo\n")
    pending = PendingChanges(tmp_path)
    pending.edit("a.txt", "two\n", "three")
    assert pending.read("a.txt") == "one\nthree\n"


def test_create_refuses_existing_and_pending_files(tmp_path):
    write(tmp_path, "a.txt", "x\n")
    pending = PendingChanges(tmp_path)
    with pytest.raises(ChangeError, match="already exists"):
        pending.create("a.txt", "y\n")
    pending.create("new/b.txt", "b\n")
    with pytest.raises(ChangeError, match="already exists"):
        pending.create("new/b.txt", "again\n")


def test_delete_then_edit_is_an_error_and_delete_then_create_rewrites(tmp_path):
    write(tmp_path, "a.txt", "x\n")
    pending = PendingChanges(tmp_path)
    pending.delete("a.txt")
    with pytest.raises(ChangeError, match="deleted earlier"):
        pending.edit("a.txt", "x", "y")
    pending.create("a.txt", "fresh\n")
    (change,) = pending.snapshot().files
    assert (change.kind, change.before, change.after) == ("modify", "x\n", "fresh\n")


def test_snapshot_leaves_out_files_back_to_their_original(tmp_path):
    write(tmp_path, "a.txt", "x\n")
    pending = PendingChanges(tmp_path)
    pending.edit("a.txt", "x", "y")
    pending.edit("a.txt", "y", "x")
    pending.create("t.txt", "tmp")
    pending.delete("t.txt")
    assert not pending.snapshot()


def test_non_utf8_files_are_refused(tmp_path):
    write(tmp_path, "latin.txt", "café".encode("latin-1"))
    with pytest.raises(ChangeError, match="not UTF-8"):
        PendingChanges(tmp_path).read("latin.txt")


# paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, message", [
    ("../x", "'..' is not allowed"),
    ("a/../../x", "'..' is not allowed"),
    ("/etc/passwd", "absolute paths"),
    (".git/config", "under .git/"),
    ("sub/.git/HEAD", "under .git/"),
    ("", "invalid path"),
])
def test_paths_outside_the_repository_are_refused(tmp_path, path, message):
    (tmp_path / ".git").mkdir()
    with pytest.raises(ChangeError, match=message):
        PendingChanges(tmp_path).create(path, "x")


def test_symlinks_leading_out_are_refused(tmp_path):
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    write(outside, "secret.txt", "s\n")
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink(outside, root / "linked_dir")
    pending = PendingChanges(root)
    with pytest.raises(ChangeError, match="outside the repository"):
        pending.edit("link.txt", "s", "t")
    with pytest.raises(ChangeError, match="outside the repository"):
        pending.create("linked_dir/new.txt", "x")
    assert (outside / "secret.txt").read_text() == "s\n"
    assert not (outside / "new.txt").exists()


def test_a_symlink_inside_the_repository_is_not_replaced_by_a_file(tmp_path):
    write(tmp_path, "real.txt", "x\n")
    os.symlink("real.txt", tmp_path / "alias.txt")
    with pytest.raises(ChangeError, match="is a symlink"):
        PendingChanges(tmp_path).edit("alias.txt", "x", "y")


def test_validation_rechecks_paths_of_a_hand_made_changeset(tmp_path):
    from agent.types import ChangeSet, FileChange

    with pytest.raises(ChangeError, match="'..' is not allowed"):
        validate_changeset(ChangeSet((FileChange("../x.py", None, "x = 1\n"),)), tmp_path)


# validation --------------------------------------------------------------------------------------


def test_a_python_file_that_does_not_parse_fails_validation(tmp_path):
    write(tmp_path, "app.py", APP)
    pending = PendingChanges(tmp_path)
    pending.edit("app.py", "def list_items():", "def list_items(:")
    with pytest.raises(ChangeError, match="does not parse"):
        validate_changeset(pending.snapshot(), tmp_path)


def test_validation_reports_new_and_resolved_findings(tmp_path):
    write(tmp_path, "app.py", APP)
    pending = PendingChanges(tmp_path)
    pending.edit("app.py", "router = APIRouter()\n", 'router = APIRouter()\n\n\n@router.post("/items")\n'
                 "def create_item(item: dict):\n    return item\n")
    validation = validate_changeset(pending.snapshot(), tmp_path)
    assert "FBA203" in {f.rule for f in validation.new}
    assert not validation.resolved
    reverse = PendingChanges(tmp_path)
    write(tmp_path, "other.py", pending.read("app.py"))
    reverse.edit("other.py", '@router.post("/items")', '@router.post("/items", status_code=201)')
    validation = validate_changeset(reverse.snapshot(), tmp_path)
    assert [f.rule for f in validation.resolved] == ["FBA203"]
    assert not validation.new


# diff and apply ----------------------------------------------------------------------------------


def test_diff_summary_counts_lines(tmp_path):
    write(tmp_path, "a.txt", "1\n2\n3\n")
    write(tmp_path, "gone.txt", "g\n")
    pending = PendingChanges(tmp_path)
    pending.edit("a.txt", "2\n", "two\nzwei\n")
    pending.delete("gone.txt")
    pending.create("n.txt", "")
    stats = {s.path: (s.kind, s.added, s.removed) for s in diff_stats(pending.snapshot())}
    assert stats == {"a.txt": ("modify", 2, 1), "gone.txt": ("delete", 0, 1), "n.txt": ("create", 0, 0)}
    diff = unified_diff(pending.snapshot())
    assert "diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n" in diff
    assert "diff --git a/n.txt b/n.txt\nnew file mode 100644\n" in diff


def test_a_file_changed_on_disk_after_reading_aborts_before_writing(tmp_path):
    write(tmp_path, "a.txt", "a\n")
    write(tmp_path, "b.txt", "b\n")
    pending = PendingChanges(tmp_path)
    pending.edit("a.txt", "a", "A")
    pending.edit("b.txt", "b", "B")
    changeset = pending.snapshot()
    write(tmp_path, "b.txt", "b, edited by the user\n")
    with pytest.raises(ChangeError, match="b.txt: changed on disk after fba read it; nothing was changed"):
        apply_changeset(changeset, tmp_path)
    assert (tmp_path / "a.txt").read_text() == "a\n"


def test_a_file_created_on_disk_meanwhile_is_not_overwritten(tmp_path):
    pending = PendingChanges(tmp_path)
    pending.create("n.txt", "fba\n")
    changeset = pending.snapshot()
    write(tmp_path, "n.txt", "user\n")
    with pytest.raises(ChangeError, match="created on disk"):
        apply_changeset(changeset, tmp_path)
    assert (tmp_path / "n.txt").read_text() == "user\n"


def test_created_folders_are_removed_when_apply_fails(tmp_path, monkeypatch):
    write(tmp_path, "a.txt", "a\n")
    pending = PendingChanges(tmp_path)
    pending.create("deep/er/n.txt", "n\n")
    pending.edit("a.txt", "a", "A")
    real = os.replace
    calls = []

    def fail_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(ChangeError, match="Permission denied.*nothing was changed"):
        apply_changeset(pending.snapshot(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "a\n"


def test_cli_help_does_not_import_git_or_libcst():
    code = ("import sys; from agent.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('git', 'libcst', 'anthropic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")

"""Change sets that were paid for but not applied (declined, or no terminal to accept them on), kept
under fba's data folder so nothing is thrown away: `changes/RUN_ID.patch` (a `git apply`-able
patch, for people) and `changes/RUN_ID.json` (the change set with the file hashes it was made
against and its commit message, for `fba apply RUN_ID`, which lands it through the usual
validate -> preview -> confirm -> apply -> commit flow)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from agent.edits.diff import unified_diff
from agent.edits.git import Trailers
from agent.errors import UsageError
from agent.types import ChangeSet, FileChange
from agent.workflows.changes import CommitInfo

FOLDER = "changes"
FORMAT_VERSION = 1


def keep_change(changeset: ChangeSet, root: Path, info: CommitInfo, run_id: str, home: Path) -> Path:
    """Write the patch and the change set; returns the patch's path."""
    folder = home / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    data = {"version": FORMAT_VERSION, "root": str(root),
            "commit": {"subject": info.subject, "body": info.body, "trailers": asdict(info.trailers)},
            "files": [asdict(change) for change in changeset.files]}
    (folder / f"{run_id}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    patch = folder / f"{run_id}.patch"
    patch.write_text(unified_diff(changeset), encoding="utf-8", newline="")
    return patch


def load_kept(patch: Path) -> tuple[ChangeSet, Path, CommitInfo]:
    """The change set kept beside `patch`, the repository it belongs to, and its commit message."""
    source = patch.with_suffix(".json")
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the kept change {source}: {getattr(exc, 'strerror', None) or exc}") from None
    if data.get("version") != FORMAT_VERSION:
        raise UsageError(f"{source} was kept by another fba version; apply {patch} with: git apply {patch}")
    commit = data["commit"]
    trailers = commit["trailers"]
    info = CommitInfo(commit["subject"], Trailers(trailers["agent"], trailers["model"], trailers["session"],
                                                  tuple(trailers["extra"])), commit["body"])
    changeset = ChangeSet(tuple(FileChange(**change) for change in data["files"]))
    return changeset, Path(data["root"]), info


def forget_kept(patch: Path) -> None:
    """Remove a kept change once it is applied."""
    for path in (patch, patch.with_suffix(".json")):
        path.unlink(missing_ok=True)

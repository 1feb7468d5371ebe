"""Git: the only module that imports GitPython (lazily; `fba --help` and plain reviews never load it).

Commits are made with plumbing (a temporary index, `write-tree`, `commit-tree`, `update-ref`) so
that exactly the change set's files are committed: whatever the user has staged for other files
stays staged and out of fba's commit. Hooks do not run for fba's commits (the change was
validated by fba; a formatting hook would change files after the preview), nor for `fba undo`'s
revert commit.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from agent.errors import GitError

FBA_TRAILER = "Fba-Agent"
_TRAILER_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*: \S")
COMMIT_MODES = ("off", "branch", "new-branch")


@dataclass(frozen=True)
class Trailers:
    """Who made a commit: `Fba-Agent`, `Fba-Model`, `Fba-Session`, plus extra `Key: value` lines."""

    agent: str
    model: str = "none"
    session: str = "none"
    extra: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        lines = [f"{FBA_TRAILER}: {self.agent}", f"Fba-Model: {self.model}", f"Fba-Session: {self.session}"]
        for line in self.extra:
            if not _TRAILER_LINE.match(line) or "\n" in line:
                raise GitError(f"invalid commit trailer {line!r} (expected 'Key: value')")
            lines.append(line)
        return lines


@dataclass(frozen=True)
class CommitResult:
    """A commit fba made: its id, the branch it is on (None when HEAD is detached) and its subject."""

    sha: str
    branch: str | None
    subject: str


# pure helpers --------------------------------------------------------------------------------------


def commit_message(subject: str, body: str, trailers: Trailers) -> str:
    parts = [subject.strip().splitlines()[0] if subject.strip() else "fba: apply changes"]
    if body.strip():
        parts.append(body.strip())
    parts.append("\n".join(trailers.lines()))
    return "\n\n".join(parts) + "\n"


def is_fba_commit(message: str) -> bool:
    """True when the message's last paragraph (its trailer block) has an `Fba-Agent:` line."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return False
    return any(line.startswith(f"{FBA_TRAILER}: ") for line in paragraphs[-1].splitlines())


def branch_slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "changes"


# repository access ---------------------------------------------------------------------------------


def _repo(root: Path):
    """The GitPython Repo containing `root`, or None when it is not inside a work tree."""
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    return repo if repo.working_tree_dir else None


def _command_error():
    import git

    return git.GitCommandError


def find_root(start: Path) -> Path | None:
    """The top folder of the git work tree containing `start`, or None."""
    repo = _repo(start)
    return Path(repo.working_tree_dir) if repo is not None else None


def _require(root: Path):
    repo = _repo(root)
    if repo is None:
        raise GitError(f"{root}: not a git repository")
    return repo


def _has_head(repo) -> bool:
    return repo.head.is_valid()


def has_commits(start: Path) -> bool:
    """Whether the work tree containing `start` has a commit yet (HEAD names one)."""
    return _has_head(_require(start))


def uncommitted(root: Path, paths: Sequence[str]) -> list[str]:
    """Those of `paths` (relative to `root`) whose content on disk is not committed: modified,
    staged, untracked or ignored files. Missing, untracked paths (files to create) are clean."""
    repo = _require(root)
    if not paths:
        return []
    prefix = _prefix(repo, root)
    specs = [f":(literal){prefix}{p}" for p in paths]
    out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching", "--", *specs)
    dirty = _status_paths(out)
    return [p for p in paths if prefix + p in dirty]


def _status_paths(output: str) -> set[str]:
    entries = output.split("\0")
    paths: set[str] = set()
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        paths.add(entry[3:])
        if entry[0] in "RC":  # a rename/copy is followed by its source path
            index += 1
    return paths


def _prefix(repo, root: Path) -> str:
    """`root` relative to the work tree top, as a path prefix ("" at the top)."""
    relative = Path(root).resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    return "" if relative == "." else relative + "/"


def commit_changes(
    root: Path,
    paths: Sequence[str],
    subject: str,
    trailers: Trailers,
    mode: str = "branch",
    body: str = "",
) -> CommitResult:
    """Commit the current content of `paths` (an applied change set) with fba's trailers.

    `mode`: "branch" commits on the current branch (or detached HEAD); "new-branch" creates
    `fba/<slug of subject>` at the new commit and switches HEAD to it (the files on disk already
    match it). Other staged or unstaged work is left exactly as it was.
    """
    if mode not in ("branch", "new-branch"):
        raise GitError(f"unknown commit mode {mode!r} (expected one of {', '.join(COMMIT_MODES)})")
    repo = _require(root)
    message = commit_message(subject, body, trailers)
    specs = [f":(literal){_prefix(repo, root)}{p}" for p in paths]
    try:
        sha = _commit_tree(repo, specs, message)
        branch = _move_head(repo, sha, mode, subject)
        repo.git.reset("-q", "--", *specs)  # the real index now agrees with the new commit
    except _command_error() as exc:
        raise GitError(f"git commit failed: {_git_message(exc)}") from None
    return CommitResult(sha, branch, message.splitlines()[0])


def _commit_tree(repo, specs: list[str], message: str) -> str:
    handle, index_file = tempfile.mkstemp(prefix="fba-index-")
    os.close(handle)
    os.remove(index_file)  # git wants to create the index itself
    env = {"GIT_INDEX_FILE": index_file}
    try:
        if _has_head(repo):
            repo.git.read_tree("HEAD", env=env)
        else:
            repo.git.read_tree("--empty", env=env)
        repo.git.add("-A", "--", *specs, env=env)
        tree = repo.git.write_tree(env=env)
        parents = ["-p", repo.head.commit.hexsha] if _has_head(repo) else []
        return repo.git.commit_tree(tree, *parents, "-m", message)
    finally:
        if os.path.exists(index_file):
            os.remove(index_file)


def _move_head(repo, sha: str, mode: str, subject: str) -> str | None:
    old = repo.head.commit.hexsha if _has_head(repo) else None
    if mode == "branch":
        args = ["-m", "fba: commit", "HEAD", sha] + ([old] if old else [])
        repo.git.update_ref(*args)
        return None if repo.head.is_detached else repo.active_branch.name
    name = _free_branch_name(repo, f"fba/{branch_slug(subject)}")
    repo.git.update_ref("-m", "fba: new branch", f"refs/heads/{name}", sha, "")
    repo.git.symbolic_ref("-m", "fba: switch to new branch", "HEAD", f"refs/heads/{name}")
    return name


def _free_branch_name(repo, base: str) -> str:
    existing = {head.name for head in repo.heads}
    name, number = base, 2
    while name in existing:
        name, number = f"{base}-{number}", number + 1
    return name


def undo_last_commit(root: Path) -> CommitResult:
    """Revert fba's last commit with a new commit; GitError (nothing done) when HEAD is not fba's,
    is already on a remote-tracking branch, or the work tree has uncommitted changes."""
    repo = _require(root)
    if not _has_head(repo):
        raise GitError("the repository has no commits; nothing to undo")
    head = repo.head.commit
    short = head.hexsha[:8]
    if not is_fba_commit(head.message):
        raise GitError(f"HEAD {short} ({head.summary}) was not made by fba; nothing undone")
    remotes = repo.git.branch("-r", "--contains", head.hexsha).split()
    if remotes:
        raise GitError(f"HEAD {short} is already pushed ({remotes[0]}); fba only undoes local commits — "
                       f"use 'git revert {short}' if you mean it")
    if repo.is_dirty(index=True, working_tree=True, untracked_files=False):
        raise GitError("the work tree has uncommitted changes; commit or stash them first, nothing undone")
    try:
        with tempfile.TemporaryDirectory(prefix="fba-no-hooks-") as no_hooks:
            # like fba's other commits: no hook runs (an empty hooks folder, on every platform)
            repo.git(c=f"core.hooksPath={no_hooks}").revert("--no-edit", head.hexsha)
    except _command_error() as exc:
        raise GitError(f"git revert failed: {_git_message(exc)}") from None
    new = repo.head.commit
    return CommitResult(new.hexsha, None if repo.head.is_detached else repo.active_branch.name, new.summary)


def project_files(root: Path) -> list[str] | None:
    """Tracked plus untracked, non-ignored files under `root` (relative to it); None when `root`
    is not in a git work tree."""
    repo = _repo(root)
    if repo is None:
        return None
    prefix = _prefix(repo, root)
    output = repo.git.ls_files("-z", "--cached", "--others", "--exclude-standard", "--", f":(literal){prefix or '.'}")
    return sorted({p[len(prefix):] for p in output.split("\0") if p})


def _git_message(exc) -> str:
    text = (getattr(exc, "stderr", "") or str(exc)).strip()
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    return text.splitlines()[-1] if text else "unknown error"


# what changed (review --changed / --diff) -----------------------------------------------------------

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,(?P<count>\d+))? @@", re.MULTILINE)


def changed_files(start: Path) -> list[Path]:
    """Files changed against HEAD in the work tree containing `start`: staged, unstaged and
    untracked-but-not-ignored ones (absolute paths of files that still exist)."""
    repo = _require(start)
    top = Path(repo.working_tree_dir)
    output = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all")
    return sorted(top / p for p in _status_paths(output) if (top / p).is_file())


def changed_lines(start: Path, ref: str) -> dict[Path, frozenset[int] | None]:
    """Lines added or changed since `ref` (a commit, branch or tag), per file, through a
    zero-context diff of `ref` against the work tree. Untracked files map to None: every line
    is new."""
    import git

    repo = _require(start)
    top = Path(repo.working_tree_dir)
    try:
        base = repo.commit(ref)
        diffs = base.diff(None, create_patch=True, unified=0)
    except (git.BadName, ValueError, _command_error()):
        raise GitError(f"--diff {ref}: no such commit, branch or tag in {top}") from None
    changed: dict[Path, frozenset[int] | None] = {}
    for diff in diffs:
        if diff.deleted_file or not diff.b_path:
            continue
        patch = diff.diff.decode("utf-8", "replace") if isinstance(diff.diff, bytes) else str(diff.diff)
        lines = added_lines(patch)
        if lines:
            changed[top / diff.b_path] = lines
    for path in repo.untracked_files:
        changed[top / path] = None
    return changed


def python_files_at(start: Path, ref: str) -> dict[Path, bytes | None]:
    """The Python files that differ between `ref` and the work tree containing `start` (absolute
    paths), with their content at `ref`: None for a file that was not there (added since,
    untracked, the new name of a renamed file)."""
    import git

    repo = _require(start)
    top = Path(repo.working_tree_dir)
    try:
        diffs = repo.commit(ref).diff(None)
    except (git.BadName, ValueError, _command_error()):
        raise GitError(f"--diff {ref}: no such commit, branch or tag in {top}") from None
    found: dict[Path, bytes | None] = {}
    for diff in diffs:
        if diff.b_path and diff.b_path.endswith(".py"):
            found[top / diff.b_path] = None  # until it turns out to be the same file's old name
        if diff.a_path and diff.a_path.endswith(".py") and diff.a_blob is not None and not diff.new_file:
            found[top / diff.a_path] = diff.a_blob.data_stream.read()
    for path in repo.untracked_files:
        if path.endswith(".py"):
            found[top / path] = None
    return found


def added_lines(patch: str) -> frozenset[int]:
    """New-side line numbers covered by the hunks of a zero-context patch."""
    lines: set[int] = set()
    for hunk in _HUNK.finditer(patch):
        start = int(hunk["start"])
        count = int(hunk["count"]) if hunk["count"] is not None else 1
        lines.update(range(start, start + count))
    return frozenset(lines)

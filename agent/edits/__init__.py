"""Writing changes back safely.

The pieces, in the order a change travels through them:

- `changeset.PendingChanges`: an overlay over the working tree. `edit`, `create`, `delete` (and
  `rewrite` for whole-file fixers) change pending state only; `read` sees pending edits;
  `snapshot()` returns an immutable `agent.types.ChangeSet`.
- `validate.validate_changeset`: every path inside the repository, every Python file parses, and
  the static engine's new/resolved findings against the previous state.
- `diff.unified_diff` / `diff.diff_stats`: a `git apply`-able patch and a per-file summary.
- `apply.apply_changeset`: all files or none (temp file + `os.replace`, rollback on failure,
  refusal when a file changed on disk since it was read).
- `git`: dirty-file refusal, commits with `Fba-*` trailers, `undo_last_commit` (the only
  GitPython importer).
- `testrun.run_tests`: the test command against the pending change set in a throwaway copy.
- `fixes`: libcst-based automatic fixes for static findings.

`agent.workflows.changes` strings these together (validate -> preview -> confirm -> apply -> commit).
"""

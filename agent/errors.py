"""Typed errors. Only `cli.py` turns them into one-line messages and exit code 2."""

from __future__ import annotations


class FbaError(Exception):
    """A user-facing failure: the message is one clear line, shown without a traceback."""


class UsageError(FbaError):
    """Bad command-line input: missing path, conflicting flags, unknown rule id."""


class ConfigError(FbaError):
    """Unreadable or invalid configuration (pyproject.toml, FBA_* variables)."""


class InputError(FbaError):
    """A file or spec fba was asked to read cannot be used (binary, not UTF-8, unparsable)."""


class ModelError(FbaError):
    """The model could not be used: no key, key rejected, retries exhausted, stream cut."""


class ChangeError(FbaError):
    """A change set failed validation or could not be applied; nothing was written."""


class GitError(FbaError):
    """A git operation was refused or failed (dirty tree, not fba's commit, pushed)."""


class SandboxError(FbaError):
    """The model's code would have to run unconfined (no sandbox works) and the user did not allow it."""

"""Plain, frozen value types shared by every layer. Imports nothing internal.

Everything here is picklable (parallel workers and the cache move these around) and
JSON-friendly through `to_dict()`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(str, enum.Enum):
    """Finding severity; compare with `rank` (higher is worse)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}

CATEGORIES: tuple[str, ...] = (
    "auth-missing",
    "ownership",
    "client-identity",
    "jwt",
    "response-model",
    "status-code",
    "secrets",
    "transaction",
    "injection",
    "error-leak",
    "rate-limit",
    "pagination",
    "validation",
    "cors",
    "password-storage",
    "n-plus-one",
    "blocking-async",
)


@dataclass(frozen=True)
class Edit:
    """Replace exactly one occurrence of `old_string` by `new_string` in `path`.

    `old_string == ""` with `create=True` creates the file with `new_string` as content.
    """

    path: str
    old_string: str
    new_string: str
    create: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "old_string": self.old_string, "new_string": self.new_string}
        if self.create:
            data["create"] = True
        return data


@dataclass(frozen=True)
class Fix:
    """A safe automatic fix for a finding: a description and the edits that apply it."""

    description: str
    edits: tuple[Edit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "edits": [e.to_dict() for e in self.edits]}


@dataclass(frozen=True)
class Finding:
    """One problem at one place. `path` is relative to the review root (POSIX separators)."""

    rule: str
    category: str
    severity: Severity
    path: str
    line: int
    message: str
    end_line: int | None = None
    column: int = 1
    source: str = "static"
    confidence: float = 1.0
    title: str = ""
    fix: Fix | None = None
    fixable: bool = False  # its rule has a safe automatic fix that `--fix` applies

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.rule, self.message)

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line if self.end_line is not None else self.line,
            "column": self.column,
            "message": self.message,
            "source": self.source,
            "confidence": round(self.confidence, 2),
            "fixable": self.fixable,
        }
        if self.title:
            data["title"] = self.title
        if self.fix is not None:
            data["fix"] = self.fix.to_dict()
        return data


@dataclass(frozen=True)
class FileChange:
    """One file in a change set: `before`/`after` are None for a created/deleted file.

    Texts carry the file's own line endings and no BOM. `before_sha256` is the hash of the bytes
    on disk when the change set first read the file (apply refuses if they changed since);
    `bom` and `mode` (permission bits) are kept when the file is written back.
    """

    path: str
    before: str | None
    after: str | None
    before_sha256: str | None = None
    bom: bool = False
    mode: int | None = None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        return "modify"


@dataclass(frozen=True)
class ChangeSet:
    """An immutable snapshot of pending changes, ready to validate, preview and apply."""

    files: tuple[FileChange, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    def __bool__(self) -> bool:
        return bool(self.files)


# Characters a token, for estimates before the API counts (context budgets, --max-cost checks):
# code tokenizes densely; erring low overestimates cost, so --max-cost stops early.
CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Usage:
    """Token usage of one or more model requests, with its cost in USD.

    `cost_known` is False when some request used a model without a known price: its cost is then
    unknown (reported as null), never silently 0. `estimated` is True when some request was
    cut off before the API reported its usage, so its tokens are fba's estimate.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0
    cost_known: bool = True
    estimated: bool = False

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cost_usd + other.cost_usd,
            self.requests + other.requests,
            self.cost_known and other.cost_known,
            self.estimated or other.estimated,
        )

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cost_usd": round(self.cost_usd, 6) if self.cost_known else None,
            "requests": self.requests,
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class Skipped:
    """A file the review could not (fully) analyse, and why. Reported, never silent."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class ReviewResult:
    """What a review produced: findings (sorted), files reviewed, files skipped, and the files the
    model pass was asked to review but did not review validly (never "clean")."""

    findings: tuple[Finding, ...]
    files: int
    skipped: tuple[Skipped, ...] = ()
    suppressed: int = 0
    usage: Usage = field(default_factory=Usage)
    not_reviewed: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()  # e.g. unknown codes in `# fba: ignore[...]`: said, never silent

"""Redact secret-looking values from text before it is sent to a model.

`redact(text)` returns the text with each secret replaced by a `[REDACTED kind]` marker, and the
number of replacements (shown to the user). The structure around a secret stays (`password =
"[REDACTED password]"`), so a reviewer can still see that a secret was hard-coded there.
Patterns err on the side of redacting: a false positive costs the model one value, a miss leaks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)[A-Za-z0-9_-]*"


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    group: int = 0  # the group holding the secret (0: the whole match)


PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("private key", re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", re.S)),
    _Pattern("anthropic key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{16,}")),
    _Pattern("openai key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}")),
    _Pattern("aws key", re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b")),
    _Pattern("gcp key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    _Pattern("github token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    _Pattern("slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    _Pattern("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    _Pattern("bearer token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)"), 1),
    _Pattern("url password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@"), 1),
    # password = "hunter2", API_KEY: str = 'abc', "client_secret": "xyz"
    _Pattern("password", re.compile(
        rf"(?i)[\"']?\b{_SECRET_NAME}[\"']?(?:\s*:\s*[A-Za-z_][\w\[\], |.]*)?\s*[:=]\s*[rbuf]?([\"'])((?:(?!\1)[^\\\n]|\\.){{4,}})\1"), 2),
    # .env style, upper-case name and no spaces (Python code has spaces or lower-case kwargs):
    # DB_PASSWORD=hunter2
    _Pattern("password", re.compile(
        r"(?m)^[ \t]*(?:export[ \t]+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY)"
        r"[A-Z0-9_]*=([^\s\"'#(\[][^\s#(\[]{3,})$"), 1),
)


def redact(text: str) -> tuple[str, int]:
    """`text` with secret-looking values replaced, and how many were replaced."""
    count = 0
    for pattern in PATTERNS:
        text, replaced = _redact_one(text, pattern)
        count += replaced
    return text, count


def _redact_one(text: str, pattern: _Pattern) -> tuple[str, int]:
    marker = f"[REDACTED {pattern.kind}]"
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        secret = match.group(pattern.group)
        if secret.startswith("[REDACTED"):
            return match.group(0)
        count += 1
        start, end = match.span(pattern.group)
        offset = match.start()
        whole = match.group(0)
        return whole[: start - offset] + marker + whole[end - offset:]

    return pattern.regex.sub(replace, text), count

"""Redact secret-looking values from text before it is sent to a model.

`redact(text)` returns the text with each secret replaced by a `[REDACTED kind]` marker, and the
number of replacements (shown to the user). The structure around a secret stays (`password =
"[REDACTED password]"`), so a reviewer can still see that a secret was hard-coded there.
Patterns err on the side of redacting: a false positive costs the model one value, a miss leaks it.

The text is what is actually sent: `read_file` lines start with a line number and a tab, `search`
matches with `path:line: `, test output with anything. So no pattern is anchored at a line start;
a `NAME=value` assignment only needs whitespace (or the line start) before its name. Known key
formats (cloud keys, API tokens, JWTs, private keys, URL passwords) are redacted wherever they
are: in code, Markdown, JSON or a traceback. Secrets fba itself holds (the API key) are `known`:
their literal value is redacted anywhere, reversed too, whatever surrounds it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Sequence

_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)[A-Za-z0-9_-]*"
_SECRET_NAME_UPPER = r"[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*"
_PEM_LABEL = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
MIN_KNOWN_SECRET = 16  # shorter "known" values would redact ordinary words


_NAME_HINTS = ("pass", "pwd", "secret", "token", "key", "credential")


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    group: int = 0  # the group holding the secret (0: the whole match)
    # Speed (every tool result is scanned by every pattern): lower-case literals one of which every
    # match contains; a text without any is not scanned. `by_line`: matches never span lines, so
    # only the lines holding a hint are scanned.
    hints: tuple[str, ...] = ()
    by_line: bool = False


# Key formats recognised by their own shape: kind, pattern, hints (`sk-ant-` before other `sk-`).
TOKENS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("anthropic key", r"\bsk-ant-[A-Za-z0-9_-]{16,}", ("sk-ant-",)),
    ("api key", r"\bsk-(?!ant-)[A-Za-z0-9_-]{20,}", ("sk-",)),  # OpenAI and other `sk-` keys
    ("stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}", ("_live_", "_test_")),
    ("stripe webhook secret", r"\bwhsec_[A-Za-z0-9]{16,}", ("whsec_",)),
    ("aws key", r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b", ("akia", "asia", "aida", "aroa")),
    ("gcp key", r"\bAIza[0-9A-Za-z_-]{35}\b", ("aiza",)),
    ("google oauth secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}", ("gocspx-",)),
    ("google oauth token", r"\bya29\.[0-9A-Za-z_-]{20,}", ("ya29.",)),
    ("github token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("gitlab token", r"\bglpat-[A-Za-z0-9_-]{20,}", ("glpat-",)),
    ("slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),
    ("slack webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}", ("hooks.slack.com",)),
    ("huggingface token", r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    ("pypi token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", ("pypi-",)),
    ("sendgrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", ("sg.",)),
    ("digitalocean token", r"\bdo[por]_v1_[a-f0-9]{64}\b", ("_v1_",)),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyj",)),
)


PRIVATE_KEYS: tuple[_Pattern, ...] = (  # first: a key block's body may look like other tokens
    _Pattern("private key", re.compile(
        rf"{_PEM_LABEL}.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", re.S), hints=("private key",)),
    # a key block cut before its END line (a line range, a clipped line): its body up to the cut
    _Pattern("private key", re.compile(
        rf"{_PEM_LABEL}((?:\s*(?:\d+\t)?[ \t\"'+]*(?:\\n)?[A-Za-z0-9+/=]{{16,}}(?:\\n)?[\"',]*)+)"), 1, ("private key",)),
)
PATTERNS: tuple[_Pattern, ...] = (
    *(_Pattern(kind, re.compile(regex), hints=hints) for kind, regex, hints in TOKENS),
    _Pattern("aws secret key", re.compile(
        r"(?i)\baws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"), 1, ("aws",)),
    _Pattern("azure key", re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{30,}={0,2})"), 1,
             ("accesskey=", "accountkey=")),
    _Pattern("bearer token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)"), 1, ("bearer",)),
    _Pattern("url password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@"), 1, ("://",)),
    # password = "hunter2", API_KEY: str = 'abc', "client_secret": "xyz" (not a path or an f-string
    # placeholder: `tokenUrl="/login/access-token"` names an endpoint)
    _Pattern("password", re.compile(
        rf"(?i)[\"']?\b{_SECRET_NAME}[\"']?(?:\s*:\s*[A-Za-z_][\w\[\], |.]*)?\s*[:=]\s*[rbuf]?([\"'])(?![/{{])((?:(?!\1)[^\\\n]|\\.){{4,}})\1"), 2,
        _NAME_HINTS, by_line=True),
    # .env style and printed environments, upper-case name and no spaces (Python code has spaces
    # or lower-case kwargs): DB_PASSWORD=hunter2, `export API_TOKEN=abc`, `env` output in a test run
    _Pattern("password", re.compile(
        rf"(?m)(?:^|(?<=\s))(?:export[ \t]+)?{_SECRET_NAME_UPPER}=([^\s\"'#(\[][^\s\"'#()\[\],;]{{3,}})(?=\s|$)"), 1,
        _NAME_HINTS, by_line=True),
    # YAML / ini style, unquoted: `password: hunter2`, `api_key = abc-123` (a value that is a bare
    # identifier or a dotted name is a type or a variable, `password: SecretStr`, and stays)
    _Pattern("password", re.compile(
        rf"(?im)(?:^|(?<=\s)){_SECRET_NAME}[ \t]*[:=][ \t]*((?![A-Za-z_.]+[ \t]*(?:#.*)?$)[^\s\"'`#()\[\]{{}},;][^\s\"'`()\[\]{{}},;]{{3,}})[ \t]*(?:#.*)?$"), 1,
        _NAME_HINTS, by_line=True),
)


def redact(text: str, known: Sequence[str] = ()) -> tuple[str, int]:
    """`text` with secret-looking values (and the `known` secrets, also reversed) replaced, and how
    many were replaced."""
    count = 0
    for secret in known:
        if len(secret) >= MIN_KNOWN_SECRET:
            for value in (secret, secret[::-1]):
                count += text.count(value)
                text = text.replace(value, "[REDACTED api key]")
    for pattern in PRIVATE_KEYS:
        text, replaced = _redact_one(text, pattern)
        count += replaced
    for pattern in PATTERNS:
        text, replaced = _redact_one(text, pattern)
        count += replaced
    return text, count



def _redact_one(text: str, pattern: _Pattern) -> tuple[str, int]:
    if pattern.hints and not _has_hint(text, pattern.hints):
        return text, 0
    if pattern.by_line:
        count = 0

        def line(match: re.Match[str]) -> str:
            nonlocal count
            clean, replaced = _substitute(match.group(), pattern)
            count += replaced
            return clean

        return _hint_lines(pattern.hints).sub(line, text), count
    return _substitute(text, pattern)


@functools.lru_cache(maxsize=None)
def _hint_lines(hints: tuple[str, ...]) -> re.Pattern[str]:
    """The lines that hold one of `hints` (case-insensitive)."""
    return re.compile(rf"(?im)^[^\n]*?(?:{'|'.join(map(re.escape, hints))})[^\n]*")


def _has_hint(text: str, hints: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in hints)


def _substitute(text: str, pattern: _Pattern) -> tuple[str, int]:
    marker = f"[REDACTED {pattern.kind}]"
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        secret = match.group(pattern.group)
        if "[REDACTED" in secret or not secret.strip():
            return match.group(0)
        count += 1
        start, end = match.span(pattern.group)
        offset = match.start()
        whole = match.group(0)
        return whole[: start - offset] + marker + whole[end - offset:]

    return pattern.regex.sub(replace, text), count

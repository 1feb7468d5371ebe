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

import re
from dataclasses import dataclass
from typing import Sequence

_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)[A-Za-z0-9_-]*"
_SECRET_NAME_UPPER = r"[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*"
_PEM_LABEL = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
MIN_KNOWN_SECRET = 16  # shorter "known" values would redact ordinary words


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    group: int = 0  # the group holding the secret (0: the whole match)


def _token(kind: str, regex: str) -> _Pattern:
    return _Pattern(kind, re.compile(regex))


PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("private key", re.compile(
        rf"{_PEM_LABEL}.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", re.S)),
    # a key block cut before its END line (a line range, a clipped line): its body up to the cut
    _Pattern("private key", re.compile(
        rf"{_PEM_LABEL}((?:\s*(?:\d+\t)?[ \t\"'+]*(?:\\n)?[A-Za-z0-9+/=]{{16,}}(?:\\n)?[\"',]*)+)"), 1),
    _token("anthropic key", r"\bsk-ant-[A-Za-z0-9_-]{16,}"),
    _token("api key", r"\bsk-(?!ant-)[A-Za-z0-9_-]{20,}"),  # OpenAI and other `sk-` keys
    _token("stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"),
    _token("stripe webhook secret", r"\bwhsec_[A-Za-z0-9]{16,}"),
    _token("aws key", r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b"),
    _Pattern("aws secret key", re.compile(
        r"(?i)\baws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"), 1),
    _token("gcp key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    _token("google oauth secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}"),
    _token("google oauth token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    _Pattern("azure key", re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{30,}={0,2})"), 1),
    _token("github token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
    _token("gitlab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    _token("slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    _token("slack webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    _token("huggingface token", r"\bhf_[A-Za-z0-9]{30,}"),
    _token("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    _token("pypi token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    _token("sendgrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    _token("digitalocean token", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    _token("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _Pattern("bearer token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)"), 1),
    _Pattern("url password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@"), 1),
    # password = "hunter2", API_KEY: str = 'abc', "client_secret": "xyz" (not a path or an f-string
    # placeholder: `tokenUrl="/login/access-token"` names an endpoint)
    _Pattern("password", re.compile(
        rf"(?i)[\"']?\b{_SECRET_NAME}[\"']?(?:\s*:\s*[A-Za-z_][\w\[\], |.]*)?\s*[:=]\s*[rbuf]?([\"'])(?![/{{])((?:(?!\1)[^\\\n]|\\.){{4,}})\1"), 2),
    # .env style and printed environments, upper-case name and no spaces (Python code has spaces
    # or lower-case kwargs): DB_PASSWORD=hunter2, `export API_TOKEN=abc`, `env` output in a test run
    _Pattern("password", re.compile(
        rf"(?m)(?:^|(?<=\s))(?:export[ \t]+)?{_SECRET_NAME_UPPER}=([^\s\"'#(\[][^\s\"'#()\[\],;]{{3,}})(?=\s|$)"), 1),
    # YAML / ini style, unquoted: `password: hunter2`, `api_key = abc-123` (a value that is a bare
    # identifier or a dotted name is a type or a variable, `password: SecretStr`, and stays)
    _Pattern("password", re.compile(
        rf"(?im)(?:^|(?<=\s)){_SECRET_NAME}[ \t]*[:=][ \t]*((?![A-Za-z_.]+[ \t]*(?:#.*)?$)[^\s\"'`#()\[\]{{}},;][^\s\"'`()\[\]{{}},;]{{3,}})[ \t]*(?:#.*)?$"), 1),
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
        if "[REDACTED" in secret or not secret.strip():
            return match.group(0)
        count += 1
        start, end = match.span(pattern.group)
        offset = match.start()
        whole = match.group(0)
        return whole[: start - offset] + marker + whole[end - offset:]

    return pattern.regex.sub(replace, text), count

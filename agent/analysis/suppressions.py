"""Inline suppressions: `# fba: ignore[FBA102]` (or bare `# fba: ignore`) on the reported line."""

from __future__ import annotations

import re
from typing import Collection

_PATTERN = re.compile(r"#\s*fba:\s*ignore(?:\[(?P<codes>[A-Za-z0-9_,\s-]*)\])?", re.IGNORECASE)
ALL = "*"
MODEL_RULE_PREFIX = "FBA-LLM-"  # the rule ids of model findings (FBA-LLM-<category>), suppressible too


def suppressions(text: str) -> dict[int, frozenset[str]]:
    """Line number -> suppressed rule codes (or {"*"} for all) for lines with a suppression comment."""
    result: dict[int, frozenset[str]] = {}
    if "fba:" not in text:
        return result
    for number, line in enumerate(text.splitlines(), start=1):
        match = _PATTERN.search(line)
        if match:
            codes = match.group("codes")
            result[number] = (
                frozenset(c.strip().upper() for c in codes.split(",") if c.strip()) if codes else frozenset({ALL})
            )
    return result


def is_suppressed(table: dict[int, frozenset[str]], line: int, rule: str, category: str = "") -> bool:
    codes = table.get(line)
    return bool(codes) and (ALL in codes or rule.upper() in codes or category.upper() in codes)


def unknown_codes(table: dict[int, frozenset[str]], known: Collection[str]) -> tuple[tuple[int, str], ...]:
    """(line, code) for every code of a suppression that names no rule or category (a typo
    would silently suppress nothing)."""
    return tuple((line, code) for line, codes in sorted(table.items()) for code in sorted(codes)
                 if code != ALL and code not in known)

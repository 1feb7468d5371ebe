"""Inline suppressions: `# fba: ignore[FBA102]` (or bare `# fba: ignore`) on the reported line."""

from __future__ import annotations

import re

_PATTERN = re.compile(r"#\s*fba:\s*ignore(?:\[(?P<codes>[A-Za-z0-9_,\s-]*)\])?", re.IGNORECASE)
ALL = "*"


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

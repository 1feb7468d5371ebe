"""The JSON contract of DESIGN.md (`version` 1)."""

from __future__ import annotations

import json
from collections import Counter

from agent import __version__
from agent.types import ReviewResult, Severity


def summary(result: ReviewResult) -> dict:
    counts = Counter(f.severity.value for f in result.findings)
    return {
        "files": result.files,
        "findings": len(result.findings),
        "by_severity": {s.value: counts.get(s.value, 0) for s in Severity},
        "suppressed": result.suppressed,
        "skipped": [s.to_dict() for s in result.skipped],
    }


def render_json(result: ReviewResult) -> str:
    document = {
        "version": 1,
        "tool": {"name": "fba", "version": __version__},
        "findings": [f.to_dict() for f in result.findings],
        "summary": summary(result),
    }
    if result.usage.requests:
        document["usage"] = result.usage.to_dict()
    return json.dumps(document, indent=2) + "\n"

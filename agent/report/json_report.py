"""The JSON contract of DESIGN.md (`version` 1)."""

from __future__ import annotations

from collections import Counter
from json.encoder import encode_basestring_ascii
from typing import Any

from agent import __version__
from agent.types import ReviewResult, Severity

INDENT = "  "


def summary(result: ReviewResult) -> dict:
    counts = Counter(f.severity.value for f in result.findings)
    return {
        "files": result.files,
        "findings": len(result.findings),
        "by_severity": {s.value: counts.get(s.value, 0) for s in Severity},
        "suppressed": result.suppressed,
        "skipped": [s.to_dict() for s in result.skipped],
        "not_reviewed": [s.to_dict() for s in result.not_reviewed],
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
    return indented_json(document) + "\n"


def indented_json(value: Any, level: int = 0) -> str:
    """Exactly `json.dumps(value, indent=2)` for documents of str-keyed dicts, lists, strings,
    numbers, booleans and None, in half the time: `json.dumps` drops to its pure-Python encoder
    whenever `indent` is set; this one calls the C string escaper directly."""
    scalar = _SCALARS.get(type(value)) or next((_SCALARS[t] for t in (str, int, float) if isinstance(value, t)), None)
    if scalar is not None:
        return scalar(value)
    if isinstance(value, dict):
        parts = [f"{encode_basestring_ascii(_key(k))}: {_value(v, level + 1)}" for k, v in value.items()]
        opening, closing = "{", "}"
    elif isinstance(value, (list, tuple)):
        parts = [_value(v, level + 1) for v in value]
        opening, closing = "[", "]"
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    if not parts:
        return opening + closing
    inner = "\n" + INDENT * (level + 1)
    return opening + inner + ("," + inner).join(parts) + "\n" + INDENT * level + closing


def _value(value: Any, level: int) -> str:
    scalar = _SCALARS.get(type(value))  # most values: no recursive call
    return scalar(value) if scalar is not None else indented_json(value, level)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    raise TypeError(f"keys must be str, not {type(key).__name__}")


def _float(value: float) -> str:
    # What `json.dumps` writes (allow_nan=True): repr, or the JavaScript names.
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


# By exact type (fast); `indented_json` maps subclasses (str and int enums) to their base type.
_SCALARS = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    float: _float,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}

"""Render review results: text (rich, via console.py), json, sarif, github, markdown."""

from __future__ import annotations

from typing import Callable

from agent.types import ReviewResult

FORMATS = ("text", "json", "sarif", "github", "markdown")


def renderer(fmt: str) -> Callable[[ReviewResult], str]:
    """The plain-text renderer of a machine format (text output is drawn by console.py)."""
    if fmt == "json":
        from agent.report.json_report import render_json

        return render_json
    raise ValueError(f"unknown format {fmt!r}")

"""Render review results: text (rich, via console.py), json, sarif, github, markdown."""

from __future__ import annotations

from typing import Callable, Mapping

from agent.types import ReviewResult

FORMATS = ("text", "json", "sarif", "github", "markdown")
Renderer = Callable[[ReviewResult, Mapping[str, str]], str]


def renderer(fmt: str) -> Renderer:
    """The plain-text renderer of a machine format (text output is drawn by console.py).

    Every renderer takes the result and the reviewed sources (path -> text); only SARIF reads
    the sources (for fingerprints).
    """
    if fmt == "json":
        from agent.report.json_report import render_json

        return lambda result, sources: render_json(result)
    if fmt == "sarif":
        from agent.report.sarif import render_sarif

        return render_sarif
    if fmt == "github":
        from agent.report.github import render_github

        return lambda result, sources: render_github(result)
    if fmt == "markdown":
        from agent.report.markdown import render_markdown

        return lambda result, sources: render_markdown(result)
    raise ValueError(f"unknown format {fmt!r}")

"""Render review results: text (rich, via console.py), json, sarif, github, markdown."""

from __future__ import annotations

from typing import Callable

FORMATS = ("text", "json", "sarif", "github", "markdown")
# The formats whose paths are relative to the repository root (what GitHub resolves).
ROOT_RELATIVE = ("sarif", "github")
Renderer = Callable[..., str]  # (result, sources, base=None) -> text


def renderer(fmt: str) -> Renderer:
    """The plain-text renderer of a machine format (text output is drawn by console.py).

    Every renderer takes the result, the reviewed sources (path -> text; only SARIF reads them,
    for fingerprints) and optionally the `RepositoryBase` that SARIF and GitHub paths are
    relative to (without one: the current folder).
    """
    if fmt == "json":
        from agent.report.json_report import render_json

        return lambda result, sources, base=None: render_json(result)
    if fmt == "sarif":
        from agent.report.sarif import render_sarif

        return render_sarif
    if fmt == "github":
        from agent.report.github import render_github

        return lambda result, sources, base=None: render_github(result, base)
    if fmt == "markdown":
        from agent.report.markdown import render_markdown

        return lambda result, sources, base=None: render_markdown(result)
    raise ValueError(f"unknown format {fmt!r}")

"""Render the route inventory (`fba routes`): json (the DESIGN.md contract), text, markdown."""

from __future__ import annotations

import json
from typing import Any

ROUTE_FORMATS = ("text", "json", "markdown")


def render_routes(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(document)
    return _text(document)


def _how(route: dict[str, Any]) -> str:
    """`get_current_user (include app/main.py:12)`, or the reason when nothing is attached."""
    auth = route["auth"]
    via = ", ".join(f"{v['dependency']} ({v['attached']} {v['file']}:{v['line']})" for v in auth["via"])
    return via if via and auth["status"] != "public" else (auth["reason"] or "")


def _text(document: dict[str, Any]) -> str:
    routes = document["routes"]
    rows = [(r["method"], r["path"], r["auth"]["status"], f"{r['file']}:{r['line']}", _how(r)) for r in routes]
    widths = [max([len(row[i]) for row in rows] + [1]) for i in range(3)]
    lines = [f"{m:<{widths[0]}}  {p:<{widths[1]}}  {s:<{widths[2]}}  {where}  {how}".rstrip() for m, p, s, where, how in rows]
    counts: dict[str, int] = {}
    for route in routes:
        counts[route["auth"]["status"]] = counts.get(route["auth"]["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines.append(f"{len(routes)} routes" + (f": {summary}" if summary else ""))
    lines += _comparison_text(document)
    return "\n".join(lines) + "\n"


def _comparison_text(document: dict[str, Any]) -> list[str]:
    if "disagreements" not in document:
        return []
    agreement = document["agreement"]
    lines = ["", f"static vs runtime: {agreement['agree']} of {agreement['routes']} routes agree"]
    lines += [f"{d['kind']:<12} {d['method']} {d['path']}  {d['file']}:{d['line']}  {d['detail']}"
              for d in document["disagreements"]]
    return lines


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|")


def _markdown(document: dict[str, Any]) -> str:
    lines = ["| method | path | auth | how | principal | owner scope | handler |",
             "|---|---|---|---|---|---|---|"]
    for r in document["routes"]:
        lines.append("| " + " | ".join(_cell(v) for v in (
            r["method"], f"`{r['path']}`", r["auth"]["status"], _how(r), r["principal"],
            ", ".join(r["owner_scope"]), f"{r['handler']} ({r['file']}:{r['line']})")) + " |")
    if "disagreements" in document:
        agreement = document["agreement"]
        lines += ["", f"**Static vs runtime:** {agreement['agree']} of {agreement['routes']} routes agree.", ""]
        lines += [f"- {d['kind']}: {d['method']} `{d['path']}` ({d['file']}:{d['line']}): {_cell(d['detail'])}"
                  for d in document["disagreements"]]
    return "\n".join(lines) + "\n"

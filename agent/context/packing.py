"""Per-file review context within a token budget: what the model sees about one reviewed file.

    sections = review_sections(path, text, index, definitions, static_findings, spec_text)
    packed = pack(sections, budget_tokens=24_000)
    packed.text        # Markdown for the model, ending with the list of what did not fit
    packed.left_out    # the same list, for the report: never dropped silently

Sections, most important first: the file with line numbers (always sent; cut at the budget with
the missing line range named), the index facts about it (routes, methods, full paths, auth status,
dependencies, models and schemas), the static findings already found, the spec sections that
mention its routes or its path, then the definitions it uses from other files (auth dependencies,
models, schemas, settings). Definitions are read through a callable that honours the secret
deny-list (`RepoFiles.read_file`): a refused one is listed as withheld, never sent.

Sizes are estimated at `agent.types.CHARS_PER_TOKEN` characters a token, the same estimate the
tool loop uses for `--max-cost`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from agent.analysis.index import ProjectIndex, Symbol
from agent.errors import InputError
from agent.types import CHARS_PER_TOKEN, Finding

DEFAULT_BUDGET_TOKENS = 24_000
DEFINITION_KINDS = frozenset({"function", "class", "alias", "instance", "constant"})
ReadLines = Callable[[str, int, int], str]  # (path, first, last) -> numbered lines, or InputError


@dataclass(frozen=True)
class Section:
    """One block of context. `required` blocks are always sent (cut to fit when too big)."""

    title: str
    text: str
    required: bool = False

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass(frozen=True)
class PackedContext:
    """The context for one file: the text, what went in and what did not fit (or was withheld)."""

    text: str
    included: tuple[str, ...]
    left_out: tuple[str, ...]
    tokens: int


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def pack(sections: Sequence[Section], budget_tokens: int = DEFAULT_BUDGET_TOKENS,
         withheld: Sequence[str] = ()) -> PackedContext:
    """Sections in order while they fit in `budget_tokens`; the rest is listed at the end."""
    chosen: list[Section] = []
    left_out: list[str] = list(withheld)
    used = 0
    for section in sections:
        if section.required:
            fitted, missing = _fit_required(section, budget_tokens - used)
            chosen.append(fitted)
            used += fitted.tokens
            left_out.extend(missing)
        elif used + section.tokens <= budget_tokens:
            chosen.append(section)
            used += section.tokens
        else:
            left_out.append(f"{section.title} (~{section.tokens:,} tokens)")
    parts = [f"## {s.title}\n\n{s.text.rstrip()}\n" for s in chosen]
    if left_out:
        parts.append("## Not included (context budget or deny-list)\n\n"
                     + "\n".join(f"- {item}" for item in left_out)
                     + "\n\nRead what you need with `read_file` / `search` (deny-listed files stay refused).\n")
    text = "\n".join(parts)
    return PackedContext(text, tuple(s.title for s in chosen), tuple(left_out), estimate_tokens(text))


def _fit_required(section: Section, room_tokens: int) -> tuple[Section, list[str]]:
    """The section cut to whole lines within `room_tokens` (at least 40 lines), and what was cut."""
    if section.tokens <= room_tokens:
        return section, []
    lines = section.text.splitlines()
    room_chars = max(room_tokens, 0) * CHARS_PER_TOKEN
    kept, size = [], 0
    for line in lines:
        if size + len(line) + 1 > room_chars and len(kept) >= 40:
            break
        kept.append(line)
        size += len(line) + 1
    missing = f"{section.title}: lines {len(kept) + 1}-{len(lines)} (read them with read_file)"
    return Section(section.title, "\n".join(kept) + f"\n[... cut: {missing}]", True), [missing]


def numbered(text: str) -> str:
    """`text` numbered like `read_file` shows it."""
    return "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(text.splitlines(), start=1))


# -- the sections of a review context ----------------------------------------------------------


def review_sections(path: str, text: str, index: ProjectIndex | None, definitions: Sequence[Section],
                    static_findings: Sequence[Finding], spec_text: str = "",
                    changed_lines: frozenset[int] | None = None) -> list[Section]:
    """Every section for `path` in priority order (see the module docstring)."""
    sections = [Section(f"File {path}", numbered(text) or "(empty file)", required=True)]
    if changed_lines:
        sections.append(Section("Changed lines", _ranges(changed_lines), required=True))
    if index is not None:
        sections.append(Section(f"What the project index knows about {path}", index_facts(index, path)))
    sections.append(Section("Static findings already reported for this file", static_text(static_findings)))
    if spec_text and index is not None:
        relevant = spec_sections_for(spec_text, path, index)
        if relevant:
            sections.append(Section("Spec sections that mention this file's routes", "\n\n".join(relevant)))
    return [*sections, *definitions]


def index_facts(index: ProjectIndex, path: str) -> str:
    """The file's routes (methods, full paths, auth, dependencies, models) as Markdown lines."""
    lines: list[str] = []
    for route in index.routes_in(path):
        methods = ",".join(route.methods) or "ANY"
        auth = (f"authenticated at {route.auth} level via `{route.auth_via}`" if route.auth
                else "public by design (name/path)" if route.public else "NO authentication found")
        lines.append(f"- `{methods} {route.full_path or route.path}` -> `{route.function}` (lines {route.line}-{route.end_line}, "
                     f"{'async' if route.is_async else 'sync'}): {auth}{'; admin only' if route.admin else ''}")
        if route.dependencies:
            lines.append(f"  - dependencies: {', '.join(f'`{d}`' for d in route.dependencies)}")
        params = [f"`{p.name}` ({p.source}{': ' + p.annotation if p.annotation else ''})"
                  for p in route.params if p.source not in {"depends", "request"}]
        if params:
            lines.append(f"  - inputs: {', '.join(params)}")
        lines.append(f"  - response model: `{route.response_model}`" if route.response_model else "  - response model: none declared")
        if route.status_code:
            lines.append(f"  - status code: {route.status_code}")
        for model in _route_models(index, path, route):
            lines.append(f"  - {model}")
    return "\n".join(lines) or "No routes in this file (a helper, model or settings module)."


def _route_models(index: ProjectIndex, path: str, route) -> list[str]:
    annotations = [route.response_model or "", *(p.annotation for p in route.params if p.source == "body")]
    described: list[str] = []
    for annotation in filter(None, annotations):
        for info in index.models_in(path, annotation):
            kind = "table model" if info.table else "schema"
            extra = f", owner column `{info.owner_column}`" if info.owner_column else ""
            sensitive = f", sensitive fields: {', '.join(info.sensitive_fields)}" if info.sensitive_fields else ""
            text = f"`{info.name}`: {kind}{extra}; fields: {', '.join(info.field_names) or '-'}{sensitive}"
            if text not in described:
                described.append(text)
    return described


def static_text(findings: Sequence[Finding]) -> str:
    if not findings:
        return "None. (The static rules found nothing here; that is not proof of correctness.)"
    return "\n".join(f"- {f.rule} [{f.category}, {f.severity.value}] lines {f.line}-{f.end_line or f.line}: {f.message}"
                     for f in findings)


def _ranges(lines: Iterable[int]) -> str:
    ordered = sorted(lines)
    spans: list[list[int]] = []
    for number in ordered:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return "Focus on these lines (the rest is context): " + ", ".join(
        f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


# -- definitions from other files ---------------------------------------------------------------


def definition_sections(index: ProjectIndex, path: str, sources: Mapping[str, str],
                        read: ReadLines) -> tuple[list[Section], list[str]]:
    """Sections for the definitions `path` uses from other files, auth dependencies and models
    first, and the ones withheld because `read` refused them (deny-list)."""
    sections: list[Section] = []
    withheld: list[str] = []
    spans_by_file: dict[str, dict[str, tuple[int, int]]] = {}
    for qual, symbol in used_symbols(index, path):
        spans = spans_by_file.setdefault(symbol.path, top_level_spans(sources.get(symbol.path, "")))
        span = spans.get(symbol.name)
        if span is None:
            continue
        title = f"{symbol.path}: `{symbol.name}` (lines {span[0]}-{span[1]}, {_role(index, qual, symbol)})"
        try:
            sections.append(Section(title, read(symbol.path, *span)))
        except InputError as exc:
            withheld.append(f"{symbol.path}: `{symbol.name}` withheld: {exc}")
    return sections, withheld


def used_symbols(index: ProjectIndex, path: str) -> list[tuple[str, Symbol]]:
    """Project symbols from other files that `path` names: route dependencies, the aliases they go
    through, models of its routes, then its other imports; auth and models first."""
    facts = index.files.get(path)
    if facts is None:
        return []
    names: list[str] = []
    for route in index.routes_in(path):
        names.extend(route.dependencies)
        names.extend(p.annotation for p in route.params if p.annotation)
        names.extend(filter(None, [route.response_model]))
    names.extend(facts.imports)
    found: dict[str, Symbol] = {}
    for name in names:
        for word in re.findall(r"[A-Za-z_][\w.]*", name):
            _add_symbol(index, path, word, found, depth=0)
    return sorted(found.items(), key=lambda item: _priority(index, *item))


def _add_symbol(index: ProjectIndex, path: str, name: str, found: dict[str, Symbol], depth: int) -> None:
    qual = index.resolve(path, name)
    symbol = index.symbols.get(qual)
    if symbol is None or symbol.kind not in DEFINITION_KINDS or qual in found:
        return
    if symbol.path != path:
        found[qual] = symbol
    if symbol.kind == "alias" and depth < 3:  # CurrentUser -> get_current_user
        _add_symbol(index, symbol.path, str(symbol.value), found, depth + 1)


def _priority(index: ProjectIndex, qual: str, symbol: Symbol) -> tuple[int, str]:
    if symbol.kind in {"function", "alias", "instance"} and index.is_auth_dependency(symbol.path, symbol.name):
        return 0, qual
    if symbol.kind == "class" and index.model(symbol.path, symbol.name) is not None:
        return 1, qual
    return 2, qual


def _role(index: ProjectIndex, qual: str, symbol: Symbol) -> str:
    rank = _priority(index, qual, symbol)[0]
    if rank == 0:
        return "authentication dependency"
    if rank == 1:
        info = index.model(symbol.path, symbol.name)
        return "table model" if info is not None and info.table else "schema"
    return symbol.kind


def top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Name -> (first, last) line of each top-level def, class or assignment (decorators included)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    spans: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        last = node.end_lineno or node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            spans[node.name] = (first, last)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    spans[target.id] = (first, last)
    return spans


# -- spec sections ----------------------------------------------------------------------------------


def markdown_sections(text: str) -> list[str]:
    """A Markdown text split at its headings (each section starts with its heading line)."""
    sections: list[list[str]] = [[]]
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{1,6}\s", line) and sections[-1]:
            sections.append([])
        sections[-1].append(line)
    return ["\n".join(s).strip() for s in sections if "\n".join(s).strip()]


def spec_sections_for(spec_text: str, path: str, index: ProjectIndex) -> list[str]:
    """The spec sections that mention one of `path`'s route paths (path parameters matched by
    position, whatever their names) or the file path itself."""
    needles = {path, path.rsplit("/", 1)[-1]} if path.endswith(".py") else {path}
    for route in index.routes_in(path):
        needles.update(_path_suffixes(_path_shape(route.full_path or route.path)))
    found = []
    for section in markdown_sections(spec_text):
        shaped = _path_shape(section)
        if any(n in section or n in shaped for n in needles):
            found.append(section)
    return found


def _path_suffixes(shape: str) -> list[str]:
    """`/api/v1/items/{}` -> itself, `/v1/items/{}`, `/items/{}`: a spec may leave out the mount
    prefix. Suffixes of parameters alone (`/{}`) say nothing and are left out."""
    segments = [s for s in shape.strip("/").split("/") if s]
    return ["/" + "/".join(segments[i:]) for i in range(len(segments)) if any(s != "{}" for s in segments[i:])]


def _path_shape(text: str) -> str:
    """URL paths with their parameters erased: `/items/{item_id}` -> `/items/{}`."""
    return re.sub(r"\{[^}/]*\}", "{}", text)

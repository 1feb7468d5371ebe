"""YAML and front matter: the only importer of PyYAML (lazily; it is not needed for static review)."""

from __future__ import annotations

from typing import Any

from agent.errors import InputError


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML; malformed documents raise InputError naming `what`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{what}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(`---` front matter block or None, body) of a Markdown document."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:number]), "".join(lines[number + 1 :])
    return None, text

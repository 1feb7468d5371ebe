"""Text formats: decoding file bytes, JSON/YAML documents and front matter. The only importer of
PyYAML (lazily; it is not needed for static review)."""

from __future__ import annotations

from typing import Any

from agent.errors import InputError


def decode_text(data: bytes, label: str, what: str) -> str:
    """File bytes as UTF-8 text (a BOM dropped); binary or undecodable data raise InputError."""
    if b"\x00" in data[:8192]:
        raise InputError(f"{label}: binary file, not {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (byte {exc.start})") from None


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML; malformed documents raise InputError naming `what`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{what}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def load_json_or_yaml(text: str, source: str) -> Any:
    """A `.json` file as JSON, anything else as YAML (a JSON superset); errors name `source`."""
    if source.lower().endswith(".json"):
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: invalid JSON (line {exc.lineno}): {exc.msg}") from None
    return load_yaml(text, source)


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

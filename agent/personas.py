"""Load agent personas (Claude Code agent files) and checklists.

An agent file is Markdown with YAML front matter (`name`, `description`, `model`, `color`,
optional `tools`); the body is the system prompt. Unknown keys are kept and warned about, never
fatal. Bundled files live in `prompts/` and `checklists/` (inside the wheel: `agent/_data/`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError, InputError
from agent.textformats import load_yaml, split_front_matter
from agent.types import CATEGORIES, Severity

KNOWN_KEYS = frozenset({"name", "description", "model", "color", "tools"})
DEFAULT_AGENT = "fastapi-backend"


def data_dir(kind: str) -> Path:
    """Folder of bundled `prompts`, `checklists` or `docs/rules`: in the wheel, else in the source tree."""
    packaged = Path(__file__).parent / "_data" / kind
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / kind


@dataclass(frozen=True)
class Persona:
    """An agent definition: front matter fields and the system prompt body."""

    name: str
    description: str
    model: str
    system_prompt: str
    source: Path
    color: str = ""
    tools: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def parse_persona(text: str, source: Path) -> Persona:
    """Parse an agent file's text. Missing front matter or an empty body is an InputError."""
    front, body = split_front_matter(text)
    if front is None:
        raise InputError(f"{source}: not an agent file (no '---' front matter)")
    meta = load_yaml(front, str(source)) or {}
    if not isinstance(meta, dict):
        raise InputError(f"{source}: front matter must be a mapping of keys")
    if not body.strip():
        raise InputError(f"{source}: the agent file has no system prompt")
    unknown = sorted(set(map(str, meta)) - KNOWN_KEYS)
    warnings = tuple(f"{source}: unknown front matter key '{k}' ignored" for k in unknown)
    tools = meta.get("tools") or ()
    if isinstance(tools, str):
        tools = tuple(t.strip() for t in tools.split(",") if t.strip())
    return Persona(
        name=str(meta.get("name") or source.stem),
        description=str(meta.get("description") or ""),
        model=str(meta.get("model") or "sonnet"),
        system_prompt=body.strip() + "\n",
        source=source,
        color=str(meta.get("color") or ""),
        tools=tuple(map(str, tools)),
        warnings=warnings,
        extra={k: meta[k] for k in unknown},
    )


def agent_files(repo_root: Path) -> dict[str, Path]:
    """Agents by name: bundled ones, then the repo's `.claude/agents/*.md` (which win)."""
    found = {p.stem: p for p in sorted(data_dir("prompts").glob("*.md")) if not p.stem.startswith("task-")}
    agents_dir = repo_root / ".claude" / "agents"
    if agents_dir.is_dir():
        found.update({p.stem: p for p in sorted(agents_dir.glob("*.md"))})
    return found


def load_persona(name_or_path: str, repo_root: Path) -> Persona:
    """Load an agent by name (bundled or `.claude/agents/NAME.md`) or by file path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".md" or "/" in name_or_path:
        path = candidate if candidate.is_absolute() else (Path.cwd() / candidate)
    else:
        files = agent_files(repo_root)
        if name_or_path not in files:
            known = ", ".join(sorted(files)) or "none"
            raise ConfigError(f"unknown agent '{name_or_path}' (found: {known})")
        path = files[name_or_path]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"agent file not found: {name_or_path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read agent file: {exc}") from None
    return parse_persona(text, path)


def task_prompt(name: str) -> str:
    """A bundled task instruction prompt (`prompts/task-NAME.md`)."""
    path = data_dir("prompts") / f"task-{name}.md"
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    title: str
    category: str
    severity: Severity
    rules: tuple[str, ...]
    prompt: str
    seed: bool = False


def parse_checklist(text: str, source: str) -> tuple[ChecklistItem, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    items = []
    for raw in data.get("item", []):
        try:
            category = raw["category"]
            if category not in CATEGORIES:
                raise ConfigError(f"{source}: item {raw.get('id')}: unknown category '{category}'")
            items.append(
                ChecklistItem(
                    id=raw["id"], title=raw["title"], category=category,
                    severity=Severity.parse(raw["severity"]), rules=tuple(raw.get("rules", ())),
                    prompt=raw["prompt"], seed=bool(raw.get("seed", False)),
                )
            )
        except KeyError as exc:
            raise ConfigError(f"{source}: checklist item lacks {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return tuple(items)


def load_checklist(agent: str = DEFAULT_AGENT) -> tuple[ChecklistItem, ...]:
    path = data_dir("checklists") / f"{agent}.toml"
    if not path.is_file():
        path = data_dir("checklists") / f"{DEFAULT_AGENT}.toml"
    return parse_checklist(path.read_text(encoding="utf-8"), str(path))


def render_checklist(items: tuple[ChecklistItem, ...]) -> str:
    """The checklist as the model sees it."""
    return "\n".join(f"- [{i.id}] ({i.category}, {i.severity.value}) {i.title}: {i.prompt}" for i in items)

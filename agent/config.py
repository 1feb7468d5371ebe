"""Find and merge configuration: defaults < `[tool.fba]` in the nearest pyproject.toml < `FBA_*`
environment variables < command-line flags. Every value remembers where it came from so that
`fba config` can show it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from agent.errors import ConfigError
from agent.types import Severity


# Parsers take the value and the label their errors blame: `config key 'fail-on'`,
# `FBA_FAIL_ON` or `--fail-on`, whichever the value came from.
def _str_list(value: Any, label: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{label} must be a list of strings, got {value!r}")


def _severity(value: Any, label: str) -> str:
    try:
        return Severity.parse(str(value)).value
    except ValueError as exc:
        raise ConfigError(f"{label}: {exc}") from None


def _pairs(value: str, label: str, shape: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ConfigError(f"{label} must look like {shape}")
    return {k.strip(): v.strip() for k, v in pairs}


def _severity_map(value: Any, label: str) -> dict[str, str]:
    if isinstance(value, str):  # FBA_SEVERITY="FBA201=low,FBA203=info"
        value = _pairs(value, label, "RULE=severity[,RULE=severity]")
    if not isinstance(value, Mapping):
        raise ConfigError(f"{label} must be a table of rule = severity")
    return {str(k).upper(): _severity(v, f"{label} ({k})") for k, v in value.items()}


def _str_map(value: Any, label: str) -> dict[str, str]:
    if isinstance(value, str):
        value = _pairs(value, label, "name=value[,name=value]")
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{label} must be a table of strings")
    return {str(k): v for k, v in value.items()}


def _number(value: Any, label: str, kind: type[int] | type[float], accepts: Callable[[Any], bool],
            problem: str) -> Any:
    """`value` as a `kind` (int: a whole number, float: any number) that `accepts` takes; otherwise
    a ConfigError naming the `problem`."""
    what = "a whole number" if kind is int else "a number"
    # TOML `true` is no number of seconds; 1.5 is no whole number
    if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{label} must be {what}, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{label} must be {what}, got {value!r}") from None
    if not accepts(number):  # a comparison with NaN is False: NaN is refused
        raise ConfigError(f"{label} {problem}, got {value!r}")
    return number


def _float(value: Any, label: str) -> float | None:
    """A number >= 0, or unset."""
    if value is None or value == "":
        return None
    return _number(value, label, float, lambda n: n >= 0, "must not be negative")


def _fraction(value: Any, label: str) -> float:
    return _number(value, label, float, lambda n: 0 <= n <= 1, "must be between 0 and 1")


def _positive(value: Any, label: str) -> float:
    return _number(value, label, float, lambda n: 0 < n < float("inf"), "must be a number of seconds above 0")


def _int(value: Any, label: str, minimum: int = 0) -> int:
    return _number(value, label, int, lambda n: n >= minimum, f"must be at least {minimum}")


def _bool(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise ConfigError(f"{label} must be true or false, got {value!r}")


def _positive_int(value: Any, label: str) -> int:
    return _int(value, label, minimum=1)


def _text(value: Any, label: str) -> str:
    if not isinstance(value, (str, int, float)):
        raise ConfigError(f"{label} must be a string, got {value!r}")
    return str(value)


def _choice(*allowed: str) -> Callable[[Any, str], str]:
    def parse(value: Any, label: str) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ConfigError(f"{label} must be one of {', '.join(allowed)}, got {value!r}")
        return text

    return parse


@dataclass(frozen=True)
class Key:
    """One configuration key: its parser, default and the help line `fba init` writes."""

    name: str
    parse: Callable[[Any, str], Any]
    default: Any
    help: str


KEYS: tuple[Key, ...] = (
    Key("agent", _text, "fastapi-backend", "agent persona: a name (bundled or .claude/agents/NAME.md) or a path"),
    Key("model", _text, "", "model alias (sonnet, opus, haiku) or id; empty: the agent file's model"),
    Key("models", _str_map, {}, "alias -> model id overrides, e.g. { sonnet = \"claude-sonnet-4-6\" }"),
    Key("exclude", _str_list, (), "glob patterns of files to skip, relative to the project root"),
    Key("public-routes", _str_list, (), "URL path patterns that need no auth, e.g. [\"/status\", \"/public/*\"]"),
    Key("auth-dependencies", _str_list, (), "extra dependency names that count as authentication"),
    Key("select", _str_list, (), "only these rules or categories (empty: all)"),
    Key("ignore", _str_list, (), "rules or categories to turn off"),
    Key("preview", _bool, False, "also run the preview rules (not yet precise enough on real code for the default set)"),
    Key("severity", _severity_map, {}, "per-rule severity overrides, e.g. { FBA201 = \"low\" }"),
    Key("fail-on", _severity, "medium", "lowest severity that makes the exit code 1"),
    Key("min-confidence", _fraction, 0.5, "drop model findings below this confidence (0..1)"),
    Key("max-cost", _float, None, "stop model work before a request would pass this many USD"),
    Key("test-command", _text, "pytest -q", "command run_tests uses (in an isolated copy)"),
    Key("test-timeout", _positive_int, 300, "seconds before run_tests gives up"),
    Key("max-file-size", _positive_int, 1_000_000, "bytes a file the agent creates (or grows) may have"),
    Key("deny", _str_list, (), "extra glob patterns never sent to the model (on top of .env*, keys, ...)"),
    Key("commit", _choice("off", "branch", "new-branch"), "branch", "after apply: off, commit on the current branch, or on a new fba/... branch"),
    Key("timeout", _positive, 600.0, "seconds one model request may take"),
    Key("max-retries", _int, 4, "retries of a failed model request (429, 529, 5xx, network)"),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class Config:
    """Resolved configuration. `values` by key name; `sources` says where each came from."""

    root: Path
    pyproject: Path | None
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "flag") -> "Config":
        values, sources = dict(self.values), dict(self.sources)
        for name, raw in overrides.items():
            if raw is None:
                continue
            key = KEYS_BY_NAME[name]
            values[name] = key.parse(raw, f"--{name}" if source == "flag" else f"{source} '{name}'")
            sources[name] = source
        return Config(self.root, self.pyproject, values, sources)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_tool_table(pyproject: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {pyproject}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("fba", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.fba] must be a table")
    return table


def load_config(
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve configuration for a run started in `start` (default: the current directory)."""
    start = Path(start or Path.cwd())
    environ = os.environ if environ is None else environ
    pyproject = find_pyproject(start)
    root = pyproject.parent if pyproject else (start.resolve() if start.is_dir() else start.resolve().parent)

    values = {k.name: k.default for k in KEYS}
    sources = {k.name: "default" for k in KEYS}
    if pyproject:
        for name, raw in _read_tool_table(pyproject).items():
            key = KEYS_BY_NAME.get(name.replace("_", "-"))
            if key is None:
                known = ", ".join(sorted(KEYS_BY_NAME))
                raise ConfigError(f"{pyproject}: unknown key '{name}' in [tool.fba] (known: {known})")
            values[key.name] = key.parse(raw, f"config key '{key.name}'")
            sources[key.name] = str(pyproject)
    for key in KEYS:
        env_name = "FBA_" + key.name.upper().replace("-", "_")
        if env_name in environ:
            values[key.name] = key.parse(environ[env_name], f"config key '{key.name}' ({env_name})")
            sources[key.name] = f"env {env_name}"
    config = Config(root, pyproject, values, sources)
    return config.with_overrides(flags or {})


def render_init_section() -> str:
    """A commented `[tool.fba]` section with every key at its default, for `fba init`."""
    lines = ["[tool.fba]"]
    for key in KEYS:
        lines.append(f"# {key.help}")
        lines.append(f"# {key.name} = {_toml_value(key.default)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if value is None:
        return "0.0  # unset"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)

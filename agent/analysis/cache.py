"""The persistent review cache: per-file facts and findings in a project-local `.fba_cache/`.

Entries are JSON, never pickle: the folder sits inside the user's project, and loading a pickle
that a cloned repository shipped would run its code. Values are our own frozen dataclasses,
enums, tuples and sets, written with type tags and rebuilt only from classes of `agent.*`
modules that are already imported. Each source path has one entry per kind holding the full key
it was computed under, so a changed file overwrites its old entry instead of piling up new ones.
Writes are atomic (temp file + `os.replace`); an unreadable or corrupt entry is a miss, never an
error, and a cache that cannot be written only costs speed.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent import __version__

CACHE_DIR = ".fba_cache"
FORMAT = "1"


class CacheEntryError(ValueError):
    """A cache entry that cannot be decoded into our own types (treated as a miss)."""


def digest(*parts: str) -> str:
    """A short stable hash of text parts (keys and file contents)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


@lru_cache(maxsize=1)
def engine_digest() -> str:
    """fba version + Python version + the static engine's own source.

    Hashing the engine's code means a rule edited between releases (or in a development
    checkout) never serves findings computed by its previous version.
    """
    folder = Path(__file__).resolve().parent
    parts = [FORMAT, __version__, "%d.%d" % sys.version_info[:2]]
    for file in sorted(folder.rglob("*.py")):
        try:
            parts.append(file.read_bytes().decode("utf-8", "replace"))
        except OSError:
            parts.append(file.name)
    types_file = folder.parent / "types.py"
    if types_file.is_file():
        parts.append(types_file.read_text(encoding="utf-8", errors="replace"))
    return digest(*parts)


def encode(value: Any) -> Any:
    """Our values -> JSON-ready data with type tags for dataclasses, enums, tuples, sets, dicts."""
    if value is None or isinstance(value, (str, bool, int, float)) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, enum.Enum):
        return {"__enum__": _class_name(type(value)), "v": encode(value.value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [[f.name, encode(getattr(value, f.name))] for f in dataclasses.fields(value)]
        return {"__dc__": _class_name(type(value)), "f": fields}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted((encode(v) for v in value), key=repr), "frozen": isinstance(value, frozenset)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__map__": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot cache a {type(value).__name__}")


def loads(text: str | bytes) -> Any:
    """The inverse of `json.dumps(encode(value))`; raises CacheEntryError (a ValueError) for
    anything it does not recognise. The JSON parser rebuilds the tagged objects bottom-up."""
    return json.loads(text, object_hook=_tagged)


def _tagged(data: dict) -> Any:
    """One tagged JSON object (its members already decoded) -> the value it stands for."""
    if "__tuple__" in data:
        return tuple(data["__tuple__"])
    if "__dc__" in data:
        return _rebuild_dataclass(_our_class(data["__dc__"]), dict(data["f"]))
    if "__map__" in data:
        return {key: value for key, value in data["__map__"]}
    if "__set__" in data:
        return frozenset(data["__set__"]) if data.get("frozen") else set(data["__set__"])
    if "__enum__" in data:
        cls = _our_class(data["__enum__"])
        if not issubclass(cls, enum.Enum):
            raise CacheEntryError(f"{data['__enum__']} is not an enum")
        return cls(data["v"])
    if "__entry__" in data:
        return data
    raise CacheEntryError("untagged object in cache entry")


def _rebuild_dataclass(cls: type, fields: Any) -> Any:
    if not isinstance(fields, dict) or fields.keys() != _field_names(cls):
        raise CacheEntryError(f"{cls.__name__}: fields differ from the cached ones")
    # Set fields directly: works for frozen classes and init=False fields alike.
    instance = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(instance, name, value)
    return instance


@lru_cache(maxsize=None)
def _field_names(cls: type) -> frozenset[str]:
    if not dataclasses.is_dataclass(cls):
        raise CacheEntryError(f"{cls.__name__} is not a dataclass")
    return frozenset(f.name for f in dataclasses.fields(cls))


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _our_class(name: Any) -> type:
    """Only classes of already imported `agent.*` modules: a cache entry never imports code."""
    if not isinstance(name, str) or ":" not in name:
        raise CacheEntryError(f"bad class name {name!r}")
    module_name, _, qualname = name.partition(":")
    module = sys.modules.get(module_name)
    if module is None or not (module_name == "agent" or module_name.startswith("agent.")):
        raise CacheEntryError(f"class {name} is not one of fba's loaded types")
    value: Any = module
    for part in qualname.split("."):
        value = getattr(value, part, None)
    if not isinstance(value, type):
        raise CacheEntryError(f"{name} is not a class")
    return value


class ReviewCache:
    """Facts and findings per source path under `folder`, each stored with the key it answers."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writable = True

    @classmethod
    def for_root(cls, root: Path) -> "ReviewCache":
        return cls(root / CACHE_DIR)

    def _entry(self, kind: str, path: str) -> Path:
        return self.folder / kind / f"{digest(path)}.json"

    def get(self, kind: str, path: str, key: str) -> Any | None:
        """The value stored for (`kind`, `path`) under exactly `key`, else None."""
        try:
            data = loads(self._entry(kind, path).read_bytes())
            if not isinstance(data, dict) or data.get("__entry__") != key:
                return None
            return data["value"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None

    def put(self, kind: str, path: str, key: str, value: Any) -> None:
        if not self._writable:
            return
        target = self._entry(kind, path)
        text = json.dumps({"__entry__": key, "path": path, "value": encode(value)}, separators=(",", ":"))
        try:
            self._ensure_folder(target.parent)
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)
        except OSError:
            self._writable = False  # read-only checkout, full disk: review on without the cache

    def _ensure_folder(self, folder: Path) -> None:
        if folder.is_dir():
            return
        folder.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by fba: the review cache is never committed\n*\n", encoding="utf-8")

    def clean(self) -> bool:
        """Delete the whole cache folder; True when there was one."""
        import shutil

        if not self.folder.exists():
            return False
        shutil.rmtree(self.folder)
        return True

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
FORMAT = "2"


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
        # Field values in declaration order: a changed class changes the engine digest, and so
        # every key, before an entry could be read with the wrong fields.
        return {"__dc__": _class_name(type(value)), "f": [encode(getattr(value, name)) for name in _field_names(type(value))]}
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
        return _rebuild_dataclass(_our_class(data["__dc__"]), data["f"])
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


def _rebuild_dataclass(cls: type, values: Any) -> Any:
    names = _field_names(cls)
    if not isinstance(values, list) or len(values) != len(names):
        raise CacheEntryError(f"{cls.__name__}: fields differ from the cached ones")
    # Set fields directly: works for frozen classes and init=False fields alike.
    instance = object.__new__(cls)
    for name, value in zip(names, values):
        object.__setattr__(instance, name, value)
    return instance


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    if not dataclasses.is_dataclass(cls):
        raise CacheEntryError(f"{cls.__name__} is not a dataclass")
    return tuple(f.name for f in dataclasses.fields(cls))


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _our_class(name: Any) -> type:
    """Only classes of already imported `agent.*` modules: a cache entry never imports code."""
    found = _known_classes.get(name) if isinstance(name, str) else None
    if found is None:
        found = _known_classes[name] = _find_our_class(name)
    return found


_known_classes: dict[str, type] = {}  # only classes found in loaded modules; misses are not kept


def _find_our_class(name: Any) -> type:
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
        found = self.get_with_digest(kind, path, key)
        return found[0] if found is not None else None

    def get_with_digest(self, kind: str, path: str, key: str) -> tuple[Any, str] | None:
        """(value, digest of the value's content) stored under exactly `key`, else None. Equal
        digests mean equal values, whatever their keys (a comment edit changes a file's key, not
        necessarily its facts)."""
        try:
            data = loads(self._entry(kind, path).read_bytes())
            if not isinstance(data, dict) or data.get("__entry__") != key or not isinstance(data["digest"], str):
                return None
            return data["value"], data["digest"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None

    def put(self, kind: str, path: str, key: str, value: Any) -> str:
        """Store `value` under `key` (best effort); returns the digest of the value's content."""
        value_text = json.dumps(encode(value), separators=(",", ":"))
        value_digest = digest(value_text)
        if not self._writable:
            return value_digest
        target = self._entry(kind, path)
        text = '{"__entry__":%s,"path":%s,"digest":"%s","value":%s}' % (json.dumps(key), json.dumps(path), value_digest, value_text)
        try:
            self._ensure_folder(target.parent)
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)
        except OSError:
            self._writable = False  # read-only checkout, full disk: review on without the cache
        return value_digest

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

"""The persistent review cache: a few signed blobs in a project-local `.fba_cache/`.

What the runner keeps there, per project (the current folder: display paths are relative to it),
each blob holding the engine and settings it was computed under:
- the file states (per index settings): each file's stat signature, text digest, module, facts
  digest and parse status, so that a re-run reads and hashes only the files whose stat changed;
- the findings states (per report settings): the project index identity they were computed
  under, each file's cross-file fingerprint and its findings, keyed by what decides them;
- the project index (per index settings) with the facts digests it was built from, so that an
  edit that changes no file's facts re-checks the edited file without rebuilding the index;
- the rule catalogue of the engine (`check_selectors` without importing every rule).

Why pickle, and why that is safe here. The folder sits inside the user's project, so a cloned
repository may ship one, and unpickling runs whatever code the bytes name. So every blob carries
an HMAC-SHA256 of its bytes under a random per-user key that never lives in a project
(`cache.key`, mode 0600, in fba's data folder: `$FBA_HOME`, XDG, `~/.local/share/fba`). A blob is
unpickled only after `hmac.compare_digest` accepts its MAC: bytes this user's fba did not write
(shipped with a repository, edited, or signed with another user's key) are a miss, never loaded.
The earlier format, JSON with type tags rebuilt through an object hook, was safe too, but
decoding ~15k dataclasses cost more than the review it saved.

Writes are atomic (temp file + `os.replace`). A missing, unsigned, corrupt or unexpected blob is a
miss, never an error; a cache that cannot be written, or a data folder without a key, only costs
speed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from agent import __version__
from agent.types import Finding

CACHE_DIR = ".fba_cache"
FORMAT = "3"
KEY_FILE = "cache.key"
KEY_BYTES = 32
MAC_BYTES = 32  # HMAC-SHA256
MAGIC = b"fba-cache-%s\n" % FORMAT.encode()
# A file modified this close to (or after) the moment a run started reading is "racily clean"
# (as git calls it): a later edit within the same timestamp granule would leave its stat unchanged,
# so it is re-read and hashed instead of trusted. Covers coarse kernel clocks and 2 s FAT times.
RACY_NS = 2_000_000_000

Signature = tuple[int, int, int, int, int]


def digest(*parts: str) -> str:
    """A short stable hash of text parts (keys and file contents)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def content_digest(value: Any) -> str:
    """A digest of a value's content: equal digests mean equal values (facts hold no sets, whose
    order would follow string hashing).

    Pickled without the memo (`fast` mode, fine for acyclic values): with it, the bytes would
    also record which equal strings are one object, and that differs between facts made in this
    process and the same facts received from a worker (the unpickler interns attribute names,
    not equal values: a parameter called `name` shares the field name's string only in the
    process that made it), so an edit that leaves the facts alone would rebuild the index.
    """
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return hashlib.blake2b(buffer.getbuffer(), digest_size=16).hexdigest()


@lru_cache(maxsize=1)
def engine_digest() -> str:
    """fba version + Python version + the stat signature of each static engine source file.

    An edited rule (in a development checkout) gets a new size or mtime, so it never serves
    findings computed by its previous version; stat, not content, because reading every engine
    file on each run cost as much as the rest of a warm review.
    """
    folder = Path(__file__).resolve().parent
    files = sorted(_python_files(str(folder)))
    files.append(str(folder.parent / "types.py"))
    return digest(FORMAT, __version__, "%d.%d" % sys.version_info[:2], stat_digest(files, str(folder)))


def stat_digest(files: list[str], base: str) -> str:
    """A digest of each file's path (relative to `base`), size and mtime."""
    parts = []
    for file in files:
        try:
            stat = os.stat(file)
            parts.append(f"{os.path.relpath(file, base)}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            parts.append(file)
    return digest(*parts)


def _python_files(folder: str) -> list[str]:
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.extend(os.path.join(current, name) for name in files if name.endswith(".py"))
    return found


def stat_signature(path: str | os.PathLike) -> Signature:
    """What identifies a file's version without reading it; raises OSError."""
    stat = os.stat(path)
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


# The cached records are named tuples, not dataclasses: a warm run builds their classes at
# import and unpickles hundreds of them, and tuples cost less at both.
class FileRecord(NamedTuple):
    """What a run knew about one file. `signature` is None for text that came from memory."""

    signature: Signature | None
    text: str  # digest of the text
    module: str
    import_path: str | None  # the path the module name was made from
    facts: str  # content digest of its facts entry
    parsed: bool  # False: it could not be parsed (no facts, nothing to check)
    skipped: str | None  # why it was not (fully) analysed, if it was not


class FileStates(NamedTuple):
    """Every file of the project as its last review saw them."""

    index_settings: str
    read_from_ns: int  # the clock when that run started reading files
    records: dict[str, FileRecord]

    def trusted_text(self, record: FileRecord | None, signature: Signature) -> str | None:
        """The text digest of a file whose stat is unchanged, or None when it must be read: its
        stat differs, or it was modified so close to that run's reading that a later edit could
        have kept the same stat (racily clean)."""
        if record is None or record.signature != signature:
            return None
        return record.text if signature[3] < self.read_from_ns - RACY_NS else None


class CachedFindings(NamedTuple):
    """One file's findings (severity overrides applied) and suppressed lines, with their key."""

    key: str
    findings: tuple[Finding, ...]
    suppressed_lines: tuple[int, ...]
    unknown_suppressions: tuple[tuple[int, str], ...] = ()


class FindingStates(NamedTuple):
    """Per-file findings under one report settings, and the cross-file fingerprints (valid for
    the project index `index`) their keys were made with."""

    settings: str
    index: str
    fingerprints: dict[str, str]
    findings: dict[str, CachedFindings]


class IndexState(NamedTuple):
    """A built project index, its identity and the facts digest of every file it was built from."""

    identity: str
    facts: dict[str, str]
    index: Any  # ProjectIndex (not imported here: a warm run never needs it)


class RuleCatalogue(NamedTuple):
    engine: str
    codes: tuple[str, ...]


class ReviewCache:
    """Named blobs under `folder`, each signed with the user's key (see the module docstring)."""

    def __init__(self, folder: Path, key_file: Path | None = None) -> None:
        self.folder = folder
        self._key_file = key_file
        self._writable = True

    @classmethod
    def for_root(cls, root: Path) -> "ReviewCache":
        return cls(root / CACHE_DIR)

    def read_only(self) -> "ReviewCache":
        """This cache for a review of files as they are not on disk (`--diff`: the base commit):
        it serves what still holds and stores nothing."""
        reader = ReviewCache(self.folder, self._key_file)
        reader._writable = False
        return reader

    def _key(self) -> bytes | None:
        if self._key_file is None:
            from agent.home import data_home

            self._key_file = data_home() / KEY_FILE
        return _user_key(self._key_file)

    def _blob(self, name: str) -> Path:
        return self.folder / f"{name}.bin"

    def load(self, name: str) -> Any | None:
        """The value stored as `name`, or None when it is missing or not signed with our key."""
        key = self._key()
        try:
            data = self._blob(name).read_bytes()
        except OSError:
            return None
        if key is None or not data.startswith(MAGIC):
            return None
        mac, payload = data[len(MAGIC):len(MAGIC) + MAC_BYTES], memoryview(data)[len(MAGIC) + MAC_BYTES:]
        if not hmac.compare_digest(mac, _sign(key, name, payload)):
            return None
        try:
            return pickle.loads(payload)
        except Exception:  # noqa: BLE001 - our own bytes from an older fba may name moved classes
            return None

    def store(self, name: str, value: Any) -> None:
        """Store `value` as `name` (best effort: a cache that cannot be written costs only speed)."""
        key = self._key()
        if key is None or not self._writable:
            return
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        target = self._blob(name)
        try:
            self._ensure_folder()
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(temporary, "wb") as file:
                file.writelines((MAGIC, _sign(key, name, payload), payload))
            os.replace(temporary, target)
        except OSError:
            self._writable = False  # read-only checkout, full disk: review on without the cache

    def _ensure_folder(self) -> None:
        if self.folder.is_dir():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ".gitignore").write_text("# created by fba: the review cache is never committed\n*\n", encoding="utf-8")

    def clean(self) -> bool:
        """Delete the whole cache folder; True when there was one."""
        import shutil

        if not self.folder.exists():
            return False
        shutil.rmtree(self.folder)
        return True


def _sign(key: bytes, name: str, payload: bytes | memoryview) -> bytes:
    mac = hmac.new(key, MAGIC, hashlib.sha256)
    mac.update(name.encode("utf-8") + b"\x00")  # a valid blob copied under another name is a miss
    mac.update(payload)
    return mac.digest()


@lru_cache(maxsize=None)
def _user_key(path: Path) -> bytes | None:
    """The user's cache key, created (random, mode 0600) on first use; None when it cannot be
    read or made, which turns the cache off."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = _create_key(path)
    except OSError:
        return None
    return key if key is not None and len(key) == KEY_BYTES else None


def _create_key(path: Path) -> bytes | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)  # another fba process made it first
    except OSError:
        return None
    key = os.urandom(KEY_BYTES)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None

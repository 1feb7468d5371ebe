"""Table models and schemas of the project, seen through the index: what `ProjectIndex.model`,
`models_in`, `owned_table` and `table_models` answer.

It owns `ModelInfo` (a class after inheritance: table model or request/response schema, with
all its fields) and the words that classify it: which columns make a row a user's
(`OWNER_COLUMNS`, a foreign key to a user-like table), which fields are sensitive, which bases
are schemas or declarative. Models are computed from the symbols the index collected and kept
in the index's `_model_memo` (one computation per class per index).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.analysis.facts import ClassFacts, FieldDef, dotted_name

if TYPE_CHECKING:
    from agent.analysis.index import ProjectIndex

OWNER_COLUMNS = ("owner_id", "user_id", "created_by", "created_by_id", "author_id", "creator_id", "owner_user_id")
USER_TABLE_WORDS = ("user", "account", "member", "owner", "author", "person", "customer", "profile")
SENSITIVE_FIELDS = frozenset({
    "password", "hashed_password", "password_hash", "passwd", "secret", "client_secret", "secret_key",
    "api_key", "apikey", "private_key", "otp_secret", "totp_secret", "mfa_secret", "salt",
})
TOKEN_FIELDS = frozenset({"token", "refresh_token", "reset_token", "verification_token", "access_token", "session_token"})
SCHEMA_ROOTS = frozenset({"BaseModel", "SQLModel", "RootModel"})
DECLARATIVE_ROOTS = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta", "Base", "Model"})


@dataclass(frozen=True)
class ModelInfo:
    """A class after inheritance: a table model (SQLModel `table=True`, SQLAlchemy declarative) or a
    request/response schema (Pydantic BaseModel, non-table SQLModel), with all its fields."""

    name: str
    qualname: str
    table: bool
    schema: bool
    fields: tuple[FieldDef, ...] = ()
    tablename: str | None = None
    owner_column: str | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def sensitive_fields(self) -> tuple[str, ...]:
        """Fields a response must not carry: password hashes, secrets, API keys."""
        return tuple(n for n in self.field_names if n.lower() in SENSITIVE_FIELDS or n.lower().endswith("_password"))

    @property
    def token_fields(self) -> tuple[str, ...]:
        """Token fields: sensitive except in the answer of a login/token endpoint."""
        return tuple(n for n in self.field_names if n.lower() in TOKEN_FIELDS)


def model(index: ProjectIndex, path: str, name: str) -> ModelInfo | None:
    """The table model or schema named `name` in `path` (`Item`, `models.Item`)."""
    facts = index.files.get(path)
    qual = index._lookup(facts, name) if facts is not None else None
    if qual is None or index.symbols[qual].kind != "class":
        return None
    return model_of(index, qual)


def models_in(index: ProjectIndex, path: str, annotation: str) -> list[ModelInfo]:
    """Every model or schema named in a type expression: `list[ItemPublic]`, `Page[Item] | None`."""
    try:
        tree = ast.parse(annotation, mode="eval")
    except SyntaxError:
        return []
    found: list[ModelInfo] = []
    for node in ast.walk(tree):
        name = dotted_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        info = model(index, path, name) if name else None
        if info is not None and info not in found:
            found.append(info)
    return found


def owned_table(index: ProjectIndex, path: str, name: str) -> ModelInfo | None:
    """The table model `name` if its rows belong to a user (it has an owner column)."""
    info = model(index, path, name)
    return info if info is not None and info.table and info.owner_column else None


def table_models(index: ProjectIndex) -> list[ModelInfo]:
    return [m for q, s in sorted(index.symbols.items()) if s.kind == "class" and (m := model_of(index, q)) and m.table]


def model_of(index: ProjectIndex, qual: str) -> ModelInfo | None:
    """The model of the project class `qual` (None for a class that is neither table nor schema)."""
    memo = index._model_memo
    if qual not in memo:
        memo[qual] = None
        memo[qual] = _compute_model(index, qual)
    return memo[qual]


def _compute_model(index: ProjectIndex, qual: str) -> ModelInfo | None:
    symbol = index.symbols[qual]
    cls: ClassFacts = symbol.value  # type: ignore[assignment]
    roots, fields, declarative = _lineage(index, qual, set())
    table = (cls.table and "SQLModel" in roots) or (
        (declarative or bool(roots & DECLARATIVE_ROOTS)) and not cls.abstract
        and (cls.tablename is not None or any(f.column for f in cls.fields))
    )
    schema = not table and bool(roots & SCHEMA_ROOTS) and "BaseSettings" not in roots
    if not table and not schema:
        return None
    merged = tuple({f.name: f for f in fields}.values())
    owner = next((f.name for name in OWNER_COLUMNS for f in merged if f.name == name and _user_fk(f.foreign_key)), None)
    return ModelInfo(cls.name, qual, table, schema, merged, cls.tablename, owner if table else None)


def _lineage(index: ProjectIndex, qual: str, seen: set[str]) -> tuple[set[str], list[FieldDef], bool]:
    """(external base names, fields base-first, declarative base seen) of a project class."""
    seen.add(qual)
    symbol = index.symbols[qual]
    cls: ClassFacts = symbol.value  # type: ignore[assignment]
    facts = index.files[symbol.path]
    roots: set[str] = set()
    fields: list[FieldDef] = []
    declarative = False
    for base in reversed(cls.bases):
        base_qual = index._lookup(facts, base)
        if base_qual is None or base_qual in seen:
            roots.add(base.rsplit(".", 1)[-1])
            continue
        base_symbol = index.symbols[base_qual]
        if base_symbol.kind == "class":
            sub_roots, sub_fields, sub_declarative = _lineage(index, base_qual, seen)
            roots |= sub_roots
            fields.extend(sub_fields)
            declarative = declarative or sub_declarative or base_symbol.name in DECLARATIVE_ROOTS
        elif base_symbol.kind == "instance" and str(base_symbol.value).endswith(("declarative_base", "generate_base")):
            declarative = True
    fields.extend(cls.fields)
    return roots, fields, declarative


def _user_fk(foreign_key: str | None) -> bool:
    """No foreign key known, or one pointing at a user-like table (`user.id`, `users.id`, `User.id`)."""
    if foreign_key is None:
        return True
    table = foreign_key.split(".", 1)[0].lower()
    return any(word in table for word in USER_TABLE_WORDS)

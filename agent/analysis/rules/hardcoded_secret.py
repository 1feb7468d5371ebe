from __future__ import annotations

import ast
import math
import re
from collections import Counter
from functools import lru_cache
from typing import Iterator

from agent.analysis.facts import call_name, callee_attr, dotted_name
from agent.analysis.rules._db import is_migration
from agent.analysis.rules._security import (
    AUTHLIB, argument, import_paths, imports_of, is_test_file, jwt_calls, name_words, resolve, target_name,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.walk import TreeWalk
from agent.types import Finding, Severity

# The last word of a name decides: `SECRET_KEY`, `db_password`, `access_token` are secrets;
# `token_type`, `password_field`, `tokenUrl`, `SECRET_KEY_FILE` are not.
SECRET_WORDS = frozenset({"secret", "password", "passwd", "pwd", "passphrase", "token", "apikey", "secretkey",
                          "credential", "credentials"})
PASSWORD_LIKE = frozenset({"secret", "password", "passwd", "pwd", "passphrase", "secretkey"})
MIN_TOKEN_LENGTH = 8
KEY_QUALIFIERS = frozenset({"secret", "api", "private", "signing", "sign", "encryption", "jwt", "access", "master",
                            "auth", "client", "hmac", "session", "webhook", "fernet", "crypto"})
ENTROPY_WORDS = frozenset({"key", "salt", "pepper"})
LABEL_VALUES = frozenset({"bearer", "basic", "jwt", "hs256", "rs256", "es256", "none", "null", "true", "false",
                          "access_token", "refresh_token", "id_token", "client_credentials", "authorization_code"})
PLACEHOLDER_MARKERS = ("change", "replace", "your-", "your_", "<", ">", "${", "{{", "xxx", "***", "...",
                       "example", "placeholder", "dummy", "fake", "todo", "fixme", "redacted", "not-set", "notset")
# The known token formats, each split around a literal that every match contains (its anchor):
# (kind, before the anchor, anchor, after it). Both the formats and the prefilter below are built
# from this one table, so a new format cannot miss the prefilter.
FORMAT_PARTS = (
    ("AWS access key id", r"\b", r"AKIA|ASIA", r"[0-9A-Z]{16}\b"),
    ("Stripe live key", r"\b[sr]", r"k_live_", r"[0-9A-Za-z]{16,}"),
    ("GitHub token", r"\b", r"gh[pousr]_", r"[A-Za-z0-9]{36,}"),
    ("GitHub token", r"\b", r"github_pat_", r"[A-Za-z0-9_]{22,}"),
    ("Slack token", r"\b", r"xox[abposr]-", r"[A-Za-z0-9-]{10,}"),
    ("private key", r"-----BEGIN (?:[A-Z]+ )?", r"PRIVATE KEY", r"(?: BLOCK)?-----"),
    ("Google API key", r"\b", r"AIza", r"[0-9A-Za-z_-]{35}"),
    ("Anthropic API key", r"\b", r"sk-ant-", r"[A-Za-z0-9_-]{20,}"),
)
KNOWN_FORMATS = {
    kind: re.compile("|".join(f"{before}(?:{anchor}){after}" for k, before, anchor, after in FORMAT_PARTS if k == kind))
    for kind in dict.fromkeys(kind for kind, *_ in FORMAT_PARTS)
}
VALUE_WRAPPERS = frozenset({"Field", "SecretStr", "SecretBytes"})
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
DOTTED_PATH = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+")
SNAKE_NAME = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+")
EXAMPLE_CONTAINERS = frozenset({"example", "examples", "openapi_examples", "json_schema_extra"})
ENV_READERS = frozenset({"os.getenv", "os.environ.get", "os.environ.setdefault"})
# The import targets through which a name can resolve to an environment reader: each reader and the
# modules and objects on its path (`os`, `os.environ`).
ENV_IMPORTS = import_paths(ENV_READERS)
JWT_METHODS = frozenset({"encode", "decode", "decode_complete"})
# A name is a secret only when its last word is one of these, and each word is part of the name
# (lower-cased): a name containing none of them is rejected before it is split into words.
SECRET_NAME_HINT = re.compile("|".join(sorted(SECRET_WORDS | PASSWORD_LIKE | ENTROPY_WORDS | {"key"})))
# Every known format's anchor: one search of a file's strings for these rejects almost every file
# before the formats run.
FORMAT_ANCHORS = re.compile("|".join(anchor for _, _, anchor, _ in FORMAT_PARTS))


class HardcodedSecret(Rule):
    """Secret, password, token or key written as a string literal in code.

    **What it does**
    Flags string literals assigned to (or passed as keyword / dict key / parameter default named)
    `SECRET_KEY`, `password`, `api_key`, `access_token`, `private_key`, `client_secret`,
    `aws_secret_access_key` and the like; literal signing keys passed to `jwt.encode`/`jwt.decode`;
    literal fallbacks in `os.getenv("SECRET_KEY", "...")`; and, anywhere (tests included),
    strings in well-known credential formats (AWS `AKIA...`, Stripe `sk_live_...`, GitHub `ghp_...`,
    Slack `xoxb-...`, PEM private keys, Google and Anthropic API keys). Generic `key`/`salt` names
    are flagged only for high-entropy values.

    **Why is this bad?**
    Anything in the repository is readable by everyone with access to it, its forks, CI logs and
    history, forever. A leaked JWT signing key lets anyone mint tokens for any user.

    **Example**
    ```python
    SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
    ```

    **Use instead**
    ```python
    class Settings(BaseSettings):
        SECRET_KEY: str = secrets.token_urlsafe(32)  # or no default: required from the environment
    ```

    **Known problems**
    Obvious placeholders (`"changethis"`, `"your-secret-key"`, `"<token>"`, empty strings) are not
    reported: they are defaults meant to be overridden, as in full-stack-fastapi-template, whose
    settings refuse them outside local development. A placeholder that reaches production is still a
    forgeable key. In test files only the known credential formats are reported: test passwords
    such as `"testpass123"` are fixtures, not leaks. So in Alembic migrations, whose strings name
    tables, columns and enum values (`{"cloud_credentials": "provider"}`); a plain password a
    migration seeds is missed.
    """

    code = "FBA401"
    name = "hardcoded-secret"
    category = "secrets"
    severity = Severity.HIGH
    title = "Hard-coded secret"

    VALID = (
        """
import os
import secrets
from pydantic import Field
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    SECRET_KEY: str = secrets.token_urlsafe(32)
    POSTGRES_PASSWORD: str
    STRIPE_API_KEY: str = Field(...)
    FIRST_SUPERUSER_PASSWORD: str = "changethis"
    SMTP_PASSWORD: str | None = None
    EMAIL_RESET_TOKEN_EXPIRE_HOURS: int = 48
    REDIS_PASSWORD: str = ""

GITHUB_TOKEN = os.environ["GITHUB_TOKEN"]
API_KEY = os.getenv("API_KEY")
""",
        """
from fastapi.security import OAuth2PasswordBearer, APIKeyHeader

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
api_key_header = APIKeyHeader(name="X-API-Key")
token_type = "bearer"
password_field = "password"
SECRET_KEY_FILE = "/run/secrets/secret_key"

def token_response(access_token: str) -> dict:
    return {"access_token": access_token, "token_type": "bearer"}
""",
        """
# An Alembic migration: its strings name tables, columns and enum values.
from alembic import op

revision = "b7e2c4d15a80"
provider_columns = {"cloud_credentials": "provider", "clusters": "provider"}
password_column = "hashed_password"
token = "access_token"

def upgrade() -> None:
    op.alter_column("users", "password", new_column_name="hashed_password")
""",
        {"tests/conftest.py": """
import pytest

@pytest.fixture
def user_data():
    return {"email": "a@example.com", "password": "testpass123"}
"""},
        """
import hashlib

cache_key = "user:profile"
CHECKSUM_SALT_NAME = "release"
message = "Enter your password"
""",
        """
# Settings names mapped to config paths and column names are labels, not secrets.
CONFIG_PATHS = {
    "EXA_API_KEY": "web.search.exa_api_key",
    "OPENAI_API_KEY": "openai.api_key",
}
password_column = "user_password"
""",
        """
from pydantic_settings import BaseSettings

# Class keywords configure the class; they bind no value.
class Settings(BaseSettings, env_prefix="APP_", secret_key_source="vault-kv-2"):
    pass
""",
        # An enum member names a kind of resource, not a credential.
        """
from enum import Enum

class ResourceType(str, Enum):
    STACK = "stack"
    SECRET = "secret"
    API_KEY = "api_key"
""",
    )
    INVALID = (
        # A migration is still checked for the known credential formats.
        """
from alembic import op

def upgrade() -> None:
    op.execute("UPDATE integrations SET api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'")
""",
        # A plain class attribute is still a literal secret.
        """
class Settings:
    SECRET_KEY = "kJ8f2mQ9xL4vT7wR1zN6bH3cY5pD0sA"
""",
        """
from fastapi_users.authentication import JWTStrategy

SECRET = "SECRET"

def get_jwt_strategy() -> JWTStrategy:
    return JWTStrategy(secret=SECRET, lifetime_seconds=3600)
""",
        """
SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
""",
        """
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    database_password: str = "s3cr3t-Pa55"
""",
        """
import boto3

s3 = boto3.client("s3", aws_access_key_id="AKIAQ3EGRF7MZJXW2V4N", aws_secret_access_key="wJalrXUtnFEMIK7MDENGbPxRfiCYzAbCdEfGh123")
""",
        """
import jwt

def issue(claims: dict) -> str:
    return jwt.encode(claims, "supersecret", algorithm="HS256")
""",
        """
import os

SECRET_KEY = os.getenv("SECRET_KEY", "dev-only-9f8e7d6c5b4a")
""",
        {"tests/test_billing.py": """
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
"""},
        """
from starlette.middleware.sessions import SessionMiddleware

def setup(app):
    app.add_middleware(SessionMiddleware, secret_key="k9#Lq2!vR8@xZ4")
""",
        """
from os import getenv as env_or

JWT_SECRET = env_or("JWT_SECRET", "dev-only-9f8e7d6c5b4a")
""",
        # Implicitly concatenated literals are one string: the format is matched on the joined value.
        {"tests/test_billing.py": """
STRIPE = "sk_live_" "4eC39HqLyjWDarjtT1zdp7dc"
"""},
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        reported: set[int] = set()
        if not is_test_file(ctx) and not is_migration(ctx):
            for node, name in _named_literals(ctx):
                if id(node) not in reported and _is_secret_assignment(name, node.value) and not _in_examples(ctx, node):
                    reported.add(id(node))
                    yield self.finding(ctx, node, f"'{name}' is set to a literal secret; read it from settings or "
                                       "the environment instead")
        for node, kind in _known_format_literals(ctx):
            if id(node) not in reported:
                reported.add(id(node))
                yield self.finding(ctx, node, f"string literal looks like a real {kind}; revoke it and load it "
                                   "from the environment")


def _named_literals(ctx: FileContext) -> Iterator[tuple[ast.Constant, str]]:
    """(string literal, the name it is bound to) for assignments, keywords, dict entries, defaults, jwt keys.

    A literal reached twice (a jwt `key=` keyword) is yielded under its keyword first, as the
    caller reports each literal once, under the first name that makes it a secret.
    """
    for node in ctx.nodes_of(ast.Assign, ast.AnnAssign):
        if _enum_member(ctx, node):
            continue  # `SECRET = "secret"` in an Enum names a kind of thing, not a credential
        value = node.value
        if isinstance(value, ast.Call):
            value = _wrapped_default(value)
        if _is_str(value):
            for target in node.targets if isinstance(node, ast.Assign) else (node.target,):
                name = target_name(target)
                if name is not None:
                    yield value, name
    # Keywords of calls only: a class's keywords (`metaclass=...`) bind no value.
    class_keywords = {id(kw) for node in ctx.nodes_of(ast.ClassDef) for kw in node.keywords}
    for kw in ctx.nodes_of(ast.keyword):
        if _is_str(kw.value) and kw.arg is not None and id(kw) not in class_keywords:
            yield kw.value, kw.arg
    yield from _env_fallbacks(ctx)
    for call, library, function in jwt_calls(ctx, *JWT_METHODS):
        key = argument(call, 2 if library == AUTHLIB and function == "encode" else 1, "key")
        if _is_str(key):
            yield key, "signing_key"
    for node in ctx.nodes_of(ast.Dict):
        for key, value in zip(node.keys, node.values):
            if _is_str(value) and _is_str(key) and IDENTIFIER.fullmatch(key.value):
                yield value, key.value
    for node in ctx.nodes_of(ast.arguments):
        if node.defaults or node.kw_defaults:
            yield from _string_defaults(node)


def _env_fallbacks(ctx: FileContext) -> Iterator[tuple[ast.Constant, str]]:
    """(fallback, variable) for `os.getenv("VARIABLE", "fallback")` and the `os.environ` equivalents."""
    imports = imports_of(ctx)
    # Cheap prefilter: a callee resolves to an environment reader only through such an import.
    if ENV_IMPORTS.isdisjoint(imports.values()):
        return
    for call in ctx.nodes_of(ast.Call):
        args = call.args
        # Two string literals first: that rejects almost every call before resolving its callee.
        if len(args) >= 2 and _is_str(args[1]) and _is_str(args[0]) and resolve(call.func, imports) in ENV_READERS:
            yield args[1], args[0].value


def _enum_member(ctx: FileContext, node: ast.AST) -> bool:
    owner = ctx.parent(node)
    if not isinstance(owner, ast.ClassDef):
        return False
    return any((dotted_name(base) or "").endswith("Enum") for base in owner.bases)


def _wrapped_default(call: ast.Call) -> ast.expr | None:
    """The default passed to a value wrapper (`Field("...")`, `SecretStr("...")`), else None."""
    if callee_attr(call) in VALUE_WRAPPERS and call_name(call) is not None:
        return argument(call, 0, "default")
    return None


def _string_defaults(node: ast.arguments) -> Iterator[tuple[ast.Constant, str]]:
    """(default, parameter name) for the string defaults of a signature, positional ones first."""
    positional = node.posonlyargs + node.args
    first_with_default = len(positional) - len(node.defaults)
    for offset, default in enumerate(node.defaults):
        if _is_str(default):
            yield default, positional[first_with_default + offset].arg
    for arg, default in zip(node.kwonlyargs, node.kw_defaults):
        if _is_str(default):
            yield default, arg.arg


def _known_format_literals(ctx: FileContext) -> Iterator[tuple[ast.Constant, str]]:
    """(string literal, credential kind) for literals in a well-known credential format."""
    # Cheap whole-file prefilter: a format matches inside one literal, so it needs an anchor there.
    if not FORMAT_ANCHORS.search(string_literals_text(ctx.walk)):
        return
    for node in ctx.nodes_of(ast.Constant):
        if isinstance(node.value, str):
            kind = _known_format(node.value)
            if kind is not None:
                yield node, kind


@lru_cache(maxsize=1)  # the file being checked: this rule and FBA402 both search its literals
def string_literals_text(walk: TreeWalk) -> str:
    """Every string constant of a file (f-string parts included), joined by newlines: one text to
    search for what can only occur inside a single literal (touching each constant is the cost)."""
    return "\n".join([node.value for node in walk.of_type(ast.Constant) if isinstance(node.value, str)])


def _in_examples(ctx: FileContext, node: ast.AST) -> bool:
    """Literals inside OpenAPI examples (`Field(examples=[...])`, `json_schema_extra`) document, not configure."""
    child = node
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, ast.keyword) and ancestor.arg in EXAMPLE_CONTAINERS:
            return True
        if isinstance(ancestor, ast.Dict) and any(
                v is child and isinstance(k, ast.Constant) and k.value in EXAMPLE_CONTAINERS
                for k, v in zip(ancestor.keys, ancestor.values)):
            return True
        child = ancestor
    return False


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_secret_assignment(name: str, value: str) -> bool:
    if not SECRET_NAME_HINT.search(name.lower()):
        return False
    words = name_words(name)
    if not words or not _real_value(value, name):
        return False
    last = words[-1]
    if "hash" in words or "hashed" in words:  # a password hash is not the password
        return False
    if last in PASSWORD_LIKE or (last == "key" and len(words) > 1 and words[-2] in KEY_QUALIFIERS):
        return True
    if last in SECRET_WORDS:  # tokens and API keys are long; short values are labels or markers
        return len(value) >= MIN_TOKEN_LENGTH
    return last in ENTROPY_WORDS and _high_entropy(value)


def _real_value(value: str, name: str) -> bool:
    """False for empty strings, placeholders, labels, env-var names, paths, URLs, templates and prose."""
    text = value.strip()
    lowered = text.lower()
    if len(text) < 3 or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return False
    if lowered.replace("-", "_") == name.lower():
        # `password_field = "password"` labels a field; `SECRET = "SECRET"` is a constant used as a key.
        return name.isupper() and "_" not in name
    if lowered in SECRET_WORDS or lowered in LABEL_VALUES:
        return False
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", text) and "_" in text:  # the name of an environment variable
        return False
    if DOTTED_PATH.fullmatch(text):  # a config path such as "web.search.exa_api_key"
        return False
    if SNAKE_NAME.fullmatch(text) and set(re.split(r"[_-]", text)) & (SECRET_WORDS | PASSWORD_LIKE | ENTROPY_WORDS):
        return False  # the name of a field or column, e.g. "user_password", "api-key"
    if text.startswith("/") or "://" in text or re.search(r"\{[^}]*\}|%\(?\w*\)?s", text):
        return False
    if re.search(r"\\[wdsbWDSB]|\[\^|\(\?", text):  # a regular expression
        return False
    return not re.search(r"\s", text)


def _high_entropy(value: str) -> bool:
    """Hex / base64 / base64url strings of 20+ characters mixing letters and digits, with high entropy."""
    if not re.fullmatch(r"[A-Za-z0-9+/=_-]{20,}", value) or not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return False
    counts = Counter(value)
    entropy = -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())
    return entropy >= 3.5


def _known_format(value: str) -> str | None:
    if "EXAMPLE" in value:  # AWS documentation keys (AKIAIOSFODNN7EXAMPLE)
        return None
    return next((kind for kind, pattern in KNOWN_FORMATS.items() if pattern.search(value)), None)

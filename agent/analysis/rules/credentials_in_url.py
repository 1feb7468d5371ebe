from __future__ import annotations

import ast
import re
from typing import Iterator

from agent.analysis.rules._security import is_test_file
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.rules.hardcoded_secret import string_literals_text
from agent.types import Finding, Severity

# scheme://user:password@host — the user part may be empty (`redis://:pw@host`).
URL_WITH_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://(?P<user>[^\s:/@{}]*):(?P<password>[^\s/@]+)@[^\s/@]+")
PLACEHOLDER_PASSWORDS = frozenset({"password", "pass", "passwd", "pwd", "secret", "changethis", "changeme",
                                   "xxx", "xxxx", "***", "****", "...", "user", "username", "pw"})
HOLE = "\x00"  # stands for an f-string interpolation while matching


class CredentialsInUrl(Rule):
    """Connection URL with a literal password in it.

    **What it does**
    Flags string literals (and the literal parts of f-strings) shaped like
    `postgresql://user:password@host/db`, `redis://:password@host`, `amqp://user:pw@host` whose
    password is written out. Passwords filled from settings (`f"...:{settings.DB_PASSWORD}@..."`),
    format templates (`{}`, `%s`, `${VAR}`) and documentation placeholders (`user:password@`) pass.

    **Why is this bad?**
    The password is in the repository and its history for anyone with read access, and URLs are
    logged, printed in tracebacks and shown in error pages far more often than plain settings.

    **Example**
    ```python
    engine = create_engine("postgresql://app:Sup3rS3cret@db.internal:5432/app")
    ```

    **Use instead**
    ```python
    engine = create_engine(str(settings.SQLALCHEMY_DATABASE_URI))
    ```

    **Known problems**
    Local development URLs such as `postgresql://postgres:postgres@localhost/app` are reported
    outside test files; in test files (`tests/`, `test_*.py`, `conftest.py`) nothing is reported.
    """

    code = "FBA402"
    name = "credentials-in-url"
    category = "secrets"
    severity = Severity.HIGH
    title = "Credentials in a URL"

    VALID = (
        """
from sqlalchemy import create_engine
from app.core.config import settings

engine = create_engine(str(settings.SQLALCHEMY_DATABASE_URI))
url = f"postgresql+psycopg://{settings.POSTGRES_USER}:{settings.POSTGRES_PASSWORD}@{settings.POSTGRES_SERVER}/app"
template = "postgresql://{user}:{password}@{host}/{db}"
example = "postgresql://user:password@localhost/dbname"
sqlite = "sqlite:///./app.db"
redis = "redis://localhost:6379/0"
""",
        {"tests/conftest.py": """
TEST_DB = "postgresql://postgres:postgres@localhost:5432/test"
"""},
        """
import os

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db/app")
""",
    )
    INVALID = (
        """
from sqlalchemy import create_engine

engine = create_engine("postgresql://app:Sup3rS3cret@db.internal:5432/app")
""",
        """
from app.core.config import settings

REDIS_URL = f"redis://:hunter2x@{settings.REDIS_HOST}:6379/0"
""",
        """
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    BROKER_URL: str = "amqp://worker:w0rk3r-pw@rabbit:5672//"
""",
        """
from sqlalchemy import create_engine

engine = create_engine("postgresql://app:"
                       "Sup3rS3cret@db.internal:5432/app")
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if is_test_file(ctx) or not _has_url(ctx):
            return
        for node, text in _url_candidates(ctx):
            if any(_literal_password(m.group("password")) for m in URL_WITH_PASSWORD.finditer(text)):
                yield self.finding(ctx, node, "URL embeds a literal password; build it from settings or read the "
                                   "whole URL from the environment")


def _has_url(ctx: FileContext) -> bool:
    """Cheap whole-file prefilter: a match needs `://` inside one string literal (an f-string's literal
    parts are string constants of the tree too; `://` never spans an interpolation or a joint)."""
    return "://" in string_literals_text(ctx.walk)


def _url_candidates(ctx: FileContext) -> Iterator[tuple[ast.AST, str]]:
    """(node, text to match) for f-strings (interpolations as HOLE) and plain string literals that
    hold `://` in a literal part; an f-string's parts are matched as the whole f-string."""
    for node in ctx.nodes_of(ast.JoinedStr):
        parts = node.values
        if any(isinstance(v, ast.Constant) and "://" in v.value for v in parts):
            yield node, "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in parts)
    for node in ctx.nodes_of(ast.Constant):
        if isinstance(node.value, str) and "://" in node.value and not _in_fstring_or_docstring(ctx, node):
            yield node, node.value


def _in_fstring_or_docstring(ctx: FileContext, node: ast.AST) -> bool:
    """f-string parts are matched as a whole; docstrings show example URLs, they configure nothing."""
    return isinstance(ctx.parent(node), (ast.JoinedStr, ast.FormattedValue, ast.Expr))


def _literal_password(password: str) -> bool:
    if HOLE in password or password.lower() in PLACEHOLDER_PASSWORDS:
        return False
    return not re.search(r"[{}<>$]|%(?:\(\w+\))?[sd]", password)

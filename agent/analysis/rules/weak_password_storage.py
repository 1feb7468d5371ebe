from __future__ import annotations

import ast
from functools import lru_cache
from typing import Iterator

from agent.analysis.facts import dotted_name
from agent.analysis.rules._security import (
    argument, imports_of, local_values, name_words, resolve, target_name,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.analysis.walk import walk_nodes
from agent.types import Finding, Severity

FAST_HASHES = frozenset({"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256",
                         "sha3_384", "sha3_512", "blake2b", "blake2s", "new"})
PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "pass"})
# Fields of an outgoing connection: a password beside them is a credential the server must send on
# (a database, an SMTP or an SSH login), kept encrypted, never hashed.
CONNECTION_FIELDS = frozenset({"host", "hostname", "port", "conn_type", "dsn", "server", "endpoint"})
# Calls that leave a value as readable as before.
TRANSPARENT_METHODS = frozenset({"encode", "get_secret_value", "strip", "lower"})


class WeakPasswordStorage(Rule):
    """Password stored in plain text or with a fast hash.

    **What it does**
    Flags `hashlib.md5/sha1/sha256/sha512/...` (also `hashlib.new(...)` and `.update(...)` on such a
    hash) applied to a value named like a password, `hashed_password=user_in.password`-style
    assignments of a plain password to a hash field (also as a dict entry such as
    `model_validate(user_in, update={"hashed_password": user_in.password})`), and `Model(password=body.password)` /
    `row.password = body.password` when that row is added to a session in the same function.

    **Why is this bad?**
    A leaked database (backup, SQL injection, insider) then reveals every password at once, or
    after a few GPU-hours for fast hashes: md5/sha are built to be fast, so billions of guesses per
    second are cheap. Users reuse passwords, so the damage spreads to other sites.

    **Example**
    ```python
    user = User(email=user_in.email, hashed_password=hashlib.sha256(user_in.password.encode()).hexdigest())
    ```

    **Use instead**
    ```python
    user = User(email=user_in.email, hashed_password=get_password_hash(user_in.password))  # pwdlib/passlib: bcrypt or argon2
    ```

    **Known problems**
    Passing the plain password to a request schema (`UserCreate(password=...)`) is fine and not
    flagged, nor is the password of an outgoing connection stored beside its `host` or `port`
    (`Connection(host=..., login=..., password=...)`: the server must send it on, so it is
    encrypted rather than hashed); a plain password stored through a helper in another module is
    not seen, and a helper's own `password` parameter stored as is is given the benefit of the
    doubt (its callers may pass the hash).
    """

    code = "FBA406"
    name = "weak-password-storage"
    category = "password-storage"
    severity = Severity.HIGH
    title = "Weak password storage"

    VALID = (
        """
from pwdlib import PasswordHash

password_hash = PasswordHash.recommended()

def get_password_hash(password: str) -> str:
    return password_hash.hash(password)

def create_user(session, user_in):
    user = User(email=user_in.email, hashed_password=get_password_hash(user_in.password))
    session.add(user)
    session.commit()
    return user
""",
        """
import hashlib

def checksum(file_bytes: bytes) -> str:
    return hashlib.sha256(file_bytes).hexdigest()

def etag(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
""",
        """
import hashlib
import os

def derive(password: str) -> bytes:
    salt = os.urandom(16)
    return salt + hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000)
""",
        """
from app.models import UserCreate

def init_db(session, settings):
    user_in = UserCreate(email=settings.FIRST_SUPERUSER, password=settings.FIRST_SUPERUSER_PASSWORD)
    return create_user(session=session, user_create=user_in)
""",
        """
# A data-layer helper: callers pass the hash (`insert_auth(email, get_password_hash(form.password))`).
def insert_auth(db, email: str, password: str):
    auth = Auth(email=email, password=password)
    db.add(auth)
    db.commit()
    return auth
""",
        """
# The credentials of a database the server will connect to: sent on, so encrypted, never hashed.
def add_connection(session, body):
    connection = Connection(conn_id=body.conn_id, host=body.host, port=body.port, login=body.login,
                            password=body.password)
    session.add(connection)
    session.commit()
""",
    )
    INVALID = (
        """
import hashlib

def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()
""",
        """
from hashlib import md5

def create_user(session, user_in):
    user = User(email=user_in.email, hashed_password=md5(user_in.password.encode()).hexdigest())
    session.add(user)
""",
        """
def create_user(session, user_in):
    user = User(email=user_in.email, hashed_password=user_in.password)
    session.add(user)
    session.commit()
""",
        """
def register(db, body):
    db.add(User(email=body.email, password=body.password))
    db.commit()
""",
        # A hash field is a hash field, whatever else the row holds.
        """
def add_admin(session, body):
    session.add(Admin(host=body.host, hashed_password=body.password))
    session.commit()
""",
        """
import hashlib

def hash_password(password: str, salt: bytes) -> str:
    digest = hashlib.sha512()
    digest.update(salt + password.encode())
    return digest.hexdigest()
""",
        """
import hashlib as crypto

def set_password(user, password: str):
    user.hashed_password = crypto.md5(password.encode()).hexdigest()
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        # One pass per kind of node, each testing the name of the field first (cached per name):
        # a finding always needs a password word in it, which almost no name has.
        hashed = _fast_hash_calls(ctx)
        for call in hashed:
            yield self.finding(ctx, call, "password hashed with a fast hash; use a slow salted hash "
                               "(pwdlib/passlib with bcrypt or argon2)")
        for kw in ctx.nodes_of(ast.keyword):
            if kw.arg is None or _field_kind(kw.arg) is None:
                continue
            call = ctx.parent(kw)  # a call's (a class's keywords are not stored values)
            if (isinstance(call, ast.Call) and call not in hashed and _plaintext(kw.value)
                    and not _passed_in(ctx, kw.value) and not _connection_login(kw.arg, call)
                    and _stores(kw.arg, ctx, call)):
                yield self.finding(ctx, kw.value, f"plain password stored in '{kw.arg}'; store "
                                   "get_password_hash(password) instead")
        for node in ctx.nodes_of(ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (isinstance(key, ast.Constant) and isinstance(key.value, str) and _hash_field(key.value)
                        and _plaintext(value)):
                    yield self.finding(ctx, value, f"plain password stored in '{key.value}'; store "
                                       "get_password_hash(password) instead")
        for node in ctx.nodes_of(ast.Assign):
            for target in node.targets:
                if not isinstance(target, (ast.Attribute, ast.Subscript)):
                    continue
                name = target_name(target)
                if (name and _field_kind(name) is not None and _plaintext(node.value)
                        and _stores(name, ctx, target.value)):
                    yield self.finding(ctx, node, f"plain password stored in '{name}'; store "
                                       "get_password_hash(password) instead")


def _fast_hash_calls(ctx: FileContext) -> dict[ast.Call, None]:
    """The calls that compute a fast hashlib digest over a value named like a password (a dict:
    an ordered set, looked up for each keyword)."""
    imports = imports_of(ctx)
    # A call resolves into hashlib only through an import of hashlib or of a name from it.
    if not any(target == "hashlib" or target.startswith("hashlib.") for target in imports.values()):
        return {}
    constructors = [call for call in ctx.nodes_of(ast.Call) if _is_fast_hash(call, imports)]
    inputs = [(call, _constructor_input(call, imports)) for call in constructors]
    # `digest.update(data)` feeds a fast hash only when `digest` is assigned a constructor call.
    digests = {name for call in constructors for name in _assigned_to(ctx, call)}
    if digests:
        inputs += [(call, _update_input(call, imports, ctx)) for call in ctx.nodes_of(ast.Call)
                   if isinstance(call.func, ast.Attribute) and call.func.attr == "update"
                   and _name_of(call.func.value) in digests]
    return {call: None for call, data in inputs if data is not None and _mentions_password(data)}


def _is_fast_hash(call: ast.Call, imports: dict[str, str]) -> bool:
    """`hashlib.sha256(...)`, `md5(...)` after `from hashlib import md5`, `hashlib.new(...)`."""
    func = call.func
    # The callee's own name first: a `hashlib.<name>` callee ends in it.
    if isinstance(func, ast.Attribute):
        if func.attr not in FAST_HASHES:
            return False
    elif not (isinstance(func, ast.Name) and imports.get(func.id, "").startswith("hashlib.")):
        return False
    name = resolve(func, imports) or ""
    return name.startswith("hashlib.") and name[len("hashlib."):] in FAST_HASHES


def _constructor_input(call: ast.Call, imports: dict[str, str]) -> ast.expr | None:
    """The data a fast hash constructor is given (`hashlib.new(name, data)`, `hashlib.md5(data)`)."""
    if resolve(call.func, imports) == "hashlib.new":
        return argument(call, 1, "data")
    return argument(call, 0, "data") or argument(call, 0, "string")


def _update_input(call: ast.Call, imports: dict[str, str], ctx: FileContext) -> ast.expr | None:
    """The data of `digest.update(data)` when `digest` holds a fast hash in this function."""
    scope = ctx.enclosing_function(call) or ctx.tree
    sources = local_values(scope, call.func.value.id)
    if any(isinstance(v, ast.Call) and _is_fast_hash(v, imports) for v in sources):
        return call.args[0] if call.args else None
    return None


def _assigned_to(ctx: FileContext, value: ast.expr) -> list[str]:
    """The names `value` is assigned to as a whole (`x = value`, `x: T = value`, `x += value`, `(x := value)`)."""
    statement = ctx.parent(value)
    if isinstance(statement, ast.Assign) and statement.value is value:
        return [target.id for target in statement.targets if isinstance(target, ast.Name)]
    if isinstance(statement, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and statement.value is value:
        return [statement.target.id] if isinstance(statement.target, ast.Name) else []
    return []


def _name_of(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


@lru_cache(maxsize=4096)  # names repeat across a file and a project; `name_words` is a regex split
def _words(name: str) -> tuple[str, ...]:
    return tuple(name_words(name))


def _may_hold_password_word(name: str) -> bool:
    """False when no word of `name` can be a password word: each word is a piece of the name, and
    every word of `PASSWORD_WORDS` contains "pass" or "pwd". Rejects most names without the regex."""
    lowered = name.lower()
    return "pass" in lowered or "pwd" in lowered


@lru_cache(maxsize=4096)
def _password_named(name: str) -> bool:
    if not _may_hold_password_word(name):
        return False
    words = set(_words(name))
    return bool(PASSWORD_WORDS & words) and not {"hash", "hashed", "hasher", "field", "reset"} & words


def _mentions_password(node: ast.expr) -> bool:
    return any(_password_named(n.attr if isinstance(n, ast.Attribute) else n.id)
               for n in walk_nodes(node) if isinstance(n, (ast.Name, ast.Attribute)))


def _plaintext(node: ast.expr) -> bool:
    """A password value as the client sent it: `body.password`, `password.get_secret_value()`, `data.pop("password")`."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TRANSPARENT_METHODS:
        node = node.func.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("pop", "get"):
        key = node.args[0] if node.args else None
        return isinstance(key, ast.Constant) and isinstance(key.value, str) and _password_named(key.value)
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and isinstance(key.value, str) and _password_named(key.value)
    name = dotted_name(node)
    return name is not None and _password_named(name.rsplit(".", 1)[-1])


def _connection_login(field: str, call: ast.Call) -> bool:
    """`Connection(host=..., login=..., password=...)`: the password of a system the server connects to."""
    return _field_kind(field) == "password" and any(k.arg in CONNECTION_FIELDS for k in call.keywords)


def _passed_in(ctx: FileContext, value: ast.expr) -> bool:
    """A bare parameter of a helper that is not a route handler (`insert_user(email, password)`):
    its callers may well pass the hash, so nothing is known about it here."""
    if not isinstance(value, ast.Name):
        return False
    scope = ctx.enclosing_function(value)
    if scope is None or ctx.route_of(scope) is not None:
        return False
    args = scope.args
    return value.id in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}


@lru_cache(maxsize=4096)
def _hash_field(name: str) -> bool:
    if not _may_hold_password_word(name):
        return False
    words = set(_words(name))
    return bool({"hash", "hashed"} & words and PASSWORD_WORDS & words)


@lru_cache(maxsize=4096)
def _field_kind(field: str) -> str | None:
    """"hash" for a password hash field (`hashed_password`), "password" for a plain password field
    (`password`, `user_pwd`), None for any other name."""
    if _hash_field(field):
        return "hash"
    return "password" if _password_named(field) and _words(field)[-1] in PASSWORD_WORDS else None


def _stores(field: str, ctx: FileContext, owner: ast.AST) -> bool:
    """True when `field` on `owner` is persisted: a hash field, or a password field of a row added to a session."""
    kind = _field_kind(field)
    return kind == "hash" or (kind == "password" and _added_to_session(ctx, owner))


def _added_to_session(ctx: FileContext, node: ast.AST) -> bool:
    """`session.add(Model(...))`, or `row = Model(...)` / `row.password = ...` with `session.add(row)` nearby."""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Call) and _is_add(parent):
        return True
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        name = parent.targets[0].id
    else:
        return False
    scope = ctx.enclosing_function(node) or ctx.tree
    return any(isinstance(n, ast.Call) and _is_add(n) and any(isinstance(a, ast.Name) and a.id == name for a in n.args)
               for n in walk_nodes(scope))


def _is_add(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr in ("add", "add_all", "merge")

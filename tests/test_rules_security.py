"""Focused cases for the security rules beyond their VALID/INVALID examples: aliasing, look-alikes, edges."""

from __future__ import annotations

import textwrap

import pytest

from agent.analysis.rules import rule_by_code
from agent.analysis.runner import ReviewOptions, review_sources
from agent.types import Severity

SECURITY_RULES = {
    "FBA111": ("jwt", Severity.CRITICAL), "FBA112": ("jwt", Severity.HIGH), "FBA113": ("jwt", Severity.CRITICAL),
    "FBA114": ("jwt", Severity.MEDIUM), "FBA401": ("secrets", Severity.HIGH), "FBA402": ("secrets", Severity.HIGH),
    "FBA403": ("cors", Severity.HIGH), "FBA404": ("error-leak", Severity.MEDIUM),
    "FBA405": ("error-leak", Severity.MEDIUM), "FBA406": ("password-storage", Severity.HIGH),
    "FBA303": ("injection", Severity.HIGH), "FBA304": ("injection", Severity.HIGH),
}


def findings(code: str, source: str, path: str = "app/main.py"):
    result = review_sources({path: textwrap.dedent(source)}, ReviewOptions(select=(code,)))
    assert not result.skipped
    return [f for f in result.findings if f.rule == code]


def lines(code: str, source: str, path: str = "app/main.py") -> list[int]:
    return [f.line for f in findings(code, source, path)]


@pytest.mark.parametrize("code", sorted(SECURITY_RULES))
def test_rule_is_registered_with_its_category_and_severity(code):
    rule = rule_by_code(code)
    assert rule is not None
    assert (rule.category, rule.severity) == SECURITY_RULES[code]


# --- jwt -------------------------------------------------------------------------------------------

def test_jwt_resolved_through_import_aliases():
    source = """
    import jwt as pyjwt
    from jose import jwt as jose_jwt

    def a(token, key):
        return pyjwt.decode(token, key)

    def b(token, key):
        return jose_jwt.decode(token, key)

    def c(token, key):
        return pyjwt.decode_complete(token, key, algorithms=["HS256"])
    """
    assert lines("FBA112", source) == [6, 9]


def test_decode_on_objects_that_are_not_a_jwt_library_is_ignored():
    source = """
    from app.auth import JWTHandler

    jwt = JWTHandler()

    def read(token):
        return jwt.decode(token, "key")

    def raw(data: bytes):
        return data.decode("utf-8")
    """
    assert findings("FBA112", source) == []
    assert findings("FBA111", source) == []


def test_unverified_options_from_a_local_variable_are_followed():
    source = """
    import jwt

    def peek(token):
        opts = {"verify_signature": False}
        return jwt.decode(token, options=opts)
    """
    assert lines("FBA111", source) == [6]
    assert findings("FBA112", source) == [], "FBA111 alone reports a decode that skips verification"


def test_unverified_header_for_kid_lookup_is_not_flagged():
    source = """
    from jose import jwt

    def key_id(token):
        return jwt.get_unverified_header(token)["kid"]
    """
    assert findings("FBA111", source) == []


def test_none_algorithm_in_a_tuple_any_case():
    source = """
    import jwt

    def read(token, key):
        return jwt.decode(token, key, algorithms=("HS256", "NONE"))
    """
    assert lines("FBA113", source) == [5]


@pytest.mark.parametrize("build", [
    'payload = {**claims, "sub": user_id}',
    'payload = {"sub": user_id}\n        payload.setdefault("exp", deadline)',
    'payload = {"sub": user_id}\n        payload.update(extra_claims)',
    'payload = dict(sub=user_id, exp=deadline)',
])
def test_expiry_added_in_ways_the_rule_accepts(build):
    source = f"""
    import jwt

    def issue(user_id, claims, extra_claims, deadline, key):
        {build}
        return jwt.encode(payload, key, algorithm="HS256")
    """
    assert findings("FBA114", source) == []


def test_token_without_expiry_at_module_level():
    source = """
    import jwt

    SERVICE_TOKEN = jwt.encode({"sub": "cron", "role": "service"}, open("key.pem").read(), algorithm="RS256")
    """
    assert lines("FBA114", source) == [4]


# --- secrets ---------------------------------------------------------------------------------------

def test_secret_finding_points_at_the_literal():
    source = """
    from pydantic_settings import BaseSettings

    class Settings(BaseSettings):
        PROJECT_NAME: str = "Items"
        JWT_SECRET: str = "k2P9xq7LmN4vB8rT"
    """
    [finding] = findings("FBA401", source)
    assert (finding.line, finding.column) == (6, 23)
    assert "JWT_SECRET" in finding.message


@pytest.mark.parametrize("line", [
    'DONE_TOKEN = "done."',
    'WORD_TOKEN = r"[^\\W\\d]\\w*"',
    'CONTEXT_KEY = "ApplyTypeAnnotationsVisitor"',
    'SECRET_KEY = "your-secret-key-here"',
    'SECRET_KEY = os.getenv("SECRET_KEY", "changethis")',
    'API_KEY_ENV = "MYAPP_API_KEY"',
    'PASSWORD_RESET_TOKEN_EXPIRE_HOURS = "48"',
    'fake_users_db = {"johndoe": {"hashed_password": "$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW"}}',
    'schema_extra = Field(json_schema_extra={"examples": [{"password": "hunter22"}]})',
    'HEADERS = {"cryptography.hazmat.primitives.asymmetric.rsa.generate_private_key": "RSA"}',
])
def test_secret_look_alikes_pass(line):
    assert findings("FBA401", f"import os\nfrom pydantic import Field\n{line}\n") == []


@pytest.mark.parametrize("line", [
    'KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"',
    'client = Client(client_secret="Zq8-3nVt_92LmXcQ")',
    'config = {"api_key": "k-73hfJ29dk2LmQ"}',
    'def connect(user="app", password="Pa55word!"): ...',
    'settings.SECRET_KEY = "0c1b2a39f8e7d6c5"',
])
def test_secret_shapes_found(line):
    assert len(findings("FBA401", f"{line}\n")) == 1


def test_test_files_only_report_known_credential_formats():
    source = """
    PASSWORD = "testpass123"
    AWS_KEY = "AKIAQ3EGRF7MZJXW2V4N"
    DOCS_KEY = "AKIAIOSFODNN7EXAMPLE"
    """
    assert lines("FBA401", source, "tests/api/test_login.py") == [3]
    assert lines("FBA401", source, "app/core/keys.py") == [2, 3]


def test_inline_suppression_silences_a_secret():
    source = 'SECRET_KEY = "k2P9xq7LmN4vB8rT"  # fba: ignore[FBA401]\n'
    assert findings("FBA401", source) == []


@pytest.mark.parametrize(("line", "found"), [
    ('URL = "postgresql://app:p%40ss-w0rd@db/app"', True),
    ('URL = f"mysql://root:toor123@{host}/app"', True),
    ('URL = "postgresql://%s:%s@%s/app" % (user, password, host)', False),
    ('URL = "mongodb://localhost:27017/app"', False),
    ('MSG = "see https://example.com/a:b@c"', False),
])
def test_credentials_in_url_shapes(line, found):
    assert bool(findings("FBA402", f"{line}\n")) is found


def test_example_urls_in_docstrings_pass():
    source = '''
    def connect(url: str):
        """Connect, e.g. connect("postgresql://scott:tiger@localhost/test")."""
    '''
    assert findings("FBA402", source) == []


# --- cors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "found"), [
    ('app = CORSMiddleware(inner, allow_origins=["*"], allow_credentials=True)', True),
    ('app.add_middleware(CORSMiddleware, allow_origin_regex=".*", allow_credentials=True)', True),
    ('app.add_middleware(CORSMiddleware, allow_origin_regex=r"https://.*\\.example\\.com", allow_credentials=True)', False),
    ('app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=False)', False),
    ('app.add_middleware(GZipMiddleware, allow_origins=["*"], allow_credentials=True)', False),
])
def test_cors_configurations(call, found):
    source = f"""
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.middleware.gzip import GZipMiddleware

    app = FastAPI()
    inner = app
    {call}
    """
    assert bool(findings("FBA403", source)) is found


# --- error leaks -----------------------------------------------------------------------------------

def test_validation_handler_registered_with_add_exception_handler_may_echo_errors():
    source = """
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import PlainTextResponse

    async def on_invalid(request, exc):
        return PlainTextResponse(str(exc), status_code=400)

    app = FastAPI()
    app.add_exception_handler(RequestValidationError, on_invalid)
    """
    assert findings("FBA404", source) == []


def test_narrow_exception_leak_is_reported_with_lower_confidence():
    source = """
    from fastapi import HTTPException

    def fetch_rate(client, currency: str) -> float:
        try:
            return client.rate(currency)
        except TimeoutError as e:
            raise HTTPException(502, f"rate service: {e}")
    """
    [finding] = findings("FBA404", source)
    assert finding.line == 8 and finding.confidence < 1.0


def test_a_value_error_describes_the_value_and_is_not_reported():
    source = """
    from fastapi import HTTPException

    def parse_amount(text: str) -> int:
        try:
            return int(text)
        except ValueError as e:
            raise HTTPException(400, f"bad amount: {e}")
    """
    assert findings("FBA404", source) == []


def test_returning_exception_text_from_a_plain_helper_is_not_a_response():
    source = """
    def describe(job):
        try:
            job.run()
        except Exception as e:
            return str(e)
        return "ok"
    """
    assert findings("FBA404", source) == []


@pytest.mark.parametrize(("source", "found"), [
    ("import uvicorn\nuvicorn.run('app.main:app', debug=False)\n", False),
    ("class S:\n    debug = False\nsettings = S()\nsettings.debug = True\n", False),
    ("from starlette.applications import Starlette\napp = Starlette(debug=True)\n", True),
])
def test_debug_shapes(source, found):
    assert bool(findings("FBA405", source)) is found


# --- password storage ------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "found"), [
    ("user.password = body.password\n    session.add(user)", True),
    ("digest = hashlib.new('md5', body.password.encode()).hexdigest()", True),
    ("token_hash = hashlib.sha256(body.reset_token.encode()).hexdigest()", False),
    ("user = authenticate(session, email=body.email, password=body.password)", False),
    ("user.hashed_password = hasher.hash(body.password.get_secret_value())", False),
    ("user.hashed_password = body.password.get_secret_value()", True),
])
def test_password_storage_shapes(body, found):
    source = f"import hashlib\n\ndef handle(session, user, body, hasher):\n    {body}\n"
    assert bool(findings("FBA406", source)) is found


# --- injection -------------------------------------------------------------------------------------

def test_sql_built_in_a_loop_with_augmented_assignment():
    source = """
    from sqlalchemy import text

    def search(session, filters: dict):
        sql = "SELECT * FROM item WHERE 1=1"
        for column, value in filters.items():
            sql += f" AND {column} = '{value}'"
        return session.execute(text(sql)).all()
    """
    assert lines("FBA303", source) == [8]


@pytest.mark.parametrize("body", [
    'return client.fetch(f"https://api.example.com/users/{user_id}")',
    'return cursor.execute("SELECT * FROM users WHERE id = %s", (user_id,))',
    'assert user_id in ALLOWED\n    return conn.execute(f"SELECT * FROM {user_id}")',
    'return session.execute(text("SELECT * FROM " + TABLE + " LIMIT 5"))',
])
def test_sql_look_alikes_pass(body):
    source = f"""
from sqlalchemy import text

TABLE = "items"
ALLOWED = {{"a", "b"}}

def handle(client, cursor, conn, session, user_id):
    {body}
"""
    assert findings("FBA303", source) == []


def test_shell_calls_resolved_through_aliases():
    source = """
    import subprocess as sp
    from os import system

    def run(name: str):
        sp.check_output("echo " + name, shell=True)
        system(f"rm -rf /tmp/{name}")
        sp.run(["echo", name])
    """
    assert lines("FBA304", source) == [6, 7]


@pytest.mark.parametrize(("source", "found"), [
    ('db_obj = User.model_validate(user_in, update={"hashed_password": user_in.password})', True),
    ('db_obj = User.model_validate(user_in, update={"hashed_password": get_password_hash(user_in.password)})', False),
    ('extra["hashed_password"] = data.pop("password")', True),
    ('extra["hashed_password"] = get_password_hash(data.pop("password"))', False),
    ('form = {"password": user_in.password}', False),
])
def test_password_hash_fields_written_as_dict_entries(source, found):
    assert bool(findings("FBA406", f"{source}\n")) is found


def test_a_returned_leaking_response_is_one_finding_at_the_response():
    source = """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.get("/run")
    async def run():
        try:
            return await work()
        except Exception as exc:
            return JSONResponse(
                status_code=400,
                content={"detail": str(exc)},
            )

    @app.exception_handler(RuntimeError)
    async def on_value_error(request, exc):
        return JSONResponse(status_code=400, content={"detail": str(exc)})
    """
    leaks = findings("FBA404", source)
    assert [(f.line, f.column) for f in leaks] == [(12, 16), (19, 12)]  # the calls, not also the returns

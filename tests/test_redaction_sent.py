"""Redaction of what is actually sent to the model: numbered `read_file` lines, `path:line:` search
matches, test output, known key formats anywhere, and the widened secret deny-list. Test secrets
are assembled at run time, never stored whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.context.files import RepoFiles
from agent.context.redact import redact
from agent.errors import InputError
from agent.llm.client import ModelClient
from tests.fakeapi import text_reply, tool_reply
from agent.llm.loop import Limits, Prompt, run_tool_loop
from agent.llm.tools import Tool, read_only_tools

ENV_SECRET = "correct-" + "horse-battery-9"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_TEST = "sk_test_" + "51HabcdefGHIJKLmnop"
RESTRICTED = "rk_live_" + "51Habcdefghijklmno"
OPENAI = "sk-" + "proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2"
GENERIC_SK = "sk-" + "abcdefghijklmnopqrstuvwx"
JWT = "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"
AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GCP = "AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
AZURE = "Zm9vYmFyYmF6cXV4" + "Zm9vYmFyYmF6cXV4Zm9vYmFy=="
GITLAB = "glpat-" + "abcdefghij0123456789"
PEM_BODY = "MIIEowIBAAKCAQEA7" + "bcdefghijklmnopqrstu"
PEM = "-----BEGIN RSA " + f"PRIVATE KEY-----\n{PEM_BODY}\nQUJDREVGR0hJSktMTU5PUFFS\n-----END RSA " + "PRIVATE KEY-----"
URL_PASSWORD = "s3cr3t-" + "pw-77"

PREFIXED = [
    # read_file numbers lines: the `.env`-style pattern must not be anchored at the line start
    (f"     3\tDB_PASSWORD={ENV_SECRET}", ENV_SECRET),
    (f"    12\texport API_TOKEN={ENV_SECRET}", ENV_SECRET),
    # search answers `path:line: text`
    (f"deploy/app.cfg:4: SECRET_KEY={ENV_SECRET}", ENV_SECRET),
    # test output: a printed environment, an assertion message
    (f"E   AssertionError: env was HOME=/root DB_PASSWORD={ENV_SECRET} PATH=/bin", ENV_SECRET),
    (f"{{'DB_PASSWORD': '{ENV_SECRET}', 'HOME': '/root'}}", ENV_SECRET),
    # YAML and ini, unquoted
    (f"     7\t    password: {ENV_SECRET}", ENV_SECRET),
    (f"api_key = {ENV_SECRET}  # prod", ENV_SECRET),
]

KNOWN_FORMATS = [
    (f"stripe.api_key = os.getenv('STRIPE', '{STRIPE}')", STRIPE, "stripe key"),
    (f"Use `{STRIPE_TEST}` in the sandbox.", STRIPE_TEST, "stripe key"),
    (f"- restricted key: {RESTRICTED}", RESTRICTED, "stripe key"),
    (f"client = OpenAI(api_key={OPENAI!r})", OPENAI, "api key"),
    (f"curl -H 'x-key: {GENERIC_SK}'", GENERIC_SK, "api key"),
    (f"| token | `{JWT}` |", JWT, "jwt"),
    (f"AWS_KEY_ID {AWS}", AWS, "aws key"),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws secret key"),
    (f"const key = '{GCP}';", GCP, "gcp key"),
    (f"conn = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey={AZURE};'", AZURE, "azure key"),
    (f"GITLAB {GITLAB}", GITLAB, "gitlab token"),
    (f"```\n{PEM}\n```", PEM_BODY, "private key"),
    (f'"private_key": "{PEM}"'.replace("\n", "\\n"), PEM_BODY, "private key"),
    (f"See postgres://app:{URL_PASSWORD}@db:5432/app in the README", URL_PASSWORD, "url password"),
]


@pytest.mark.parametrize("text, secret", PREFIXED)
def test_assignments_after_line_number_and_path_prefixes_are_redacted(text, secret):
    clean, count = redact(text)
    assert secret not in clean
    assert "[REDACTED password]" in clean
    assert count == 1


@pytest.mark.parametrize("text, secret, kind", KNOWN_FORMATS)
def test_known_key_formats_are_redacted_anywhere_with_a_marker(text, secret, kind):
    clean, count = redact(text)
    assert secret not in clean
    assert f"[REDACTED {kind}]" in clean  # the fact that a literal is there stays visible
    assert count >= 1


def test_a_private_key_cut_by_a_line_range_is_still_redacted():
    shown = "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(PEM.splitlines()[:3], start=10))
    clean, count = redact(shown + "\n    13\t    return settings")
    assert PEM_BODY not in clean and "QUJDREVGR0hJSktMTU5PUFFS" not in clean
    assert clean.endswith("    13\t    return settings")
    assert count == 1


@pytest.mark.parametrize("text", [
    "oauth2_scheme = OAuth2PasswordBearer(tokenUrl=\"/api/v1/login/access-token\")",
    "oauth2_scheme = OAuth2PasswordBearer(tokenUrl=f\"{settings.API_V1_STR}/login/access-token\")",
    "    12\t    password: SecretStr",
    "    13\t    access_token: str",
    "    14\tSECRET_KEY = settings.secret_key",
    "    15\tresult = login(password=form_data.password)",
    "app/core/config.py:9: SECRET_KEY: str = secrets.token_urlsafe(32)",
])
def test_ordinary_code_with_prefixes_is_left_alone(text):
    assert redact(text) == (text, 0)


def test_counts_are_one_per_secret():
    text = f"     1\tDB_PASSWORD={ENV_SECRET}\n     2\tSTRIPE={STRIPE}\n     3\tJWT={JWT}\n"
    clean, count = redact(text)
    assert count == 3
    assert redact(clean) == (clean, 0)


# -- the deny-list -----------------------------------------------------------------------------

DENIED = ["deploy/prod.env", "certs/server.pem", "certs/server.key", "home/id_rsa", "home/id_rsa.pub",
          ".netrc", "credentials.json", "config/gcp-credentials.json", "config/my-service-account.json",
          "config/service_account_prod.json", "client_secret_123.apps.json", ".env.production"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    (root / "deploy").mkdir()
    (root / "deploy" / "settings.cfg").write_text(f"[db]\nDB_PASSWORD={ENV_SECRET}\nHOST=db\n")
    (root / "docs").mkdir()
    (root / "docs" / "setup.md").write_text(f"# Setup\n\nexport STRIPE_KEY={STRIPE}\nThe token `{JWT}`.\n")
    for path in DENIED:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"SECRET={ENV_SECRET}\n")
    return root


@pytest.mark.parametrize("path", DENIED)
def test_secret_files_are_deny_listed_by_default(repo, path):
    files = RepoFiles(repo)
    with pytest.raises(InputError, match="deny-list"):
        files.read_file(path)
    assert path not in files.list_files().splitlines()
    assert path not in files.search("SECRET")


def test_an_ordinary_json_file_is_not_deny_listed(repo):
    (repo / "app" / "schema.json").write_text('{"title": "Item"}\n')
    assert "Item" in RepoFiles(repo).read_file("app/schema.json")


# -- end to end: what the fake API receives ---------------------------------------------------

PROMPT = Prompt(persona="You are the FastAPI persona.", task="Answer questions.")
MODEL = "claude-sonnet-5-5"


def _run(fake_api, repo, tools, events):
    client = ModelClient(api_key="test-key", base_url=fake_api.url, max_retries=0)
    return run_tool_loop(client, MODEL, PROMPT, "Where is the database configured?", tools, Limits(), events.append)


def test_read_file_and_search_results_reach_the_api_redacted(fake_api, repo):
    fake_api.script(
        tool_reply(("read_file", {"path": "deploy/settings.cfg"}), ("search", {"pattern": "STRIPE|DB_PASSWORD"}),
                   ("read_file", {"path": "docs/setup.md"})),
        text_reply("It is in deploy/settings.cfg."),
    )
    events: list = []
    result = _run(fake_api, repo, read_only_tools(RepoFiles(repo)), events)
    sent = json.dumps([r.body for r in fake_api.requests])
    for secret in (ENV_SECRET, STRIPE, JWT):
        assert secret not in sent
    contents = [b["content"] for b in fake_api.requests[1].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert contents[0] == "     1\t[db]\n     2\tDB_PASSWORD=[REDACTED password]\n     3\tHOST=db"
    assert "deploy/settings.cfg:2: DB_PASSWORD=[REDACTED password]" in contents[1]
    assert "docs/setup.md:3: export STRIPE_KEY=[REDACTED stripe key]" in contents[1]
    assert "[REDACTED jwt]" in contents[2]
    assert result.redactions == 5  # 1 + 2 + 2, each counted


def test_test_output_sent_back_to_the_model_is_redacted(fake_api, repo):
    output = (f"$ pytest -q  -> FAILED (exit 1)\nE   AssertionError: {{'DB_PASSWORD': '{ENV_SECRET}'}}\n"
              f"----- Captured stdout call -----\nHOME=/tmp STRIPE_SECRET={STRIPE}\n")
    tests = Tool("run_tests", "Run the tests.", {"type": "object", "properties": {}}, lambda i: output)
    fake_api.script(tool_reply(("run_tests", {})), text_reply("The test fails."))
    events: list = []
    result = _run(fake_api, repo, [tests], events)
    sent = json.dumps(fake_api.requests[1].body)
    assert ENV_SECRET not in sent and STRIPE not in sent
    assert result.redactions == 2


API_KEY = "sk-ant-" + "api03-" + "Zq8Lm2Nx7Pw4Rt6Yv1Bc3Df5Gh9Jk0"


def test_the_api_key_is_redacted_even_reversed(fake_api, repo):
    printed = f"env: ANTHROPIC_API_KEY is {API_KEY[7:]}\nreversed: {API_KEY[::-1]}\n"
    tests = Tool("run_tests", "Run the tests.", {"type": "object", "properties": {}}, lambda i: printed)
    fake_api.script(tool_reply(("run_tests", {})), text_reply("Done."))
    client = ModelClient(api_key=API_KEY[7:], base_url=fake_api.url, max_retries=0)
    result = run_tool_loop(client, MODEL, PROMPT, "Run the tests", [tests], Limits(), lambda e: None)
    sent = json.dumps(fake_api.requests[1].body)
    assert API_KEY[7:] not in sent and API_KEY[::-1][:-7] not in sent
    assert result.redactions >= 2


def test_short_known_values_are_not_treated_as_secrets():
    assert redact("the test-key fixture", known=("test-key",)) == ("the test-key fixture", 0)

"""Redaction of secret-looking values (test secrets are assembled at run time, never stored whole)."""

from __future__ import annotations

import pytest

from agent.context.redact import redact

AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
GCP = "AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
ANTHROPIC = "sk-ant-" + "api03-" + "x" * 40
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK = "xoxb-" + "123456789012-abcdefABCDEF"
JWT = "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"
PEM = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabcdef\n-----END RSA " + "PRIVATE KEY-----"

SECRETS = [
    (f"key = {AWS}", AWS),
    (f"GOOGLE = '{GCP}'", GCP),
    (f"client = Anthropic(api_key={ANTHROPIC!r})", ANTHROPIC),
    (f"token: {GITHUB}", GITHUB),
    (f"SLACK={SLACK}", SLACK),
    (f"cookie {JWT}", JWT),
    (PEM, "MIIEowIBAAKCAQEA7"),
    ("Authorization: Bearer abcdefghijklmnop1234567890", "abcdefghijklmnop1234567890"),
    ("DATABASE_URL = 'postgresql://app:s3cr3t-pw@db:5432/app'", "s3cr3t-pw"),
    ('password = "hunter2hunter2"', "hunter2hunter2"),
    ('SECRET_KEY: str = "change-me-please"', "change-me-please"),
    ('{"client_secret": "abc123xyz"}', "abc123xyz"),
    ("DB_PASSWORD=correct-horse", "correct-horse"),
    ("export STRIPE_API_KEY=rk_live_abcdef", "rk_live_abcdef"),
]


@pytest.mark.parametrize("text, secret", SECRETS)
def test_secret_values_are_replaced_and_counted(text, secret):
    clean, count = redact(text)
    assert secret not in clean
    assert "[REDACTED" in clean
    assert count >= 1


def test_structure_around_a_secret_stays_visible():
    clean, count = redact('password = "hunter2hunter2"\nuser = "bob"')
    assert clean == 'password = "[REDACTED password]"\nuser = "bob"'
    assert count == 1


def test_count_is_the_number_of_secrets():
    text = f"a = '{AWS}'\nb = '{GITHUB}'\npassword = 'hunter2hunter2'\n"
    assert redact(text)[1] == 3


@pytest.mark.parametrize("text", [
    "def get_password_hash(password: str) -> str:",
    "password = os.environ['PASSWORD']",
    "token = Depends(oauth2_scheme)",
    "url = 'https://example.com/path'",
    "SECRET_KEY = settings.secret_key",
])
def test_ordinary_code_is_left_alone(text):
    assert redact(text) == (text, 0)


def test_redacting_twice_changes_nothing_more():
    once, _ = redact('password = "hunter2hunter2"')
    assert redact(once) == (once, 0)

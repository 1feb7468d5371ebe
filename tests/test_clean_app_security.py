"""The security rules are silent on the realistic app in tests/fixtures/clean_app, and breaking it once
per security category (jwt, secrets, cors, error-leak, password-storage, injection) is found in the
right file by the right rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analysis.runner import ReviewOptions, review_sources

APP = Path(__file__).parent / "fixtures" / "clean_app"
SECURITY = ReviewOptions(select=("jwt", "secrets", "cors", "error-leak", "password-storage", "injection"), preview=True)


def _sources() -> dict[str, str]:
    return {p.relative_to(APP).as_posix(): p.read_text() for p in sorted(APP.rglob("*.py"))}


def _mutated(path: str, old: str, new: str) -> dict[str, str]:
    sources = _sources()
    assert sources[path].count(old) == 1, f"mutation anchor not found once in {path}: {old!r}"
    sources[path] = sources[path].replace(old, new)
    return sources


def test_clean_app_is_clean_for_the_security_rules():
    result = review_sources(_sources(), SECURITY)
    assert result.skipped == ()
    assert [f"{f.rule} {f.path}:{f.line} {f.message}" for f in result.findings] == []


MUTATIONS = [
    pytest.param("app/api/deps.py",
                 "jwt.decode(token, settings.SECRET_KEY, algorithms=[security.ALGORITHM])",
                 'jwt.decode(token, options={"verify_signature": False})',
                 "FBA111", id="jwt-unverified"),
    pytest.param("app/core/security.py",
                 "jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM])",
                 "jwt.decode(token, settings.SECRET_KEY)",
                 "FBA112", id="jwt-no-algorithms"),
    pytest.param("app/core/security.py", 'ALGORITHM = "HS256"', 'ALGORITHM = "none"', "FBA113", id="jwt-none"),
    pytest.param("app/core/security.py",
                 'to_encode = {"exp": expire, "sub": str(subject)}',
                 'to_encode = {"sub": str(subject)}',
                 "FBA114", id="jwt-no-expiry"),
    pytest.param("app/core/config.py",
                 "SECRET_KEY: str = secrets.token_urlsafe(32)",
                 'SECRET_KEY: str = "a3f1c9e07b5d4e2f8a6c1d9b3e7f0a2c"',
                 "FBA401", id="secret-literal"),
    pytest.param("app/core/config.py",
                 "    POSTGRES_DB: str = \"\"\n",
                 "    POSTGRES_DB: str = \"\"\n    DATABASE_URL: str = \"postgresql://app:Xk9-pw4prod@db.internal/app\"\n",
                 "FBA402", id="credentials-in-url"),
    pytest.param("app/main.py",
                 "allow_origins=settings.all_cors_origins,",
                 'allow_origins=["*"],',
                 "FBA403", id="cors-wildcard"),
    pytest.param("app/api/deps.py",
                 "    except (InvalidTokenError, ValidationError):\n        raise credentials_error\n",
                 "    except (InvalidTokenError, ValidationError) as e:\n"
                 "        raise HTTPException(status_code=401, detail=f\"Invalid token: {e}\")\n",
                 "FBA404", id="exception-detail"),
    pytest.param("app/main.py",
                 "app = FastAPI(\n",
                 "app = FastAPI(\n    debug=True,\n",
                 "FBA405", id="debug"),
    pytest.param("app/crud.py",
                 'update={"hashed_password": get_password_hash(user_create.password)}',
                 'update={"hashed_password": user_create.password}',
                 "FBA406", id="plaintext-password"),
    pytest.param("app/services/reports.py",
                 'session.execute(ITEMS_PER_OWNER, {"owner_id": owner_id})',
                 "session.execute(text(f\"SELECT count(*) AS items FROM item WHERE owner_id = '{owner_id}'\"))",
                 "FBA303", id="sql-fstring"),
    pytest.param("app/services/reports.py",
                 'subprocess.run(["gzip", "--keep", "--force", str(path)], check=True)',
                 'subprocess.run(f"gzip --keep --force {path}", shell=True, check=True)',
                 "FBA304", id="shell-fstring"),
]


@pytest.mark.parametrize(("path", "old", "new", "rule"), MUTATIONS)
def test_each_broken_category_is_found_in_the_broken_file(path, old, new, rule):
    result = review_sources(_mutated(path, old, new), SECURITY)
    found = {(f.rule, f.path) for f in result.findings}
    assert found == {(rule, path)}, found

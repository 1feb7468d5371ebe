"""Includes spelled as dict literals (`include_router(**spec)`) and sign-in routes named by their
body: full paths and auth in `fba routes`, and what FBA101 still reports (the rule examples)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from agent.analysis.rules.route_without_auth import RouteWithoutAuth
from agent.analysis.runner import ReviewOptions, review_sources
from tests.test_routes import by_route, inventory


def _write(root: Path, sources: dict[str, str]) -> Path:
    for path, text in sources.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return root


def _spread_example() -> dict[str, str]:
    return next(e for e in RouteWithoutAuth.VALID if isinstance(e, dict) and "app/routes/jobs.py" in e)


def test_spread_includes_give_full_paths_and_auth(tmp_path: Path):
    routes = by_route(inventory(_write(tmp_path, _spread_example())))
    users = routes[("GET", "/v1/users")]  # `GET ""` under the dict's prefix, not `GET /`
    assert users["auth"]["status"] == "authenticated"
    assert any(v["dependency"] == "get_admin_user" for v in users["auth"]["via"])
    assert routes[("DELETE", "/v1/users/{id}")]["auth"]["status"] == "authenticated"
    assert routes[("POST", "/v1/jobs/{id}/stop")]["auth"]["via"][0]["dependency"] == "get_current_user"
    # `"dependencies": OWNER_ONLY` (a module-level list), on the router without auth of its own
    assert routes[("POST", "/models")]["auth"]["via"][0]["dependency"] == "get_current_user"
    assert routes[("POST", "/token/cli")]["auth"] == {"status": "public", "via": [],
                                                     "reason": "sign-in flow (takes a LoginBody body)"}


def _findings(code: str, example: dict[str, str]) -> list:
    result = review_sources({p: textwrap.dedent(t) for p, t in example.items()}, ReviewOptions(select=(code,)))
    return [f for f in result.findings if f.rule == code]


def test_spread_without_auth_and_a_body_that_only_mentions_login_stay_reported():
    example = next(e for e in RouteWithoutAuth.INVALID if isinstance(e, dict) and "LoginEvent" in e.get("app/routes/users.py", ""))
    found = sorted((f.path, f.line) for f in _findings("FBA101", example))
    assert found == [("app/routes/users.py", 5), ("app/routes/users.py", 9)]

"""`fba routes` (the route inventory contract in DESIGN.md) and runtime truth with `--app`."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
STATUSES = {"authenticated", "public", "missing", "unknown"}
ATTACHED = {"handler", "route", "router", "include", "app"}
ROUTE_SCHEMA = {
    "type": "object",
    "required": ["version", "routes"],
    "properties": {
        "version": {"const": 1},
        "routes": {"type": "array", "items": {
            "type": "object",
            "required": ["method", "path", "handler", "file", "line", "auth", "principal", "owner_scope", "source"],
            "additionalProperties": False,
            "properties": {
                "method": {"type": "string"}, "path": {"type": "string", "pattern": "^/"},
                "handler": {"type": "string"}, "file": {"type": "string"}, "line": {"type": "integer"},
                "auth": {"type": "object", "required": ["status", "via", "reason"], "additionalProperties": False,
                         "properties": {
                             "status": {"enum": sorted(STATUSES)},
                             "reason": {"type": ["string", "null"]},
                             "via": {"type": "array", "items": {
                                 "type": "object", "required": ["dependency", "attached", "file", "line"],
                                 "additionalProperties": False,
                                 "properties": {"dependency": {"type": "string"}, "attached": {"enum": sorted(ATTACHED)},
                                                "file": {"type": "string"}, "line": {"type": "integer"}}}}}},
                "principal": {"type": ["string", "null"]},
                "owner_scope": {"type": "array", "items": {"type": "string"}},
                "source": {"enum": ["static", "runtime"]},
            }}},
    },
}
needs_fastapi = pytest.mark.skipif(importlib.util.find_spec("fastapi") is None,
                                   reason="fastapi is not installed (pip install -e '.[test]')")


def fba(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FBA_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


def inventory(cwd: Path, *args: str) -> dict:
    done = fba(cwd, "routes", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    import jsonschema

    jsonschema.validate(document, ROUTE_SCHEMA)
    return document


def by_route(document: dict) -> dict[tuple[str, str], dict]:
    return {(r["method"], r["path"]): r for r in document["routes"]}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The runtime fixture app outside this repository (whose config excludes tests/fixtures)."""
    target = tmp_path / "shop_app"
    shutil.copytree(FIXTURES / "runtime_app", target)
    return target


def test_static_inventory_says_how_each_route_is_authenticated(shop: Path):
    routes = by_route(inventory(shop))
    items = routes[("GET", "/items/")]
    assert items["auth"]["status"] == "authenticated" and items["source"] == "static"
    assert items["auth"]["via"] == [{"dependency": "get_current_user", "attached": "include",
                                     "file": "shop/main.py", "line": 8}]  # added by the helper `register(app)`
    assert routes[("GET", "/v1/orders")]["auth"]["via"][0]["attached"] == "router"  # an APIRouter subclass
    # ... whose prefix its __init__ sets from the call's argument (`VersionedRouter(1)`)
    mine = routes[("GET", "/items/mine")]
    assert mine["auth"]["via"][0] == {"dependency": "CURRENT", "attached": "handler", "file": "shop/routers/items.py", "line": 14}
    assert mine["principal"] == "dict"
    assert routes[("DELETE", "/items/{item_id}")]["auth"]["via"][0]["dependency"] == "require_role"
    assert routes[("POST", "/login")]["auth"] == {"status": "public", "via": [], "reason": "sign-in flow (login)"}
    daily = routes[("GET", "/admin/reports/daily")]  # mounted sub-application: the prefix applies
    assert daily["auth"]["status"] == "missing" and daily["auth"]["reason"]


def test_text_and_markdown_list_the_same_routes(shop: Path):
    text = fba(shop, "routes")
    markdown = fba(shop, "routes", "shop", "--format", "markdown")
    assert text.returncode == markdown.returncode == 0, text.stderr + markdown.stderr
    assert "/admin/reports/daily" in text.stdout and "missing" in text.stdout and "7 routes" in text.stdout
    assert markdown.stdout.startswith("| method | path |") and "`/items/{item_id}`" in markdown.stdout


def test_bundled_example_inventory():
    routes = by_route(inventory(REPO, "examples"))
    assert routes[("GET", "/admin/stats")]["auth"]["status"] == "missing"
    assert routes[("GET", "/admin/stats")]["owner_scope"] == ["Task.owner_id"]
    assert routes[("GET", "/tasks/")]["principal"] == "CurrentUser"
    assert {r["auth"]["status"] for r in routes.values()} == {"authenticated", "public", "missing"}


def test_real_world_fixtures_inventory(tmp_path: Path):
    template = tmp_path / "template"
    shutil.copytree(FIXTURES / "real_world" / "full_stack_template", template)
    routes = by_route(inventory(template))
    assert routes[("POST", "/api/v1/login/access-token")]["auth"]["status"] == "public"
    read_item = routes[("GET", "/api/v1/items/{id}")]
    assert read_item["auth"]["status"] == "authenticated" and read_item["principal"] == "CurrentUser"
    assert read_item["owner_scope"] == ["Item.owner_id"]
    bigger = tmp_path / "bigger"
    shutil.copytree(FIXTURES / "real_world" / "fastapi_docs" / "bigger_applications", bigger)
    for route in inventory(bigger)["routes"]:
        assert route["auth"]["status"] == "authenticated", route  # the app-level X-Token query check
        assert route["auth"]["via"][-1]["attached"] == "app"


def test_usage_errors_are_one_line_and_exit_2(shop: Path):
    for args in (["routes", "--compare"], ["routes", "--format", "sarif"], ["routes", "--app", "not a ref"]):
        done = fba(shop, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@needs_fastapi
def test_runtime_inventory_reads_fastapis_own_table(shop: Path):
    routes = by_route(inventory(shop, "--app", "shop.main:app"))
    assert {r["source"] for r in routes.values()} == {"runtime"}
    orders = routes[("GET", "/v1/orders")]  # the subclass adds its prefix in __init__
    assert orders["auth"]["status"] == "authenticated" and orders["file"] == "shop/routers/orders.py"
    delete = routes[("DELETE", "/items/{item_id}")]
    assert {v["dependency"] for v in delete["auth"]["via"]} == {"get_current_user", "checker"}
    assert routes[("GET", "/admin/reports/daily")]["auth"]["status"] == "missing"
    assert routes[("GET", "/health")]["auth"]["status"] == "public"


@needs_fastapi
def test_compare_lists_where_static_and_runtime_disagree(shop: Path):
    orders = shop / "shop" / "routers" / "orders.py"  # a version computed at run time: only runtime knows
    orders.write_text(orders.read_text().replace("VersionedRouter(1,", "VersionedRouter(int('1'),"))
    document = inventory(shop, "--app", "shop.main:app", "--compare")
    assert document["agreement"] == {"routes": 7, "agree": 6, "ratio": 0.857}
    [disagreement] = document["disagreements"]
    assert disagreement["kind"] == "differs" and disagreement["path"] == "/v1/orders"
    assert "static /orders vs runtime /v1/orders" in disagreement["detail"]


@needs_fastapi
def test_review_with_app_takes_route_facts_from_fastapi(shop: Path):
    billing = shop / "shop" / "routers" / "billing.py"
    billing.write_text(
        "from fastapi import APIRouter, Depends\n"
        "from shop.security import get_current_user\n\n"
        "router = APIRouter(prefix='/billing')\n"
        "router.dependencies.append(Depends(get_current_user))  # invisible to the static engine\n\n\n"
        "@router.get('/invoices')\n"
        "def invoices() -> list[dict]:\n"
        "    return []\n",
        encoding="utf-8",
    )
    main = shop / "shop" / "main.py"
    main.write_text(main.read_text(encoding="utf-8").replace(
        "from shop.routers import items, orders, reports",
        "from shop.routers import billing, items, orders, reports") + "\napp.include_router(billing.router)\n",
        encoding="utf-8")

    def flagged(*args: str) -> set[str]:
        done = fba(shop, "review", ".", "--select", "FBA101", "--format", "json", "--static-only", *args)
        assert done.returncode in (0, 1), done.stderr
        return {f["message"].split(" has ")[0] for f in json.loads(done.stdout)["findings"]}

    assert flagged("--no-cache") == {"GET /billing/invoices", "GET /admin/reports/daily"}
    assert flagged("--app", "shop.main:app") == {"GET /admin/reports/daily"}


@needs_fastapi
def test_an_app_that_fails_to_import_is_a_usage_error(shop: Path):
    (shop / "broken.py").write_text("raise RuntimeError('no database configured')\n", encoding="utf-8")
    done = fba(shop, "routes", "--app", "broken:app")
    assert done.returncode == 2
    assert "importing the application failed: RuntimeError: no database configured" in done.stderr


def test_a_route_never_gets_both_no_authentication_and_no_rate_limit():
    from agent.analysis.runner import ReviewOptions, review_sources

    source = (
        "from fastapi import APIRouter, Depends\n"
        "from app.deps import get_current_user\n\n"
        "router = APIRouter()\n\n"
        "@router.get('/me')\n"
        "def me(user=Depends(get_current_user)) -> dict:\n    return {}\n\n"
        "@router.post('/login-ldap')\n"
        "def login_ldap(form: LdapForm) -> dict:\n    return {}\n\n"
        "@router.put('/users/{user_id}/password')\n"
        "def set_password(user_id: int, body: PasswordIn) -> None:\n    return None\n"
    )
    result = review_sources({"app/routes.py": source}, ReviewOptions(select=("FBA101", "FBA407")))
    rules_by_line: dict[int, set[str]] = {}
    for finding in result.findings:
        rules_by_line.setdefault(finding.line, set()).add(finding.rule)
    assert rules_by_line == {10: {"FBA407"}, 14: {"FBA101"}}

"""A router class of the project that sets its prefix in `__init__`: full paths carry it, in the
index (`fba routes`, the inventory) and in the rules' messages."""

from __future__ import annotations

import ast
import textwrap

from agent.analysis.facts import extract_facts, module_name
from agent.analysis.index import ProjectIndex
from agent.analysis.inventory import static_entries
from agent.analysis.runner import ReviewOptions, review_sources

ROUTING = """
from fastapi import APIRouter

API = "/api"

class V1Router(APIRouter):
    def __init__(self, **kwargs):
        super().__init__(prefix="/v1", **kwargs)

class VersionedRouter(APIRouter):
    def __init__(self, version: int, area: str = "shop", **kwargs):
        super().__init__(prefix=API + f"/v{version}/{area}", **kwargs)
"""

ROUTES = """
from app.routing import V1Router, VersionedRouter

router = V1Router(tags=["items"])
orders = VersionedRouter(2)
billing = VersionedRouter(3, area="billing")
legacy = VersionedRouter(compute_version())

@router.get("/items")
def list_items():
    return []

@orders.post("/orders")
def create_order(order: dict):
    return order

@billing.get("/invoices")
def list_invoices():
    return []

@legacy.get("/old")
def old():
    return []
"""

MAIN = """
from fastapi import FastAPI
from app import routes

app = FastAPI()
app.include_router(routes.router)
app.include_router(routes.orders)
app.include_router(routes.billing)
app.include_router(routes.legacy)
"""

SOURCES = {"app/routing.py": ROUTING, "app/routes.py": ROUTES, "app/main.py": MAIN}


def _index() -> ProjectIndex:
    facts = [extract_facts(ast.parse(textwrap.dedent(text)), path, module_name(path)) for path, text in SOURCES.items()]
    return ProjectIndex.build(facts)


def test_the_prefix_set_in_init_is_part_of_the_full_path():
    paths = {entry["handler"]: entry["path"] for entry in static_entries(_index())}
    assert paths["list_items"] == "/v1/items"  # a literal prefix
    assert paths["create_order"] == "/api/v2/shop/orders"  # the call's argument, the default, a constant
    assert paths["list_invoices"] == "/api/v3/billing/invoices"  # a keyword argument
    assert paths["old"] == "/old"  # computed at run time: unknown, left out as before


def test_rules_name_the_full_path():
    result = review_sources({path: textwrap.dedent(text) for path, text in SOURCES.items()},
                            ReviewOptions(select=("FBA203",)))
    [finding] = [f for f in result.findings if f.rule == "FBA203"]
    assert finding.message.startswith("POST /api/v2/shop/orders creates a resource")

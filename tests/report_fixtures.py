"""Review results shared by the report format tests: static, model, fixed, skipped, awkward text."""

from __future__ import annotations

from agent.types import Edit, Finding, Fix, ReviewResult, Severity, Skipped

SOURCES = {
    "app/routes/items.py": (
        "from fastapi import APIRouter\n"
        "router = APIRouter()\n"
        "\n"
        "@router.post('/items')\n"
        "def create_item(item: dict):\n"
        "    return item\n"
        "\n"
        "@router.get('/items/{item_id}')\n"
        "def read_item(item_id: int, session):\n"
        "    return session.get(Item, item_id)\n"
    ),
    "app/core/config.py": 'SECRET_KEY = "changeme"\n',
}

STATIC = Finding(
    rule="FBA203", category="status-code", severity=Severity.LOW, path="app/routes/items.py", line=4,
    end_line=4, column=1, message="POST /items creates a resource but answers 200",
    title="Create endpoint does not answer 201 Created",
    fix=Fix("set status_code=201", (Edit("app/routes/items.py", "@router.post('/items')",
                                         "@router.post('/items', status_code=201)"),)),
)
MODEL = Finding(
    rule="LLM-C02", category="ownership", severity=Severity.HIGH, path="app/routes/items.py", line=10,
    end_line=10, column=12, message="Item read by id, 100% unscoped: a, b\nsecond line | pipe <b>",
    source="llm", confidence=0.8, title="Unscoped read",
)
SECRET = Finding(
    rule="FBA401", category="secrets", severity=Severity.CRITICAL, path="app/core/config.py", line=1,
    end_line=1, column=1, message="hard-coded SECRET_KEY", title="Hard-coded secret",
)
RESULT = ReviewResult(
    findings=tuple(sorted((STATIC, MODEL, SECRET), key=Finding.sort_key)),
    files=3,
    skipped=(Skipped("app/legacy.py", "app/legacy.py:3: syntax error: invalid syntax"),),
    suppressed=1,
)
EMPTY = ReviewResult(findings=(), files=2)

"""Helpers shared by the response-model and status-code rules (FBA201, FBA202, FBA204). Not a rule module."""

from __future__ import annotations

import ast

from agent.analysis.facts import call_name, keyword, route_decorator, status_value
from agent.analysis.rules._db import walk_body
from agent.analysis.rules.base import FunctionNode

# Return values that are responses themselves: FastAPI sends them as they are.
RESPONSE_NAMES = ("Response", "RedirectResponse", "FileResponse", "StreamingResponse", "HTMLResponse",
                  "PlainTextResponse", "JSONResponse", "ORJSONResponse", "UJSONResponse", "TemplateResponse",
                  "EventSourceResponse")


def decorator_call(func: FunctionNode, line: int) -> ast.Call | None:
    """The route decorator call of `func` at `line`."""
    for decorator in func.decorator_list:
        found = route_decorator(decorator)
        if found is not None and decorator.lineno == line:
            return found[2]
    return None


def returned_values(func: FunctionNode) -> list[ast.expr]:
    """Values the handler returns (not `return` / `return None`); nested functions excluded."""
    return [n.value for n in walk_body(func) if isinstance(n, ast.Return) and n.value is not None
            and not (isinstance(n.value, ast.Constant) and n.value.value is None)]


def returns_response(func: FunctionNode) -> bool:
    """Does the handler return a Response object (or yield a stream)?"""
    for value in returned_values(func):
        name = call_name(value) if isinstance(value, ast.Call) else None
        if name and name.rsplit(".", 1)[-1].endswith(RESPONSE_NAMES):
            return True
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in walk_body(func))


def declares_response_class(call: ast.Call | None) -> bool:
    return call is not None and keyword(call, "response_class") is not None


def sets_status_code(func: ast.AST) -> bool:
    """The handler chooses the status at run time: `response.status_code = 201` on its
    `Response` parameter (created vs updated by an upsert)."""
    return any(
        isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "status_code" and isinstance(t.value, ast.Name)
            for t in node.targets)
        for node in ast.walk(func)
    )


def status_value_of(text: str | None) -> int | None:
    """The status code of a decorator's `status_code=` source text (`Route.status_code`)."""
    if text is None:
        return None
    try:
        return status_value(ast.parse(text, mode="eval").body)
    except SyntaxError:
        return None

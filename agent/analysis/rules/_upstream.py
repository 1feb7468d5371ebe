"""Proxies: payloads a function sends to another service, answers it relays from one.

Not a rule module: it defines no `Rule`. It follows the facts each module-level function
records (`FunctionFacts.forwards`, `relays`, `returned_calls`, see `facts.payload_flow`) through
the project's calls, once per index: a handler hands its body to `send_request(payload=...)`,
which posts it with `session.request(..., data=payload)`.
"""

from __future__ import annotations

from typing import TypeVar

from agent.analysis.facts import FunctionFacts
from agent.analysis.index import ProjectIndex
from agent.analysis.rules.base import PerIndex

T = TypeVar("T")

Function = tuple[str, int]  # (file, line of the `def`)


def forwards_upstream(index: ProjectIndex, path: str, line: int, param: str) -> bool:
    """Does the function at `path:line` send its parameter `param`, as a whole, as the body of
    a request to another service (itself or through the functions it calls)?"""
    return (path, line, param) in _upstream_bodies(index)


def relays_upstream(index: ProjectIndex, path: str, line: int) -> bool:
    """Does the function at `path:line` answer what another service answered (it returns the
    response of a request it sends, or the result of a function that does)?"""
    return (path, line) in _relays(index)


def _functions(index: ProjectIndex) -> dict[Function, FunctionFacts]:
    return {(facts.path, function.line): function for facts in index.files.values() for function in facts.functions}


def _callee(index: ProjectIndex, path: str, name: str) -> tuple[Function, FunctionFacts] | None:
    symbol = index.symbols.get(index.resolve(path, name))
    if symbol is None or symbol.kind != "function":
        return None
    function = symbol.value
    return (symbol.path, function.line), function  # type: ignore[union-attr]


def _slot_param(function: FunctionFacts, slot: str) -> str | None:
    if not slot.isdigit():
        return slot if any(p.name == slot for p in function.params) else None
    position = int(slot)
    return function.params[position].name if position < len(function.params) else None


@PerIndex
def _upstream_bodies(index: ProjectIndex) -> frozenset[tuple[str, int, str]]:
    functions = _functions(index)
    sent = {(*where, param) for where, function in functions.items() for param, target in function.forwards
            if target == "http"}
    # (caller, parameter) -> (callee, its parameter): an edge of the forwarding graph.
    edges: list[tuple[tuple[str, int, str], tuple[str, int, str]]] = []
    for (path, line), function in functions.items():
        for param, target in function.forwards:
            name, _, slot = target.rpartition("#")
            found = _callee(index, path, name) if name else None
            if found is not None and (callee_param := _slot_param(found[1], slot)) is not None:
                edges.append(((path, line, param), (*found[0], callee_param)))
    return _callers_reaching(sent, edges)


@PerIndex
def _relays(index: ProjectIndex) -> frozenset[tuple[str, int]]:
    functions = _functions(index)
    relaying = {where for where, function in functions.items() if function.relays}
    edges = [((path, line), found[0]) for (path, line), function in functions.items()
             for name in function.returned_calls if (found := _callee(index, path, name)) is not None]
    return _callers_reaching(relaying, edges)


def _callers_reaching(marked: set[T], edges: list[tuple[T, T]]) -> frozenset[T]:
    """`marked` plus every caller that reaches a marked callee through `edges` (caller, callee)."""
    callers: dict[T, list[T]] = {}
    for caller, callee in edges:
        callers.setdefault(callee, []).append(caller)
    reached, pending = set(marked), list(marked)
    while pending:
        for caller in callers.get(pending.pop(), ()):
            if caller not in reached:
                reached.add(caller)
                pending.append(caller)
    return frozenset(reached)

"""Safe automatic fixes for static findings, written with libcst so formatting and comments survive.

A fixer takes a file's source text and one finding and returns the new source text, or None when
it cannot fix that finding safely. Register one with `@fixer("FBA123")`. libcst is imported
lazily, inside the fixers: reviews without `--fix` never load it.
"""

from __future__ import annotations

import ast
import difflib
from typing import Callable, Iterable

from agent.types import Finding

Fixer = Callable[[str, Finding], "str | None"]
_FIXERS: dict[str, Fixer] = {}
STATUS_MODULES = ("fastapi", "starlette")


def fixer(rule: str) -> Callable[[Fixer], Fixer]:
    """Register a fixer for `rule`."""

    def register(function: Fixer) -> Fixer:
        _FIXERS[rule] = function
        return function

    return register


def fixable_rules() -> frozenset[str]:
    return frozenset(_FIXERS)


def fix_source(text: str, finding: Finding) -> str | None:
    """The source with `finding` fixed, or None (no fixer, or the fixer declined)."""
    function = _FIXERS.get(finding.rule)
    if function is None:
        return None
    fixed = function(text, finding)
    return fixed if fixed is not None and fixed != text else None


def fix_file(text: str, findings: Iterable[Finding]) -> tuple[str, list[Finding]]:
    """Apply the fixers of several findings in one file; returns (new text, findings fixed).

    Findings are fixed bottom-up, and after each fix the remaining findings' lines are mapped
    through the change, so an import added at the top does not send later fixes to the wrong line.
    A finding whose line was itself changed by an earlier fix is left alone.
    """
    fixed: list[Finding] = []
    pending = sorted(findings, key=lambda f: f.line, reverse=True)
    while pending:
        finding = pending.pop(0)
        new_text = fix_source(text, finding)
        if new_text is None:
            continue
        mapping = _line_mapping(text, new_text)
        pending = [f.with_(line=mapping[f.line]) for f in pending if mapping.get(f.line)]
        text = new_text
        fixed.append(finding)
    return text, fixed


def _line_mapping(old: str, new: str) -> dict[int, int]:
    """Old line number -> new line number, for lines the change left untouched."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    mapping = {}
    for tag, old_start, old_end, new_start, _ in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(old_end - old_start):
                mapping[old_start + offset + 1] = new_start + offset + 1
    return mapping


@fixer("FBA203")
def add_created_status(text: str, finding: Finding) -> str | None:
    """`@router.post(...)` gains `status_code=status.HTTP_201_CREATED`."""
    return _add_status_code(text, finding.line, "post", "HTTP_201_CREATED", require_empty_body=False)


@fixer("FBA204")
def add_no_content_status(text: str, finding: Finding) -> str | None:
    """`@router.delete(...)` gains `status_code=status.HTTP_204_NO_CONTENT` (or its explicit
    `status_code=200` becomes it), only when the handler returns no body (FastAPI refuses a
    response model with 204 at startup)."""
    return _add_status_code(text, finding.line, "delete", "HTTP_204_NO_CONTENT", require_empty_body=True)


def _add_status_code(text: str, line: int, method: str, constant: str, require_empty_body: bool) -> str | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    binding = _status_binding(tree)
    if binding == "other":
        return None  # `status` means something else in this module
    handler = _handler_at(tree, line, method)
    if handler is None or (require_empty_body and not _returns_no_body(handler)):
        return None
    decorator_lines = {d.lineno for d in handler.decorator_list if _is_route_call(d, method)}
    new_text = _add_keyword(text, decorator_lines, method, f"status.{constant}")
    if new_text is None:
        return None
    return new_text if binding == "fastapi" else _import_status(new_text)


# analysis with ast (cheap) -------------------------------------------------------------------------


def _status_binding(tree: ast.Module) -> str:
    """"fastapi" when module-level `status` is fastapi's/starlette's, "other" when it is bound to
    anything else, "none" when unbound."""
    result = "none"
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == "status":
                    ok = alias.name == "status" and node.level == 0 and node.module in STATUS_MODULES
                    result = "fastapi" if ok else "other"
        elif isinstance(node, ast.Import) and any((a.asname or a.name.split(".")[0]) == "status" for a in node.names):
            return "other"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == "status":
            return "other"
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == "status" for t in targets for n in ast.walk(t)):
                return "other"
    return result


def _is_route_call(node: ast.expr, method: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method


def _handler_at(tree: ast.Module, line: int, method: str):
    """The handler with a `.method(...)` decorator spanning `line` (or defined on `line`)."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        routes = [d for d in node.decorator_list if _is_route_call(d, method)]
        if any(d.lineno <= line <= (d.end_lineno or d.lineno) for d in routes) or (routes and node.lineno == line):
            return node if all(_replaceable(k) for d in routes for k in d.keywords) else None
    return None


def _replaceable(keyword: ast.keyword) -> bool:
    """Can the fix set `status_code` next to this keyword? Not next to `**options` (it may hold one),
    and an explicit status only when it is the default 200 the finding is about."""
    if keyword.arg is None:
        return False
    if keyword.arg != "status_code":
        return True
    value = keyword.value
    if isinstance(value, ast.Constant):
        return value.value == 200 and not isinstance(value.value, bool)
    name = ast.unparse(value) if isinstance(value, (ast.Name, ast.Attribute)) else ""
    return name.rsplit(".", 1)[-1] == "HTTP_200_OK" or (name.endswith(".OK") and "HTTPStatus" in name)


def _returns_no_body(handler) -> bool:
    routes = [d for d in handler.decorator_list if isinstance(d, ast.Call)]
    if any(k.arg in ("response_model", "response_class") for d in routes for k in d.keywords):
        return False
    if handler.returns is not None and not (isinstance(handler.returns, ast.Constant) and handler.returns.value is None):
        return False
    nested = {id(n) for inner in ast.walk(handler) if inner is not handler
              and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for n in ast.walk(inner)}
    return all(
        node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None)
        for node in ast.walk(handler)
        if isinstance(node, ast.Return) and id(node) not in nested
    )


# rewriting with libcst (keeps formatting) ----------------------------------------------------------


def _add_keyword(text: str, lines: set[int], method: str, value: str) -> str | None:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    class AddKeyword(cst.CSTTransformer):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def __init__(self) -> None:
            super().__init__()
            self.changed = False

        def leave_Decorator(self, original, updated):
            position = self.get_metadata(PositionProvider, original.decorator)
            call = updated.decorator
            if position.start.line not in lines or not isinstance(call, cst.Call):
                return updated
            if not isinstance(call.func, cst.Attribute) or call.func.attr.value != method:
                return updated
            self.changed = True
            if any(_is_status_keyword(a) for a in call.args):  # `status_code=200`: a second one would not compile
                args = [a.with_changes(value=cst.parse_expression(value)) if _is_status_keyword(a) else a for a in call.args]
                return updated.with_changes(decorator=call.with_changes(args=args))
            argument = cst.Arg(
                keyword=cst.Name("status_code"),
                value=cst.parse_expression(value),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
            )
            args = _append(list(call.args), argument, call.whitespace_before_args)
            return updated.with_changes(decorator=call.with_changes(args=args))

    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return None
    transformer = AddKeyword()
    new_module = MetadataWrapper(module).visit(transformer)
    return new_module.code if transformer.changed else None


def _is_status_keyword(argument) -> bool:
    return argument.keyword is not None and argument.keyword.value == "status_code"


def _append(items: list, item, opening_whitespace) -> list:
    """Append to a comma-separated libcst list, keeping its layout: one per line stays one per
    line, a trailing comma stays trailing, a comment stays on the line it was on."""
    import libcst as cst

    if not items:
        return [item]
    last = items[-1]
    if len(items) >= 2 and isinstance(items[-2].comma, cst.Comma):
        separator = items[-2].comma
    elif isinstance(opening_whitespace, cst.ParenthesizedWhitespace):
        separator = cst.Comma(whitespace_after=opening_whitespace)
    else:
        separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last_changes, item_changes = {}, {}
    if isinstance(last.comma, cst.Comma):  # a trailing comma moves to the new last item
        separator, tail = _comment_stays(separator, last.comma.whitespace_after)
        item_changes["comma"] = last.comma.with_changes(whitespace_after=tail)
    elif getattr(last, "whitespace_after_arg", None) is not None:  # call argument: space before ")"
        separator, item_changes["whitespace_after_arg"] = _comment_stays(separator, last.whitespace_after_arg)
        last_changes["whitespace_after_arg"] = cst.SimpleWhitespace("")
    return [*items[:-1], last.with_changes(comma=separator, **last_changes), item.with_changes(**item_changes)]


def _comment_stays(separator, tail):
    """(separator after the old last item, whitespace after the new one), so that a comment at the
    end of the old last item's line stays on that line instead of moving to the new item."""
    import libcst as cst

    if not (isinstance(tail, cst.ParenthesizedWhitespace)
            and isinstance(separator.whitespace_after, cst.ParenthesizedWhitespace)):
        return separator, tail
    separator = separator.with_changes(whitespace_after=separator.whitespace_after.with_changes(first_line=tail.first_line))
    return separator, tail.with_changes(first_line=cst.TrailingWhitespace(newline=cst.Newline()))


def _import_status(text: str) -> str:
    """Add `status` to the first `from fastapi import ...`, or add `from fastapi import status`
    after the module's last top-level import."""
    import libcst as cst

    module = cst.parse_module(text)
    body = list(module.body)
    for index, statement in enumerate(body):
        node = _fastapi_import(statement)
        if node is not None:
            opening = node.lpar.whitespace_after if node.lpar else None
            names = _append(list(node.names), cst.ImportAlias(name=cst.Name("status")), opening)
            body[index] = statement.with_changes(body=[node.with_changes(names=names)])
            return module.with_changes(body=body).code
    imports = [i for i, s in enumerate(body) if _is_import(s)]
    position = imports[-1] + 1 if imports else _after_docstring(body)
    body.insert(position, cst.parse_statement("from fastapi import status\n"))
    return module.with_changes(body=body).code


def _fastapi_import(statement):
    import libcst as cst

    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    node = statement.body[0]
    if not isinstance(node, cst.ImportFrom) or node.relative or isinstance(node.names, cst.ImportStar):
        return None
    if not isinstance(node.module, cst.Name) or node.module.value != "fastapi":
        return None
    return node


def _is_import(statement) -> bool:
    import libcst as cst

    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body
    )


def _after_docstring(body: list) -> int:
    import libcst as cst

    first = body[0] if body else None
    if isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Expr) \
            and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        return 1
    return 0

"""Parsing newer syntax than the running Python: rewrites keep everything, blanking keeps the rest."""

from __future__ import annotations

import ast
import textwrap

import pytest

from agent.analysis.facts import extract_facts
from agent.analysis.source import decode_source, parse_python
from agent.errors import InputError


def _parse(text: str):
    return parse_python(textwrap.dedent(text), "app/x.py")


def test_plain_source_parses_without_notes():
    parsed = _parse("x = 1\n")
    assert parsed.notes == () and not parsed.partial


def test_pep758_unparenthesised_except_is_rewritten_in_full():
    parsed = _parse("""
        try:
            pass
        except InvalidTokenError, ValidationError:
            raise
        """)
    handler = next(n for n in ast.walk(parsed.tree) if isinstance(n, ast.ExceptHandler))
    assert isinstance(handler.type, ast.Tuple) and len(handler.type.elts) == 2
    assert not parsed.partial and "3.14" in parsed.notes[0]


def test_pep695_type_alias_is_kept_as_an_alias_for_the_index():
    parsed = _parse("""
        from typing import Annotated
        from fastapi import Depends
        type CurrentUser = Annotated[User, Depends(get_current_user)]
        """)
    assert not parsed.partial
    assert extract_facts(parsed.tree, "app/deps.py").aliases == {"CurrentUser": "get_current_user"}


def test_pep695_type_parameters_are_dropped_keeping_line_numbers():
    parsed = _parse("""
        def first[T: (int, str)](xs: list[T]) -> T:
            return xs[0]

        class Page[T](BaseModel):
            items: list[T]

        async def read[T](x: T) -> T:
            return x
        """)
    defs = {n.name: n.lineno for n in ast.walk(parsed.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    assert defs == {"first": 2, "Page": 5, "read": 8}
    assert not parsed.partial


def test_pep701_fstring_line_is_blanked_and_the_rest_analysed():
    parsed = _parse('''
        x = 1
        msg = f"{d["key"]}"
        def handler():
            return x
        ''')
    assert parsed.partial
    assert "blanked unparsable line(s) 3" in parsed.notes[-1]
    assert any(isinstance(n, ast.FunctionDef) and n.name == "handler" for n in ast.walk(parsed.tree))


def test_blanking_a_block_header_keeps_the_block():
    parsed = _parse('''
        def f():
            if f"{d["a"]}":
                return 1
            return 2
        ''')
    assert parsed.partial
    func = parsed.tree.body[0]
    assert isinstance(func.body[0], ast.If) and func.body[0].lineno == 3


def test_unparsable_file_is_an_input_error_with_the_line():
    with pytest.raises(InputError, match=r"app/x.py:1: syntax error"):
        _parse("def (:\n" * 30)


@pytest.mark.parametrize(("data", "message"), [(b"\x00\x01binary", "binary file"), (b"x = '\xff'", "not UTF-8 text")])
def test_undecodable_files_are_input_errors(data, message):
    with pytest.raises(InputError, match=message):
        decode_source(data, "app/x.py")


def test_utf8_bom_is_accepted():
    assert decode_source("\ufeffx = 1\n".encode("utf-8"), "a.py") == "x = 1\n"

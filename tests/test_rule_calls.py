"""The shared first test of rules that look for calls of imported functions (rules/_calls.py)."""

from __future__ import annotations

import ast

from agent.analysis.index import ProjectIndex
from agent.analysis.rules._calls import calls_named, imported_as, last_names
from agent.analysis.rules.base import FileContext

SOURCE = """
import subprocess as sp
from os import system as run_shell
from sqlalchemy import text

sp.run("ls", shell=True)
run_shell("ls")
session.execute(text("select 1"))
print("not a candidate")
helper.other()
"""


def context(source: str) -> FileContext:
    return FileContext("app/main.py", source, ast.parse(source), ProjectIndex())


def test_imported_as_names_the_local_bindings_of_the_functions():
    imports = {"sp": "subprocess", "run_shell": "os.system", "text": "sqlalchemy.text"}
    assert imported_as(imports, frozenset({"os.system", "sqlalchemy.text"})) == {"run_shell", "text"}
    assert imported_as(imports, frozenset({"subprocess.run"})) == frozenset()


def test_last_names_are_the_functions_own_names():
    assert last_names(["subprocess.run", "os.system", "sleep"]) == {"run", "system", "sleep"}


def test_calls_named_keeps_method_calls_by_name_and_direct_calls_by_binding():
    ctx = context(SOURCE)
    found = [ast.unparse(call.func) for call in calls_named(ctx, frozenset({"run", "execute"}), frozenset({"run_shell", "text"}))]
    assert found == ["sp.run", "run_shell", "session.execute", "text"]

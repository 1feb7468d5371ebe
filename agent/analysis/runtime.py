"""Runtime truth (`--app module:attr`): FastAPI's own route table and dependency graph, read by
importing the user's application in a subprocess with the user's interpreter. fba never imports
user code itself, and only this module (only with `--app`) runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from agent.analysis.facts import RuntimeDependency, RuntimeRoute
from agent.errors import UsageError

PROBE = Path(__file__).with_name("runtime_probe.py")
APP_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
TIMEOUT_SECONDS = 300


def read_app(app_ref: str, python: str, cwd: Path) -> list[dict[str, Any]]:
    """The routes FastAPI serves for `module:attr`: method, full path, handler, file (absolute),
    line of its `def`, and its dependencies ({name, attached, file, line, scheme})."""
    if not APP_REF.fullmatch(app_ref):
        raise UsageError(f"--app wants module:attribute (e.g. app.main:app), not {app_ref!r}")
    with tempfile.TemporaryDirectory(prefix="fba-app-") as folder:
        output = Path(folder) / "routes.json"
        try:
            done = subprocess.run([python, str(PROBE), app_ref, str(output)], cwd=cwd, capture_output=True,
                                  text=True, timeout=TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"--app {app_ref}: cannot run {python}: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
            raise UsageError(f"--app {app_ref}: importing the application failed: {last}")
        try:
            return json.loads(output.read_text(encoding="utf-8"))["routes"]
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"--app {app_ref}: no route table from the application import ({exc})") from None


def runtime_routes(raw: list[dict[str, Any]], cwd: Path) -> tuple[RuntimeRoute, ...]:
    """The probe's routes as facts, with files relative to `cwd` as reviews show them."""
    base = str(cwd.resolve())

    def where(file: str | None) -> str:
        return os.path.relpath(file, base).replace(os.sep, "/") if file else ""

    return tuple(
        RuntimeRoute(item["method"], item["path"], item["handler"], where(item["file"]), item["line"],
                     tuple(RuntimeDependency(d["name"], d["attached"], where(d["file"]), d["line"], d["scheme"])
                           for d in item["dependencies"]))
        for item in raw
    )

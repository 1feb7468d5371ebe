"""The wheel users install carries fba and its data, never test code (the fake Messages API, test
modules, conftest): built here with pip and the project's own build backend, as `pip install` does."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]


def is_test_code(member: str) -> bool:
    path = PurePosixPath(member)
    return (path.parts[0] == "tests" or path.name == "conftest.py"
            or path.name.startswith(("fake", "test_")))


def test_wheel_has_no_test_code(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    members = zipfile.ZipFile(wheel).namelist()
    assert "agent/llm/client.py" in members and "agent/_data/prompts/fastapi-backend.md" in members
    assert [member for member in members if is_test_code(member)] == []


def test_is_test_code() -> None:
    assert is_test_code("agent/llm/fakeapi.py") and is_test_code("tests/conftest.py")
    assert is_test_code("agent/test_helpers.py")
    assert not is_test_code("agent/edits/testrun.py") and not is_test_code("agent/llm/client.py")

"""Shared fixtures: the loopback fake Anthropic API, a private FBA_HOME, a temporary git repo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import FakeAnthropic


# Beyond the llm modules' own tests: the flows whose behaviour hangs on what the SDK raises or
# reports (cut streams, usage of cancelled requests, the review's tool loop, chat turns).
MODEL_LAYER_FILES = frozenset({"test_implement_stream_cuts.py", "test_review_llm.py", "test_run_totals.py",
                               "test_chat.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`model_layer`: the tests of the SDK's edge. `.ci/sdk-matrix` runs them again against the
    lowest supported `anthropic` (the whole suite runs against the newest)."""
    for item in items:
        if item.path.name.startswith("test_llm_") or item.path.name in MODEL_LAYER_FILES:
            item.add_marker(pytest.mark.model_layer)


@pytest.fixture
def fake_api():
    """A running fake Messages API; script it with `fake_api.script(...)`."""
    with FakeAnthropic() as api:
        yield api


@pytest.fixture(autouse=True)
def _no_user_data_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's data folder (history, the cache signing key): every test gets a
    private one unless it asks for `fba_home`."""
    monkeypatch.setenv("FBA_HOME", str(tmp_path_factory.getbasetemp() / "fba-home-shared"))


@pytest.fixture
def fba_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data folder for the store (never the user's ~/.local/share/fba)."""
    home = tmp_path / "fba-home"
    monkeypatch.setenv("FBA_HOME", str(home))
    return home


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository with a user configured."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for command in (["git", "init", "-q", "-b", "main"],
                    ["git", "config", "user.name", "fba tests"],
                    ["git", "config", "user.email", "tests@example.invalid"]):
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
    return repo


@pytest.fixture
def run_fba(fba_home: Path):
    """Run the `fba` CLI in a subprocess: `run_fba(args, cwd, env=extra_env)`."""

    def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "FBA_"))}
        full_env.update({"FBA_HOME": str(fba_home), "NO_COLOR": "1", "COLUMNS": "200"})
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=timeout)

    return run

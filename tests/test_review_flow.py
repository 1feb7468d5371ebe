"""`agent.workflows.review_flow`: `fba review` as one call, a request in and a result out, with
progress, warnings and the fix flow's preview going through the UI it is given (never printed)."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import UsageError
from agent.workflows.review_flow import FixRequest, ModelRequest, ReviewRequest, run_review

CREATE = '''from fastapi import APIRouter

router = APIRouter()


@router.post("/items")
def create_item(item: dict):
    return item
'''


class RecordingUI:
    """A `ReviewUI` that records what the workflow asked it to show."""

    def __init__(self) -> None:
        self.passes = 0
        self.warnings: list[str] = []
        self.previews: list[str] = []
        self.interactive = False

    @contextmanager
    def progress(self):
        self.passes += 1
        yield lambda stage, done, total: None

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def change_ui(self):
        return self

    def preview(self, diff, stats, validation) -> None:
        self.previews.append(diff)

    def confirm(self, question: str) -> bool:
        raise AssertionError("a dry run asks nothing")

    def note(self, message: str) -> None:
        pass

    def model_events(self):
        raise AssertionError("no model pass was asked for")

    def batch_status(self, status) -> None:
        raise AssertionError("no model pass was asked for")

    def model_stopped(self) -> None:
        raise AssertionError("no model pass was asked for")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fba_home: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "items.py").write_text(CREATE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tmp_path


def request(*targets: str, **fields) -> ReviewRequest:
    flags = {"select": ["FBA203"], "fail-on": fields.pop("fail_on", None)}
    return ReviewRequest(tuple(Path(t) for t in targets or (".",)), load_config(Path.cwd(), flags=flags),
                         use_cache=False, **fields)


def test_a_static_review_is_one_call_and_prints_nothing(project, capsys):
    ui = RecordingUI()
    run = run_review(request(read_sources=True), ui)
    assert [(f.rule, f.path) for f in run.result.findings] == [("FBA203", "app/items.py")]
    assert run.failing is False  # FBA203 is low, under the default fail-on (medium)
    assert run.sources == {"app/items.py": CREATE}
    assert run.model_pass is None and run.model_failure is None and not run.fixed
    assert ui.passes == 1
    assert capsys.readouterr() == ("", "")


def test_fail_on_decides_failing(project):
    assert run_review(request(fail_on="low"), RecordingUI()).failing is True


def test_a_named_file_that_cannot_be_read_is_a_named_failure(project):
    (project / "app" / "broken.py").write_bytes(b"\xff\xfe\x00bad")
    run = run_review(request("app/broken.py", "app"), RecordingUI())
    assert [s.path for s in run.named_failures] == ["app/broken.py"]


def test_a_dry_run_fix_previews_and_writes_nothing(project):
    ui = RecordingUI()
    run = run_review(request(fix=FixRequest(dry_run=True)), ui)
    assert not run.fixed and ui.passes == 1
    assert len(ui.previews) == 1 and "status_code=status.HTTP_201_CREATED" in ui.previews[0]
    assert (project / "app" / "items.py").read_text() == CREATE


def test_a_model_pass_not_asked_for_and_without_a_key_does_not_run(project):
    run = run_review(request(model=ModelRequest()), RecordingUI())
    assert run.model_pass is None and [f.rule for f in run.result.findings] == ["FBA203"]


def test_changed_and_diff_together_are_refused(project):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    with pytest.raises(UsageError, match="cannot be combined"):
        run_review(request(changed=True, diff_ref="HEAD"), RecordingUI())

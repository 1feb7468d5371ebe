"""Preview rules: outside the default set until they are precise enough on real code."""

from __future__ import annotations

import pytest

from agent.analysis.rules import all_rules
from agent.analysis.runner import ReviewOptions
from agent.analysis.selection import enabled_rules


@pytest.fixture
def one_preview_rule(monkeypatch):
    rule = all_rules()[0]
    monkeypatch.setattr(rule, "preview", True)
    return rule


def codes(options: ReviewOptions) -> set[str]:
    return {r.code for r in enabled_rules(options)}


def test_a_preview_rule_is_off_by_default(one_preview_rule):
    assert one_preview_rule.code not in codes(ReviewOptions())
    assert one_preview_rule.code not in codes(ReviewOptions(select=("ALL",)))


def test_preview_turns_it_on(one_preview_rule):
    assert one_preview_rule.code in codes(ReviewOptions(preview=True))


def test_selecting_its_code_turns_it_on(one_preview_rule):
    assert one_preview_rule.code in codes(ReviewOptions(select=(one_preview_rule.code,)))


def test_preview_comes_from_the_config(tmp_path):
    from agent.config import load_config

    (tmp_path / "pyproject.toml").write_text("[tool.fba]\npreview = true\n")
    assert ReviewOptions.from_config(load_config(tmp_path, environ={})).preview is True
    assert ReviewOptions.from_config(load_config(tmp_path, environ={"FBA_PREVIEW": "0"})).preview is False


def test_fba_rules_marks_preview_rules(one_preview_rule):
    import json

    from typer.testing import CliRunner

    from agent.cli import app

    result = CliRunner().invoke(app, ["rules", "-f", "json"])
    listed = {r["code"]: r["preview"] for r in json.loads(result.stdout)}
    assert listed[one_preview_rule.code] is True


def test_the_cache_keeps_preview_and_default_reviews_apart(tmp_path):
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"
    shutil.copytree(examples / "app", tmp_path / "app")
    (tmp_path / "pyproject.toml").write_text("[tool.fba]\n")

    def rules_found(*flags: str) -> set[str]:
        done = subprocess.run([sys.executable, "-m", "agent", "review", ".", "-f", "json", *flags],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        return {f["rule"] for f in json.loads(done.stdout)["findings"]}

    default = rules_found()
    assert "FBA210" in rules_found("--preview") and "FBA210" not in default
    assert rules_found() == default  # the cached default answer holds no preview finding
    assert (tmp_path / ".fba_cache").exists()

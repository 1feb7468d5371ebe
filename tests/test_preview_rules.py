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

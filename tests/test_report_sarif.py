"""SARIF 2.1.0 output: valid against the schema and shaped for GitHub code scanning."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from agent.analysis.rules import all_rules, rule_by_code
from agent.report import renderer
from agent.report.sarif import FINGERPRINT_KEY, SECURITY_SEVERITY, render_sarif
from tests.report_fixtures import EMPTY, MODEL, RESULT, SECRET, SOURCES, STATIC

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def _log(result=RESULT, sources=SOURCES) -> dict:
    return json.loads(render_sarif(result, sources))


@pytest.mark.parametrize("result", [RESULT, EMPTY], ids=["findings", "empty"])
def test_output_is_valid_sarif_2_1_0(result):
    log = _log(result)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["version"] == "2.1.0" and log["$schema"].startswith("https://")
    assert len(log["runs"]) == 1


def test_driver_lists_every_static_rule_with_help():
    driver = _log()["runs"][0]["tool"]["driver"]
    assert driver["name"] == "fba" and driver["version"] and driver["informationUri"].startswith("https://")
    by_id = {r["id"]: r for r in driver["rules"]}
    for rule in all_rules():
        entry = by_id[rule.code]
        assert entry["shortDescription"]["text"] == rule.title
        assert entry["fullDescription"]["text"]
        assert "**What it does**" in entry["help"]["markdown"]
        assert "What it does" in entry["help"]["text"] and "**What it does**" not in entry["help"]["text"]
        assert entry["defaultConfiguration"]["level"] in {"error", "warning", "note"}
        assert rule.category in entry["properties"]["tags"]
        assert entry["name"][:1].isupper() and "-" not in entry["name"]


def test_security_categories_carry_security_severity():
    rules = {r["id"]: r for r in _log()["runs"][0]["tool"]["driver"]["rules"]}
    secret, status = rules["FBA401"], rules["FBA203"]
    assert "security" in secret["properties"]["tags"]
    assert secret["properties"]["security-severity"] == SECURITY_SEVERITY[rule_by_code("FBA401").severity]
    jwt = rules["FBA111"]  # critical: 9.0 or more is "critical" on GitHub's scale
    assert float(jwt["properties"]["security-severity"]) >= 9.0
    assert "security" not in status["properties"]["tags"]
    assert "security-severity" not in status["properties"]


def test_results_point_at_rules_and_locations():
    run = _log()["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == [f.rule for f in RESULT.findings]
    for result, finding in zip(results, RESULT.findings):
        assert rules[result["ruleIndex"]]["id"] == finding.rule
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"] == {"uri": finding.path, "uriBaseId": "%SRCROOT%"}
        assert location["region"]["startLine"] == finding.line
        assert location["region"]["endLine"] == finding.end_line
        assert location["region"]["startColumn"] == finding.column
        assert result["message"]["text"] == finding.message


def test_levels_follow_severity():
    levels = {r["ruleId"]: r["level"] for r in _log()["runs"][0]["results"]}
    assert levels == {SECRET.rule: "error", MODEL.rule: "error", STATIC.rule: "note"}


def test_model_findings_are_marked_and_get_a_rule_entry():
    run = _log()["runs"][0]
    result = next(r for r in run["results"] if r["ruleId"] == MODEL.rule)
    assert result["properties"]["source"] == "llm"
    assert result["properties"]["confidence"] == 0.8
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == MODEL.rule


def test_fingerprints_survive_line_moves_but_not_code_changes():
    moved = {p: "\n\n" + t for p, t in SOURCES.items()}
    base = _log()["runs"][0]["results"]
    shifted = _log(RESULT.__class__(tuple(f.with_(line=f.line + 2, end_line=f.end_line + 2) for f in RESULT.findings),
                                    files=3), moved)["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in base] == [r["partialFingerprints"] for r in shifted]
    changed = {**SOURCES, "app/core/config.py": 'SECRET_KEY = "other"\n'}
    secret = lambda log: next(r for r in log["runs"][0]["results"] if r["ruleId"] == "FBA401")
    assert secret(_log(sources=changed))["partialFingerprints"] != secret(_log())["partialFingerprints"]
    assert all(":" in r["partialFingerprints"][FINGERPRINT_KEY] for r in base)


def test_identical_lines_get_distinct_fingerprints():
    twice = {"app/a.py": "x = 1\nx = 1\n"}
    findings = tuple(SECRET.with_(path="app/a.py", line=n, end_line=n) for n in (1, 2))
    results = _log(RESULT.__class__(findings, files=1), twice)["runs"][0]["results"]
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in results]
    assert prints[0] != prints[1] and prints[0].split(":")[0] == prints[1].split(":")[0]


def test_skipped_files_are_tool_notifications():
    invocation = _log()["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    note = invocation["toolExecutionNotifications"][0]
    assert note["level"] == "warning" and "syntax error" in note["message"]["text"]


def test_paths_are_uri_encoded():
    odd = SECRET.with_(path="app/my routes/x#1.py")
    log = _log(RESULT.__class__((odd,), files=1), {})
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "app/my%20routes/x%231.py"
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_registry_renders_sarif():
    assert json.loads(renderer("sarif")(RESULT, SOURCES)) == _log()

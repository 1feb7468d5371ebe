"""GitHub workflow-command annotations: one command per finding, escaped as the runner expects."""

from __future__ import annotations

import re

from agent.report import renderer
from agent.report.github import annotation, escape_data, escape_property, render_github
from tests.report_fixtures import EMPTY, MODEL, RESULT, SECRET, STATIC

COMMAND = re.compile(r"^::(?P<kind>error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def _parse(line: str) -> tuple[str, dict[str, str], str]:
    match = COMMAND.match(line)
    assert match, line
    props = dict(p.split("=", 1) for p in match["props"].split(","))
    return match["kind"], props, match["message"]


def test_escaping_follows_the_runner_rules():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_data("a: b, c") == "a: b, c"
    assert escape_property("a: b, c%\n") == "a%3A b%2C c%25%0A"


def test_finding_becomes_one_command_with_location_and_title():
    kind, props, message = _parse(annotation(STATIC))
    assert kind == "notice"
    assert props == {"file": "app/routes/items.py", "line": "4", "endLine": "4", "col": "1",
                     "title": "FBA203 Create endpoint does not answer 201 Created"}
    assert message == STATIC.message


def test_severity_maps_to_command():
    assert _parse(annotation(SECRET))[0] == "error"
    assert _parse(annotation(MODEL))[0] == "error"
    assert _parse(annotation(STATIC.with_(severity=STATIC.severity.MEDIUM)))[0] == "warning"
    assert _parse(annotation(STATIC.with_(severity=STATIC.severity.INFO)))[0] == "notice"


def test_awkward_message_stays_on_one_line_and_model_findings_are_marked():
    line = annotation(MODEL)
    assert "\n" not in line
    kind, props, message = _parse(line)
    assert message == "Item read by id, 100%25 unscoped: a, b%0Asecond line | pipe <b>"
    assert props["title"] == "LLM-C02 Unscoped read (model%2C confidence 0.80)"
    assert props["col"] == "12"


def test_report_has_findings_skipped_files_and_summary():
    lines = render_github(RESULT).splitlines()
    assert len(lines) == len(RESULT.findings) + len(RESULT.skipped) + 1
    kind, props, message = _parse(lines[len(RESULT.findings)])
    assert kind == "warning" and props["file"] == "app/legacy.py" and "syntax error" in message
    assert lines[-1] == "fba: 3 findings (1 critical, 1 high, 1 low) in 3 files, 1 suppressed, 1 file not fully analysed"


def test_empty_report_is_just_the_summary():
    assert renderer("github")(EMPTY, {}) == "fba: 0 findings in 2 files\n"

"""Markdown report for pull-request comments."""

from __future__ import annotations

from agent.report import renderer
from agent.report.markdown import render_markdown
from tests.report_fixtures import EMPTY, RESULT


def _section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("### ")), len(lines))
    return [line for line in lines[start:end] if line]


def test_summary_and_severity_table():
    text = render_markdown(RESULT)
    lines = text.splitlines()
    assert lines[0] == "## fba review"
    assert "**3 findings (1 critical, 1 high, 1 low) in 3 files, 1 suppressed, 1 file not fully analysed**" in lines
    assert "| critical | 1 |" in lines and "| high | 1 |" in lines and "| medium | 0 |" in lines


def test_findings_grouped_by_file_in_tables():
    text = render_markdown(RESULT)
    items = _section(text, "### `app/routes/items.py`")
    assert items[0] == "| line | severity | rule | message |"
    rows = items[2:]
    assert [row.split("|")[1].strip() for row in rows] == ["4", "10"]
    assert _section(text, "### `app/core/config.py`")[2].startswith("| 1 | critical | `FBA401` |")


def test_cells_are_escaped_and_model_findings_marked():
    row = next(line for line in render_markdown(RESULT).splitlines() if "`LLM-C02`" in line)
    assert "second line \\| pipe &lt;b&gt;" in row
    assert "_(model, confidence 0.80)_" in row
    assert row.count(" | ") == 3  # the escaped pipe does not open a new cell


def test_rule_index_points_to_fba_rules_for_static_rules():
    rules = _section(render_markdown(RESULT), "### Rules")
    assert "- `FBA203` create-without-201: Create endpoint does not answer 201 Created (details: `fba rules FBA203`)" in rules
    model = next(line for line in rules if "LLM-C02" in line)
    assert "fba rules" not in model


def test_skipped_files_listed():
    assert _section(render_markdown(RESULT), "### Not fully analysed") == [
        "- `app/legacy.py`: app/legacy.py:3: syntax error: invalid syntax"
    ]


def test_empty_report():
    text = renderer("markdown")(EMPTY, {})
    assert "**0 findings in 2 files**" in text and "###" not in text

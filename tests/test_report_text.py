"""The rich text report: `path:line:col:` first, wrapped with a hanging indent at any width, code
excerpt, fix hint, model marker, one-line summary."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from agent.console import Terminal
from agent.console.review import print_review, print_skipped, review_text
from agent.types import Skipped
from tests.report_fixtures import EMPTY, RESULT, SECRET, SOURCES, STATIC


def _terminal(quiet: bool, width: int = 100) -> tuple[Terminal, io.StringIO, io.StringIO]:
    from rich.console import Console

    term = Terminal(quiet=quiet, color=False)
    out, err = io.StringIO(), io.StringIO()
    term.__dict__["out"] = Console(file=out, no_color=True, width=width)
    term.__dict__["err"] = Console(file=err, no_color=True, width=width)
    return term, out, err


def _printed(result, quiet=False, width=100) -> tuple[str, str]:
    term, out, err = _terminal(quiet, width)
    print_review(term, result, SOURCES)
    return out.getvalue(), err.getvalue()


def test_skipped_files_are_errors_when_named_and_warnings_otherwise():
    skipped = (Skipped("a.py", "a.py: binary file, not Python source"), Skipped("b.py", "blanked line 3"))
    term, _, err = _terminal(quiet=False)
    print_skipped(term, skipped, failed={"a.py"})
    assert err.getvalue().splitlines() == ["error: a.py: binary file, not Python source", "warning: b.py: blanked line 3"]
    term, _, err = _terminal(quiet=True)
    print_skipped(term, skipped, failed={"a.py"})
    assert err.getvalue().splitlines() == ["error: a.py: binary file, not Python source"]


def test_each_finding_leads_with_its_location_and_is_followed_by_its_code():
    out, err = _printed(RESULT)
    lines = out.splitlines()
    assert lines[0] == "app/core/config.py:1:1: critical FBA401 hard-coded SECRET_KEY"
    assert "app/routes/items.py:4:1: low FBA203 POST /items creates a resource but answers 200" in lines
    assert lines[lines.index("app/core/config.py:1:1: critical FBA401 hard-coded SECRET_KEY") + 2] == ""  # files apart
    assert any(line.strip() == '1 │ SECRET_KEY = "changeme"' for line in lines)
    assert any(line.strip() == "4 │ @router.post('/items')" for line in lines)
    assert any(line.strip() == "fix: set status_code=201" for line in lines)
    assert "(model, confidence 0.80)" in out
    assert lines[-1] == "3 findings (1 critical, 1 high, 1 low) in 3 files, 1 suppressed, 1 file not fully analysed"
    assert err == ""


def test_quiet_drops_summary_and_warnings():
    out, err = _printed(RESULT, quiet=True)
    assert "findings (" not in out and err == ""


def test_no_findings_is_one_line():
    out, _ = _printed(EMPTY)
    assert out.strip() == "0 findings in 2 files"


def test_plain_text_for_files_has_no_escape_codes():
    text = review_text(RESULT, SOURCES)
    assert "\x1b[" not in text
    assert text.splitlines()[-1].startswith("3 findings")
    assert "not fully analysed: app/legacy.py" in text


LONG = "a message long enough to wrap several times at sixty columns, with `code` and words that never break"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_long_messages_wrap_at_the_width_with_a_hanging_indent_and_never_mid_word(width):
    finding = replace(STATIC, message=LONG + " " + LONG, fix=None)
    out, _ = _printed(replace(RESULT, findings=(finding,)), width=width)
    lines = out.splitlines()
    headline = lines[:next(n for n, line in enumerate(lines) if "│" in line)]
    assert headline[0].startswith("app/routes/items.py:4:1: low FBA203 a message")
    assert all(len(line) <= width for line in headline)
    assert all(line.startswith("    ") and not line.startswith("     ") for line in headline[1:])
    assert " ".join(line.strip() for line in headline).endswith(LONG + " " + LONG)  # every word whole


def test_code_lines_are_cut_at_the_width_not_wrapped():
    sources = {"app/core/config.py": 'SECRET_KEY = "' + "x" * 200 + '"\n'}
    term, out, _ = _terminal(False, 60)
    print_review(term, replace(RESULT, findings=(SECRET,)), sources)
    code = [line for line in out.getvalue().splitlines() if "│" in line]
    assert len(code) == 1 and len(code[0]) == 60 and code[0].endswith("…")

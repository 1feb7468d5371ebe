"""The rich text report: grouped by file, code excerpt, fix hint, model marker, one-line summary."""

from __future__ import annotations

import io

from agent.console import Terminal
from agent.console.review import print_review, print_skipped, review_text
from agent.types import Skipped
from tests.report_fixtures import EMPTY, RESULT, SOURCES


def _terminal(quiet: bool) -> tuple[Terminal, io.StringIO, io.StringIO]:
    from rich.console import Console

    term = Terminal(quiet=quiet, color=False)
    out, err = io.StringIO(), io.StringIO()
    term.__dict__["out"] = Console(file=out, no_color=True, width=100)
    term.__dict__["err"] = Console(file=err, no_color=True, width=100)
    return term, out, err


def _printed(result, quiet=False) -> tuple[str, str]:
    term, out, err = _terminal(quiet)
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


def test_grouped_by_file_with_excerpts():
    out, err = _printed(RESULT)
    lines = out.splitlines()
    assert lines[0] == "app/core/config.py (1 finding)"
    assert "app/routes/items.py (2 findings)" in lines
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

"""Rule selection: `select` / `ignore` by code prefix or category, and unknown selectors."""

from __future__ import annotations

import pytest

from agent.analysis.runner import ReviewOptions
from agent.analysis.selection import check_selectors, enabled_rules, rule_codes
from agent.errors import UsageError


def codes(options: ReviewOptions) -> set[str]:
    return {rule.code for rule in enabled_rules(options)}


def test_every_rule_but_the_preview_ones_runs_by_default():
    from agent.analysis.rules import all_rules

    preview = {rule.code for rule in all_rules() if rule.preview}
    assert preview  # else this test says nothing about the preview group
    assert codes(ReviewOptions()) == set(rule_codes()) - preview
    assert codes(ReviewOptions(preview=True)) == set(rule_codes())


def test_select_takes_code_prefixes_and_categories():
    assert codes(ReviewOptions(select=("FBA101",))) == {"FBA101"}
    by_prefix = codes(ReviewOptions(select=("FBA2",)))
    assert by_prefix and all(code.startswith("FBA2") for code in by_prefix)
    by_category = enabled_rules(ReviewOptions(select=("auth-missing",)))
    assert by_category and {rule.category for rule in by_category} == {"auth-missing"}


def test_ignore_wins_over_select():
    assert "FBA101" not in codes(ReviewOptions(select=("ALL",), ignore=("FBA101",)))
    assert codes(ReviewOptions(select=("FBA101",), ignore=("auth-missing",))) == set()


@pytest.mark.parametrize("options", [ReviewOptions(select=("FBA999",)), ReviewOptions(ignore=("nonsense",)),
                                     ReviewOptions(severity={"FBA9": "low"})])
def test_unknown_selectors_are_usage_errors(options):
    with pytest.raises(UsageError, match="unknown rule or category"):
        check_selectors(options)


def test_known_selectors_pass():
    check_selectors(ReviewOptions(select=("ALL", "fba1", "jwt"), ignore=("FBA101",), severity={"FBA2": "low"}))

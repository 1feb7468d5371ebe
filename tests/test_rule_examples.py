"""Every rule's VALID examples produce none of its findings; every INVALID one at least one."""

from __future__ import annotations

import textwrap

import pytest

from agent.analysis.rules import all_rules
from agent.analysis.runner import ReviewOptions, review_sources

SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Known problems")


def _sources(example) -> dict[str, str]:
    if isinstance(example, str):
        return {"app/main.py": textwrap.dedent(example)}
    return {path: textwrap.dedent(text) for path, text in example.items()}


def _cases(kind: str):
    for rule in all_rules():
        for number, example in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, example, id=f"{rule.code}-{kind.lower()}-{number}")


def _findings(rule, example):
    result = review_sources(_sources(example), ReviewOptions(select=(rule.code,)))
    assert not result.skipped, result.skipped
    return [f for f in result.findings if f.rule == rule.code]


@pytest.mark.parametrize(("rule", "example"), list(_cases("VALID")))
def test_valid_example_is_clean(rule, example):
    assert _findings(rule, example) == []


@pytest.mark.parametrize(("rule", "example"), list(_cases("INVALID")))
def test_invalid_example_is_found(rule, example):
    assert _findings(rule, example), f"{rule.code} missed:\n{example}"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented_with_examples(rule):
    doc = rule.doc()
    for section in SECTIONS:
        assert f"**{section}**" in doc, f"{rule.code} docstring lacks '{section}'"
    assert rule.VALID and rule.INVALID, f"{rule.code} needs VALID and INVALID examples"
    assert rule.name and rule.title and rule.category

"""FBA-secrets known token formats: the formats and their prefilter come from one table."""

from __future__ import annotations

import pytest

from agent.analysis.rules.hardcoded_secret import FORMAT_ANCHORS, FORMAT_PARTS, KNOWN_FORMATS, HardcodedSecret
from agent.analysis.runner import ReviewOptions, review_sources

# One made-up value per table row (assembled, so this file holds no token-shaped literal).
SAMPLES = {
    "AWS access key id": "AKIA" + "Q3ZJ7W2XK5LM8N4P",
    "Stripe live key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "GitHub token": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "GitHub fine-grained token": "github_pat_" + "11ABCDEFG0123456789_abcdefghij",
    "Slack token": "xoxb-" + "1234567890-abcdefghij",
    "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
    "Google API key": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "Anthropic API key": "sk-ant-" + "api03-a1B2c3D4e5F6g7H8i9J0",
}


def test_every_row_has_a_sample():
    assert len(SAMPLES) == len(FORMAT_PARTS)


@pytest.mark.parametrize("value", SAMPLES.values(), ids=SAMPLES.keys())
def test_each_format_match_contains_an_anchor_the_prefilter_finds(value):
    matched = [pattern.search(value) for pattern in KNOWN_FORMATS.values()]
    found = next(m.group() for m in matched if m)
    assert FORMAT_ANCHORS.search(found)


@pytest.mark.parametrize("value", SAMPLES.values(), ids=SAMPLES.keys())
def test_each_format_is_reported_in_a_string_with_no_secret_like_name(value):
    source = f"BANNER = {value!r}\n"
    options = ReviewOptions(select=(HardcodedSecret.code,))
    findings = review_sources({"app/main.py": source}, options).findings
    assert [f.rule for f in findings] == [HardcodedSecret.code]


def test_the_prefilter_is_every_anchor_of_the_table():
    assert FORMAT_ANCHORS.pattern.split("|") == [a for _, _, anchor, _ in FORMAT_PARTS for a in anchor.split("|")]

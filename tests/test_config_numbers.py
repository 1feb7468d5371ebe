"""The numeric config keys: what each accepts, and the one-line message for what it refuses."""

from __future__ import annotations

import math

import pytest

from agent.config import KEYS_BY_NAME
from agent.errors import ConfigError

ACCEPTED = [
    ("max-cost", "0.5", 0.5), ("max-cost", 0, 0.0), ("max-cost", "", None), ("max-cost", None, None),
    ("min-confidence", 1, 1.0), ("min-confidence", "0", 0.0),
    ("timeout", "2.5", 2.5),
    ("max-retries", 0, 0), ("max-retries", "3", 3), ("max-retries", 4.0, 4),
    ("test-timeout", 1, 1), ("max-file-size", "10", 10),
]
REFUSED = [
    ("max-cost", True, "max-cost must be a number, got True"),
    ("max-cost", "lots", "max-cost must be a number, got 'lots'"),
    ("max-cost", [1], "max-cost must be a number, got [1]"),
    ("max-cost", -1, "max-cost must not be negative, got -1"),
    ("max-cost", math.nan, "max-cost must not be negative, got nan"),
    ("min-confidence", 1.5, "min-confidence must be between 0 and 1, got 1.5"),
    ("min-confidence", False, "min-confidence must be a number, got False"),
    ("timeout", 0, "timeout must be a number of seconds above 0, got 0"),
    ("timeout", math.inf, "timeout must be a number of seconds above 0, got inf"),
    ("timeout", "soon", "timeout must be a number, got 'soon'"),
    ("max-retries", -1, "max-retries must be at least 0, got -1"),
    ("max-retries", 1.5, "max-retries must be a whole number, got 1.5"),
    ("max-retries", True, "max-retries must be a whole number, got True"),
    ("max-retries", "2.0", "max-retries must be a whole number, got '2.0'"),
    ("max-retries", None, "max-retries must be a whole number, got None"),
    ("test-timeout", 0, "test-timeout must be at least 1, got 0"),
    ("max-file-size", "0", "max-file-size must be at least 1, got '0'"),
]


@pytest.mark.parametrize("key, value, expected", ACCEPTED)
def test_accepted(key: str, value: object, expected: object) -> None:
    parsed = KEYS_BY_NAME[key].parse(value, key)
    assert parsed == expected and type(parsed) is type(expected)


@pytest.mark.parametrize("key, value, message", REFUSED)
def test_refused_with_one_line(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        KEYS_BY_NAME[key].parse(value, key)
    assert str(refused.value) == message

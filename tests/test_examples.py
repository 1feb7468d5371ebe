"""`fba review examples/` reports exactly the planted problems listed in examples/expected.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXPECTED = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))


def _key(item: dict) -> tuple:
    return (item["path"], item["line"], item["rule"], item["category"])


def _review_json() -> tuple[int, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "review", "examples/", "--preview", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_review_reports_exactly_the_planted_problems():
    code, report = _review_json()
    found = sorted(_key(f) for f in report["findings"])
    expected = sorted(_key(e) for e in EXPECTED)
    missing = [e for e in expected if e not in found]
    unexpected = [f for f in found if f not in expected]
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"
    assert report["summary"]["skipped"] == []
    assert code == 1  # planted problems of medium severity or worse fail the run


def test_planted_problems_are_one_per_category():
    categories = [e["category"] for e in EXPECTED]
    assert 5 <= len(EXPECTED) <= 8
    assert len(set(categories)) == len(categories)


def test_expected_lines_point_at_real_code():
    for item in EXPECTED:
        lines = (ROOT / item["path"]).read_text(encoding="utf-8").splitlines()
        assert 0 < item["line"] <= len(lines) and lines[item["line"] - 1].strip(), item


def test_examples_readme_table_matches_expected_json():
    rows = re.findall(
        r"^\| `(?P<path>[^`]+)` \| (?P<line>\d+) \| (?P<category>[a-z-]+) \| (?P<rule>FBA\d+) ",
        (EXAMPLES / "README.md").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    table = sorted(("examples/" + path, int(line), rule, category) for path, line, category, rule in rows)
    assert table == sorted(_key(e) for e in EXPECTED)

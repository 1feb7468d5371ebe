"""The pieces of the model review: schema validation, anchoring, merging, context packing, spec
sections, batch polling."""

from __future__ import annotations

import pytest

from agent.context.packing import Section, markdown_sections, pack, spec_sections_for
from agent.errors import InputError
from agent.llm.client import BatchStatus
from agent.types import Finding, Severity
from agent.workflows.review import (
    REPORT_SCHEMA,
    FindingsCollector,
    ProjectSources,
    anchor,
    merge_findings,
    schema_errors,
    wait_for_batch,
)

CODE = """def read(item_id):
    item = db.get(Item, item_id)
    return item


def other():
    return item
"""


@pytest.mark.parametrize(("line", "end", "quote", "expected"), [
    (2, 2, "item = db.get(Item, item_id)", (2, 2)),  # exact
    (1, 3, "return item", (1, 3)),  # inside the claimed span: the span stays
    (6, 6, "item = db.get(Item, item_id)", (2, 2)),  # elsewhere: moved
    (6, 6, "return item", (7, 7)),  # two occurrences: the nearest wins
    (1, 1, "     2\titem = db.get(Item, item_id)\n     3\treturn item", (2, 3)),  # numbered, two lines
    (2, 2, "cursor.execute(query)", None),  # nowhere: dropped
    (2, 2, "  \n ", None),
])
def test_anchor(line, end, quote, expected):
    assert anchor(CODE, line, end, quote) == expected


def test_anchor_accepts_redaction_markers_for_the_secret():
    text = 'x = 1\nAPI_KEY = "sk-live-abcdef123456"\n'
    assert anchor(text, 1, 1, 'API_KEY = "[REDACTED password]"') == (2, 2)
    assert anchor(text, 1, 1, 'TOKEN = "[REDACTED password]"') is None


def raw(**changes):
    return {"category": "ownership", "severity": "high", "path": "a.py", "line": 2, "title": "IDOR",
            "detail": "Any user reads any item.", "quote": "item = db.get(Item, item_id)", "confidence": 0.8, **changes}


def test_schema_errors_name_each_problem():
    assert schema_errors({"findings": [raw()]}, REPORT_SCHEMA) == []
    errors = schema_errors({"findings": [raw(category="style", line=0, confidence=True, extra=1)],
                            "verdicts": []}, REPORT_SCHEMA)
    assert any(e.startswith("input.findings[0].category must be one of auth-missing, ownership,") for e in errors)
    assert "input.verdicts is not a known field" in errors
    assert "input.findings[0].extra is not a known field" in errors
    assert "input.findings[0].line must be at least 1" in errors
    assert "input.findings[0].confidence must be a number, got true" in errors
    assert schema_errors([], REPORT_SCHEMA) == ["input must be an object, got []"]
    assert schema_errors({}, REPORT_SCHEMA) == ["input.findings is required"]


def test_collector_anchors_counts_and_refuses_invalid_calls():
    collector = FindingsCollector({"a.py": CODE})
    answer = collector.add({"findings": [raw(), raw(line=7), raw(quote="nothing like this")],
                            "static_findings": [{"rule": "FBA101", "path": "a.py", "line": 1, "verdict": "reject",
                                                 "reason": "public"}]}, "a.py")
    assert answer.splitlines() == ["recorded 2 finding(s) for a.py",
                                   "finding 1: the quote is at line 2, not 7; moved there",
                                   "dropped finding 2: its quote is not in a.py"]
    assert [(f.rule, f.line, f.source, f.confidence) for f in collector.findings] == [
        ("FBA-LLM-ownership", 2, "llm", 0.8), ("FBA-LLM-ownership", 2, "llm", 0.8)]
    assert collector.reanchored == 1 and collector.dropped == ["a.py:2 IDOR"]
    assert collector.verdicts[0].verdict == "reject"
    with pytest.raises(InputError, match="must be 'a.py' \\(the reviewed file\\), got 'b.py'"):
        collector.add({"findings": [raw(path="b.py")]}, "a.py")
    assert collector.invalid_calls == 1 and len(collector.findings) == 2


def finding(category, line, end=None, source="static", confidence=1.0, path="a.py"):
    return Finding("R", category, Severity.HIGH, path, line, "m", end_line=end, source=source, confidence=confidence)


def test_merge_keeps_static_and_drops_overlapping_model_duplicates():
    static = [finding("ownership", 10, 12)]
    model = [finding("ownership", 12, source="llm", confidence=0.9),  # overlaps the static one
             finding("ownership", 20, 22, source="llm", confidence=0.6),
             finding("ownership", 21, source="llm", confidence=0.9),  # more confident: kept, 20-22 dropped
             finding("jwt", 11, source="llm"),  # another category: kept
             finding("ownership", 11, source="llm", path="b.py")]  # another file: kept
    merged, duplicates = merge_findings(static, model)
    assert duplicates == 2
    assert [(f.path, f.category, f.line, f.source) for f in merged] == [
        ("a.py", "ownership", 10, "static"), ("a.py", "jwt", 11, "llm"), ("a.py", "ownership", 21, "llm"),
        ("b.py", "ownership", 11, "llm")]


def test_pack_lists_what_does_not_fit():
    sections = [Section("File a.py", "x" * 300, required=True), Section("Facts", "y" * 30),
                Section("Big definition", "z" * 3000), Section("Small definition", "w" * 30)]
    packed = pack(sections, budget_tokens=150, withheld=["app/secret.py: `KEY` withheld: deny-list"])
    assert packed.included == ("File a.py", "Facts", "Small definition")
    assert packed.left_out == ("app/secret.py: `KEY` withheld: deny-list", "Big definition (~1,000 tokens)")
    assert "## Not included (context budget or deny-list)\n\n- app/secret.py" in packed.text
    assert "z" * 10 not in packed.text


def test_pack_cuts_a_required_file_and_names_the_missing_lines():
    text = "\n".join(f"line {n}" for n in range(1, 201))
    packed = pack([Section("File big.py", text, required=True)], budget_tokens=100)
    assert packed.left_out == ("File big.py: lines 41-200 (read them with read_file)",)
    assert "line 40\n[... cut:" in packed.text and "line 41" not in packed.text


SPEC = """# Items API

Intro text.

## GET /items/{id}
Only the owner may read an item; others get 404.

## POST /tags
Create a tag.

```python
# GET /tags in a code block is not a heading
```
"""


def test_spec_sections_match_route_paths_without_mount_prefix_or_parameter_names():
    assert len(markdown_sections(SPEC)) == 3
    workspace = ProjectSources(root=__import__("pathlib").Path("."), sources={
        "app/items.py": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/api/v1/items')\n\n"
                        "@router.get('/{item_id}')\ndef read_item(item_id: int):\n    return {}\n"})
    found = spec_sections_for(SPEC, "app/items.py", workspace.index())
    assert found == ["## GET /items/{id}\nOnly the owner may read an item; others get 404."]


class FakeBatches:
    def __init__(self, statuses):
        self.statuses = list(statuses)

    def batch_status(self, batch_id):
        return self.statuses.pop(0)


def status(state):
    return BatchStatus("b1", state, 1 if state != "ended" else 0, 1 if state == "ended" else 0, 0, 0)


def test_wait_for_batch_polls_with_growing_delays_until_it_ends():
    slept, seen = [], []
    client = FakeBatches([status("in_progress")] * 3 + [status("ended")])
    result = wait_for_batch(client, "b1", None, seen.append, sleep=slept.append, clock=lambda: 0.0)
    assert result.ended and slept == [1.0, 2.0, 4.0] and len(seen) == 4


def test_wait_for_batch_gives_up_at_the_deadline():
    now = {"t": 0.0}

    def sleep(seconds):
        now["t"] += seconds

    client = FakeBatches([status("in_progress")] * 10)
    result = wait_for_batch(client, "b1", 5.0, lambda s: None, sleep=sleep, clock=lambda: now["t"])
    assert not result.ended and now["t"] == 3.0  # 1 + 2; the next 4 s would pass the deadline

"""The precision ledger's verdict files and fingerprints (bench/precision/ledger.py), offline."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location("precision_ledger", ROOT / "bench" / "precision" / "ledger.py")
ledger = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = ledger  # its dataclasses look their module up while being defined
_SPEC.loader.exec_module(ledger)

SOURCE = '''import os

@router.get("/items")
async def list_items(limit: int = 10):
    try:
        return await load(limit)
    except Exception as e:
        raise HTTPException(
            500, detail=str(e))
    except KeyError as e:
        raise HTTPException(
            404, detail="missing")
'''


def verdict(**changes) -> dict:
    base = {"backend": "prefect", "rule": "FBA404", "path": "prefect/server/api/x.py",
            "fingerprint": "f::raiseHTTPException(", "verdict": "tp", "reason": "str(e) of any error, x.py:9"}
    return {**base, **changes}


def write(folder: Path, rule: str, *rows: dict) -> None:
    (folder / f"{rule}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_a_fingerprint_survives_lines_moving_above():
    line = SOURCE.splitlines().index("        raise HTTPException(") + 1
    shifted = "import sys\n\n\n" + SOURCE
    assert ledger.fingerprint(SOURCE, line) == ledger.fingerprint(shifted, line + 3)
    assert ledger.fingerprint(SOURCE, line) == "list_items::raiseHTTPException("


def test_repeated_identical_lines_of_one_scope_are_numbered():
    lines = [n for n, text in enumerate(SOURCE.splitlines(), 1) if text.strip() == "raise HTTPException("]
    first, second = (ledger.fingerprint(SOURCE, n) for n in lines)
    assert first != second and second.endswith("#2")


def test_a_decorator_line_belongs_to_its_function():
    assert ledger.fingerprint(SOURCE, 3).startswith("list_items::@router.get")


def test_verdicts_load_by_key(tmp_path):
    write(tmp_path, "FBA404", verdict(), verdict(fingerprint="g::x", verdict="fp", open=True))
    loaded = ledger.load_verdicts(tmp_path)
    assert len(loaded) == 2
    assert loaded[("prefect", "FBA404", "prefect/server/api/x.py", "g::x")].open is True


@pytest.mark.parametrize("row, problem", [
    (verdict(verdict="maybe"), "verdict must be one of"),
    (verdict(rule="FBA201"), "in the file of FBA404"),
    (verdict(backend="nowhere"), "unknown backend"),
    (verdict(reason=" "), "needs a reason"),
    ({"backend": "prefect"}, "not a verdict"),
])
def test_a_bad_verdict_is_an_error_naming_its_line(tmp_path, row, problem):
    write(tmp_path, "FBA404", verdict(fingerprint="ok::x"), row)
    with pytest.raises(ValueError, match=rf"FBA404.jsonl:2: .*{problem}"):
        ledger.load_verdicts(tmp_path)


def test_a_finding_judged_twice_is_an_error(tmp_path):
    write(tmp_path, "FBA404", verdict(), verdict(verdict="fp"))
    with pytest.raises(ValueError, match="judged twice"):
        ledger.load_verdicts(tmp_path)


def test_the_committed_verdicts_load():
    assert ledger.load_verdicts()


def judged(rule: str, kind: str | None, severity: str = "medium") -> object:
    v = ledger.Verdict("prefect", rule, "p.py", "f", kind, "r") if kind else None
    return ledger.Judged("prefect", rule, severity, "p.py", 1, "m", "f", v)


def test_targets_count_precision_dismissals_and_high_severity():
    findings = [judged("FBA404", "tp")] * 9 + [judged("FBA404", "fp")]
    assert ledger.target_misses(findings) == []
    findings += [judged("FBA404", "dismiss")] * 3
    assert ledger.target_misses(findings) == ["dismissable share 0.23 > 0.15"]
    misses = ledger.target_misses([judged("FBA202", "tp", "high")] * 9 + [judged("FBA202", "fp", "high")])
    assert misses == ["high-severity precision 0.90 < 0.95"]


def test_a_rule_below_its_floor_is_a_miss():
    findings = [judged("FBA404", "tp")] * 40 + [judged("FBA220", "tp")] * 3 + [judged("FBA220", "fp")]
    assert ledger.target_misses(findings) == ["FBA220 precision 0.75 < 0.8"]


def test_held_out_figures_leave_the_tuning_backends_out():
    tuned = judged("FBA404", "tp")
    held = ledger.Judged("gpustack", "FBA404", "medium", "p.py", 1, "m", "f", None)
    assert ledger.held_out_only([tuned, held]) == [held]
    held_out = {b.name for b in ledger.BACKENDS if b.held_out}
    assert {"argilla", "airflow", "gpustack", "lightrag", "skypilot", "chromadb", "openhands"} <= held_out
    assert held_out.isdisjoint({"open-webui", "prefect", "zenml", "dstack", "khoj"})  # the tuning backends


def test_closing_fixed_false_positives_drops_open(tmp_path):
    write(tmp_path, "FBA404", verdict(verdict="fp", open=True), verdict(fingerprint="g::x", verdict="fp", open=True))
    fixed = [v for v in ledger.load_verdicts(tmp_path).values() if v.fingerprint == "g::x"]
    assert ledger.close_fixed(fixed, tmp_path) == 1
    still_open = {v.fingerprint: v.open for v in ledger.load_verdicts(tmp_path).values()}
    assert still_open == {"f::raiseHTTPException(": True, "g::x": False}

"""FBA204: only the findings `--fix` can repair are marked fixable."""

from __future__ import annotations

import textwrap

from agent.analysis.runner import ReviewOptions, review_sources

SOURCE = textwrap.dedent("""
    from fastapi import APIRouter
    router = APIRouter()

    @router.delete("/a/{id}")
    def delete_a(id: int) -> None:
        pass

    @router.delete("/b/{id}", status_code=200)
    def delete_b(id: int) -> None:
        pass

    @router.delete("/c/{id}", status_code=204)
    def delete_c(id: int):
        return {"deleted": id}

    @router.delete("/d/{id}", status_code=201)
    def delete_d(id: int):
        return {"status": "ok"}
""")


def test_only_a_route_without_body_and_without_status_or_with_200_is_fixable():
    findings = review_sources({"app/main.py": SOURCE}, ReviewOptions(select=("FBA204",))).findings
    assert {f.line: f.fixable for f in findings} == {5: True, 9: True, 13: False, 17: False}

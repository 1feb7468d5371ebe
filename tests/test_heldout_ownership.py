"""FBA103 on membership and machine-credential routes: each look-alike in the rule's examples is
still reported on its own (the example tests only ask for at least one finding)."""

from __future__ import annotations

import textwrap

from agent.analysis.rules.owner_id_from_client import OwnerIdFromClient
from agent.analysis.runner import ReviewOptions, review_sources


def _messages(example: dict[str, str]) -> list[str]:
    sources = {path: textwrap.dedent(text) for path, text in example.items()}
    result = review_sources(sources, ReviewOptions(select=("FBA103",)))
    return sorted(f.message for f in result.findings if f.rule == "FBA103")


def test_membership_and_machine_routes_are_not_flagged():
    assert _messages(OwnerIdFromClient.VALID[-1]) == []


def test_each_look_alike_is_still_flagged():
    messages = _messages(OwnerIdFromClient.INVALID[0])
    flagged = {m.split(" ", 1)[0] for m in messages}
    assert flagged == {"list_members", "list_orders", "place_order", "add_member"}, messages
    assert any("'created_by'" in m for m in messages) and not any("'user_id'" in m for m in messages)

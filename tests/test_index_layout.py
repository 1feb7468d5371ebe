"""The project index stores facts and looks symbols up; policies and word lists live elsewhere."""

from __future__ import annotations

from agent.analysis import index as index_module
from agent.analysis import fingerprints, import_graph, models, routing


def _word_lists(module) -> list[str]:
    return [name for name, value in vars(module).items()
            if isinstance(value, (tuple, frozenset, set, list)) and value and all(isinstance(v, str) for v in value)]


def test_the_index_module_holds_no_word_lists():
    assert _word_lists(index_module) == []


def test_each_part_says_what_it_owns():
    for module in (index_module, routing, models, import_graph, fingerprints):
        assert module.__doc__ and len(module.__doc__.split()) > 20, module.__name__

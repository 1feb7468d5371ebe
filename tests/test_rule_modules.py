"""Each rule lives in the module named after it, so `fba rules NAME` leads straight to the file."""

from agent.analysis.rules import all_rules


def test_every_rule_module_is_named_after_its_rule():
    mismatched = [
        (rule.__module__.rsplit(".", 1)[-1], rule.name)
        for rule in all_rules()
        if rule.__module__.rsplit(".", 1)[-1] != rule.name.replace("-", "_")
    ]
    assert mismatched == []

"""Model aliases and prices: ids the installed SDK knows and does not deprecate; costs as priced."""

from __future__ import annotations

import typing

import pytest

from agent.llm.models import ALIASES, PRICES, Price, price_for, resolve_model, usage_with_cost


def _sdk_model_ids() -> set[str]:
    from anthropic.types.model_param import ModelParam

    literal = next(arg for arg in typing.get_args(ModelParam) if typing.get_origin(arg) is typing.Literal)
    return set(typing.get_args(literal))


def _sdk_deprecated() -> set[str]:
    from anthropic._data.deprecated_models import DEPRECATED_MODELS

    return set(DEPRECATED_MODELS)


@pytest.mark.parametrize("model", sorted(set(ALIASES.values()) | set(PRICES)))
def test_every_model_id_is_current_in_the_installed_sdk(model):
    assert model in _sdk_model_ids()
    assert model not in _sdk_deprecated()


def test_every_alias_has_a_price():
    assert all(price_for(model) is not None for model in ALIASES.values())


def test_resolve_model_accepts_alias_id_and_config_override():
    assert resolve_model("sonnet") == ALIASES["sonnet"]
    assert resolve_model("Opus") == ALIASES["opus"]
    assert resolve_model("claude-opus-4-8") == "claude-opus-4-8"
    assert resolve_model("") == ALIASES["sonnet"]
    assert resolve_model("sonnet", {"sonnet": "claude-sonnet-5"}) == "claude-sonnet-5"
    assert resolve_model("fast", {"fast": "claude-haiku-5-5"}) == "claude-haiku-5-5"


def test_cost_uses_all_four_token_prices():
    usage = usage_with_cost("claude-sonnet-5-5", 1_000_000, 100_000, 200_000, 3_000_000)
    assert usage.cost_usd == pytest.approx(2.00 + 1.00 + 0.50 + 0.30)
    assert usage.cost_known and usage.requests == 1


def test_long_prompts_switch_to_the_long_prompt_tier():
    price = PRICES["claude-haiku-5-5"]
    assert price.cost(100_000, 0, 0, 0) == pytest.approx(0.01)
    assert price.cost(60_000, 1_000_000, 0, 50_000) == pytest.approx(0.03 + 2.50 + 0.0025)


def test_dated_snapshot_ids_share_the_base_price():
    assert price_for("claude-opus-4-8-20260101") == PRICES["claude-opus-4-8"]


def test_unknown_model_cost_is_unknown_not_zero():
    usage = usage_with_cost("claude-unknown-9", 10, 10, 0, 0)
    assert not usage.cost_known
    assert usage.to_dict()["cost_usd"] is None
    total = usage + usage_with_cost("claude-sonnet-5-5", 10, 10, 0, 0)
    assert not total.cost_known and total.requests == 2


def test_price_without_long_tier_ignores_prompt_length():
    assert Price(1, 1, 1, 1).cost(10_000_000, 0, 0, 0) == pytest.approx(10.0)

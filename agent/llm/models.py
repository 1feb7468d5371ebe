"""Model aliases and the dated price table.

`resolve_model("sonnet")` turns an agent file's `model:` (or `--model`) into a concrete model id;
config key `models` overrides the table. Ids must be in the installed SDK's model list and not
deprecated (a test checks it against `anthropic/types/model_param.py` and
`anthropic/_data/deprecated_models.py`).

`price_for(model)` gives USD per million tokens; a model we have no verified price for gives None
and its cost is reported as unknown, never as 0. Prices are copied by hand from Anthropic's model
pages (platform.claude.com/docs/.../models/*/overview and the pricing page) on PRICES_TAKEN_ON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from agent.types import Usage

ALIASES: dict[str, str] = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
}
DEFAULT_ALIAS = "sonnet"

PRICES_TAKEN_ON = "2026-11-26"


@dataclass(frozen=True)
class Price:
    """USD per million tokens. `cache_write` is the 5-minute cache write (the `ephemeral` default).

    Some models charge every token of a request more once its prompt (input + cache reads + cache
    writes) passes `long_prompt_tokens`; `long_prompt` is that tier.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float
    long_prompt_tokens: int | None = None
    long_prompt: "Price | None" = None

    def cost(self, input_tokens: int, output_tokens: int, cache_write_tokens: int, cache_read_tokens: int) -> float:
        prompt = input_tokens + cache_write_tokens + cache_read_tokens
        if self.long_prompt is not None and self.long_prompt_tokens is not None and prompt > self.long_prompt_tokens:
            return self.long_prompt.cost(input_tokens, output_tokens, cache_write_tokens, cache_read_tokens)
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_write_tokens * self.cache_write
            + cache_read_tokens * self.cache_read
        ) / 1_000_000


PRICES: dict[str, Price] = {
    # Sonnet 5.5: cache reads cut from $0.20 to $0.10 on 2026-10-07 (some translated model pages
    # still show $0.20).
    "claude-sonnet-5-5": Price(2.00, 10.00, 2.50, 0.10),
    "claude-opus-5-5": Price(4.00, 20.00, 5.00, 0.20),
    "claude-haiku-5-5": Price(
        0.10, 0.50, 0.125, 0.01,
        long_prompt_tokens=100_000, long_prompt=Price(0.50, 2.50, 0.625, 0.05),
    ),
    "claude-sonnet-5": Price(2.00, 10.00, 2.50, 0.20),
    "claude-opus-5": Price(5.00, 25.00, 6.25, 0.50),
    "claude-fable-5-1": Price(10.00, 50.00, 12.50, 0.25),
    "claude-opus-4-8": Price(5.00, 25.00, 6.25, 0.50),
    "claude-opus-4-7": Price(5.00, 25.00, 6.25, 0.50),
    "claude-opus-4-6": Price(5.00, 25.00, 6.25, 0.50),
}


def resolve_model(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """A concrete model id for an alias (`sonnet`), an override key or an id (returned as given)."""
    name = name.strip() or DEFAULT_ALIAS
    table = {**ALIASES, **(overrides or {})}
    return table.get(name.lower(), name)


def price_for(model: str) -> Price | None:
    """The price of `model` (dated snapshot ids such as `...-20251001` share their base id's)."""
    if model in PRICES:
        return PRICES[model]
    base, _, suffix = model.rpartition("-")
    if suffix.isdigit() and len(suffix) == 8:
        return PRICES.get(base)
    return None


def usage_with_cost(model: str, input_tokens: int, output_tokens: int,
                    cache_write_tokens: int, cache_read_tokens: int) -> Usage:
    """One request's Usage, priced; an unpriced model gives `cost_known=False`."""
    price = price_for(model)
    cost = price.cost(input_tokens, output_tokens, cache_write_tokens, cache_read_tokens) if price else 0.0
    return Usage(input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost, 1,
                 cost_known=price is not None)

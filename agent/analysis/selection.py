"""Rule selection: which static rules a review runs (`select` / `ignore`), and the check that
every selector names a known rule code or category."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from agent.analysis.cache import ReviewCache, RuleCatalogue, engine_digest
from agent.errors import UsageError

if TYPE_CHECKING:
    from agent.analysis.rules.base import Rule
    from agent.analysis.runner import ReviewOptions

RULES_ENTRY = "rules"  # the cache blob holding the rule catalogue


def _matches(rule: type[Rule], selectors: Iterable[str]) -> bool:
    for selector in selectors:
        s = selector.strip()
        if s.upper() == "ALL" or rule.category == s.lower() or rule.code.startswith(s.upper()):
            return True
    return False


def enabled_rules(options: ReviewOptions) -> list[Rule]:
    from agent.analysis.rules import all_rules

    rules = [r for r in all_rules() if (not options.select or _matches(r, options.select))]
    return [r() for r in rules if not _matches(r, options.ignore) and _previewed(r, options)]


def _previewed(rule: type[Rule], options: ReviewOptions) -> bool:
    """A preview rule (not yet precise enough for the default set) runs with `preview` on or when
    selected by its own code."""
    return not rule.preview or options.preview or any(s.strip().upper() == rule.code for s in options.select)


def check_selectors(options: ReviewOptions, cache: ReviewCache | None = None) -> None:
    """Unknown rule codes or categories in select/ignore/severity are usage errors."""
    from agent.types import CATEGORIES

    codes: tuple[str, ...] | None = None
    for selector in (*options.select, *options.ignore, *options.severity):
        s = selector.strip()
        if s.upper() == "ALL" or s.lower() in CATEGORIES:
            continue
        codes = codes if codes is not None else rule_codes(cache)
        if not any(c.startswith(s.upper()) for c in codes):
            raise UsageError(f"unknown rule or category '{selector}' (see 'fba rules')")


def rule_codes(cache: ReviewCache | None = None) -> tuple[str, ...]:
    """Every static rule's code, from the cache's catalogue of this engine when it has one
    (importing every rule module costs more than a warm review)."""
    engine = engine_digest()
    known = cache.load(RULES_ENTRY) if cache is not None else None
    if isinstance(known, RuleCatalogue) and known.engine == engine:
        return known.codes
    from agent.analysis.rules import all_rules

    codes = tuple(r.code for r in all_rules())
    if cache is not None:
        cache.store(RULES_ENTRY, RuleCatalogue(engine, codes))
    return codes

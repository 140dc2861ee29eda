"""Query understanding: what the shopper asked for beyond the words to match. Prices in words
become a price range (``prices``), values of the catalog's own keyword fields found in the query
become filters (``attributes``), each by the rule set's ``understanding`` (a field's found value:
``filter`` or ``none``; defaults below, chosen by measurement: docs/understanding.md).

A request's own filters always win over understood ones on the same field; ``"understand":
false`` turns it off for one request. The text retrieval reads loses only the price words.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..rerank.named import Vocabulary, words
from .attributes import Found, find_attributes
from .prices import Price, find_price

ACTIONS = ("filter", "none")
PRICE_FIELD = "price"


@dataclass(frozen=True)
class Policy:
    """What a rule set does with what is understood: per keyword field, ``filter`` or ``none``
    (fields not listed: none), in priority order for overlapping values; and for prices."""

    fields: Mapping[str, str] = field(default_factory=lambda: {"gender": "filter", "colour": "filter"})
    prices: str = "filter"
    admit: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"gender": ("unisex",)})  # kept by any value

    @property
    def filtered(self) -> list[str]:
        """The fields whose found values filter, in priority order."""
        return [f for f, action in self.fields.items() if action == "filter"]


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Understood:
    """What a query was understood to ask: the text retrieval reads, the filters added, and what
    was found (for the response, ``explain`` and the decision log)."""

    text: str
    filters: dict[str, Any]
    found: tuple[Found, ...] = ()
    price: Price | None = None

    def shown(self) -> dict[str, Any]:
        """The response's ``understood``: the text searched, the filters added, each finding."""
        found = [{"field": f.field, "value": f.value, "said": f.said} for f in self.found]
        if self.price is not None:
            found.append({"field": PRICE_FIELD, "value": self.price.as_filter(), "said": self.price.said})
        return {"text": self.text, "filters": self.filters, "found": found}


def understand(text: str, vocabulary: Callable[[str], Vocabulary] | None, policy: Policy,
               given: Mapping[str, Any]) -> Understood:
    """``text`` understood under ``policy``; ``given``: the request's own filters (a field it
    filters is not filtered again). Nothing found: the text as it is and no filters."""
    filters: dict[str, Any] = {}
    price = None
    rest = text
    if policy.prices == "filter" and PRICE_FIELD not in given:
        price, rest = find_price(text)
        if price is not None:
            filters[PRICE_FIELD] = price.as_filter()
            if not rest.strip():  # "under 500" alone: the words stay the search
                rest = text
    found: tuple[Found, ...] = ()
    wanted = [f for f in policy.filtered if f not in given]
    if wanted and vocabulary is not None:
        found = tuple(find_attributes(rest, {f: vocabulary(f) for f in wanted}, wanted))
        for f in found:  # two values of one field ("red or black"): either
            held = filters.get(f.field)
            filters[f.field] = [f.value] if held is None else [*held, f.value]
        for name in {f.field for f in found}:
            values = filters[name]
            extra = [a for a in policy.admit.get(name, ()) if a not in values and words(a) in vocabulary(name)]
            filters[name] = values[0] if len(values) == 1 and not extra else [*values, *extra]
    return Understood(rest, filters, found, price)


def read(text: str, vocabulary: Callable[[str], Vocabulary] | None, policy: Policy, given: dict[str, Any]
         ) -> tuple[str, dict[str, Any], Understood | None]:
    """What retrieval reads for ``text`` under ``policy``: (the text, every filter: the understood
    ones and ``given``, the request's own, which win; what was understood, None when nothing was).
    The one place /search, `rules diff` and /inspect apply understanding."""
    u = understand(text, vocabulary, policy, given)
    if not u.filters:
        return text, given, None
    return u.text, {**u.filters, **given}, u

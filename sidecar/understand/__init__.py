"""Query understanding: what the shopper asked for beyond the words to match. The rule files'
rewrites apply first (``rewrites``: synonyms, deletions, boost/bury, filters); then prices in
words become a price range (``prices``) and values of the catalog's own keyword fields found in
the query become filters or boosts (``attributes``), each by the rule set's ``understanding`` (a
field's found value: ``filter``, ``boost`` or ``none``; defaults below, chosen by measurement:
docs/understanding.md).

A request's own filters always win over understood ones on the same field; ``"understand":
false`` turns it off for one request. The text retrieval reads loses the price words and the
words a rewrite deletes, and gains the synonyms a rewrite adds.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..rerank.named import Vocabulary, singular, words
from .attributes import NEGATIONS, Found, find_attributes
from .prices import Price, find_price
from ..retrieval.boosts import Boost
from ..retrieval.product_types import TYPE_FIELD, VOTE_SHARE, TypeWords
from .rewrites import RewriteSet, rewrite

BOOST_FACTOR = 2.0  # a found value's products, with action boost: their retrieval score doubled
PRICE_FIELD = "price"


@dataclass(frozen=True)
class Policy:
    """What a rule set does with what is understood: per keyword field, ``filter``, ``boost`` or
    ``none`` (fields not listed: none), in priority order for overlapping values; for prices; and
    the rewrites of its files, in file order."""

    fields: Mapping[str, str] = field(default_factory=lambda: {"gender": "filter", "colour": "filter"})
    prices: str = "filter"
    product_type: str = "filter"  # the type a title word names (retrieval.product_types): filter, boost, none
    admit: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"gender": ("unisex",)})  # kept by any value
    rewrites: RewriteSet = field(default_factory=RewriteSet)  # the rule set's (any sequence of Rewrite is taken)
    own: RewriteSet = field(default_factory=RewriteSet)  # the serving rule's, applied after (RuleSet.reading)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rewrites", RewriteSet.of(self.rewrites))
        object.__setattr__(self, "own", RewriteSet.of(self.own))

    @property
    def filtered(self) -> list[str]:
        """The fields whose found values filter, in priority order."""
        return [f for f, action in self.fields.items() if action == "filter"]

    @property
    def sought(self) -> list[str]:
        """The fields whose values are looked for in the query (filter or boost), in priority order."""
        return [f for f, action in self.fields.items() if action != "none"]


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Understood:
    """What a query was understood to ask: the text retrieval reads, the filters added, what was
    found, the rewrites applied and the boosts asked (for the response, ``explain``, /inspect and
    the decision log)."""

    text: str
    filters: dict[str, Any]
    found: tuple[Found, ...] = ()
    price: Price | None = None
    rewrites: tuple[str, ...] = ()  # each applied rewrite: "file:line: what it did"
    boosts: tuple[Boost, ...] = ()

    def shown(self) -> dict[str, Any]:
        """The response's ``understood``: the text searched, the filters added, each finding, the
        rewrites applied and the boosts."""
        found = [{"field": f.field, "value": f.value, "said": f.said} for f in self.found]
        if self.price is not None:
            found.append({"field": PRICE_FIELD, "value": self.price.as_filter(), "said": self.price.said})
        out: dict[str, Any] = {"text": self.text, "filters": self.filters, "found": found}
        if self.rewrites:
            out["rewrites"] = list(self.rewrites)
        if self.boosts:
            out["boosts"] = [b.shown() for b in self.boosts]
        return out


FUNCTION_WORDS = frozenset({"a", "an", "and", "by", "for", "in", "of", "on", "or", "the", "to", "with"})


def understand(text: str, vocabulary: Callable[[str], Vocabulary] | None, policy: Policy,
               given: Mapping[str, Any], types: Callable[[], TypeWords] | None = None,
               vote: Callable[[str], tuple[str, float] | None] | None = None) -> Understood:
    """``text`` understood under ``policy``: its rewrites first, then prices, attributes and the
    product type on the text they leave; ``given``: the request's own filters (a field it filters
    is not filtered again); ``types``: the backend's type words; ``vote``: the type the products
    nearest some words hold, and its share (``retrieval.product_types``). Nothing found: the text
    as it is and no filters."""
    rewritten = rewrite(text, (policy.rewrites, policy.own), given)
    text = rewritten.text
    filters: dict[str, Any] = dict(rewritten.filters)
    boosts = list(rewritten.boosts)
    given = {**filters, **given}  # a rewrite's filter is not filtered again either
    price = None
    rest = text
    if policy.prices == "filter" and PRICE_FIELD not in given:
        price, rest = find_price(text)
        if price is not None:
            filters[PRICE_FIELD] = price.as_filter()
            if not rest.strip():  # "under 500" alone: the words stay the search
                rest = text
    found: tuple[Found, ...] = ()
    wanted = [f for f in policy.sought if f not in given]
    if wanted and vocabulary is not None:
        found = tuple(find_attributes(rest, {f: vocabulary(f) for f in wanted}, wanted))
        filtering = set(policy.filtered)
        boosts += [Boost(f.field, f.value, BOOST_FACTOR, f"understanding.fields.{f.field}")
                   for f in found if f.field not in filtering]  # found fields are sought: filter or boost
        for f in (f for f in found if f.field in filtering):  # "red or black": either
            held = filters.get(f.field)
            filters[f.field] = [f.value] if held is None else [*held, f.value]
        for name in {f.field for f in found if f.field in filtering}:
            values = filters[name]
            extra = [a for a in policy.admit.get(name, ()) if a not in values and words(a) in vocabulary(name)]
            filters[name] = values[0] if len(values) == 1 and not extra else [*values, *extra]
    if policy.product_type != "none" and types is not None and TYPE_FIELD not in given and TYPE_FIELD not in filters:
        kind = product_type(rest, types(), found, vote)
        if kind is not None:
            found = (*found, kind)
            if policy.product_type == "filter":
                filters[TYPE_FIELD] = kind.value
            else:
                boosts.append(Boost(TYPE_FIELD, kind.value, BOOST_FACTOR, "understanding.product_type"))
    return Understood(rest, filters, found, price, rewritten.applied, tuple(boosts))


def voted_type(text: str, found: tuple[Found, ...], vote: Callable[[str], tuple[str, float] | None] | None,
               spread: frozenset[str] = frozenset()) -> Found | None:
    """The type the query's words the catalog has no evidence for name through the encoder
    (words naming no value found, no function word, none of ``spread``: the title words spread
    over several types): the products nearest them vote, and a type with ``VOTE_SHARE`` of the
    votes is named. None without ``vote``, without such words, or in a query with a negation."""
    q = words(text)
    if vote is None or any(w in NEGATIONS for w in q):
        return None
    used = {i for f in found for i in range(f.start, f.end)}
    rest = [i for i, w in enumerate(q)
            if i not in used and w not in FUNCTION_WORDS and singular(w) not in spread]
    if not rest:
        return None
    said = " ".join(q[i] for i in rest)
    got = vote(said)
    if got is None or got[1] < VOTE_SHARE:
        return None
    return Found(TYPE_FIELD, got[0], said, rest[0], rest[-1] + 1)


def product_type(text: str, types: TypeWords, found: tuple[Found, ...],
                 vote: Callable[[str], tuple[str, float] | None] | None = None) -> Found | None:
    """The one product type the text's words name (``retrieval.product_types``), or None: two
    different ones named, or only by a word right after a negation or inside a value already
    found ("red tape": a brand). Where no title word names any, the type ``vote`` gives the
    words the catalog has no evidence for (``voted_type``)."""
    q = words(text)
    titled = types.named(q)
    if not titled:
        return voted_type(text, found, vote, types.spread)
    used = {i for f in found for i in range(f.start, f.end)}
    named = [n for n in titled if n.at not in used and not (n.at > 0 and q[n.at - 1] in NEGATIONS)]
    if len({n.value for n in named}) != 1:
        return None
    n = named[0]
    return Found(TYPE_FIELD, n.value, n.said, n.at, n.at + 1)


class Catalog(Protocol):
    """What understanding reads of the products: a backend (``retrieval.Backend``)."""

    def vocabulary(self, field: str) -> Vocabulary: ...

    def type_words(self) -> TypeWords: ...

    def type_vote(self, vector: Any) -> tuple[str, float] | None: ...


def read(text: str, catalog: Catalog, policy: Policy, given: dict[str, Any],
         embed: Callable[[str], Any] | None = None) -> tuple[str, dict[str, Any], Understood | None]:
    """What retrieval reads for ``text`` under ``policy`` over ``catalog`` (a backend): (the
    text, every filter: the understood ones and ``given``, the request's own, which win; what was
    understood, None when nothing was). ``embed``: the query encoder, for the type a shopper's
    words name (none without it). The one place /search, `rules diff` and /inspect apply
    understanding."""
    vote = (lambda words_: catalog.type_vote(embed(words_))) if embed is not None else None
    u = understand(text, catalog.vocabulary, policy, given, catalog.type_words, vote)
    if not u.filters and not u.rewrites and not u.boosts:
        return text, given, None
    return u.text, {**u.filters, **given}, u

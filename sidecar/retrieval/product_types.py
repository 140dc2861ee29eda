"""The product type a query names, learnt from the catalog itself: a title word that (nearly)
only one product type holds names that type. "red tshirts for women" names Topwear through
"tshirt"; "green nail polish" names Nails through "polish".

``TypeWords.train`` reads every product's title words (folded, singular) and its type (the
catalog's ``category``) and keeps the words held by at least ``MIN_PRODUCTS`` products, at least
``MIN_SHARE`` of them of one type: a word spread over types ("red", "men", a brand selling
shoes and shirts) names none. Both backends train it the same way from their products (the
OpenSearch one from a sample of at most ``SAMPLE`` of them).

Where no title word names a type, the query's words the catalog has no evidence for (no value
already found, and no word the titles spread over several types, which says the word names no
one type: "women red tees" -> "tees") may, through the encoder: embedded, the ``VOTE_K`` products
nearest them vote by their type, and a type with ``VOTE_SHARE`` of the votes is named (a
backend's ``type_vote``). The share was chosen on the catalog itself: a product's title vector
as the query, the product left out, its 20 nearest products vote; of 3,000 sampled products, the
2,807 whose vote reached 0.7 got their own type 98.8% of the time (bench/bench_understand_quality.py).

Guarantees: where two title words of one query name two different types, none is named (the
query is not guessed); the vote is asked only when no title word names one. Limits: a type is
only as fine as the catalog's ``category`` field; measured on the fashion queries
(docs/understanding.md), not on every catalog.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..rerank.named import fold, singular, words

TYPE_FIELD = "category"  # the catalog's product type field
VOTE_K = 20  # a shopper's words name a type by the types of the products nearest their embedding
VOTE_SHARE = 0.7  # ... when at least this share of those VOTE_K products is of one type
MIN_PRODUCTS = 20  # a word held by fewer products names nothing (too little evidence)
MIN_SHARE = 0.9  # the share of its products one type must hold for a word to name it
SAMPLE = 50_000  # the most products a backend reads to train it


@dataclass(frozen=True)
class Named:
    """A type the query names: the value (folded, as filters compare it), the query word that
    named it, its position among the query's words, and the share of that word's products of
    the type (the confidence)."""

    value: str
    said: str
    at: int
    share: float


@dataclass(frozen=True)
class TypeWords:
    """Title words that name a product type: word (folded, singular) -> (type, share)."""

    words: dict[str, tuple[str, float]] = field(default_factory=dict)
    spread: frozenset[str] = frozenset()  # words of >= MIN_PRODUCTS products spread over types: no type

    @classmethod
    def train(cls, products: Iterable[tuple[str | None, str | None]]) -> TypeWords:
        """From (title, type) pairs: the words that name a type (see the module)."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for title, kind in products:
            if not title or not kind:
                continue
            for w in {singular(x) for x in words(title)}:
                counts[w][fold(kind)] += 1
        kept, spread = {}, set()
        for w, c in counts.items():
            n = sum(c.values())
            kind, k = c.most_common(1)[0]
            if n >= MIN_PRODUCTS and k / n >= MIN_SHARE and not w.isdigit():
                kept[w] = (kind, round(k / n, 4))
            elif n >= MIN_PRODUCTS:
                spread.add(w)
        return cls(kept, frozenset(spread))

    def __len__(self) -> int:
        return len(self.words)

    def named(self, query_words: tuple[str, ...]) -> list[Named]:
        """Each query word that names a type, in query order."""
        out = []
        for i, w in enumerate(query_words):
            hit = self.words.get(singular(w))
            if hit is not None:
                out.append(Named(hit[0], w, i, hit[1]))
        return out


def vote(types: Iterable[str | None]) -> tuple[str, float] | None:
    """The type most of ``types`` are (folded) and its share of them; None when there are none."""
    held = [fold(t) for t in types]
    counts = Counter(t for t in held if t)
    if not counts:
        return None
    kind, n = counts.most_common(1)[0]
    return kind, n / len(held)

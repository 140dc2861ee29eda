"""Values of the catalog's own keyword fields found in a query: "red tshirts for women" names the
colour Red and the gender Women, as the index spells them.

Guarantees: a value is found only where all its words appear in a row in the query, compared
folded (NFKC, lower case) and with plurals read as their singular ("tshirts", "mens"); where
values overlap, the longest wins, then the field listed first ("red tape shoes" is the brand Red
Tape, not the colour Red); a value right after a negation ("not red", "without", "no", "non") is
left to the search, and so are its words. Limits: exact values only (the colour "blue" does not
find "Navy Blue"); plurals by suffix rules (-s, -es, -ies), not a dictionary.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..rerank.named import Vocabulary, singular, words

NEGATIONS = frozenset({"not", "no", "without", "non", "except", "excluding"})


@dataclass(frozen=True)
class Found:
    """One value found: its field, the value as the index folds it, and the query words (positions
    ``start`` to ``end``) that named it."""

    field: str
    value: str
    said: str
    start: int
    end: int


def find_attributes(query: str, vocabularies: Mapping[str, Vocabulary], order: Sequence[str] | None = None
                    ) -> list[Found]:
    """The values of ``vocabularies``' fields the query names, in query order, none overlapping.
    ``order``: the fields by priority when one span names values of two (default: as given)."""
    q = words(query)
    if not q:
        return []
    fields = list(order or vocabularies)
    rank = {f: i for i, f in enumerate(fields)}
    candidates = []
    for f in fields:
        voc = vocabularies.get(f)
        if voc is None or not len(voc):
            continue
        for n in range(min(voc.longest, len(q)), 0, -1):
            for i in range(len(q) - n + 1):
                span = q[i:i + n]
                value = voc.get(span)
                if value is None:
                    value = voc.get((*span[:-1], singular(span[-1])))
                if value is not None:
                    candidates.append((-n, rank[f], i, f, value))
    taken = [False] * len(q)
    found = []
    for neg_len, _, i, f, value in sorted(candidates):
        n = -neg_len
        if any(taken[i:i + n]):
            continue
        for k in range(i, i + n):
            taken[k] = True
        if i > 0 and q[i - 1] in NEGATIONS:
            continue  # "not red": the words are used up, nothing is asked
        found.append(Found(f, value, " ".join(q[i:i + n]), i, i + n))
    return sorted(found, key=lambda x: x.start)

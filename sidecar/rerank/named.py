"""Values the shopper named: a constraint does not push down what the query asks for.

"puma shoes" asks for Puma. Under a rule with "one brand <= 30%", the agents would fill the page
with other brands from far down the window: the cap fights the query. So when the query names a
value of a constrained field (matched against the values that field holds in the index, both
folded), that field's constraints leave the value alone:

- a per-value cap (``any: true``) does not count the named value;
- a max on listed values (``value``/``values``) does not count items holding a named value;
- a min on listed values that names none of the named values is dropped (it could only push
  the named value down: "new watches" under "pre-owned >= 10%"); one that lists a named value
  stays (it asks for more of what the shopper asked for);
- range constraints (dates, numbers) are not touched.

A rule turns this off with ``respect_query: false``. Guarantees: matching is by whole words of
the folded query (NFKC, lower case), a value matching only where all its words appear in a row,
so "red" does not name "Red Tape"; it never changes a constraint on a field the query does not
name. Limits: a value that is also a common word (a brand called "Basics") is named by every query
holding that word; values are matched as written in the index, without synonyms or stemming.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+")


def fold(value: Any) -> Any:
    """A keyword value as the index's ``folded`` normalizer stores it: NFKC (full-width to
    half-width), lower case. Non-strings stay as they are."""
    if not isinstance(value, str):
        return value
    return (value if value.isascii() else unicodedata.normalize("NFKC", value)).lower()


def words(text: str | None) -> tuple[str, ...]:
    """The words of a text, folded (``\\w+`` runs): how a query and a value are compared; the
    fusion's match share counts the same words."""
    return tuple(_WORD.findall(fold(text or "")))


def singular(word: str) -> str:
    """A plural read as its singular by suffix: tshirts -> tshirt, dresses -> dress, accessories
    -> accessory; a word that is not plural by these rules is itself."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


_MASK = (1 << 64) - 1


def _key(words_: tuple[str, ...]) -> int:
    """A value's words as the 64-bit number the vocabulary sorts by (Python's tuple hash: stable
    within the process that built the vocabulary, which is the only one that reads it)."""
    return hash(words_) & _MASK


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The values of one field, by their folded words, for finding them in a query.

    Kept compact, since a field may hold a million values: a sorted array of each value's words
    as a 64-bit key, and the folded values' UTF-8 bytes in one buffer (about 30 bytes a value
    beside the values' own bytes; 1 M two- and three-word values: bench/bench_understand.py). A
    lookup is one binary search; a key that matches is checked against the value's own words, so
    two values whose keys collide are never confused (the second is not found)."""

    keys: np.ndarray  # uint64, sorted
    starts: np.ndarray  # int64: value i is blob[starts[i]:ends[i]]
    ends: np.ndarray
    blob: bytes
    longest: int

    @classmethod
    def of(cls, values: Iterable[Any]) -> Vocabulary:
        """The vocabulary of ``values`` (strings with at least one word; others are skipped), each
        kept by its folded words; the first spelling of equal words wins."""
        keys: list[int] = []
        folded: list[bytes] = []
        longest = 0
        for v in values:
            if isinstance(v, str) and (w := words(v)):
                keys.append(_key(w))
                folded.append(fold(v).encode("utf-8", "surrogatepass"))
                longest = max(longest, len(w))
        k = np.fromiter(keys, dtype=np.uint64, count=len(keys))
        order = np.argsort(k, kind="stable")  # equal words: the first spelling first
        k = k[order]
        first = np.ones(len(k), dtype=bool)
        first[1:] = k[1:] != k[:-1]
        order, k = order[first], k[first]
        blob = b"".join(folded[i] for i in order.tolist())
        lengths = np.fromiter((len(folded[i]) for i in order.tolist()), dtype=np.int64, count=len(order))
        ends = np.cumsum(lengths)
        return cls(k, ends - lengths, ends, blob, longest)

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, key: tuple[str, ...]) -> str | None:
        """The folded value whose words are ``key``, or None."""
        if not len(self.keys):
            return None
        h = np.uint64(_key(key))
        i = int(np.searchsorted(self.keys, h))
        if i == len(self.keys) or self.keys[i] != h:
            return None
        value = self.blob[int(self.starts[i]):int(self.ends[i])].decode("utf-8", "surrogatepass")
        return value if words(value) == key else None

    def __contains__(self, key: tuple[str, ...]) -> bool:
        return self.get(key) is not None

    def find(self, query: str) -> frozenset[str]:
        """The folded values whose words appear in a row in the query."""
        q = words(query)
        found = set()
        for n in range(1, min(self.longest, len(q)) + 1):
            for i in range(len(q) - n + 1):
                v = self.get(q[i:i + n])
                if v is not None:
                    found.add(v)
        return frozenset(found)


def named_in(query: str, vocabularies: Mapping[str, Vocabulary]) -> dict[str, frozenset[str]]:
    """Per field, the values the query names (fields naming none left out)."""
    found = {f: voc.find(query) for f, voc in vocabularies.items()}
    return {f: v for f, v in found.items() if v}


def holds_named(value: Any, named: frozenset[str]) -> bool:
    """A field's value is named (a list value, or a constraint's list of values: any element)."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    return any(fold(v) in named for v in items)


def named_codes(dictionary: list[Any], named: frozenset[str]) -> np.ndarray:
    """The codes of a column's dictionary whose value is named."""
    return np.array([i for i, v in enumerate(dictionary) if holds_named(v, named)], dtype=np.int64)

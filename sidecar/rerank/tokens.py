"""The one tokenizer of near-duplicate detection.

Index-time MinHash shingling, query-time verification of candidate pairs and the evaluation's
near-duplicate metric all call :func:`shingle_set`, so "Jaccard >= 0.8" means the same thing in
each of them: lower-cased runs of ASCII letters and digits, as a set of word n-grams.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")


def shingle_set(text: str | None, n: int = 1) -> frozenset[str]:
    """Distinct word n-grams of ``text`` (the words themselves when it has fewer than n words).

    An empty or missing text gives the empty set: such a candidate has no text to compare."""
    if not text:
        return frozenset()
    words = _WORD.findall(str(text).lower())
    if n > 1 and len(words) >= n:
        return frozenset(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    return frozenset(words)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; 0.0 when either set is empty (nothing to compare is never a duplicate)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)

"""Query normalisation shared by exact matching, pattern matching and the decision log."""
from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_query(q: str) -> str:
    """NFKC, case-folded, punctuation as space, whitespace collapsed: 'Black  Jacket!' -> 'black jacket'."""
    q = unicodedata.normalize("NFKC", q).casefold()
    q = _PUNCT.sub(" ", q)
    return _SPACE.sub(" ", q).strip()

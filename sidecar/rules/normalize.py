"""Query normalisation shared by exact matching, pattern matching and the decision log."""
from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)


def normalize_query(q: str) -> str:
    """NFKC, case-folded, punctuation as space, whitespace collapsed: 'Black  Jacket!' -> 'black jacket'."""
    # NFKC and casefold of ASCII are lower(): the common case skips the Unicode tables
    q = q.lower() if q.isascii() else unicodedata.normalize("NFKC", q).casefold()
    return " ".join(_PUNCT.sub(" ", q).split())

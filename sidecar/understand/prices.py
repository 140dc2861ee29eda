"""Prices in the shopper's words: "under 500", "below rs 1,500", "between 1000 and 3000",
"₹500-₹800", "over $50", "2k to 3k" become a price range, and the words that said it leave the
text BM25 and the encoder read ("red tshirts for women under 500" searches "red tshirts for women").

Guarantees: a range is read only next to a price word (under, below, less than, upto, up to,
within, max, over, above, more than, min, from ... to, between ... and) or a currency (₹, rs, inr,
$, usd, €, eur, rupees, dollars); a bare number ("size 10", "32 inch") is never a price. Bounds
are inclusive (``gte``/``lte``): "under 500" keeps a product at 500. "1.5k" is 1500. Limits: one
range per query (the first found); no currencies are converted; "cheap", "premium" and other
words without a number are left to the search.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_CUR = r"(?:₹|rs\.?|inr|\$|usd|€|eur)"
_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k)?"
_MONEY = rf"{_CUR}?\s*{_AMOUNT}\s*(?:{_CUR}|rupees|dollars|euros)?(?!\w)"
_UPPER = r"under|below|less\s+than|lower\s+than|cheaper\s+than|upto|up\s+to|within|max(?:imum)?|at\s+most|<=?"
_LOWER = r"over|above|more\s+than|greater\s+than|min(?:imum)?|at\s+least|starting\s+(?:at|from)|>=?"
_BETWEEN = re.compile(rf"(?<!\w)(?:between|from)\s+{_MONEY}\s*(?:and|to|-)\s*{_MONEY}", re.I)
_RANGE = re.compile(rf"(?<!\w)(?:price\s+)?({_CUR})\s*{_AMOUNT}\s*(?:-|to)\s*{_CUR}?\s*{_AMOUNT}(?!\w)"
                    rf"|(?<!\w){_AMOUNT}\s*(?:-|to)\s*{_AMOUNT}\s*({_CUR}|rupees|dollars|euros)(?!\w)", re.I)
_BOUND = re.compile(rf"(?<!\w)(?:priced\s+|price\s+)?({_UPPER}|{_LOWER})\s*{_MONEY}", re.I)
_UPPER_RX = re.compile(rf"^(?:{_UPPER})$", re.I)


@dataclass(frozen=True)
class Price:
    """A price range a query asked for (None: no bound on that side), and the words that said it."""

    gte: float | None
    lte: float | None
    said: str

    def as_filter(self) -> dict[str, float]:
        """The range as a ``filters`` value (``{"gte": .., "lte": ..}``)."""
        return {k: v for k, v in (("gte", self.gte), ("lte", self.lte)) if v is not None}


def _number(digits: str, k: str | None) -> float:
    value = float(digits.replace(",", ""))
    return value * 1000 if k else value


def find_price(text: str) -> tuple[Price | None, str]:
    """(the price range the text asks for, or None; the text without the words that said it,
    spaces collapsed). Matched on the text with its spaces collapsed: a run of spaces between a
    currency and a number costs linear time, not quadratic."""
    given, text = text, " ".join(text.split())
    m = _BETWEEN.search(text)
    if m:
        lo, hi = _number(m.group(1), m.group(2)), _number(m.group(3), m.group(4))
        return _cut(text, m, Price(min(lo, hi), max(lo, hi), m.group(0)))
    m = _RANGE.search(text)
    if m:
        if m.group(1) is not None:
            lo, hi = _number(m.group(2), m.group(3)), _number(m.group(4), m.group(5))
        else:
            lo, hi = _number(m.group(6), m.group(7)), _number(m.group(8), m.group(9))
        return _cut(text, m, Price(min(lo, hi), max(lo, hi), m.group(0)))
    m = _BOUND.search(text)
    if m:
        value = _number(m.group(2), m.group(3))
        upper = bool(_UPPER_RX.match(re.sub(r"\s+", " ", m.group(1).strip())))
        return _cut(text, m, Price(None, value, m.group(0)) if upper else Price(value, None, m.group(0)))
    return None, given


def _cut(text: str, m: re.Match[str], price: Price) -> tuple[Price, str]:
    rest = text[:m.start()] + " " + text[m.end():]
    return price, " ".join(rest.split())

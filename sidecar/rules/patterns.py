"""Rule patterns, matched in linear time by RE2 (google-re2).

Python's ``re`` backtracks: ``(a+)+$`` against 29 a's and a b took a worker 35 s. RE2 matches in
time linear in the query whatever the pattern, so no rule file can stall a request. The price is
RE2's syntax: no lookaround and no backreferences (such a pattern is rejected with its file and
line), and ``\\w``, ``\\d``, ``\\b`` are ASCII, as in RE2 everywhere (``\\pL`` is a letter of any
script). Queries are matched normalised (``normalize.py``): lower case, punctuation as spaces.
"""
from __future__ import annotations

import re
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every rejected pattern to stderr; the loader reports it


class RulePattern:
    """A compiled rule pattern: ``search`` is RE2's; ``pattern`` the source; ``flags`` Python's
    reading of the source (the prefilter's literal extraction reads it; a source Python cannot
    parse counts as case-insensitive, so it is always run)."""

    __slots__ = ("pattern", "flags", "_rx")

    def __init__(self, source: str):
        try:
            self._rx = re2.compile(source, options=_OPTIONS)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise ValueError(f"{reason} (rule patterns use RE2 syntax: no lookaround, no backreferences)") from None
        self.pattern = source
        try:
            self.flags = re.compile(source).flags
        except re.error:
            self.flags = int(re.IGNORECASE)

    def search(self, text: str) -> Any:
        """RE2's search in ``text`` (linear in its length): a match object or None."""
        return self._rx.search(text)

    def __repr__(self) -> str:
        return f"RulePattern({self.pattern!r})"

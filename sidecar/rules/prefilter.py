"""Which rule patterns can match a query, without running all of them.

Scanning 1,000 patterns in order cost ~1 ms for a query that matches none of them (the common
case: most queries fall through to the default rule). Most patterns contain a literal that
every match must include (``\\bjacket\\b`` needs "jacket"); a pattern is only run when its
literal is in the query. Literals are found through one trigram each (the rarest one among all
patterns' literals), so a query looks up its own ~30 trigrams instead of testing 1,000 patterns.
Patterns without such a literal (case-insensitive ones, top-level alternations, literals
shorter than three characters) are always run. Order is kept: candidates are tried in file
and rule order, so precedence is exactly that of the plain scan.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .patterns import RulePattern

try:  # Python's own regex parser (private but stable since 3.11); without it every pattern is run
    from re import _constants as _c
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover
    _c = _sre_parser = None

_GRAM = 3
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)) if _c else ()


def required_literal(rx: "RulePattern | re.Pattern[str]") -> str | None:
    """The longest literal run every match of ``rx`` contains, or None when there is none."""
    best = max(required_runs(rx), key=len, default="")
    return best if len(best) >= _GRAM else None


def required_runs(rx: "RulePattern | re.Pattern[str]") -> list[str]:
    """The literal runs every match of ``rx`` contains, as far as the parse tree shows them (none
    for a case-insensitive pattern or one Python's parser does not read). Also read by
    ``lint.py``, for characters no normalised query has."""
    if _sre_parser is None or rx.flags & re.IGNORECASE:
        return []
    try:
        parsed = _sre_parser.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001 - any parser surprise just means: nothing is known to be required
        return []
    runs: list[str] = []
    _walk(list(parsed), runs)
    return [r for r in runs if r]


def _walk(seq: list, runs: list[str]) -> None:
    """Collect literal runs of a concatenation; anything optional or alternative ends a run. A
    group (not case-insensitive) and the body of a repeat of at least once are required too."""
    cur: list[str] = []
    for op, av in seq:
        if op is _c.LITERAL:
            cur.append(chr(av))
        elif op is _c.AT:
            continue  # zero-width: the characters around it are still contiguous in a match
        else:
            runs.append("".join(cur))
            cur = []
            if op is _c.SUBPATTERN:
                _group, add_flags, _del_flags, sub = av
                if not add_flags & _c.SRE_FLAG_IGNORECASE:
                    _walk(list(sub), runs)  # a group that is not repeated or optional: required
            elif op in _REPEATS and av[0] >= 1:
                _walk(list(av[2]), runs)  # x+, x{2,}: x is in every match (its runs end at the repeat)
    runs.append("".join(cur))


class PatternIndex:
    """Candidate pattern positions for a query, in order; a superset of those that match."""

    def __init__(self, patterns: "list[RulePattern] | list[re.Pattern[str]]"):
        literals = [required_literal(rx) for rx in patterns]
        freq = Counter(g for lit in literals if lit for g in {lit[i:i + _GRAM] for i in range(len(lit) - _GRAM + 1)})
        self.always: list[int] = []
        self.by_gram: dict[str, list[tuple[int, str]]] = {}
        for pos, lit in enumerate(literals):
            if lit is None:
                self.always.append(pos)
                continue
            gram = min((lit[i:i + _GRAM] for i in range(len(lit) - _GRAM + 1)), key=lambda g: (freq[g], g))
            self.by_gram.setdefault(gram, []).append((pos, lit))

    def candidates(self, query: str) -> list[int]:
        """Positions of the patterns that may match ``query``, ascending: every pattern without a
        required literal, and those whose literal is in the query (a superset of the matching ones)."""
        found = set(self.always)
        get = self.by_gram.get
        for i in range(len(query) - _GRAM + 1):
            bucket = get(query[i:i + _GRAM])
            if bucket:
                found.update(pos for pos, lit in bucket if lit in query)
        return sorted(found)

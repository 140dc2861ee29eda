"""Warnings about a rule set that loads but does not do what it says (``sidecar rules check``).

- An exact query already listed by an earlier rule that always applies: the later rule can never
  be chosen by that query (the first listing wins).
- A pattern that can never match: queries are matched normalised (lower-cased, punctuation turned
  into spaces, spaces collapsed; ``normalize.py``), so a pattern that requires an upper-case letter
  or a punctuation mark (``'t-shirt'``, ``'^Nike'``) finds nothing. Only required literals are
  looked at (not those inside an alternation or an optional part): a warning is always real, but
  not every dead pattern is found.
"""
from __future__ import annotations

from .errors import RuleError
from .normalize import normalize_query
from .patterns import RulePattern
from .prefilter import required_runs
from .ruleset import RuleSet


def lint(rs: RuleSet) -> list[RuleError]:
    """Every warning, in file and line order."""
    return sorted(_shadowed(rs) + _dead_patterns(rs), key=lambda w: (w.file, w.line))


def _shadowed(rs: RuleSet) -> list[RuleError]:
    found = []
    for q, locs in rs.exact.items():
        first = locs[0]
        if first.rule.match.get("categories") or first.rule.match.get("filters"):
            continue  # the first applies to some filters only: the later one still can
        for later in locs[1:]:
            if later.rule.id != first.rule.id:
                found.append(RuleError(later.file, later.line,
                                       f"warning: rule {later.rule.id!r}: exact query {q!r} is already claimed by rule "
                                       f"{first.rule.id!r} ({first.file}:{first.line}); this rule never applies to it"))
    return found


def _dead_patterns(rs: RuleSet) -> list[RuleError]:
    found = []
    for rx, source, loc in rs.patterns:
        bad = impossible_literal(rx)
        if bad is not None:
            found.append(RuleError(loc.file, loc.line,
                                   f"warning: rule {loc.rule.id!r}: pattern {source!r} can never match: it requires "
                                   f"{bad!r}, and queries are matched normalised (lower case, punctuation as spaces; "
                                   f"e.g. {_example(source)!r})"))
    return found


def impossible_literal(rx: RulePattern) -> str | None:
    """A character the pattern requires (``prefilter.required_runs``) that no normalised query
    contains, or None."""
    for run in required_runs(rx):
        for ch in run:
            if normalize_query(f"a{ch}a") != f"a{ch}a":
                return ch
    return None


def _example(pattern: str) -> str:
    return normalize_query(pattern) or "(empty)"

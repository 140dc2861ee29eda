"""An immutable, loaded set of rules and the query -> rule match.

Precedence: exact normalised query (a dictionary lookup, whatever the number of rules), then
patterns in file and rule order (compiled once; only those whose required literal occurs in the
query are run, see prefilter.py), then the default rule.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..rerank.rule import Rule
from ..retrieval.filters import fold
from .experiments import Experiment
from .normalize import normalize_query
from .patterns import RulePattern
from .prefilter import PatternIndex
from ..understand import DEFAULT_POLICY, Policy
from ..understand.rewrites import RewriteSet


@dataclass(frozen=True)
class Located:
    """A rule with where it was written: file and line, for explanations and errors."""

    rule: Rule
    file: str
    line: int
    patterns: tuple[RulePattern, ...]  # match.patterns, compiled once by the loader (RE2)
    rewrites: RewriteSet = field(default_factory=RewriteSet)  # applied after the set's when this rule serves


@dataclass(frozen=True)
class Match:
    """The rule a query got, how (exact, pattern, default, explicit), why, and where it is written."""
    rule: Rule
    how: str  # "exact" | "pattern" | "default" | "explicit"
    detail: str
    where: str


@dataclass(frozen=True)
class RuleSet:
    """A loaded, valid rule set: its rules with their file and line, the exact-query table, the
    patterns in order with their prefilter, the default rule and the experiments' arms. Immutable."""
    located: tuple[Located, ...]
    files: tuple[str, ...]
    version: str
    exact: Mapping[str, tuple[Located, ...]] = field(default_factory=dict)
    patterns: tuple[tuple[RulePattern, str, Located], ...] = ()
    default: Located | None = None
    by_id: Mapping[str, Rule] = field(default_factory=dict)  # built once at load, read-only
    pattern_index: PatternIndex | None = None  # which patterns can match a query; None: try all
    experiments: tuple[Experiment, ...] = ()  # declared in the files, in file order
    arms: Mapping[str, tuple[RuleSet, RuleSet]] = field(default_factory=dict)  # experiment name -> (a, b)
    watched: tuple[str, ...] = ()  # the arms' rule directories (a reload also follows their edits)
    understanding: Policy = DEFAULT_POLICY  # what a query is read to ask (the files' understanding section)
    rule_rewrites: Mapping[str, RewriteSet] = field(default_factory=dict)  # rule id -> its own

    def get(self, rule_id: str) -> Rule | None:
        """The rule of ``rule_id``, or None."""
        return self.by_id.get(rule_id)

    def catalog_fields(self) -> list[str]:
        """The keyword fields whose values a search under this set reads from the catalog: those
        understanding looks for, and every field a rule caps or spreads by value (the values a
        query names are left alone: ``rerank.named``), also in the experiments' arms."""
        constrained = [f for loc in self.located for f in loc.rule.named_fields]
        arms = [f for pair in self.arms.values() for side in pair for f in side.catalog_fields()]
        return list(dict.fromkeys([*self.understanding.sought, *constrained, *arms]))

    def reading(self, rule: Rule | None) -> Policy:
        """How a query is read when ``rule`` serves it: the set's understanding, the rule's own
        rewrites (by its id: overrides keep them) after the set's."""
        own = self.rule_rewrites.get(rule.id) if rule is not None else None
        return replace(self.understanding, own=own) if own else self.understanding

    @staticmethod
    def _applies(rule: Rule, filters: Mapping[str, Any] | None) -> bool:
        """A rule's optional match.categories / match.filters against the request's term filters,
        case- and width-blind as the filters themselves match (``retrieval.filters.fold``)."""
        cats = rule.match.get("categories")
        wanted = rule.match.get("filters")
        if not cats and not wanted:
            return True
        filters = filters or {}
        if cats and fold(filters.get("category")) not in {fold(c) for c in cats}:
            return False
        return all(fold(filters.get(k)) == fold(v) for k, v in (wanted or {}).items())

    def match(self, query: str, filters: Mapping[str, Any] | None = None) -> Match | None:
        """The rule for ``query`` (normalised) and the request's term ``filters``, by precedence: an
        exact query listed by a rule, then the first pattern found in the query (file and rule order),
        then the default rule; a rule restricted by ``match.categories``/``match.filters`` applies only
        to requests filtered alike. None when nothing matches and there is no default."""
        q = normalize_query(query or "")
        for loc in self.exact.get(q, ()):
            if self._applies(loc.rule, filters):
                return Match(loc.rule, "exact", f"normalised query {q!r} is listed in match.queries", f"{loc.file}:{loc.line}")
        positions = self.pattern_index.candidates(q) if self.pattern_index else range(len(self.patterns))
        for pos in positions:
            rx, source, loc = self.patterns[pos]
            if rx.search(q) and self._applies(loc.rule, filters):
                return Match(loc.rule, "pattern", f"pattern '{source}' found in normalised query {q!r}", f"{loc.file}:{loc.line}")
        if self.default is not None:
            loc = self.default
            return Match(loc.rule, "default", f"no exact query or pattern matches {q!r}", f"{loc.file}:{loc.line}")
        return None


def build_ruleset(located: list[Located], files: list[str], version: str,
                  understanding: Policy = DEFAULT_POLICY) -> RuleSet:
    """The ``RuleSet`` of rules already validated (``loader``); a later default replaces an
    earlier one (the loader refuses two)."""
    exact: dict[str, list[Located]] = {}
    patterns = []
    default = None
    for loc in located:
        m = loc.rule.match
        for q in m.get("queries", []):
            exact.setdefault(normalize_query(q), []).append(loc)
        for rx in loc.patterns:
            patterns.append((rx, rx.pattern, loc))
        if m.get("default"):
            default = loc
    by_id = MappingProxyType({loc.rule.id: loc.rule for loc in located})
    own = MappingProxyType({loc.rule.id: loc.rewrites for loc in located if loc.rewrites})
    return RuleSet(tuple(located), tuple(files), version, {k: tuple(v) for k, v in exact.items()}, tuple(patterns),
                   default, by_id, PatternIndex([rx for rx, _, _ in patterns]), understanding=understanding,
                   rule_rewrites=own)

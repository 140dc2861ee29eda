"""Merchandisers' rewrites of a query, from the rule files (Querqy's kinds): synonyms one- and
two-way, words deleted, boost or bury by a field's value, a filter added.

A rewrite applies when its ``when`` words (or, for a two-way synonym group, any member) occur in
the query: whole words in a row, compared folded (NFKC, lower case) and singular ("tees" is
"tee"). Rewrites apply in file order, each to the text the earlier ones left; the text they
leave is what prices, attributes, BM25 and the encoder read.

Guarantees: a synonym is added to the text (BM25's match is any word, so the query also finds
the synonym's products), never substituted, and only once; a deletion that would leave no word
leaves the text as it was; a filter never overrides a filter the request gives itself. Limits:
boost and bury reorder the retrieval window (the candidates the rule reranks, ``boosted``),
they do not bring products into it (a filter does); negations ("not cheap") are not read here.
"""
from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..rerank.named import fold, singular, words
from ..retrieval.boosts import Boost


_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Rewrite:
    """One rewrite of a rule file. ``when``: the phrases (word tuples, singular) that trigger it;
    a two-way synonym group has no ``when`` and each of its ``synonyms`` triggers the others."""

    when: tuple[tuple[str, ...], ...]
    synonyms: tuple[str, ...] = ()
    delete: bool = False
    boosts: tuple[Boost, ...] = ()
    filters: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""

    @property
    def two_way(self) -> bool:
        """A synonym group without ``when``: each member triggers the others."""
        return not self.when


@dataclass(frozen=True)
class RewriteSet:
    """Rewrites in their order, indexed by the first word of each trigger (each member's, for a
    two-way group), so a query is checked only against the rewrites its words can trigger, and
    those the words they add can trigger after them. The cost of a query follows that chain, not
    the size of the set (bench/bench_understand.py: 10,000 rewrites 0.03 ms p50; 100,000 random
    synonyms over a 50,000-word lexicon chain long, 2.7 ms)."""

    rules: tuple[Rewrite, ...] = ()
    by_word: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, rewrites: Iterable[Rewrite]) -> RewriteSet:
        """The set of ``rewrites`` (an existing set is itself)."""
        if isinstance(rewrites, RewriteSet):
            return rewrites
        rules = tuple(rewrites)
        index: dict[str, list[int]] = {}
        for pos, rw in enumerate(rules):
            for first in {ws[0] for ws in (rw.when or tuple(phrase(m) for m in rw.synonyms)) if ws}:
                index.setdefault(first, []).append(pos)
        return cls(rules, {w: tuple(v) for w, v in index.items()})

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rewrite]:
        return iter(self.rules)

    def __getitem__(self, i: int) -> Rewrite:
        return self.rules[i]

    def triggered(self, text: str, after: int = -1) -> list[int]:
        """The positions after ``after`` of the rewrites a word of ``text`` may trigger."""
        return [pos for w in {singular(m.group()) for m in _WORD.finditer(text)} for pos in self.by_word.get(w, ())
                if pos > after]


@dataclass(frozen=True)
class Rewritten:
    """The text the rewrites left, what applied (``file:line: what``), the boosts and filters added."""

    text: str
    applied: tuple[str, ...] = ()
    boosts: tuple[Boost, ...] = ()
    filters: Mapping[str, Any] = field(default_factory=dict)


def phrase(text: str) -> tuple[str, ...]:
    """A phrase as rewrites compare it: its folded words, each singular."""
    return tuple(singular(w) for w in words(text))


def _spans(text: str, wanted: tuple[str, ...]) -> list[tuple[int, int]]:
    """Character spans of ``text`` where the words of ``wanted`` occur in a row (singular)."""
    found = [(m.start(), m.end(), singular(m.group())) for m in _WORD.finditer(text)]
    n = len(wanted)
    out = []
    for i in range(len(found) - n + 1):
        if tuple(w for _, _, w in found[i:i + n]) == wanted:
            out.append((found[i][0], found[i + n - 1][1]))
    return out


def rewrite(text: str, stages: Sequence[RewriteSet], given: Mapping[str, Any]) -> Rewritten:
    """``text`` (folded) after each set of ``stages`` in turn (the rule set's, then a rule's own),
    each set's rewrites in order, each applied to the text the earlier ones left; ``given``: the
    request's own filters (a rewrite's filter on one of their fields is not added). Nothing
    applies: the text unchanged."""
    if not any(stages) or not text.strip():
        return Rewritten(text)
    current = fold(text)
    applied: list[str] = []
    boosts: list[Boost] = []
    filters: dict[str, Any] = {}
    for stage in stages:
        pending = stage.triggered(current)
        heapq.heapify(pending)
        done = -1
        while pending:
            pos = heapq.heappop(pending)
            if pos <= done:
                continue
            done = pos
            before = current
            current, line, added = _apply(stage[pos], current, given, filters)
            if line is None:
                continue
            applied.append(line)
            boosts += added
            if current != before:  # the words it added may trigger later rewrites of the stage
                new = " ".join(set(current.split()) - set(before.split()))
                for later in stage.triggered(new, after=pos):
                    heapq.heappush(pending, later)
    return Rewritten(current if applied else text, tuple(applied), tuple(boosts), filters)


def _apply(rw: Rewrite, current: str, given: Mapping[str, Any], filters: dict[str, Any]
           ) -> tuple[str, str | None, list[Boost]]:
    """One rewrite on the text: (the text after it, the line saying what it did or None when it
    did nothing, the boosts it adds); the filters it adds go into ``filters``."""
    if rw.two_way:
        members = [(s, phrase(s)) for s in rw.synonyms]
        present = {s for s, ws in members if _spans(current, ws)}
        added = [s for s, ws in members if s not in present]
        if not present or not added:
            return current, None, []
        return (f"{current} {' '.join(added)}",
                f"{rw.where}: {' / '.join(sorted(present))} also searches {', '.join(added)}", [])
    spans = sorted(s for ws in rw.when for s in _spans(current, ws))
    if not spans:
        return current, None, []
    said = ", ".join(dict.fromkeys(current[a:b] for a, b in spans))
    did = []
    if rw.delete:
        kept = current
        for a, b in reversed(spans):
            kept = kept[:a] + " " + kept[b:]
        kept = " ".join(kept.split())
        if kept:
            current = kept
            did.append("deleted")
    if rw.synonyms:
        added = [s for s in rw.synonyms if not _spans(current, phrase(s))]
        if added:
            current = f"{current} {' '.join(added)}"
            did.append(f"also searches {', '.join(added)}")
    did += [b.what() for b in rw.boosts]
    new = {k: v for k, v in rw.filters.items() if k not in given and k not in filters}
    if new:
        filters.update(new)
        did.append("filters " + ", ".join(f"{k}={v}" for k, v in new.items()))
    return current, (f"{rw.where}: {said} -> {'; '.join(did)}" if did else None), list(rw.boosts)


DEFAULT_WEIGHT = 1.0  # boost: score x 2; bury: score / 2


def parse_rewrite(raw: Any, where: str, fields: Sequence[str]) -> tuple[Rewrite | None, list[tuple[str | None, str]]]:
    """One rewrite of a rule file (its shape already checked by the schema): (the rewrite or None,
    the problems as (key, reason)). ``where``: its ``file:line``; ``fields``: the catalog's keyword
    fields, which boost, bury and filter may name."""
    if not isinstance(raw, dict):
        return None, [(None, "a rewrite is a mapping")]
    problems: list[tuple[str | None, str]] = []
    when = raw.get("when")
    when = [when] if isinstance(when, str) else list(when or [])
    actions = [k for k in ("delete", "boost", "bury", "filter") if k in raw]
    synonyms = tuple(" ".join(words(s)) for s in raw.get("synonyms", []))
    if not when and not synonyms:
        return None, [(None, "a rewrite needs 'when' (the words that trigger it), or 'synonyms' alone (a two-way group)")]
    if not when:
        if actions:
            problems.append((actions[0], f"'{actions[0]}' needs 'when': the words that trigger it"))
        if len(set(synonyms)) < 2:
            problems.append(("synonyms", "a two-way synonym group (no 'when') needs two different members"))
    elif not actions and not synonyms:
        problems.append(("when", "does nothing: give synonyms, delete, boost, bury or filter"))
    boosts = []
    for key, sign in (("boost", 1), ("bury", -1)):
        spec = raw.get(key)
        if spec is None:
            continue
        if spec["field"] not in fields:
            problems.append((key, f"{key}.field: {spec['field']!r} is not a keyword field of the catalog ({', '.join(fields)})"))
            continue
        factor = 1.0 + float(spec.get("weight", DEFAULT_WEIGHT))
        boosts.append(Boost(spec["field"], fold(spec["value"]), factor if sign > 0 else 1.0 / factor, where))
    filters = dict(raw.get("filter") or {})
    problems += [("filter", f"filter: {f!r} is not a keyword field of the catalog ({', '.join(fields)})")
                 for f in filters if f not in fields]
    if problems:
        return None, problems
    return Rewrite(tuple(dict.fromkeys(phrase(w) for w in when)), synonyms, bool(raw.get("delete")), tuple(boosts),
                   filters, where), []

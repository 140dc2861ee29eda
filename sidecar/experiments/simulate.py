"""Simulated shoppers, to show what the statistics can tell apart: each session is one query,
its page shown to a shopper who clicks by the query's graded judgments under a click model.

Click models (grades 0..G, ``top`` = G; ``attract(g) = (2^g - 1) / 2^G``, the ERR convention):
- ``pbm``, position-based: the item at rank r (from 1) is examined with probability 1 / r and
  clicked, once examined, with probability attract(grade); clicks are independent.
- ``cascade``: the shopper reads down the page and clicks the first item that attracts them
  (probability attract(grade)), then stops; after an item that does not attract them they read
  on with probability ``PATIENCE`` (without it, whether a session clicks at all would not
  depend on the order, and no A/B rate could tell two orders apart).

``ab`` shows each session one arm's page (arms alternate) and tests the sessions-with-a-click
rates (two-proportion z-test); ``interleave`` shows each session the team-draft page of both
and tests the preferences (sign test). Both check after every ``step`` sessions and stop at the
first significant answer; the reported sessions are that count (``None``: none up to
``max_sessions``). A fixed-horizon run (``horizon``) tests once, at the end: the A/A false
winner rate is measured so, where the nominal 5% holds (repeated looks would inflate it).
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .interleave import preference, team_draft
from .stats import sign_test_p, two_proportion_p

Pages = Mapping[str, Sequence[str]]  # query -> page (item ids, best first)
Grades = Mapping[str, Mapping[str, int]]  # query -> item id -> grade
PATIENCE = 0.8


def clicks(page: Sequence[str], grades: Mapping[str, int], model: str, rng: random.Random, top: int = 3) -> list[bool]:
    """One shopper's clicks on a page."""
    out = []
    stopped = False
    for r, item in enumerate(page, start=1):
        attract = (2 ** grades.get(item, 0) - 1) / 2 ** top
        if model == "pbm":
            out.append(rng.random() < 1.0 / r and rng.random() < attract)
        elif model == "cascade":
            hit = not stopped and rng.random() < attract
            out.append(hit)
            stopped = stopped or hit or rng.random() >= PATIENCE
        else:
            raise ValueError(f"model: 'pbm' or 'cascade', got {model!r}")
    return out


@dataclass(frozen=True)
class Outcome:
    sessions: int | None  # sessions until the first significant answer (None: none)
    winner: str | None  # "a", "b" or None
    p: float  # the last p-value computed


def ab(pages_a: Pages, pages_b: Pages, grades: Grades, model: str, seed: int, max_sessions: int,
       step: int = 100, horizon: bool = False, alpha: float = 0.05, top: int = 3) -> Outcome:
    rng = random.Random(seed)
    queries = sorted(set(pages_a) & set(pages_b))
    k = {"a": 0, "b": 0}
    n = {"a": 0, "b": 0}
    p = 1.0
    for s in range(1, max_sessions + 1):
        q = queries[rng.randrange(len(queries))]
        side = "a" if s % 2 else "b"
        page = (pages_a if side == "a" else pages_b)[q]
        n[side] += 1
        k[side] += any(clicks(page, grades.get(q, {}), model, rng, top))
        if (s % step == 0 and not horizon) or s == max_sessions:
            p = two_proportion_p(k["a"], n["a"], k["b"], n["b"])
            if p < alpha:
                return Outcome(s, "a" if k["a"] / n["a"] > k["b"] / n["b"] else "b", p)
    return Outcome(None, None, p)


def interleave(pages_a: Pages, pages_b: Pages, grades: Grades, model: str, seed: int, max_sessions: int,
               step: int = 100, horizon: bool = False, alpha: float = 0.05, top: int = 3) -> Outcome:
    rng = random.Random(seed)
    queries = sorted(set(pages_a) & set(pages_b))
    wins = {"a": 0, "b": 0}
    p = 1.0
    for s in range(1, max_sessions + 1):
        q = queries[rng.randrange(len(queries))]
        size = max(len(pages_a[q]), len(pages_b[q]))
        page = team_draft(pages_a[q], pages_b[q], size, seed=rng.getrandbits(32))
        side = preference(page.teams, clicks(page.ids, grades.get(q, {}), model, rng, top))
        if side is not None:
            wins[side] += 1
        if (s % step == 0 and not horizon) or s == max_sessions:
            p = sign_test_p(wins["a"], wins["b"])
            if p < alpha:
                return Outcome(s, "a" if wins["a"] > wins["b"] else "b", p)
    return Outcome(None, None, p)

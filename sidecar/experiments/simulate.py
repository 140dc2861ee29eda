"""Simulated shoppers, to show what the statistics can tell apart: each session is one query,
its page shown to a shopper who clicks by the query's graded judgments under a click model.

Click models (grades 0..G, ``top`` = G; ``attract(g) = (2^g - 1) / 2^G``, the ERR convention):
- ``pbm``, position-based: the item at rank r (from 1) is examined with probability 1 / r and
  clicked, once examined, with probability attract(grade); clicks are independent.
- ``cascade``: the shopper reads down the page and clicks the first item that attracts them
  (probability attract(grade)), then stops; after an item that does not attract them they read
  on with probability ``PATIENCE`` (without it, whether a session clicks at all would not
  depend on the order, and no A/B rate could tell two orders apart).

``ab`` shows each session one arm's page (arms alternate) and compares the arms' rates of
sessions with a click (two-proportion z-test); ``interleave`` shows each session the team-draft
page of both and counts the sessions each side wins (sign test). Each runs a fixed number of
sessions and tests once, at the end (looking again and again until a test passes would declare
false winners far more often than 5%). From the same sessions it estimates the sessions the
method needs: the number at which the observed effect, were it the true one, is found at 95%
confidence with 80% power, ``(1.96 + 0.84)^2 * variance / effect^2`` (per session: a click
indicator for A/B, over both arms; +1/-1/0 for interleaving).
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .interleave import preference, team_draft
from .stats import Z95, sign_test_p, two_proportion_p

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


POWER_Z = Z95 + 0.8416212335729143  # 95% two-sided, 80% power


@dataclass(frozen=True)
class Outcome:
    winner: str | None  # "a" or "b" when the test at the end is significant, else None
    p: float  # its p-value
    better: str | None  # the side the sessions favoured (None: no difference seen)
    needed: float | None  # sessions the method needs for an effect of the size seen (None: none seen)


def ab(pages_a: Pages, pages_b: Pages, grades: Grades, model: str, seed: int, sessions: int,
       alpha: float = 0.05, top: int = 3) -> Outcome:
    rng = random.Random(seed)
    queries = sorted(set(pages_a) & set(pages_b))
    k = {"a": 0, "b": 0}
    n = {"a": 0, "b": 0}
    for s in range(sessions):
        q = queries[rng.randrange(len(queries))]
        side = "a" if s % 2 == 0 else "b"
        n[side] += 1
        k[side] += any(clicks((pages_a if side == "a" else pages_b)[q], grades.get(q, {}), model, rng, top))
    pa, pb = k["a"] / max(1, n["a"]), k["b"] / max(1, n["b"])
    p = two_proportion_p(k["a"], n["a"], k["b"], n["b"])
    better = None if pa == pb else "a" if pa > pb else "b"
    needed = 2 * POWER_Z**2 * (pa * (1 - pa) + pb * (1 - pb)) / (pa - pb) ** 2 if pa != pb else None
    return Outcome(better if p < alpha else None, p, better, needed)


def interleave(pages_a: Pages, pages_b: Pages, grades: Grades, model: str, seed: int, sessions: int,
               alpha: float = 0.05, top: int = 3) -> Outcome:
    rng = random.Random(seed)
    queries = sorted(set(pages_a) & set(pages_b))
    wins = {"a": 0, "b": 0}
    for _ in range(sessions):
        q = queries[rng.randrange(len(queries))]
        size = max(len(pages_a[q]), len(pages_b[q]))
        page = team_draft(pages_a[q], pages_b[q], size, seed=rng.getrandbits(32))
        side = preference(page.teams, clicks(page.ids, grades.get(q, {}), model, rng, top))
        if side is not None:
            wins[side] += 1
    p = sign_test_p(wins["a"], wins["b"])
    mean = (wins["a"] - wins["b"]) / sessions
    variance = (wins["a"] + wins["b"]) / sessions - mean**2
    better = None if mean == 0 else "a" if mean > 0 else "b"
    needed = POWER_Z**2 * variance / mean**2 if mean != 0 else None
    return Outcome(better if p < alpha else None, p, better, needed)

"""eBay's agent-based diversity algorithm, version 3 (docs/algorithm.md says how it differs
from the paper), compiled with numba over any base order.

Each constraint is an agent watching the page being built. With n items placed and k of them
having the agent's property (for ``any``: the largest count of one value), its deviance is
``max(0, (n+2)f - k - 1)`` for a min and ``max(0, k + 1 - (n+2)f)`` for a max: the (n+2)
look-ahead fires an agent at the last moment its constraint can still be met. Version 3 is the
paper's loop with three corrections:

1. an agent whose proposal is the default item is not a contender (the default serves it anyway,
   and at no penalty it would out-bid agents that must pay one);
2. an ``any`` agent's proposal is recomputed from the counts every slot (an item skipped while
   its value held the top count may qualify again later);
3. proposals are cooperative: among the unplaced items that reduce its own deviance, an agent
   proposes the first (in base order) that also reduces the deviance of every other unhappy
   max/any agent, else the first that reduces its own.

The contender with the largest unhappiness ``deviance - lambda * (base[default] - base[proposal])``
> 0 places its proposal (ties: rule order); otherwise the default item is placed. The loop is the
same for every base order (``strategies``): score order, MMR, DPP. Its plain twin, a line-by-line
transcription of the pseudo-code, is ``tests/reference_agents.py``; the tests compare the two.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from . import strategies
from .eligibility import ANY, MAX, MIN, AgentArrays
from .strategies import Strategy

EPS = 1e-9  # a deviance at or below this is zero: (n+2)f carries float noise (10 * 0.3 = 3.0000000000000004)
KINDS = {"min": MIN, "max": MAX, "any": ANY}


@dataclass(frozen=True)
class Agent:
    """A compiled constraint over the candidates in base order: ``has`` (min/max) or ``codes``
    (any: a value code per candidate, -1 where the field is missing)."""

    label: str
    kind: str  # "min" | "max" | "any"
    fraction: float
    has: np.ndarray | None = None
    codes: np.ndarray | None = None
    n_values: int = 0

    def head(self, limit: int) -> Agent:
        """The same agent over the first ``limit`` candidates."""
        return Agent(self.label, self.kind, self.fraction,
                     None if self.has is None else self.has[:limit],
                     None if self.codes is None else self.codes[:limit], self.n_values)


class Placement(NamedTuple):
    """Why one item was placed: by default (``reason`` is the strategy's ``Strategy.reason``:
    "default" for score order, else its key), or by an agent, with its numbers; ``value`` is the item's base score when placed.
    (A named tuple: a page builds 50 of these per request, and a tuple is made in C.)"""

    index: int
    reason: str
    constraint: str | None = None
    deviance: float | None = None
    penalty: float | None = None
    unhappiness: float | None = None
    value: float | None = None


def agent_arrays(agents: list[Agent], n: int) -> AgentArrays:
    """The agents as the kernel's arrays."""
    c = len(agents)
    has = np.zeros((c, n), dtype=np.bool_)
    codes = np.full((c, n), -1, dtype=np.int64)
    for i, a in enumerate(agents):
        if a.has is not None:
            has[i] = a.has[:n]
        if a.codes is not None:
            codes[i] = a.codes[:n]
    width = max([a.n_values for a in agents] + [1])
    return AgentArrays(np.array([KINDS[a.kind] for a in agents], dtype=np.int8), np.array([a.fraction for a in agents]),
                       has, codes, np.zeros((c, width), dtype=np.int64), np.zeros(c, dtype=np.int64),
                       np.zeros(c, dtype=np.bool_), np.zeros(n, dtype=np.bool_), np.zeros(c, dtype=np.int64))


@njit(cache=True, inline="always")
def _deviances(ag, t: int, dev) -> tuple[int, int]:
    """Each agent's deviance before slot t (into ``dev``), its unhappy caps marked in ``ag.caps``;
    returns how many caps and how many mins are unhappy."""
    kind, frac, k, caps = ag.kind, ag.frac, ag.k, ag.caps
    n_caps, n_mins = 0, 0
    for c in range(kind.shape[0]):
        d = (t + 2) * frac[c] - k[c] - 1 if kind[c] == MIN else k[c] + 1 - (t + 2) * frac[c]
        dev[c] = d if d > 0.0 else 0.0
        caps[c] = dev[c] > EPS and kind[c] != MIN
        n_caps += caps[c]
        n_mins += dev[c] > EPS and kind[c] == MIN
    return n_caps, n_mins


@njit(cache=True, inline="always")
def _contend(st, ag, dev, default: int, lam: float, n_caps: int, n_mins: int) -> tuple[int, int, float, float, float]:
    """The unhappy agents' proposals against the default item: (item, agent or -1, unhappiness,
    deviance, penalty) of the winner, or the default's when no agent's unhappiness is above 0."""
    caps = ag.caps
    pick, who, best_u, best_dev, best_pen = default, -1, 0.0, 0.0, 0.0
    # correction 3: an unhappy cap's cooperative proposal is the first item that reduces every
    # unhappy cap (itself included), the same for all of them: searched once a slot. A min
    # agent's must reduce those caps too, so none exists when this one does not.
    for_all_caps = strategies.first(st, ag, -1, True) if n_caps > 1 or (n_caps == 1 and n_mins > 0) else -1
    for c in range(dev.shape[0]):
        if dev[c] <= EPS:
            continue
        p = -1
        if caps[c]:
            if n_caps > 1:
                p = for_all_caps
        elif n_caps > 0 and for_all_caps >= 0:
            p = strategies.first(st, ag, c, True)
        if p < 0:
            p = strategies.first(st, ag, c, False)
        if p < 0 or p == default:  # correction 1
            continue
        pen = strategies.value(st, default) - strategies.value(st, p)
        u = dev[c] - lam * pen
        if u > 0.0 and (who < 0 or u > best_u):
            pick, who, best_u, best_dev, best_pen = p, c, u, dev[c], pen
    return pick, who, best_u, best_dev, best_pen


@njit(cache=True, inline="always")
def _count(ag, pick: int) -> None:
    """The agents' counts after placing ``pick`` (correction 2: an ``any`` agent's search starts
    over when its top count grows)."""
    kind, has, codes, counts, k, start = ag.kind, ag.has, ag.codes, ag.counts, ag.k, ag.start
    ag.placed[pick] = True
    for c in range(kind.shape[0]):
        if kind[c] == ANY:
            code = codes[c, pick]
            if code >= 0:
                counts[c, code] += 1
                if counts[c, code] > k[c]:
                    k0 = k[c]
                    k[c] = counts[c, code]
                    # an item skipped for its value's count qualifies now only if that count
                    # is the old top one: only then look again from the start (a value far
                    # ahead of all others, as one category over a kNN window, never does)
                    for other in range(counts.shape[1]):
                        if other != code and counts[c, other] == k0:
                            start[c] = 0
                            break
        elif has[c, pick]:
            k[c] += 1


@njit(cache=True)
def _place(st, ag, lam: float, size: int, item, agent, dev_out, pen_out, u_out, val_out) -> int:
    """The loop: each slot, the default item (the base order's first), the agents' contest
    (the first item is the base order's best: counts start from it), the counts, the order."""
    dev = np.zeros(ag.kind.shape[0])
    for t in range(size):
        default = strategies.first(st, ag, -1, False)
        if default < 0:
            return t
        pick, who, u, d, pen = default, -1, 0.0, 0.0, 0.0
        if t > 0:
            n_caps, n_mins = _deviances(ag, t, dev)
            pick, who, u, d, pen = _contend(st, ag, dev, default, lam, n_caps, n_mins)
        item[t], agent[t], dev_out[t], pen_out[t], u_out[t] = pick, who, d, pen, u
        val_out[t] = strategies.value(st, pick)
        _count(ag, pick)
        strategies.add(st, pick)
    return size


def place(agents: list[Agent], lam: float, size: int, strategy: Strategy, state: Any) -> list[Placement]:
    """Place ``size`` items (at most every candidate) over the base order ``strategy`` prepared
    as ``state``."""
    n = len(state.rel)
    size = max(0, min(size, n))
    out = [np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)] + [np.zeros(size) for _ in range(4)]
    placed = _place(state, agent_arrays(agents, n), float(lam), size, *out)
    item, who, dev, pen, u, val = (a[:placed].tolist() for a in out)
    return [Placement(item[t], strategy.reason, value=val[t]) if who[t] < 0 else
            Placement(item[t], "constraint", agents[who[t]].label, dev[t], pen[t], u[t], val[t])
            for t in range(placed)]


def diversify(strategy: str, relevance: np.ndarray, unit_vectors: np.ndarray | None, diversity: float,
              k: int) -> list[int]:
    """A base order alone (no agents): the first k items of MMR, DPP or score order."""
    s = strategies.STRATEGIES[strategy]
    return [p.index for p in place([], 0.0, k, s, s.prepare(np.asarray(relevance, dtype=np.float64),
                                                            unit_vectors, diversity, k))]

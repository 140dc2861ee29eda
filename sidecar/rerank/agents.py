"""eBay's agent-based diversity algorithm, version 3 (DESIGN.md 1.1; the README says how it differs
from the paper).

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
same for every base order: score order, or MMR (default = MMR argmax, penalties in marginal scores).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .mmr import MMRState

EPS = 1e-9  # a deviance at or below this is zero: (n+2)f carries float noise (10 * 0.3 = 3.0000000000000004)


@dataclass(frozen=True)
class Agent:
    """A compiled constraint over the candidates in base order.

    ``kind`` "min"/"max" read ``has`` (bool per candidate); "any" reads ``codes`` (a value code
    per candidate, -1 where the field is missing, which never counts toward the cap)."""

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


@dataclass(frozen=True)
class Placement:
    """Why one item was placed: by default, or by an agent (with its numbers), or as MMR argmax."""

    index: int
    reason: str  # "default" | "constraint" | "mmr"
    constraint: str | None = None
    deviance: float | None = None
    penalty: float | None = None
    unhappiness: float | None = None
    marginal: float | None = None


class BaseOrder(Protocol):
    """The order the agents work over: which item is the default and what a slot costs."""

    size: int

    def scores(self) -> np.ndarray:
        """Current base score of every candidate (penalties are differences of these)."""

    def default(self) -> int:
        """The best unplaced item."""

    def unplaced(self) -> Iterable[int]:
        """Unplaced items, best first."""

    def add(self, i: int) -> None:
        """Item i was placed."""

    def default_placement(self, i: int) -> Placement:
        """The explanation of a default placement."""

    def marginal(self, i: int) -> float | None:
        """Item i's MMR marginal score, for explanations (None when the order is not MMR)."""


class ScoreOrder:
    """Base order = retrieval score order: candidates 0..n-1 are already sorted."""

    def __init__(self, base: np.ndarray):
        self.base = np.asarray(base, dtype=np.float64)
        self.size = len(self.base)
        self._placed = np.zeros(self.size, dtype=bool)
        self._first = 0

    def scores(self) -> np.ndarray:
        return self.base

    def default(self) -> int:
        while self._placed[self._first]:
            self._first += 1
        return self._first

    def unplaced(self) -> Iterator[int]:
        placed = self._placed
        for i in range(self.default(), self.size):
            if not placed[i]:
                yield i

    def add(self, i: int) -> None:
        self._placed[i] = True

    def default_placement(self, i: int) -> Placement:
        return Placement(i, "default")

    def marginal(self, i: int) -> float | None:
        return None


class MMROrder:
    """Base order = the current MMR order: marginal score descending, ties by index."""

    def __init__(self, state: MMRState):
        self.state = state
        self.size = len(state.relevance)
        self._marg: np.ndarray | None = None

    def scores(self) -> np.ndarray:
        if self._marg is None:
            self._marg = self.state.marginal()
        return self._marg

    def default(self) -> int:
        return int(np.argmax(self.scores()))  # first maximum: ties go to the lower index

    def unplaced(self) -> Iterator[int]:
        marg = self.scores()
        order = np.argsort(-marg, kind="stable")
        for i in order.tolist():
            if marg[i] == -np.inf:
                return
            yield i

    def add(self, i: int) -> None:
        self.state.add(i)
        self._marg = None

    def default_placement(self, i: int) -> Placement:
        return Placement(i, "mmr", marginal=self.marginal(i))

    def marginal(self, i: int) -> float | None:
        return float(self.scores()[i])


class Counts:
    """Running k per agent (with the property; for ``any`` the top count of one value)."""

    def __init__(self, agents: list[Agent]):
        self.agents = agents
        self.k = [0] * len(agents)
        self.per_value = [[0] * a.n_values if a.kind == "any" else None for a in agents]
        self._has = [None if a.has is None else a.has.tolist() for a in agents]
        self._codes = [None if a.codes is None else a.codes.tolist() for a in agents]

    def add(self, i: int) -> None:
        for ci, a in enumerate(self.agents):
            if a.kind == "any":
                code = self._codes[ci][i]
                if code >= 0:
                    cnt = self.per_value[ci]
                    cnt[code] += 1
                    if cnt[code] > self.k[ci]:
                        self.k[ci] = cnt[code]
            elif self._has[ci][i]:
                self.k[ci] += 1

    def deviance(self, ci: int, n: int) -> float:
        a = self.agents[ci]
        if a.kind == "min":
            return max(0.0, (n + 2) * a.fraction - self.k[ci] - 1)
        return max(0.0, self.k[ci] + 1 - (n + 2) * a.fraction)

    def reduces(self, ci: int, i: int) -> bool:
        """Would placing item i reduce agent ci's deviance? min: has it; max: lacks it;
        any: lacks the field, or its value's count is below the top count."""
        kind = self.agents[ci].kind
        if kind == "any":
            code = self._codes[ci][i]
            return code < 0 or self.per_value[ci][code] < self.k[ci]
        return self._has[ci][i] if kind == "min" else not self._has[ci][i]

    def proposal(self, ci: int, others: list[int], items: Iterable[int]) -> int | None:
        """The first item reducing agent ci's deviance that also reduces every agent in ``others``
        (correction 3), else the first reducing ci's alone; None when no item reduces it."""
        first = None
        for i in items:
            if not self.reduces(ci, i):
                continue
            if first is None:
                first = i
            if all(self.reduces(d, i) for d in others):
                return i
        return first


def place(agents: list[Agent], lam: float, size: int, order: BaseOrder) -> list[Placement]:
    """Place ``size`` items (at most every candidate) by agent algorithm version 3 over ``order``."""
    size = min(size, order.size)
    counts = Counts(agents)
    out: list[Placement] = []
    while len(out) < size:
        default = order.default()
        n = len(out)
        best: tuple[float, int, int, float, float] | None = None  # (u, item, agent, deviance, penalty)
        if n > 0 and agents:  # the first item is the best by the base order; counts start from it
            dev = [counts.deviance(ci, n) for ci in range(len(agents))]
            caps = [ci for ci, a in enumerate(agents) if dev[ci] > EPS and a.kind != "min"]
            scores = order.scores()
            for ci in range(len(agents)):
                if dev[ci] <= EPS:
                    continue
                p = counts.proposal(ci, [d for d in caps if d != ci], order.unplaced())
                if p is None or p == default:  # correction 1: the default serves it anyway
                    continue
                penalty = float(scores[default] - scores[p])
                u = dev[ci] - lam * penalty
                if u > 0 and (best is None or u > best[0]):
                    best = (u, p, ci, dev[ci], penalty)
        if best is None:
            placement = order.default_placement(default)
        else:
            u, pick, ci, d, penalty = best
            placement = Placement(pick, "constraint", agents[ci].label, d, penalty, u, order.marginal(pick))
        out.append(placement)
        counts.add(placement.index)
        order.add(placement.index)
    return out

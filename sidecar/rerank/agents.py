"""eBay's agent-based diversity algorithm ("Diversity in Search", DESIGN.md 1.1).

Each constraint is an agent watching the page being built. With n items placed and k of them
having the agent's property (for ``any``: the largest count of one value), its deviance is
``max(0, (n+2)f - k - 1)`` for a min and ``max(0, k + 1 - (n+2)f)`` for a max: the (n+2)
look-ahead fires an agent at the last moment its constraint can still be met. A firing agent
proposes the first unplaced item, in base order, that reduces its deviance; its unhappiness is
``deviance - lambda * (base[default] - base[proposal])``. The unhappiest agent with
unhappiness > 0 places its proposal; otherwise the default (best unplaced) item is placed.

``place_by_score`` follows the reference pseudo-code exactly: pointers only move down, so a
rerank is O(n * C). ``place_by_mmr`` is the same loop when MMR is the base order: the default
is the MMR argmax, pointers scan the current MMR order, penalties are in MMR marginal scores.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .mmr import MMRState

_NEG_INF = float("-inf")


@dataclass(frozen=True)
class Agent:
    """A compiled constraint: per-candidate property (in base order) and its fraction."""

    label: str
    is_min: bool
    fraction: float
    has: list[bool] | None = None   # value / values / range constraints
    codes: list[int] | None = None  # ``any`` constraints: value code per candidate, -1 = field missing
    n_values: int = 0

    def arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """numpy copies of has / codes for vectorised scans, built once per agent."""
        cached = self.__dict__.get("_arrays")
        if cached is None:
            cached = (None if self.has is None else np.asarray(self.has, dtype=bool),
                      None if self.codes is None else np.asarray(self.codes, dtype=np.int64))
            object.__setattr__(self, "_arrays", cached)
        return cached


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
    is_default: bool = False  # the agent's proposal was the default item anyway


class _Counts:
    """Running k per agent: count with the property, or for ``any`` the largest count of one value.

    Used by the MMR loop; ``place_by_score`` inlines the same arithmetic for speed (both are
    tested against independent references: the pseudo-code cases and a naive MMR-agent loop)."""

    def __init__(self, agents: list[Agent]):
        self.agents = agents
        self.k = [0] * len(agents)
        self.per_value = [[0] * a.n_values if a.codes is not None else None for a in agents]

    def add(self, i: int) -> None:
        for ci, a in enumerate(self.agents):
            if a.codes is None:
                if a.has[i]:
                    self.k[ci] += 1
            else:
                code = a.codes[i]
                if code >= 0:
                    cnt = self.per_value[ci]
                    cnt[code] += 1
                    if cnt[code] > self.k[ci]:
                        self.k[ci] = cnt[code]

    def deviance(self, ci: int, n: int) -> float:
        a = self.agents[ci]
        k = self.k[ci]
        if a.is_min:
            return max(0.0, (n + 2) * a.fraction - k - 1)
        return max(0.0, k + 1 - (n + 2) * a.fraction)

    def reduces(self, ci: int, i: int) -> bool:
        """Would placing item i reduce agent ci's deviance? (min: has it; max: lacks it; any: count < k)"""
        a = self.agents[ci]
        if a.codes is not None:
            code = a.codes[i]
            return code < 0 or self.per_value[ci][code] != self.k[ci]
        return a.has[i] if a.is_min else not a.has[i]


def place_by_score(base: list[float], agents: list[Agent], lam: float, size: int,
                   trace: Callable[[int, int], None] | None = None) -> list[Placement]:
    """Place ``size`` items; candidates 0..n-1 are in base order and ``base`` holds their scores.

    The reference loop with the per-agent arithmetic inlined (this is the hot path); ``trace``,
    when given, is told (agent, pointer) after every scan, so tests can watch the pointers.
    """
    n_total = len(base)
    size = min(size, n_total)
    if size <= 0:
        return []
    n_agents = len(agents)
    is_min = [a.is_min for a in agents]
    frac = [a.fraction for a in agents]
    has = [a.has for a in agents]
    codes = [a.codes for a in agents]
    per_value = [[0] * a.n_values if a.codes is not None else None for a in agents]
    k = [0] * n_agents
    placed = [False] * n_total
    ptr = [1] * n_agents

    def add(i: int) -> None:
        placed[i] = True
        for ci in range(n_agents):
            cc = codes[ci]
            if cc is None:
                if has[ci][i]:
                    k[ci] += 1
            else:
                code = cc[i]
                if code >= 0:
                    cnt = per_value[ci]
                    cnt[code] += 1
                    if cnt[code] > k[ci]:
                        k[ci] = cnt[code]

    order = [Placement(0, "default")]
    add(0)
    first_unplaced = 1
    while len(order) < size:
        while placed[first_unplaced]:
            first_unplaced += 1
        default = first_unplaced
        n2 = len(order) + 2
        best_u = 0.0
        best = None  # (item, agent, dev, penalty)
        for ci in range(n_agents):
            kc = k[ci]
            dev = n2 * frac[ci] - kc - 1 if is_min[ci] else kc + 1 - n2 * frac[ci]
            if dev <= 0:  # max(0, .) == 0: not a contender
                continue
            p = ptr[ci]
            cc = codes[ci]
            if cc is not None:  # any: skip items whose value already has the top count
                cnt = per_value[ci]
                while p < n_total and (placed[p] or (cc[p] >= 0 and cnt[cc[p]] == kc)):
                    p += 1
            elif is_min[ci]:  # min: skip items lacking the property
                hc = has[ci]
                while p < n_total and (placed[p] or not hc[p]):
                    p += 1
            else:  # max: skip items having it
                hc = has[ci]
                while p < n_total and (placed[p] or hc[p]):
                    p += 1
            ptr[ci] = p
            if trace is not None:
                trace(ci, p)
            if p >= n_total:
                continue
            penalty = base[default] - base[p]
            u = dev - lam * penalty
            if u > 0 and (best is None or u > best_u):
                best_u, best = u, (p, ci, dev, penalty)
        if best is None:
            pick = default
            order.append(Placement(pick, "default"))
        else:
            pick, ci, dev, penalty = best
            order.append(Placement(pick, "constraint", agents[ci].label, dev, penalty, best_u, is_default=pick == default))
        add(pick)
        for ci in range(n_agents):
            if ptr[ci] == pick:
                ptr[ci] = pick + 1
    return order


TOP = 32  # the head of the MMR order agents scan before one vectorised search


def _reduces_mask(counts: _Counts, ci: int) -> np.ndarray:
    """Vectorised ``_Counts.reduces`` over all candidates, for deep scans."""
    a = counts.agents[ci]
    has, codes = a.arrays()
    if codes is not None:
        per_value = np.asarray(counts.per_value[ci] + [0])  # code -1 reads the extra slot
        return (codes < 0) | (per_value[codes] != counts.k[ci])
    return has if a.is_min else ~has


def _mmr_head(marg: np.ndarray, available: int) -> list[int]:
    """The first items of the current MMR order (marginal descending, ties by index), verified:
    every listed item truly precedes every unlisted one."""
    if available <= TOP:
        idx = np.flatnonzero(marg > -np.inf)
        return idx[np.lexsort((idx, -marg[idx]))].tolist()
    part = np.argpartition(-marg, TOP)
    top = part[:TOP]
    boundary = marg[part[TOP]]  # the best value among the unlisted items
    top = top[np.lexsort((top, -marg[top]))]
    return top[marg[top] > boundary].tolist()


def place_by_mmr(state: MMRState, agents: list[Agent], lam: float, size: int) -> list[Placement]:
    """The agent loop over the MMR order: default = MMR argmax, penalties in marginal scores.

    An agent's proposal is the first item in the current MMR order that reduces its deviance:
    looked for in the verified head of the order, else by a masked argmax over the rest.
    """
    n_total = len(state.relevance)
    size = min(size, n_total)
    counts = _Counts(agents)
    order: list[Placement] = []
    while len(order) < size:
        marg = state.marginal()
        default = int(np.argmax(marg))
        n = len(order)
        best: tuple[float, int, int, float, float] | None = None
        if n > 0 and agents:  # the first item is always the most relevant one, as in the reference loop
            head = _mmr_head(marg, n_total - n)
            for ci in range(len(agents)):
                dev = counts.deviance(ci, n)
                if dev == 0:
                    continue
                p = next((i for i in head if counts.reduces(ci, i)), None)
                if p is None:
                    masked = np.where(_reduces_mask(counts, ci), marg, -np.inf)
                    masked[head] = -np.inf
                    p = int(np.argmax(masked))
                    if masked[p] == -np.inf:
                        continue
                penalty = float(marg[default] - marg[p])
                u = dev - lam * penalty
                if u > 0 and (best is None or u > best[0]):
                    best = (u, p, ci, dev, penalty)
        if best is None:
            pick = default
            order.append(Placement(pick, "mmr", marginal=float(marg[pick])))
        else:
            u, pick, ci, dev, penalty = best
            order.append(Placement(pick, "constraint", agents[ci].label, dev, penalty, u, float(marg[pick]),
                                   is_default=pick == default))
        counts.add(pick)
        state.add(pick)
    return order

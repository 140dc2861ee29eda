"""A plain, obviously-correct implementation of the agent algorithm's pseudo-code, for tests only.

Nothing is incremental: every slot recomputes the base order, every count and every deviance from
the list of placed items. ``corrections`` switches the three version-3 corrections on or off, so a
test can show the page the paper's loop (no corrections) gives next to version 3's:
  1  an agent whose proposal is the default item is not a contender;
  2  an ``any`` agent's proposal is searched from the top each slot (off: a pointer that only
     moves down, as in version 2);
  3  cooperative proposals.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

EPS = 1e-9
V3 = frozenset({1, 2, 3})


@dataclass(frozen=True)
class Spec:
    """One constraint: kind "min"/"max" with ``prop`` (bool per item) or "any" with ``value``
    (a value per item, None = field missing)."""

    kind: str
    f: float
    prop: Sequence[bool] | None = None
    value: Sequence[object] | None = None


def place(specs: Sequence[Spec], lam: float, size: int, n: int,
          scores_given: Callable[[list[int]], Sequence[float]], corrections: frozenset[int] = V3) -> list[int]:
    """Item indices in page order. ``scores_given(placed)`` is every item's base score given the
    placed items (score order: constant; MMR: marginal scores); the base order sorts the unplaced
    items by (-score, index)."""
    placed: list[int] = []
    pointer = [0] * len(specs)  # only read with correction 2 off
    while len(placed) < min(size, n):
        s = scores_given(placed)
        unplaced = sorted((i for i in range(n) if i not in placed), key=lambda i: (-s[i], i))
        default = unplaced[0]
        if not placed:
            placed.append(default)
            continue
        m = len(placed)

        def k(c: Spec) -> int:
            if c.kind == "any":
                counts = Counter(c.value[i] for i in placed if c.value[i] is not None)
                return max(counts.values(), default=0)
            return sum(1 for i in placed if c.prop[i])

        def deviance(c: Spec) -> float:
            if c.kind == "min":
                return max(0.0, (m + 2) * c.f - k(c) - 1)
            return max(0.0, k(c) + 1 - (m + 2) * c.f)

        def reduces(c: Spec, i: int) -> bool:
            if c.kind == "min":
                return c.prop[i]
            if c.kind == "max":
                return not c.prop[i]
            return c.value[i] is None or sum(1 for j in placed if c.value[j] == c.value[i]) < k(c)

        unhappy_caps = [j for j, c in enumerate(specs) if deviance(c) > EPS and c.kind != "min"]
        best = None
        for ci, c in enumerate(specs):
            dev = deviance(c)
            if dev <= EPS:
                continue
            candidates = unplaced
            if 2 not in corrections and c.kind == "any":
                candidates = [i for i in unplaced if i >= pointer[ci]]
            reducing = [i for i in candidates if reduces(c, i)]
            if 2 not in corrections and c.kind == "any":
                pointer[ci] = reducing[0] if reducing else n
            proposal = reducing[0] if reducing else None
            if 3 in corrections:
                cooperative = [i for i in reducing if all(reduces(specs[d], i) for d in unhappy_caps if d != ci)]
                if cooperative:
                    proposal = cooperative[0]
            if proposal is None or (1 in corrections and proposal == default):
                continue
            u = dev - lam * (s[default] - s[proposal])
            if u > 0 and (best is None or u > best[0]):
                best = (u, proposal)
        placed.append(default if best is None else best[1])
    return placed


def score_order(base: Sequence[float]) -> Callable[[list[int]], Sequence[float]]:
    return lambda placed: base


def mmr_order(relevance: Sequence[float], unit_vectors, diversity: float) -> Callable[[list[int]], Sequence[float]]:
    """Textbook MMR marginal scores, every similarity recomputed (float32 cosines, as the core)."""
    import numpy as np

    v = np.asarray(unit_vectors, dtype=np.float32)

    def scores(placed: list[int]) -> list[float]:
        out = []
        for j in range(len(relevance)):
            m = (1.0 - diversity) * float(relevance[j])
            if placed and diversity != 0.0:
                m -= max(float(diversity * np.float32(v[j] @ v[i])) for i in placed)
            out.append(m)
        return out

    return scores


def dpp_order(relevance: Sequence[float], unit_vectors, diversity: float) -> Callable[[list[int]], Sequence[float]]:
    """Greedy DPP gains recomputed from scratch: the kernel L = diag(w) S diag(w) (w = exp((1 -
    diversity) * z-score of the relevance), S the cosines), and item j's gain the Schur complement
    L_jj - L_jP L_PP^-1 L_Pj over the placed items P, as a share of the first pick's gain, in float64.
    Diversity 0 is the relevance."""
    import numpy as np

    r = np.asarray(relevance, dtype=np.float64)
    v = np.asarray(unit_vectors, dtype=np.float64)
    if diversity == 0.0:
        return lambda placed: list(r)
    w = np.exp((1.0 - diversity) * (r - r.mean()) / (r.std() + 1.1920929e-07))
    big_l = w[:, None] * (v @ v.T) * w[None, :] + np.eye(len(r)) * 1.1920929e-07

    def scores(placed: list[int]) -> list[float]:
        if not placed:
            return list(np.diag(big_l))
        lp = big_l[np.ix_(placed, placed)]
        cross = big_l[:, placed]
        gains = np.diag(big_l) - np.einsum("ij,ij->i", cross @ np.linalg.inv(lp), cross)
        return list(np.maximum(gains, 0.0) / big_l[placed[0], placed[0]])

    return scores


def msd_order(relevance: Sequence[float], unit_vectors, diversity: float) -> Callable[[list[int]], Sequence[float]]:
    """Maximal Sum of Distances: (1 - d) * rel + d * sum of (1 - cosine) to the placed items; the
    relevance before anything is placed."""
    import numpy as np

    v = np.asarray(unit_vectors, dtype=np.float64)

    def scores(placed: list[int]) -> list[float]:
        if not placed:
            return [float(x) for x in relevance]
        return [(1.0 - diversity) * float(relevance[j]) +
                diversity * sum(1.0 - min(1.0, max(-1.0, float(v[j] @ v[i]))) for i in placed)
                for j in range(len(relevance))]

    return scores


ORDERS = {"score": lambda rel, vectors, diversity: score_order(rel), "mmr": mmr_order, "dpp": dpp_order,
          "msd": msd_order}


def jaccard_components(sets: Sequence[frozenset], threshold: float) -> list[int]:
    """Connected components of "exact Jaccard >= threshold" over every pair (empty sets join
    nothing), each labelled by its first member: what dedup grouping may at most join."""
    parent = list(range(len(sets)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(sets)):
        for j in range(i):
            if sets[i] and sets[j] and len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= threshold:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(len(sets))]

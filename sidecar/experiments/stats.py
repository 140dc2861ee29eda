"""The statistics an experiment report states, written out (no SciPy): Wilson score intervals
for rates, a two-proportion z-test for an A/B difference, and an exact two-sided sign test for an
interleaving preference. Each returns what the report prints; ``z`` = 1.96 is 95% confidence."""
from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a rate k / n (n = 0: the whole [0, 1]). Unlike the normal
    approximation it stays within [0, 1] and keeps its coverage near 0 and 1 and for small n."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of "the two rates are equal" (pooled z-test); 1.0 when it cannot be
    computed (an empty arm, or no event or only events in both)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided p-value of "each side is preferred half the time", ties left out:
    2 * P(X <= min(wins, losses)) for X ~ Binomial(wins + losses, 1/2), at most 1."""
    n = wins + losses
    if n == 0:
        return 1.0
    low = min(wins, losses)
    # sum of C(n, i) / 2^n in log space: n can be in the tens of thousands
    log_half_n = -n * math.log(2.0)
    tail = sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n)
               for i in range(low + 1))
    return min(1.0, 2.0 * tail)

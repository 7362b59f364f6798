"""Statistics of repeated samples: the figures a check judges, and the test that tells a real change from noise.

The test is the Mann-Whitney U test (H. B. Mann and D. R. Whitney, "On a test of whether one of two random
variables is stochastically larger than the other", Ann. Math. Statist. 18(1), 1947), one-sided and exact:
the p-value counts, over every way of splitting the pooled samples into groups of the two sizes, how many are
at least as extreme as the one observed (ties count half, as in the usual mid-rank form). It assumes nothing
about the distribution, which suits benchmark figures (skewed, with outliers). With few samples the smallest
possible p-value is 1 / C(m+n, m): 1/252 for 5 against 5, 1/20 for 3 against 3, and 1/2 for 1 against 1, so a
single run against a single run can never be told apart from noise.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

STATISTICS = ("median", "mean", "min", "max")  # and pNN, a quantile, e.g. p10 or p90


def is_statistic(name: str) -> bool:
    if name in STATISTICS:
        return True
    return len(name) > 1 and name[0] == "p" and name[1:].isdigit() and 0 <= int(name[1:]) <= 100


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, R type 7)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def statistic(values: Sequence[float], name: str) -> float:
    """`median`, `mean`, `min`, `max` or `pNN` of the samples."""
    if name == "median":
        return median(values)
    if name == "mean":
        return sum(values) / len(values)
    if name == "min":
        return min(values)
    if name == "max":
        return max(values)
    if is_statistic(name):
        return quantile(values, int(name[1:]) / 100)
    raise ValueError(f"unknown statistic {name!r}")


def spread(values: Sequence[float]) -> float:
    """The range (max - min): with a handful of samples, the honest width of the noise."""
    return max(values) - min(values) if values else 0.0


@lru_cache(maxsize=None)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """counts[u] = how many arrangements of m x's and n y's have U = u (pairs with an x above a y)."""
    if m == 0 or n == 0:
        return (1,)
    # the largest element is an x (it beats all n y's) or a y (it beats none)
    with_x = _u_counts(m - 1, n)
    with_y = _u_counts(m, n - 1)
    counts = [0] * (m * n + 1)
    for u, c in enumerate(with_x):
        counts[u + n] += c
    for u, c in enumerate(with_y):
        counts[u] += c
    return tuple(counts)


def u_statistic(x: Sequence[float], y: Sequence[float]) -> float:
    """Pairs (xi, yj) with xi > yj, ties counting one half."""
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)


def p_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided exact p-value of "x tends to be larger than y" (small when x is clearly above y)."""
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return 1.0
    counts = _u_counts(m, n)
    observed = math.floor(u_statistic(x, y) + 1e-9)  # a tie counts against the claim: conservative
    at_least = sum(c for u, c in enumerate(counts) if u >= observed)
    return at_least / sum(counts)


def smallest_p(m: int, n: int) -> float:
    return 1 / math.comb(m + n, m) if m and n else 1.0


def worse(a: Sequence[float], b: Sequence[float], better: str) -> float:
    """p-value of "b is worse than a" in the `better` direction."""
    return p_greater(a, b) if better == "higher" else p_greater(b, a)

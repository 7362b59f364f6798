"""Trends over past runs and the change points among them (`scenario history`).

Each run counts as one value: the median of its samples (a run without repeats has one). A change point is
flagged before run k when the WINDOW runs before it and the WINDOW runs from it on differ:
- a two-sided exact Mann-Whitney U test (runner.stats) on the two windows' run medians rejects at ALPHA; with
  5 runs a side and ALPHA 0.01 that means the two windows do not overlap at all, and
- their medians are more than the tolerance (5%) apart.
Of adjacent positions that qualify, the one with the largest shift is kept. A change therefore shows once
WINDOW runs have followed it. This is a windowed two-sample test, simpler than the E-Divisive means method of
Hunter/Orion (Matteson & James 2014, as applied by Daly et al., ICPE 2020); its false-alarm rate on runs with
identical settings is measured by bench/compare_noise_bench.py (figures in docs/verdicts.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from runner.base import stats
from runner.records.compare import samples_of
from runner.records.history import metric_entry

WINDOW = 5
ALPHA = 0.01
TOLERANCE_PCT = 5.0
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class ChangePoint:
    index: int          # the first run after the change
    before: float       # median of the window before
    after: float
    change_pct: float
    p_value: float
    direction: str      # better | worse | "" (no direction known)


def run_samples(run: Any, metric: str) -> tuple[float, ...]:
    """The samples of `workload.metric` in a past run (PastRun), () when it has none."""

    return samples_of(metric_entry(run.metrics(), metric)) if run is not None else ()


def run_values(series: Sequence[Sequence[float]]) -> list[float | None]:
    return [stats.median(samples) if samples else None for samples in series]


def change_points(series: Sequence[Sequence[float]], better: str = "", window: int = WINDOW, alpha: float = ALPHA,
                  tolerance_pct: float = TOLERANCE_PCT) -> list[ChangePoint]:
    """Change points of a series of runs (each a tuple of samples), oldest first. Runs with no value are skipped."""
    values = [(i, v) for i, v in enumerate(run_values(series)) if v is not None]
    candidates: list[ChangePoint] = []
    for k in range(window, len(values) - window + 1):
        before = [v for _, v in values[k - window:k]]
        after = [v for _, v in values[k:k + window]]
        found = _change(values[k][0], before, after, better, alpha, tolerance_pct)
        if found:
            candidates.append(found)
    return _strongest_of_each_run(candidates, [i for i, _ in values])


def _change(index: int, before: list[float], after: list[float], better: str, alpha: float, tolerance_pct: float) -> ChangePoint | None:
    low, high = stats.median(before), stats.median(after)
    if not low:
        return None
    pct = (high - low) / abs(low) * 100
    p_value = min(1.0, 2 * min(stats.p_greater(after, before), stats.p_greater(before, after)))
    if p_value > alpha or abs(pct) <= tolerance_pct:
        return None
    direction = "" if not better else ("better" if (pct > 0) == (better == "higher") else "worse")
    return ChangePoint(index, low, high, pct, p_value, direction)


def _strongest_of_each_run(candidates: list[ChangePoint], order: list[int]) -> list[ChangePoint]:
    """Adjacent qualifying positions are one change: keep the largest shift of each stretch."""
    kept: list[ChangePoint] = []
    position = {index: i for i, index in enumerate(order)}
    for candidate in candidates:
        if kept and position[candidate.index] - position[kept[-1].index] == 1 and (candidate.change_pct > 0) == (kept[-1].change_pct > 0):
            if abs(candidate.change_pct) > abs(kept[-1].change_pct):
                kept[-1] = candidate
            continue
        kept.append(candidate)
    return kept


def sparkline(values: Sequence[float | None]) -> str:
    numbers = [v for v in values if v is not None]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    scale = (high - low) or 1.0
    return "".join(" " if v is None else SPARKS[min(len(SPARKS) - 1, int((v - low) / scale * (len(SPARKS) - 1) + 0.5))] for v in values)

"""Ranking sweep variants: by the median of their samples, a best only when it is distinguishable.

The top variant is best only when the runner-up's samples are worse by a one-sided exact Mann-Whitney U test
(runner.stats) at BEST_ALPHA; otherwise every variant the test cannot tell from the top one is tied with it.
Variants are runner.sweep.VariantRun (status, metrics, samples, label, index).
"""
from __future__ import annotations

from typing import Any, Sequence

from runner.base.stats import median, worse
from runner.base.units import format_value
from runner.verdict.judge import CheckStatus

BEST_ALPHA = 0.05


def ranked(runs: Sequence[Any], metric: str, better: str) -> list[Any]:
    """Passing variants with a value of the metric, best median first."""
    candidates = [r for r in runs if r.status == CheckStatus.PASS and numbers(r.samples.get(metric) or (r.metrics.get(metric),))]
    return sorted(candidates, key=lambda r: median_of(r, metric), reverse=better == "higher")


def numbers(values: Sequence[Any]) -> bool:
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def median_of(run: Any, metric: str) -> float:
    return median(run.samples.get(metric) or (run.metrics[metric],))


def rank(runs: Sequence[Any], metric: str, better: str, alpha: float = BEST_ALPHA) -> tuple[int | None, tuple[int, ...]]:
    """(best variant index or None, indexes of the variants tied with the top one, the top one first).

    The top variant by median is best only when the runner-up's samples are worse (one-sided exact Mann-Whitney U
    at `alpha`); otherwise every variant the test cannot tell from the top one is tied with it."""
    if better not in ("higher", "lower"):
        return None, ()
    order = ranked(runs, metric, better)
    if not order:
        return None, ()
    top = order[0]
    top_samples = top.samples.get(metric) or (top.metrics[metric],)
    tied = [r for r in order[1:] if worse(top_samples, r.samples.get(metric) or (r.metrics[metric],), better) > alpha]
    if not tied:
        return top.index, ()
    return None, (top.index, *(r.index for r in tied))


def best_line(result: Any) -> str:
    """What the sweep found: a distinguishable best, a tie, or why there is no best."""
    if result.best is not None:
        best = result.variants[result.best]
        value = format_value(best.metrics.get(result.best_metric), best.units.get(result.best_metric, ""))
        samples = len(best.samples.get(result.best_metric) or ()) or 1
        return (f"best: variant {best.index + 1} ({best.label}): {result.best_metric} median {value} of {samples} sample(s) "
                f"({result.better} is better), distinguishable from the runner-up (one-sided Mann-Whitney U, p <= {BEST_ALPHA})")
    if result.tied:
        labels = ", ".join(f"{i + 1} ({result.variants[i].label})" for i in result.tied)
        few = min(len(result.variants[i].samples.get(result.best_metric) or ()) for i in result.tied)
        advice = (f" (with {few} sample{'s' if few != 1 else ''} a variant cannot be told from noise: run with --repeat 3 or more)"
                  if few < 3 else "")
        return f"best: none — variants {labels} are tied on {result.best_metric} within noise{advice}"
    if result.best_metric:
        return f"best: none (no passing variant with a value of {result.best_metric}{'' if result.better else ' or no direction'})"
    return "best: none (no performance check)"

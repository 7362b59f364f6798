"""Two run records side by side: every metric with both values and the change, regressions flagged.

A metric is judged only where its `better` direction (metrics.json, from the parser) is known:
higher-is-better dropping, or lower-is-better rising, by more than the tolerance is a regression.
A judged metric that run A has and run B lacks is a regression too: no data is never green.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .history import PastRun
from .report import format_value

DEFAULT_TOLERANCE_PCT = 5.0


@dataclass(frozen=True)
class MetricChange:
    metric: str            # workload.metric
    a: Any
    b: Any
    unit: str
    better: str            # higher | lower | "" (not judged)
    change_pct: float | None
    verdict: str           # regression | improvement | same | within tolerance | missing | new | not judged | changed

    @property
    def regression(self) -> bool:
        return self.verdict in ("regression", "missing")


@dataclass(frozen=True)
class Comparison:
    a: PastRun
    b: PastRun
    tolerance_pct: float
    changes: tuple[MetricChange, ...]

    @property
    def regressions(self) -> list[MetricChange]:
        return [c for c in self.changes if c.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def _flatten(document: Mapping[str, Any]) -> dict[str, dict]:
    flat = {}
    for workload, entry in (document.get("workloads") or {}).items():
        for name, metric in ((entry or {}).get("metrics") or {}).items():
            if isinstance(metric, Mapping):
                flat[f"{workload}.{name}"] = dict(metric)
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def change_of(metric: str, a: Mapping | None, b: Mapping | None, tolerance_pct: float) -> MetricChange:
    meta = b or a or {}
    better = (a or {}).get("better") or (b or {}).get("better") or ""
    va, vb = (a or {}).get("value"), (b or {}).get("value")
    unit = meta.get("unit", "")
    if b is None or vb is None:
        verdict = "missing" if better and a is not None and va is not None else "not judged"
        return MetricChange(metric, va, vb, unit, better, None, verdict)
    if a is None or va is None:
        return MetricChange(metric, va, vb, unit, better, None, "new")
    na, nb = _number(va), _number(vb)
    if na is None or nb is None:
        return MetricChange(metric, va, vb, unit, better, None, "same" if va == vb else "changed")
    pct = (nb - na) / abs(na) * 100 if na else (0.0 if nb == na else None)
    if not better:
        return MetricChange(metric, va, vb, unit, better, pct, "not judged")
    worse = nb < na if better == "higher" else nb > na
    if nb == na:
        verdict = "same"
    elif pct is None:  # from zero: any move in the wrong direction is beyond every tolerance
        verdict = "regression" if worse else "improvement"
    elif abs(pct) <= tolerance_pct:
        verdict = "within tolerance"
    else:
        verdict = "regression" if worse else "improvement"
    return MetricChange(metric, va, vb, unit, better, pct, verdict)


def compare_runs(a: PastRun, b: PastRun, tolerance_pct: float = DEFAULT_TOLERANCE_PCT) -> Comparison:
    ma, mb = _flatten(a.metrics()), _flatten(b.metrics())
    names = list(ma) + [n for n in mb if n not in ma]
    return Comparison(a, b, tolerance_pct, tuple(change_of(n, ma.get(n), mb.get(n), tolerance_pct) for n in names))


def format_change(change: MetricChange) -> str:
    if change.change_pct is None:
        return "-"
    return f"{change.change_pct:+.1f}%"


def comparison_rows(comparison: Comparison) -> list[list[str]]:
    return [[c.metric, format_value(c.a, c.unit), format_value(c.b, c.unit), format_change(c), c.better or "-",
             ("REGRESSION" if c.regression else c.verdict)] for c in comparison.changes]


def comparison_document(comparison: Comparison) -> dict:
    return {
        "a": {"run_id": comparison.a.run_id, "scenario": comparison.a.scenario, "status": comparison.a.status, "path": str(comparison.a.path)},
        "b": {"run_id": comparison.b.run_id, "scenario": comparison.b.scenario, "status": comparison.b.status, "path": str(comparison.b.path)},
        "tolerance_pct": comparison.tolerance_pct,
        "regressions": len(comparison.regressions),
        "metrics": [{"metric": c.metric, "a": c.a, "b": c.b, "unit": c.unit, "better": c.better, "change_pct": c.change_pct,
                     "verdict": c.verdict, "regression": c.regression} for c in comparison.changes],
    }

"""Two run records side by side: every judged metric with both values and the change, real regressions flagged.

Which metrics gate, and in which direction, comes from the parser's catalog (runner.catalog): only
*performance* metrics gate, in their `better` direction; *correctness* metrics are shown but not judged here
(the run's own checks judge them); *info* metrics (identifiers, settings, port numbers) are not metrics to
compare at all. A performance metric that run A has and run B lacks is a regression: no data is never green.

A regression needs the median to move the wrong way by more than the tolerance (5% by default), AND the noise
model to support it; nothing else is ever called a regression:
- enough samples for the rank test to reach alpha (at 0.01: 5 against 4 or more): a one-sided exact Mann-Whitney U
  test (runner.stats) at level alpha (0.01 by default) rejects "B is no worse than A". With 5 samples a side that
  allows at most one of the 25 pairs (a, b) out of order;
- fewer, but at least 2 samples a side (--repeat 2 or 3): the two runs' samples are apart by more than the spread
  of either run, every sample of B worse than every sample of A with a gap wider than max - min of each run; a
  change of that size cannot come from the noise those samples show (a 4 KiB block against 64 KiB: 0.05 against
  0.6 GB/s);
- otherwise (one run a side, or samples that overlap or sit within a spread of each other) the answer is
  "inconclusive": not a regression, with the number of repeats a side that would let the rank test decide.
A gain is held to the same rules ("improvement" or "inconclusive").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from runner.base import stats
from runner.base.units import format_value
from runner.parse.logs import catalog_of
from runner.records.history import PastRun

DEFAULT_TOLERANCE_PCT = 5.0
DEFAULT_ALPHA = 0.01
LOAD_GAP_PER_CPU = 0.5  # runs whose host load per CPU differs by more were measured under different conditions


@dataclass(frozen=True)
class MetricChange:
    metric: str            # workload.metric
    a: Any                 # the median when there are samples
    b: Any
    unit: str
    better: str            # higher | lower | "" (not judged)
    change_pct: float | None
    verdict: str           # regression | improvement | same | within tolerance | within noise | inconclusive | missing | new | not judged | changed
    kind: str = ""
    samples_a: tuple = ()
    samples_b: tuple = ()
    p_value: float | None = None   # one-sided Mann-Whitney U in the direction the median moved; None when it could not decide
    note: str = ""

    @property
    def regression(self) -> bool:
        return self.verdict in ("regression", "missing")


@dataclass(frozen=True)
class Comparison:
    a: PastRun
    b: PastRun
    tolerance_pct: float
    changes: tuple[MetricChange, ...]
    alpha: float = DEFAULT_ALPHA
    settings: tuple[str, ...] = ()   # what differs between the two runs' resolved scenarios
    label: str = ""                  # the sweep variant, when comparing sweeps
    conditions: tuple[str, ...] = () # what differed around the runs: the local runner host's load

    @property
    def regressions(self) -> list[MetricChange]:
        return [c for c in self.changes if c.regression]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def _catalog_entry(parser: str, name: str) -> dict:
    """What the parser's catalog says about a metric (records written before metrics had a kind)."""
    catalog = catalog_of(parser)
    spec = catalog.metrics_for().get(name) if catalog else None
    return {"better": spec.better, "kind": spec.kind, "unit": spec.unit} if spec else {}


def _flatten(document: Mapping[str, Any]) -> dict[str, dict]:
    flat = {}
    for workload, entry in (document.get("workloads") or {}).items():
        for name, metric in ((entry or {}).get("metrics") or {}).items():
            if isinstance(metric, Mapping):
                merged = dict(metric)
                if not merged.get("kind"):
                    declared = _catalog_entry((entry or {}).get("parser", ""), name)
                    if declared:
                        merged.update(kind=declared["kind"], better=declared["better"])
                    else:
                        merged["kind"] = "performance" if merged.get("better") else "info"
                flat[f"{workload}.{name}"] = merged
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def samples_of(entry: Mapping | None) -> tuple[float, ...]:
    """Every sample of a metric entry (one, the value, for records without repeats)."""
    if not entry:
        return ()
    raw = entry.get("samples")
    values = raw if isinstance(raw, list) and raw else [entry.get("value")]
    numbers = tuple(n for n in (_number(v) for v in values) if n is not None)
    return numbers


def change_of(metric: str, a: Mapping | None, b: Mapping | None, tolerance_pct: float, alpha: float = DEFAULT_ALPHA) -> MetricChange:
    meta = b or a or {}
    kind = (a or {}).get("kind") or (b or {}).get("kind") or ""
    better = (a or {}).get("better") or (b or {}).get("better") or ""
    if kind and kind != "performance":
        better = ""  # only performance metrics gate
    va, vb = (a or {}).get("value"), (b or {}).get("value")
    unit = meta.get("unit", "")
    sa, sb = samples_of(a), samples_of(b)
    base = dict(metric=metric, unit=unit, better=better, kind=kind, samples_a=sa, samples_b=sb)
    if b is None or vb is None:
        verdict = "missing" if better and a is not None and va is not None else "not judged"
        return MetricChange(a=va, b=vb, change_pct=None, verdict=verdict, **base)
    if a is None or va is None:
        return MetricChange(a=va, b=vb, change_pct=None, verdict="new", **base)
    na, nb = _number(va), _number(vb)
    if na is None or nb is None:
        return MetricChange(a=va, b=vb, change_pct=None, verdict="same" if va == vb else "changed", **base)
    if len(sa) > 1 or len(sb) > 1:
        na, nb = stats.median(sa), stats.median(sb)
    pct = (nb - na) / abs(na) * 100 if na else (0.0 if nb == na else None)
    base.update(a=na if len(sa) > 1 else va, b=nb if len(sb) > 1 else vb, change_pct=pct)
    if not better:
        return MetricChange(verdict="not judged", **base)
    worse = nb < na if better == "higher" else nb > na
    assessable = stats.smallest_p(len(sa), len(sb)) <= alpha
    # one-sided, in the direction the median moved: is B worse than A (or, for a gain, is A worse than B)?
    p_value = (stats.worse(sa, sb, better) if worse else stats.worse(sb, sa, better)) if assessable else None
    note = ""
    if nb == na:
        verdict = "same"
    elif pct is not None and abs(pct) <= tolerance_pct:
        verdict = "within tolerance"
    elif p_value is not None:
        verdict = "within noise" if p_value > alpha else ("regression" if worse else "improvement")
    elif beyond_spread(sa, sb):
        verdict = "regression" if worse else "improvement"
        note = f"apart beyond the spread of each run ({len(sa)} vs {len(sb)} samples)"
    else:
        verdict = "inconclusive"  # the noise model cannot support a change: never a regression
        note = inconclusive_note(len(sa), len(sb), alpha)
    return MetricChange(verdict=verdict, p_value=p_value, note=note, **base)


def beyond_spread(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """With 2-4 samples a side (too few for the rank test at alpha): the runs do not overlap, and the gap between
    their closest samples is wider than the spread (max - min) of either run, so no sample of noise that size bridges it."""
    if len(a) < 2 or len(b) < 2:
        return False
    gap = max(min(b) - max(a), min(a) - max(b))
    return gap > max(stats.spread(a), stats.spread(b))


def repeats_to_decide(alpha: float) -> int:
    """The fewest samples a side with which the one-sided rank test can reach alpha (5 at 0.01, 3 at 0.05)."""
    n = 2
    while stats.smallest_p(n, n) > alpha:
        n += 1
    return n


def inconclusive_note(na: int, nb: int, alpha: float) -> str:
    needed = repeats_to_decide(alpha)
    if na < 2 or nb < 2:
        why = "one sample on a side shows no noise"
    else:
        why = "the samples are not apart beyond their spread"
    return (f"inconclusive ({na} vs {nb} samples: {why}); --repeat {needed} on both runs would let the rank test "
            f"decide at alpha {alpha:g}")


def compare_runs(a: PastRun, b: PastRun, tolerance_pct: float = DEFAULT_TOLERANCE_PCT, alpha: float = DEFAULT_ALPHA,
                 label: str = "") -> Comparison:
    ma, mb = _flatten(a.metrics()), _flatten(b.metrics())
    names = [n for n in list(ma) + [n for n in mb if n not in ma] if _kind(ma.get(n), mb.get(n)) != "info"]
    changes = tuple(change_of(n, ma.get(n), mb.get(n), tolerance_pct, alpha) for n in names)
    return Comparison(a, b, tolerance_pct, changes, alpha, tuple(settings_diff(a, b)), label, tuple(conditions_diff(a, b)))


def conditions_diff(a: PastRun, b: PastRun) -> list[str]:
    """The runner host's load when both runs were local ones (they measured that host): said when it differed by more
    than LOAD_GAP_PER_CPU per CPU, since the samples of each run then share a condition the other lacks, which the
    noise test cannot see (it compares the spread within runs)."""
    loads = [_load_per_cpu(run) for run in (a, b)]
    if None in loads or abs(loads[0] - loads[1]) <= LOAD_GAP_PER_CPU:
        return []
    busier = "B" if loads[1] > loads[0] else "A"
    return [f"host load: A {loads[0]:.2f}, B {loads[1]:.2f} per CPU (1-minute load average over the run): the host was busier "
            f"during {busier}; a local run measures its own host, so a change may be the load's: rerun both on a quiet host"]


def _load_per_cpu(run: PastRun) -> float | None:
    meta = run.meta()
    host = (meta.get("facts") or {}).get("runner_host") or {}
    values = [host.get(k) for k in ("load_1m_start", "load_1m_end")]
    if meta.get("executor") != "local" or not all(_number(v) is not None for v in values) or not _number(host.get("cpus")):
        return None
    return (values[0] + values[1]) / 2 / host["cpus"]


def _kind(a: Mapping | None, b: Mapping | None) -> str:
    return (a or {}).get("kind") or (b or {}).get("kind") or ""


# --- what differs between the two runs ----------------------------------------------------------


def _scenario_document(run: PastRun) -> dict:

    try:
        document = yaml.safe_load((run.path / "scenario.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return document if isinstance(document, dict) else {}


def _flat_settings(value: Any, path: str = "") -> dict[str, Any]:
    """Dotted path -> leaf; lists of named items are keyed by name (workloads.initiator.command)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat_settings(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(i, Mapping) and "name" in i for i in value):
        out = {}
        for item in value:
            out.update(_flat_settings({k: v for k, v in item.items() if k != "name"}, f"{path}.{item['name']}"))
        return out
    return {path: value}


IGNORED_SETTINGS = ("matrix",)  # a sweep's variants carry the matrix they came from; their parameters say the rest


def settings_diff(a: PastRun, b: PastRun) -> list[str]:
    """`parameters.block_size: 65536 -> 4096` for every resolved-scenario value that differs."""
    fa, fb = _flat_settings(_scenario_document(a)), _flat_settings(_scenario_document(b))
    lines = []
    for key in list(fa) + [k for k in fb if k not in fa]:
        if key.split(".")[0] in IGNORED_SETTINGS or fa.get(key) == fb.get(key):
            continue
        lines.append(f"{key}: {_setting(fa.get(key, '(unset)'))} -> {_setting(fb.get(key, '(unset)'))}")
    return lines


def _setting(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


# --- output -------------------------------------------------------------------------------------


def format_change(change: MetricChange) -> str:
    if change.change_pct is None:
        return "-"
    return f"{change.change_pct:+.1f}%"


def _value(value: Any, samples: tuple, unit: str) -> str:
    text = format_value(value, unit)
    if len(samples) > 1:
        text += f" (n={len(samples)}, {format_value(min(samples))}..{format_value(max(samples))})"
    return text


def _evidence(change: MetricChange) -> str:
    if change.p_value is not None:
        return f"p={change.p_value:.3g}"
    return change.note or "-"


def comparison_rows(comparison: Comparison) -> list[list[str]]:
    return [[c.metric, _value(c.a, c.samples_a, c.unit), _value(c.b, c.samples_b, c.unit), format_change(c), c.better or "-",
             ("REGRESSION" if c.regression else c.verdict), _evidence(c) if c.better else "-"] for c in comparison.changes]


def inconclusive(comparison: Comparison) -> list[MetricChange]:
    return [c for c in comparison.changes if c.verdict == "inconclusive"]


def comparison_document(comparison: Comparison) -> dict:
    return {
        "a": {"run_id": comparison.a.run_id, "scenario": comparison.a.scenario, "status": comparison.a.status, "path": str(comparison.a.path)},
        "b": {"run_id": comparison.b.run_id, "scenario": comparison.b.scenario, "status": comparison.b.status, "path": str(comparison.b.path)},
        "variant": comparison.label,
        "tolerance_pct": comparison.tolerance_pct,
        "alpha": comparison.alpha,
        "method": "median change beyond the tolerance, and a one-sided exact Mann-Whitney U test at alpha (or, with 2-4 "
                  "samples a side, samples apart beyond each run's spread); otherwise inconclusive, never a regression",
        "inconclusive": len(inconclusive(comparison)),
        "settings": list(comparison.settings),
        "conditions": list(comparison.conditions),
        "regressions": len(comparison.regressions),
        "metrics": [{"metric": c.metric, "a": c.a, "b": c.b, "unit": c.unit, "better": c.better, "kind": c.kind,
                     "change_pct": c.change_pct, "samples_a": list(c.samples_a), "samples_b": list(c.samples_b),
                     "p_value": c.p_value, "note": c.note, "verdict": c.verdict, "regression": c.regression}
                    for c in comparison.changes],
    }

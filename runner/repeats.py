"""Repeats: a run executed N times in one record. Each repeat is parsed on its own; their metrics become samples.

The merged metric's value is the median of its samples (text metrics keep the first repeat's value); every
sample stays in the record (metrics.json "samples"). Checks then judge a statistic of the samples (judge).
A repeat whose log could not be parsed leaves the sample set incomplete: the workload's metrics are an error
naming that repeat, never a median of the repeats that happened to work.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from .execute import RunOutput, WorkloadState

DONE, SKIPPED = WorkloadState.DONE, WorkloadState.SKIPPED
from .judge import WorkloadMetrics
from .parse import Metric, ParseResult
from .stats import median


def repeat_dir_name(index: int) -> str:
    return f"repeats/{index + 1}"


def merge_outputs(outputs: Sequence[RunOutput]) -> RunOutput:
    """One RunOutput for the verdict: the first repeat that did not complete (the loop stops there), else the last."""
    if len(outputs) == 1:
        return outputs[0]
    failing = next((o for o in outputs if o.state != "completed" or any(w.state not in (DONE, SKIPPED) for w in o.outcomes.values())), None)
    chosen = failing or outputs[-1]
    outcomes = dict(chosen.outcomes)
    for output in outputs:  # a workload that failed in an earlier repeat stays failed
        for name, outcome in output.outcomes.items():
            if outcome.state not in (DONE, SKIPPED) and outcomes.get(name, outcome).state in (DONE, SKIPPED):
                outcomes[name] = replace(outcome, message=f"repeat {outputs.index(output) + 1}/{len(outputs)}: {outcome.message}")
    message = chosen.message
    if failing is not None:
        message = f"repeat {outputs.index(failing) + 1}/{len(outputs)}: {message}"
    facts = {**outputs[0].facts, "repeats": len(outputs)}
    return RunOutput(chosen.executor, outcomes, chosen.state, message, facts)


def merge_metrics(per_repeat: Sequence[Mapping[str, WorkloadMetrics]]) -> dict[str, WorkloadMetrics]:
    """Per workload, one WorkloadMetrics whose metrics carry the samples of every repeat."""
    if len(per_repeat) == 1:
        return dict(per_repeat[0])
    merged = {}
    for name in per_repeat[0]:
        entries = [repeat.get(name) for repeat in per_repeat]
        merged[name] = _merge_workload(name, entries)
    return merged


def _merge_workload(name: str, entries: list[WorkloadMetrics | None]) -> WorkloadMetrics:
    first = entries[0]
    total = len(entries)
    for index, entry in enumerate(entries):
        if entry is None or entry.result is None:
            reason = entry.error if entry else "the workload did not run"
            return WorkloadMetrics(name, first.parser, entry.source if entry else first.source, error=f"repeat {index + 1}/{total}: {reason}")
    results = [entry.result for entry in entries]
    metrics = {}
    for metric_name, metric in results[0].metrics.items():
        found = [r.metrics.get(metric_name) for r in results]
        if any(m is None for m in found):
            continue  # not in every repeat: a check on it fails as missing
        metrics[metric_name] = merged_metric(metric, [m.value for m in found])
    result = ParseResult(results[0].parser, results[0].source, metrics, results[0].series,
                         {**results[0].info, "repeats": str(total)})
    return WorkloadMetrics(name, first.parser, first.source, result)


def merged_metric(metric: Metric, values: list) -> Metric:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    value = median(values) if numbers else values[0]
    if numbers and all(isinstance(v, int) for v in values) and float(value).is_integer():
        value = int(value)
    return Metric(metric.name, value, metric.unit, metric.better, metric.kind, tuple(values))

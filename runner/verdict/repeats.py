"""Repeats: a run executed N times in one record, or a job run N times in a row within one run (`repeat:` on the
workload). Each repeat or attempt is parsed on its own; their metrics become samples.

A repeated job runs as N jobs <name>-r1 .. <name>-rN, each after the previous one (delta.expand_attempts), so both
executors run attempts as they run any job; after the run they are folded back into one outcome under the job's
name (fold_attempts), which checks and reports use.

The merged metric's value is the median of its samples (text metrics keep the first repeat's value); every
sample stays in the record (metrics.json "samples"). Checks then judge a statistic of the samples (judge).
A repeat whose log could not be parsed leaves the sample set incomplete: the workload's metrics are an error
naming that repeat, never a median of the repeats that happened to work.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from runner.base.stats import median
from runner.execute.contract import RunOutput, WorkloadOutcome, WorkloadState
from runner.parse.logs import Metric, ParseResult
from runner.scenario.model import Scenario, attempt_name
from runner.verdict.judge import WorkloadMetrics

DONE, SKIPPED = WorkloadState.DONE, WorkloadState.SKIPPED


def repeat_dir_name(index: int) -> str:
    return f"repeats/{index + 1}"


def fold_attempts(scenario: Scenario, output: RunOutput) -> RunOutput:
    """The output under the scenario's own workload names: a repeated job's attempts become one outcome whose
    `attempts` keeps each; its state is the first attempt's that did not succeed (the rest were skipped), else done."""
    repeated = {w.name: w.repeat for w in scenario.workloads if w.repeat > 1}
    if not repeated:
        return output
    outcomes = {}
    for workload in scenario.workloads:
        if workload.name not in repeated:
            if workload.name in output.outcomes:
                outcomes[workload.name] = output.outcomes[workload.name]
            continue
        attempts = tuple(output.outcomes[attempt_name(workload.name, k)] for k in range(1, repeated[workload.name] + 1)
                         if attempt_name(workload.name, k) in output.outcomes)
        if attempts:
            outcomes[workload.name] = _folded(workload.name, attempts)
    return replace(output, outcomes=outcomes)


def _folded(name: str, attempts: tuple[WorkloadOutcome, ...]) -> WorkloadOutcome:
    total = len(attempts)
    attempts = tuple(replace(a, name=name) for a in attempts)
    failed = next((i for i, a in enumerate(attempts) if a.state != DONE), None)
    chosen = attempts[failed] if failed is not None else attempts[-1]
    message = chosen.message
    if failed is not None and chosen.state != SKIPPED:
        message = f"attempt {failed + 1}/{total}: {message}"
    elif failed is None:
        message = f"{total} attempts"
    ended = [a.ended for a in attempts if a.ended is not None]
    return replace(chosen, logs=chosen.logs or attempts[0].logs, started=attempts[0].started, ended=max(ended) if ended else None,
                   message=message, attempts=attempts)


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
        merged[name] = merge_samples(name, entries)
    return merged


def merge_samples(name: str, entries: list[WorkloadMetrics | None], what: str = "repeat") -> WorkloadMetrics:
    """One WorkloadMetrics from the metrics of each repeat (or attempt): every metric found in all of them, with
    every sample (an entry that has samples already, an attempt series within a repeat, gives all of them)."""
    first = entries[0]
    total = len(entries)
    for index, entry in enumerate(entries):
        if entry is None or entry.result is None:
            reason = entry.error if entry else "the workload did not run"
            return WorkloadMetrics(name, first.parser, entry.source if entry else first.source, error=f"{what} {index + 1}/{total}: {reason}")
    results = [entry.result for entry in entries]
    metrics = {}
    for metric_name, metric in results[0].metrics.items():
        found = [r.metrics.get(metric_name) for r in results]
        if any(m is None for m in found):
            continue  # not in every repeat: a check on it fails as missing
        metrics[metric_name] = merged_metric(metric, [v for m in found for v in (m.samples or (m.value,))])
    absent = {k: v for r in results for k, v in r.absent.items()}
    implausible = {k: v for r in results for k, v in r.implausible.items()}  # one repeat's NaN makes the median no measurement
    metrics = {k: m for k, m in metrics.items() if k not in implausible}
    result = ParseResult(results[0].parser, results[0].source, metrics, results[0].series,
                         {**results[0].info, "repeats": str(total)}, absent, implausible)
    return WorkloadMetrics(name, first.parser, first.source, result)


def merged_metric(metric: Metric, values: list) -> Metric:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    value = median(values) if numbers else values[0]
    if numbers and all(isinstance(v, int) for v in values) and float(value).is_integer():
        value = int(value)
    return Metric(metric.name, value, metric.unit, metric.better, metric.kind, tuple(values))

"""Collect: each workload's logs go through its parser into WorkloadMetrics, the judge's input. A repeated job's
attempts are parsed one by one and folded into samples."""
from __future__ import annotations

from runner.base.errors import ParseError
from runner.execute.contract import RunOutput, WorkloadOutcome
from runner.parse.logs import parse_file
from runner.scenario.model import Scenario, thaw
from runner.verdict.judge import WorkloadMetrics
from runner.verdict.repeats import merge_samples


def collect_metrics(scenario: Scenario, output: RunOutput) -> dict[str, WorkloadMetrics]:
    metrics: dict[str, WorkloadMetrics] = {}
    for workload in scenario.workloads:
        if not workload.parser:
            continue
        outcome = output.outcomes.get(workload.name)
        if outcome is not None and outcome.attempts:  # a repeated job: two attempts or more
            attempts = [parse_workload(workload.parser, attempt) for attempt in outcome.attempts]
            metrics[workload.name] = merge_samples(workload.name, attempts, "attempt")
        else:
            metrics[workload.name] = parse_workload(workload.parser, outcome)
    return metrics



def parse_workload(parser, outcome: WorkloadOutcome | None) -> WorkloadMetrics:
    if outcome is None or not outcome.logs:
        reason = f"{outcome.name} produced no log ({outcome.state})" if outcome else "the workload did not run"
        return WorkloadMetrics(outcome.name if outcome else "", parser.name, "-", error=reason)
    source = outcome.logs[0]
    if parser.file:
        source = source.parent / parser.file
    try:
        result = parse_file(parser.name, source, thaw(parser.options))
    except ParseError as error:
        return WorkloadMetrics(outcome.name, parser.name, str(source), error=str(error))
    return WorkloadMetrics(outcome.name, parser.name, str(source), result)

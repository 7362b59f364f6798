"""Pipeline stage "judge": metrics and logs against the scenario's checks, one small pure function per check kind.

Statuses: PASS, FAIL (a check does not hold), ERROR (infrastructure or parse failure:
nothing trustworthy to judge), TIMEOUT, SKIP. A check whose metric is missing FAILS,
naming the parser and the log it read; it never passes silently.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from runner.base import saferegex
from runner.base.budget import BudgetSpent
from runner.base.errors import EXIT_FAIL, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_PASS
from runner.base.stats import spread, statistic
from runner.execute.contract import (
    RunOutput,
    RunState,
    Vocabulary,
    WorkloadOutcome,
    WorkloadState,
)
from runner.parse.logs import Metric, ParseResult
from runner.scenario.model import Check, Scenario


class CheckStatus(Vocabulary):
    """The verdict of one check, and of a run (the worst of its checks); stored in records as the plain name."""

    PASS = "PASS"
    FAIL = "FAIL"                # the check does not hold
    FALLBACK = "FALLBACK"        # a check with `fallback:` failed: the run took a slower path (TCP, Socket, no GPUDirect)
    ERROR = "ERROR"              # nothing trustworthy to judge: the workload failed, its output did not parse
    TIMEOUT = "TIMEOUT"
    SKIP = "SKIP"                # the workload never ran
    INTERRUPTED = "INTERRUPTED"


PASS, FAIL, ERROR, STATUS_TIMEOUT, SKIP = CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.ERROR, CheckStatus.TIMEOUT, CheckStatus.SKIP
FALLBACK = CheckStatus.FALLBACK
INTERRUPTED_STATUS = CheckStatus.INTERRUPTED
SEVERITY = {PASS: 0, SKIP: 0, FAIL: 1, FALLBACK: 1, ERROR: 2, STATUS_TIMEOUT: 3, INTERRUPTED_STATUS: 4}
EXIT_CODES = {PASS: EXIT_PASS, SKIP: EXIT_PASS, FAIL: EXIT_FAIL, FALLBACK: EXIT_FAIL, ERROR: EXIT_INFRA, STATUS_TIMEOUT: EXIT_INFRA,
              INTERRUPTED_STATUS: EXIT_INTERRUPTED}
PROVEN = (FAIL, FALLBACK)  # a check that ran on a finished workload's output and does not hold
OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class WorkloadMetrics:
    """What parsing one workload's output gave: a result, or the reason there is none."""

    workload: str
    parser: str
    source: str
    result: ParseResult | None = None
    error: str = ""


@dataclass(frozen=True)
class BaselineValue:
    value: float | None
    run_id: str = ""
    error: str = ""


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    workload: str
    status: str
    metric: str = ""
    measured: Any = None
    unit: str = ""
    op: str = ""
    threshold: Any = None
    margin: float | None = None      # absolute headroom in the metric's unit (positive = on the right side)
    margin_pct: float | None = None
    message: str = ""
    statistic: str = ""              # with repeats: which statistic of the samples `measured` is
    samples: tuple = ()
    spread: float | None = None      # max - min of the samples
    warning: str = ""                # the margin is within the noise: another run could flip the status
    fallback: str = ""               # the slower path the check's failure means (its `fallback:`), when it failed


@dataclass(frozen=True)
class Verdict:
    scenario: str
    status: str
    results: tuple[CheckResult, ...]
    summary: str
    workloads: Mapping[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


BaselineLookup = Callable[[str, str, str], BaselineValue]  # (scenario, metric, run id) -> value


def judge(scenario: Scenario, output: RunOutput, metrics: Mapping[str, WorkloadMetrics],
          baseline: BaselineLookup | None = None, repeats: Sequence[RunOutput] = ()) -> Verdict:
    """`repeats`: the outputs of each repeat when the run was repeated; log checks must then hold in every one."""
    results = [_workload_row(outcome) for outcome in output.outcomes.values() if outcome.state not in (WorkloadState.DONE, WorkloadState.SKIPPED)]
    for check in scenario.checks:
        views, noun = _log_views(check, output, repeats) if check.log and not check.skip else ([], "")
        if len(views) > 1:
            results.append(_judge_log_repeats(check, views, noun, metrics.get(check.workload), baseline))
            continue
        results.append(judge_check(check, output.outcomes.get(check.workload), metrics.get(check.workload), baseline))
    status = overall(results, output.state, proven_failures(results, output, scenario.checks))
    return Verdict(scenario.name, status, tuple(results), _summary(status, results, output),
                   {name: outcome.state for name, outcome in output.outcomes.items()})


def proven_failures(results: Sequence[CheckResult], output: RunOutput, checks: Sequence[Check] = ()) -> list[CheckResult]:
    """Checks that do not hold on the output of a run whose every workload ran to its end: a fact about the cluster.
    When a workload crashed or timed out, what the others lack may be its consequence (no requests reached the
    decode server because the router crash-looped), so only what a tool printed counts: an `absent:` check that found
    its lines (`Unable to get target segment ID` before the initiator exited 1). A run stopped by its time limit or
    an interruption proves nothing: what its killed processes printed on the way out is the stop's doing."""
    stopped = (WorkloadState.TIMEOUT, WorkloadState.INTERRUPTED)
    if output.state in (RunState.TIMEOUT, RunState.INTERRUPTED) or any(o.state in stopped for o in output.outcomes.values()):
        return []
    if output.state == RunState.ERROR or any(o.state == WorkloadState.FAILED for o in output.outcomes.values()):
        printed = {check.name for check in checks if check.log and check.absent}
        return [r for r in results if r.status == FAIL and r.name in printed]
    done = {name for name, outcome in output.outcomes.items() if outcome.state == WorkloadState.DONE}
    return [r for r in results if r.status in PROVEN and r.workload in done]


def overall(results: list[CheckResult], run_state: str, proven: Sequence[CheckResult] = ()) -> str:
    """The worst status, except that a proven FAIL (or FALLBACK) decides the verdict even beside ERROR or TIMEOUT
    checks: an ERROR says something could not be judged, not that what was judged held."""
    if run_state == RunState.INTERRUPTED:
        return INTERRUPTED_STATUS
    if proven:
        return FALLBACK if any(r.status == FALLBACK for r in proven) else FAIL
    if not results:
        return ERROR if run_state == RunState.ERROR else PASS
    worst = max(results, key=lambda r: (SEVERITY[r.status], r.status == PASS)).status  # checks that ran and held outrank skipped ones
    if run_state == RunState.TIMEOUT and SEVERITY[worst] < SEVERITY[STATUS_TIMEOUT]:
        return STATUS_TIMEOUT
    if run_state == RunState.ERROR and SEVERITY[worst] < SEVERITY[ERROR]:
        return ERROR
    return worst


def _summary(status: str, results: list[CheckResult], output: RunOutput) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    parts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items(), key=lambda i: -SEVERITY[i[0]]))
    fell_back = sorted({r.fallback for r in results if r.status == FALLBACK and r.fallback})
    what = f" — fell back to {'; '.join(fell_back)}" if fell_back else ""
    reason = f" — {output.message}" if output.message and status != PASS else ""
    return f"{status}: {parts or 'no checks'}{what}{reason}"


def _workload_row(outcome: WorkloadOutcome) -> CheckResult:
    status = {WorkloadState.TIMEOUT: STATUS_TIMEOUT, WorkloadState.FAILED: ERROR, WorkloadState.INTERRUPTED: INTERRUPTED_STATUS}.get(outcome.state, ERROR)
    detail = outcome.message
    if outcome.diagnostics:
        detail += "\n" + "\n".join(outcome.diagnostics)
    return CheckResult(f"{outcome.name} ran", "infrastructure", outcome.name, status, message=detail)


def judge_check(check: Check, outcome: WorkloadOutcome | None, parsed: WorkloadMetrics | None,
                baseline: BaselineLookup | None = None) -> CheckResult:
    base = check_identity(check)
    if check.skip:
        return CheckResult(status=SKIP, message=check.skip, **base)
    if outcome is None or outcome.state == WorkloadState.SKIPPED:
        reason = outcome.message if outcome else "the workload did not run"
        return CheckResult(status=SKIP, message=reason, **base)
    if outcome.state == WorkloadState.INTERRUPTED:
        return CheckResult(status=INTERRUPTED_STATUS, message=outcome.message, **base)
    result = _judge_log(check, outcome, base) if check.log else _judge_metric(check, outcome, parsed, baseline, base)
    return as_fallback(check, result)


def as_fallback(check: Check, result: CheckResult) -> CheckResult:
    """A failed check whose failure means the run took a slower path (`fallback: TCP instead of EFA`) says so."""
    if not check.fallback or result.status != FAIL:
        return result
    return replace(result, status=FALLBACK, fallback=check.fallback,
                   message=f"fell back to {check.fallback}" + (f": {result.message}" if result.message else ""))


def check_identity(check: Check) -> dict:
    """The fields of a check's result that never depend on how it ended: its name (the check's identity, which
    reporters and JUnit use), kind, workload and what it measures (`log: <evidence>` for a log check)."""
    measures = f"log: {check.regex or check.contains}" if check.log else check.metric_name
    return dict(name=check.name, kind=check.kind, workload=check.workload, metric=measures)


def _log_views(check: Check, output: RunOutput, repeats: Sequence[RunOutput]) -> tuple[list[tuple[str, WorkloadOutcome | None]], str]:
    """(label, outcome) of every log a log check must hold in: each repeat's, and within it each attempt's; and what
    they are ("repeats", "attempts" or both)."""
    outputs = repeats if len(repeats) > 1 else (output,)
    views, attempted = [], False
    for index, one in enumerate(outputs):
        outcome = one.outcomes.get(check.workload)
        attempts = outcome.attempts if outcome is not None and outcome.attempts else (outcome,)
        attempted |= len(attempts) > 1
        for number, attempt in enumerate(attempts):
            label = [f"repeat {index + 1}/{len(outputs)}"] if len(outputs) > 1 else []
            label += [f"attempt {number + 1}/{len(attempts)}"] if len(attempts) > 1 else []
            views.append((", ".join(label), attempt))
    noun = " and ".join(word for word, many in (("repeats", len(outputs) > 1), ("attempts", attempted)) if many)
    return views, noun


def _judge_log_repeats(check: Check, views: Sequence[tuple[str, WorkloadOutcome | None]], noun: str,
                       parsed: WorkloadMetrics | None, baseline: BaselineLookup | None) -> CheckResult:
    """The first repeat or attempt in which the log check does not hold, else the last one's result."""
    result = None
    for label, outcome in views:
        result = judge_check(check, outcome, parsed, baseline)
        if result.status != PASS:
            return replace(result, message=f"{label}: {result.message}")
    return replace(result, message=f"in all {len(views)} {noun}") if result else result


def _judge_metric(check: Check, outcome: WorkloadOutcome, parsed: WorkloadMetrics | None, baseline: BaselineLookup | None,
                  base: dict) -> CheckResult:
    if parsed is None or parsed.result is None:
        reason = parsed.error if parsed else f"workload {check.workload} has no parser"
        status = STATUS_TIMEOUT if outcome.state == WorkloadState.TIMEOUT else ERROR
        if outcome.state in (WorkloadState.FAILED, WorkloadState.TIMEOUT):
            # the workload's own failure is the cause (its row says why, once); the parser's complaint is its echo
            first = outcome.message.splitlines()[0] if outcome.message else ""
            reason = f"no metrics: {outcome.name} {outcome.state} ({first})"
        return CheckResult(status=status, message=reason, **base)
    metric = parsed.result.metrics.get(check.metric_name)
    if implausible := parsed.result.implausible.get(check.metric_name):
        return CheckResult(status=ERROR, message=f"not a measurement: {implausible} (read from {parsed.source})", **base)
    if metric is None or metric.value is None:
        why = (parsed.result.absent or {}).get(check.metric_name)
        if why:
            return CheckResult(status=FAIL, message=f"metric {check.metric_name!r} absent from {parsed.source}: {why}", **base)
        known = ", ".join(sorted(parsed.result.metrics)) or "none"
        return CheckResult(status=FAIL, message=f"metric {check.metric_name!r} missing: parser {parsed.parser!r} read {parsed.source} "
                                                  f"and found {known}", **base)
    threshold, error = _threshold(check, baseline)
    if error:
        return CheckResult(status=ERROR, measured=metric.value, unit=metric.unit, op=check.op, message=error, **base)
    if len(metric.samples) > 1 and all(_is_number(v) for v in metric.samples):
        return _judge_samples(check, metric, threshold, base)
    return compare(check, metric, threshold, base)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _judge_samples(check: Check, metric: Metric, threshold: Any, base: dict) -> CheckResult:
    """Judge the check's statistic of the samples; warn when the margin is smaller than their spread."""
    measured = statistic(metric.samples, check.statistic)
    result = compare(check, replace(metric, value=measured), threshold, base)
    noise = spread(metric.samples)
    warning = ""
    if result.margin is not None and abs(result.margin) < noise:
        warning = (f"noise could flip this: the margin {result.margin:+.4g} is smaller than the spread {noise:.4g} "
                   f"of the {len(metric.samples)} samples")
    return replace(result, statistic=check.statistic, samples=tuple(metric.samples), spread=noise, warning=warning)


def _threshold(check: Check, baseline: BaselineLookup | None) -> tuple[Any, str]:
    if check.baseline is None:
        return check.value, ""
    if baseline is None:
        return None, "no baseline lookup available"
    metric = check.baseline.metric or check.metric
    found = baseline(check.baseline.scenario, metric, check.baseline.run)
    if found.error or found.value is None:
        return None, found.error or f"baseline {check.baseline.scenario} has no {metric}"
    return found.value * check.baseline.factor, ""


def compare(check: Check, metric: Metric, threshold: Any, base: dict) -> CheckResult:
    value = metric.value
    try:
        holds = OPS[check.op](value, threshold)
    except TypeError:
        return CheckResult(status=ERROR, measured=value, unit=metric.unit, op=check.op, threshold=threshold,
                           message=f"cannot compare {value!r} with {threshold!r}", **base)
    margin, margin_pct = _margin(check.op, value, threshold)
    message = "" if holds else _failure_text(check, value, threshold, metric.unit)
    if check.baseline and check.baseline.factor != 1:
        message = (message + " " if message else "") + f"(baseline x{check.baseline.factor:g})"
    return CheckResult(status=PASS if holds else FAIL, measured=value, unit=metric.unit, op=check.op, threshold=threshold,
                       margin=margin, margin_pct=margin_pct, message=message, **base)


def _margin(op: str, value: Any, threshold: Any) -> tuple[float | None, float | None]:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, threshold)):
        return None, None
    if op in (">=", ">"):
        margin = value - threshold
    elif op in ("<=", "<"):
        margin = threshold - value
    else:
        return None, None  # equality has no headroom to speak of
    pct = margin / abs(threshold) * 100 if threshold else None
    if pct is not None and (math.isnan(pct) or math.isinf(pct)):
        pct = None
    return margin, pct


def _failure_text(check: Check, value: Any, threshold: Any, unit: str) -> str:
    return f"measured {value}{' ' + unit if unit else ''}, needed {check.op} {threshold}"


def _judge_log(check: Check, outcome: WorkloadOutcome, base: dict) -> CheckResult:
    logs = logs_of_role(outcome.logs, check.role)
    if not logs:
        where = f" for role {check.role!r} (no log file named *-{check.role}-*)" if check.role and outcome.logs else ""
        return CheckResult(status=ERROR, message=f"{outcome.name} left no log{where}", **base)
    try:
        pattern = saferegex.compile(check.regex) if check.regex else saferegex.literal(check.contains)
    except saferegex.RegexError as error:
        return CheckResult(status=ERROR, message=f"invalid regular expression {check.regex!r}: {error}", **base)
    if check.count == "every-pod" and not check.absent:
        return _judge_every_pod(check, outcome, logs, pattern, base)
    try:
        found = count_evidence(logs, pattern)
    except BudgetSpent as spent:
        return CheckResult(status=ERROR, message=str(spent), **base)
    except OSError as error:  # an unreadable log is no evidence either way, least of all of absence
        return CheckResult(status=ERROR, message=f"cannot read the log {error.filename or ''}: {error.strerror or error}", **base)
    needed = outcome.ranks if check.count == "every-rank" else int(check.count)
    evidence = check.regex or check.contains
    if check.absent:
        holds = found == 0
        message = "" if holds else f"{found} line(s) match {evidence!r}, which must not appear"
        op, threshold = "==", 0
    else:
        holds = found >= needed
        message = "" if holds else f"{found} line(s) match {evidence!r}, needed {needed}" + \
            (" (one per rank)" if check.count == "every-rank" else "") + \
            (" distinct ranks" if "rank" in pattern.groupindex else "") + f" in {', '.join(p.name for p in logs)}"
        op, threshold = ">=", needed
    if not holds and outcome.state in (WorkloadState.FAILED, WorkloadState.TIMEOUT):
        message += f"; {outcome.name} {outcome.state}: {outcome.message}"
    return CheckResult(status=PASS if holds else FAIL, measured=found, unit="lines", op=op, threshold=threshold,
                       message=message, **base)


def _judge_every_pod(check: Check, outcome: WorkloadOutcome, logs: tuple[Path, ...], pattern: saferegex.SafePattern,
                     base: dict) -> CheckResult:
    """The evidence in the primary log of every pod (or process): one replica's line does not stand in for another's."""
    pods = pod_logs(logs)
    try:
        silent = [path for path in pods if count_in_file(path, pattern) == 0]
    except BudgetSpent as spent:
        return CheckResult(status=ERROR, message=str(spent), **base)
    except OSError as error:
        return CheckResult(status=ERROR, message=f"cannot read the log {error.filename or ''}: {error.strerror or error}", **base)
    evidence = check.regex or check.contains
    found = len(pods) - len(silent)
    message = "" if not silent else (f"{len(silent)} of {len(pods)} pods printed no line matching {evidence!r}: "
                                     f"{', '.join(p.name for p in silent)}")
    if silent and outcome.state in (WorkloadState.FAILED, WorkloadState.TIMEOUT):
        message += f"; {outcome.name} {outcome.state}: {outcome.message}"
    return CheckResult(status=FAIL if silent else PASS, measured=found, unit="pods", op=">=", threshold=len(pods),
                       message=message, **base)


def pod_logs(logs: tuple[Path, ...]) -> tuple[Path, ...]:
    """Each pod's or process's own log: `<pod>.log` (not a second container's `<pod>.<container>.log`), `rank-N.log`
    (not the launcher's mpirun.log)."""
    return tuple(p for p in logs if "." not in Path(p).stem and Path(p).name != "mpirun.log")


def logs_of_role(logs: tuple[Path, ...], role: str) -> tuple[Path, ...]:
    """A DisaggregatedSet names a role's pods <name>-<revision>-<role>-<group>: the role is a dash-delimited part."""
    if not role:
        return tuple(logs)
    return tuple(path for path in logs if f"-{role}-" in f"-{Path(path).stem}-")


def count_evidence(logs: tuple[Path, ...], pattern: saferegex.SafePattern) -> int:
    """Matching lines; with a `(?P<rank>...)` group, the number of distinct ranks that printed one."""
    if "rank" not in pattern.groupindex:
        return sum(count_in_file(path, pattern) for path in logs)
    ranks: set[str] = set()
    for path in logs:  # OSError propagates: an unreadable log is not a log without the line
        for match in saferegex.matching_lines(path, pattern):
            rank = match.group("rank")
            if rank is not None:
                ranks.add(rank.decode("utf-8", "replace") if isinstance(rank, bytes) else rank)
    return len(ranks)


def count_in_file(path: Path, pattern: saferegex.SafePattern) -> int:
    return saferegex.count_matching_lines(path, pattern)

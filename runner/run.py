"""The whole pipeline for one run: validate -> execute -> collect -> parse -> judge -> report, record always written."""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from .baseline import serving_baselines
from .delta import check_runnable, for_executor, runs_on
from .errors import ParseError, RunnerError, ScenarioError
from .execute import RunContext, RunOutput, WorkloadOutcome, WorkloadState
from .executors import get_executor
from .history import baseline_lookup
from .judge import Verdict, WorkloadMetrics, judge
from .model import Scenario, thaw
from .parse import parse_file
from .progress import QuietProgress
from .record import (METRICS_FORMAT, RunRecord, atomic_write, default_results_dir, new_run_id, redact_record_files,
                     redact_values_in_logs, run_metadata, secret_values, to_jsonable)
from .report import REPORTERS, RunReport
from .reporters.json_report import verdict_document
from .repeats import merge_metrics, merge_outputs, repeat_dir_name
from .reporters.plots import warm_up_in_background

DEFAULT_RUN_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    run_id: str
    record: Path
    verdict: Verdict
    metrics: Mapping[str, WorkloadMetrics]
    output: RunOutput
    report: RunReport  # what the reporters print, with the record's final path


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM; executors poll it and clean up."""

    signal_name: str = ""
    event: threading.Event = field(default_factory=threading.Event)

    def __call__(self) -> bool:
        return self.event.is_set()


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag.signal_name = signal.Signals(signum).name
        flag.event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_scenario(scenario: Scenario, *, executor_name: str | None = None, results_dir: Path | None = None,
                 timeout_s: float | None = None, progress=None, options: Mapping[str, Any] | None = None,
                 overrides: list[str] | None = None, variant: Mapping[str, Any] | None = None, parent: str = "",
                 stop: StopFlag | None = None, repeat: int | None = None,
                 record_reports: tuple[str, ...] | None = None) -> RunResult:
    """record_reports: the record-file reporters to write (None: all; triage writes no report.html per set:
    its own report covers the sets, and `scenario report RUN` writes a set's later)."""
    executor_name = executor_name or scenario.default_executor
    if not runs_on(scenario, executor_name):
        raise ScenarioError(f"scenario {scenario.name} does not run on executor {executor_name!r}; it declares {', '.join(scenario.executors)}")
    scenario = for_executor(scenario, executor_name, overrides or ())
    check_runnable(scenario, executor_name)
    _refuse_registry_placeholder(scenario, executor_name, options or {})
    executor = get_executor(executor_name)
    results_dir = Path(results_dir or default_results_dir())
    run_id = new_run_id()
    record = RunRecord(results_dir, scenario.name, run_id)
    record.write_scenario(scenario.data)
    _write_plan(executor, scenario, record.dir / "rendered")
    progress = progress or QuietProgress()
    timeout_s = timeout_s or scenario.run_timeout_s or DEFAULT_RUN_TIMEOUT_S
    stop = stop or StopFlag()
    started = time.time()
    progress.start(f"{scenario.name} on {executor_name}: run {run_id}", timeout_s)
    warm_up_in_background()
    with stop_on_signals(stop):  # held until the record is final: a second Ctrl-C must not lose it
        outputs = _execute_repeats(executor, executor_name, scenario, run_id, record, timeout_s, progress, options, stop,
                                   repeat or scenario.repeat)
        progress.finish()
        return _finish_record(scenario, record, outputs, stop, executor_name, started, results_dir, variant, parent, overrides,
                              record_reports)


def _execute_repeats(executor, executor_name: str, scenario: Scenario, run_id: str, record: RunRecord, timeout_s: float, progress,
                     options: Mapping[str, Any] | None, stop: StopFlag, repeat: int) -> list[RunOutput]:
    """The run `repeat` times, each in its own folder (repeats/<n>/ when more than one), within the one run timeout.
    A repeat that does not complete ends the series: repeating a broken setup measures nothing."""
    outputs: list[RunOutput] = []
    deadline = time.monotonic() + timeout_s
    for index in range(repeat):
        run_dir = record.dir if repeat == 1 else record.dir / repeat_dir_name(index)
        if repeat > 1:
            progress.tick(f"repeat {index + 1}/{repeat}")
        context = RunContext(scenario, run_id, run_dir, max(deadline - time.monotonic(), 0.001), progress, dict(options or {}), stop)
        outputs.append(_execute(executor, executor_name, context))
        if not _complete(outputs[-1]) or stop():
            break
    return outputs


def _complete(output: RunOutput) -> bool:
    return output.state == "completed" and all(o.state in (WorkloadState.DONE, WorkloadState.SKIPPED) for o in output.outcomes.values())


def _execute(executor, executor_name: str, context: RunContext) -> RunOutput:
    try:
        return executor.run(context)
    except RunnerError as error:
        return RunOutput(executor_name, {}, "error", error.message)
    except Exception as error:  # a bug in an executor still leaves a record behind
        return RunOutput(executor_name, {}, "error", f"internal error in the {executor_name} executor: {type(error).__name__}: {error}")


def _refuse_registry_placeholder(scenario: Scenario, executor_name: str, options: Mapping[str, Any]) -> None:
    """Pods would only fail to pull `<registry>/...`: say so before anything is applied (a client dry run may render it)."""
    from .lints import placeholder_image_problems

    if executor_name != "kubernetes" or options.get("dry_run") == "client":
        return
    problems = placeholder_image_problems(scenario)
    if problems:
        raise ScenarioError(problems)


def _finish_record(scenario, record, outputs, stop, executor_name, started, results_dir, variant, parent, overrides,
                   record_reports=None) -> RunResult:
    run_id = record.run_id
    output = merge_outputs(outputs)
    if stop() and output.state != "interrupted":
        output = RunOutput(output.executor, output.outcomes, "interrupted", f"interrupted by {stop.signal_name}", output.facts)
    metrics = merge_metrics([collect_metrics(scenario, one) for one in outputs])
    lookup = baseline_lookup(results_dir)
    verdict = judge(scenario, output, metrics, lookup, outputs if len(outputs) > 1 else ())
    # what the record says names the final folder: the `.partial` one is gone once the run ends
    output = _moved(output, record.dir, record.final_dir)
    verdict, metrics = _final_texts(verdict, metrics, str(record.dir), str(record.final_dir))
    record.write_json("metrics.json", record.relative(metrics_document(scenario.name, run_id, metrics)))
    record.write_json("verdict.json", verdict_document(verdict, run_id))
    run_document = record.relative(run_metadata(
        scenario=scenario.name, run_id=run_id, executor=executor_name, started=started, ended=time.time(), status=verdict.status,
        facts={**output.facts, "outcomes": {n: _outcome_summary(o) for n, o in output.outcomes.items()}, "run_state": output.state,
               "run_message": output.message},
        files=[str(p) for p in scenario.files], variant=variant, parent=parent, overrides=overrides,
        tool_versions=_tool_versions(metrics), images=_image_refs(scenario), baselines=lookup.used))
    record.write_json("run.json", run_document)
    report = RunReport(verdict, metrics, run_id, str(record.final_dir), scenario.description, run_document,
                       serving_baselines(thaw(scenario.data).get("checks") or [], lookup.used, results_dir))
    _write_extra_reports(record, report, record_reports)
    redact_record_files(record.dir)
    redact_values_in_logs(record.dir, secret_values(os.environ, scenario.env, *(w.env for w in scenario.workloads)))
    final = record.finalize()
    return RunResult(scenario, run_id, final, verdict, metrics, output, report)


def _final_texts(verdict: Verdict, metrics: Mapping[str, WorkloadMetrics], old: str, new: str
                 ) -> tuple[Verdict, dict[str, WorkloadMetrics]]:
    """Verdict messages and metric sources that name the `.partial` folder, naming the final one instead."""
    def fix(text: str) -> str:
        return text.replace(old, new)

    results = tuple(replace(r, message=fix(r.message)) for r in verdict.results)
    verdict = replace(verdict, results=results, summary=fix(verdict.summary))
    moved = {name: replace(m, source=fix(m.source), error=fix(m.error),
                           result=replace(m.result, source=fix(m.result.source)) if m.result else None)
             for name, m in metrics.items()}
    return verdict, moved


def _moved(output: RunOutput, old: Path, new: Path) -> RunOutput:
    """The same output with log paths and messages pointing into the finalized record instead of the `.partial` folder."""
    def move(path: Path) -> Path:
        try:
            return new / Path(path).relative_to(old)
        except ValueError:
            return path

    def fix(text: str) -> str:
        return text.replace(str(old), str(new))

    outcomes = {name: replace(o, logs=tuple(move(p) for p in o.logs), message=fix(o.message),
                              diagnostics=tuple(fix(d) for d in o.diagnostics))
                for name, o in output.outcomes.items()}
    return replace(output, outcomes=outcomes, message=fix(output.message))


def _write_plan(executor, scenario: Scenario, out_dir: Path) -> None:
    try:
        executor.plan(scenario, out_dir)
    except RunnerError:
        raise
    except Exception as error:  # a plan is documentation: never let it stop a run
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "plan-error.txt").write_text(f"{type(error).__name__}: {error}\n")


def _write_extra_reports(record: RunRecord, report: RunReport, only: tuple[str, ...] | None = None) -> None:
    """Reporters that produce record files (junit.xml, summary.md, report.html) register with a `record_file` attribute."""
    for name, reporter in REPORTERS.items():
        filename = getattr(reporter, "record_file", None)
        if not filename or (only is not None and name not in only):
            continue
        try:
            content = reporter(report)
        except Exception as error:  # a broken report must not lose the record
            (record.dir / f"{filename}.error.txt").write_text(f"{type(error).__name__}: {error}\n")
            continue
        atomic_write(record.dir / filename, content)


def _outcome_summary(outcome: WorkloadOutcome) -> dict:
    return {"state": outcome.state, "exit_code": outcome.exit_code, "ranks": outcome.ranks, "message": outcome.message,
            "duration_s": round(outcome.duration_s, 3) if outcome.duration_s is not None else None,
            "logs": [str(p) for p in outcome.logs], "outputs": dict(outcome.outputs), "diagnostics": list(outcome.diagnostics)}


def collect_metrics(scenario: Scenario, output: RunOutput) -> dict[str, WorkloadMetrics]:
    metrics: dict[str, WorkloadMetrics] = {}
    for workload in scenario.workloads:
        if not workload.parser:
            continue
        outcome = output.outcomes.get(workload.name)
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


def metrics_document(scenario: str, run_id: str, metrics: Mapping[str, WorkloadMetrics]) -> dict:
    workloads = {}
    for name, entry in metrics.items():
        result = entry.result
        workloads[name] = {
            "parser": entry.parser,
            "source": entry.source,
            "error": entry.error,
            "metrics": {m.name: _metric_entry(m) for m in result.metrics.values()} if result else {},
            "series": {s.name: {"columns": list(s.columns), "units": list(s.units), "rows": [list(r) for r in s.rows]}
                       for s in result.series.values()} if result else {},
            "info": dict(result.info) if result else {},
        }
    return to_jsonable({"format": METRICS_FORMAT, "scenario": scenario, "run_id": run_id, "workloads": workloads})


def _metric_entry(metric) -> dict:
    entry = {"value": metric.value, "unit": metric.unit, "better": metric.better, "kind": metric.kind}
    if metric.samples:
        entry["samples"] = list(metric.samples)
    return entry


TOOL_INFO_KEYS = ("nccl", "nccl-tests", "nccl-headers", "nccl-library", "sglang", "torch", "mooncake", "uccl", "cuda", "driver")


def _tool_versions(metrics: Mapping[str, WorkloadMetrics]) -> dict[str, str]:
    """Versions the parsers read from the logs; a key two workloads disagree on is kept per workload."""
    versions: dict[str, str] = {}
    for workload, entry in metrics.items():
        if not entry.result:
            continue
        for key, value in entry.result.info.items():
            if "version" not in key and key not in TOOL_INFO_KEYS:
                continue
            if key in versions and versions[key] != str(value):
                versions[f"{workload}:{key}"] = str(value)
            else:
                versions.setdefault(key, str(value))
    return versions


def _image_refs(scenario: Scenario) -> dict[str, str]:
    """The images the scenario names (registry filled in), and which workload runs which."""
    refs = {key: scenario.image_ref(key) for key in scenario.images}
    refs.update({f"workload:{w.name}": scenario.image_ref(w.image) for w in scenario.workloads if w.image})
    return refs

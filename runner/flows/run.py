"""The whole pipeline for one run: validate -> execute -> collect -> parse -> judge -> report, record always written."""
from __future__ import annotations

import errno
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from runner.base.budget import PARSE_BUDGET_MIN_S, time_budget
from runner.base.errors import ExecutionError, RunnerError, ScenarioError
from runner.execute import get_executor
from runner.execute.contract import (
    RunContext,
    RunOutput,
    WorkloadOutcome,
    WorkloadState,
)
from runner.execute.plan import Plan
from runner.execute.progress import QuietProgress
from runner.flows.baseline import serving_baselines
from runner.flows.check import for_executor
from runner.flows.stale import recover_stale_runs
from runner.records import redaction
from runner.records.history import baseline_lookup
from runner.records.record import (
    RUN_FORMAT,
    VERDICT_FORMAT,
    RunRecord,
    _iso,
    check_results_dir,
    default_results_dir,
    metrics_document,
    new_run_id,
    run_metadata,
    verdict_document,
)
from runner.report import REPORTERS, RunReport
from runner.report.plots import warm_up_in_background
from runner.scenario.lints import placeholder_image_problems
from runner.scenario.model import Scenario, thaw
from runner.scenario.overlay import check_runnable, expand_attempts, runs_on
from runner.scenario.resolve import Library
from runner.verdict.collect import collect_metrics
from runner.verdict.judge import CheckStatus, Verdict, WorkloadMetrics, judge
from runner.verdict.repeats import (
    fold_attempts,
    merge_metrics,
    merge_outputs,
    repeat_dir_name,
)

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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)  # a closed terminal or dropped ssh: SIGHUP


@dataclass
class StopFlag:
    """Set by SIGINT, SIGTERM, SIGHUP or SIGQUIT; executors poll it and clean up."""

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
        if not flag.event.is_set():  # answered at once, whatever the run is doing; the loop then stops and cleans up
            try:
                os.write(2, f"\n{signal.Signals(signum).name}: stopping the workloads and finalizing the record\n".encode())
            except OSError:
                pass
        if signum == signal.SIGHUP:
            _detach_from_terminal()
        flag.signal_name = signal.Signals(signum).name
        flag.event.set()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _detach_from_terminal() -> None:
    """After SIGHUP the terminal is gone: writing to it fails (EIO), so what is left to print goes nowhere instead."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                os.dup2(null, fd)
        except OSError:
            continue
    os.close(null)


def run_scenario(scenario: Scenario, *, executor_name: str | None = None, results_dir: Path | None = None,
                 timeout_s: float | None = None, progress=None, options: Mapping[str, Any] | None = None,
                 overrides: list[str] | None = None, variant: Mapping[str, Any] | None = None, parent: str = "",
                 stop: StopFlag | None = None, repeat: int | None = None,
                 record_reports: tuple[str, ...] | None = None, library: Library | None = None,
                 plan_hook: Callable[[Plan], Plan] | None = None) -> RunResult:
    """record_reports: the record-file reporters to write (None: all; triage writes no report.html per set:
    its own report covers the sets, and `scenario report RUN` writes a set's later).
    plan_hook: changes the run's plan after it is written to rendered/ and before the executor runs it (a rehearsal
    annotates the pod templates: runner.flows.rehearse.decorate); the record's rendered/ keeps the plan as made."""
    executor_name = executor_name or scenario.default_executor
    if not runs_on(scenario, executor_name):
        raise ScenarioError(f"scenario {scenario.name} does not run on executor {executor_name!r}; it declares {', '.join(scenario.executors)}")
    library = library or Library()
    scenario = for_executor(scenario, executor_name, library, overrides or ())
    check_runnable(scenario, executor_name)
    _refuse_registry_placeholder(scenario, executor_name, options or {})
    executor = get_executor(executor_name)
    if hasattr(executor, "check_scenario"):  # stand-in executors of tests may not have it
        executor.check_scenario(expand_attempts(scenario))
    results_dir = Path(results_dir or default_results_dir())
    check_results_dir(results_dir)
    recover_stale_runs(results_dir)
    redactor = redaction.for_scenario(scenario, os.environ)
    run_id = new_run_id()
    record = RunRecord(results_dir, scenario.name, run_id, redactor,
                       {"scenario_file": str(scenario.files[0]) if scenario.files else "", "library": str(library.root)})
    progress = RedactingProgress(progress or QuietProgress(), redactor)
    timeout_s = timeout_s or scenario.run_timeout_s or DEFAULT_RUN_TIMEOUT_S
    stop = stop or StopFlag()
    started = time.time()
    run_deadline = time.monotonic() + timeout_s
    load_at_start = host_load()
    with stop_on_signals(stop):  # held until the record is final: a second Ctrl-C must not lose it
        try:
            record.write_scenario(scenario.data)
            runs_as = expand_attempts(scenario)  # a repeated job: its attempts, one after another
            plan = _write_plan(executor, runs_as, record.staging / "rendered", run_id, options)
            record.adopt(record.staging / "rendered", "rendered")  # redacted on its way into the record
            if plan_hook is not None and plan is not None:
                plan = plan_hook(plan)
            progress.start(f"{scenario.name} on {executor_name}: run {run_id}", timeout_s)
            warm_up_in_background()
            outputs = _execute_repeats(executor, executor_name, runs_as, run_id, record, timeout_s, progress, options, stop,
                                       repeat or scenario.repeat, redactor, plan)
            outputs = [fold_attempts(scenario, output) for output in outputs]
            progress.finish()
            outputs[0] = replace(outputs[0], facts={**outputs[0].facts, "runner_host": {**load_at_start, **host_load("end")}})
            return _finish_record(scenario, record, outputs, stop, executor_name, started, results_dir, variant, parent, overrides,
                                  record_reports, run_deadline)
        except BaseException as error:
            failure = _finalize_after_failure(record, scenario, executor_name, started, error)
            if failure is error:
                raise
            raise failure from error


def _execute_repeats(executor, executor_name: str, scenario: Scenario, run_id: str, record: RunRecord, timeout_s: float, progress,
                     options: Mapping[str, Any] | None, stop: StopFlag, repeat: int, redactor=None, plan: Plan | None = None,
                     ) -> list[RunOutput]:
    """The run `repeat` times, each in its own folder (repeats/<n>/ when more than one), within the one run timeout.
    A repeat that does not complete ends the series: repeating a broken setup measures nothing."""
    outputs: list[RunOutput] = []
    deadline = time.monotonic() + timeout_s
    for index in range(repeat):
        run_dir = record.dir if repeat == 1 else record.dir / repeat_dir_name(index)
        if repeat > 1:
            progress.tick(f"repeat {index + 1}/{repeat}")
        context = RunContext(scenario, run_id, run_dir, max(deadline - time.monotonic(), 0.001), progress, dict(options or {}), stop,
                             redactor, plan, record.staging_for(run_dir), record.mirror)
        outputs.append(_execute(executor, executor_name, context))
        if not _complete(outputs[-1]) or stop():
            break
    return outputs


def host_load(when: str = "start") -> dict[str, Any]:
    """The runner's host: its CPUs and 1-minute load average. A local run measures this host, so `compare` says
    when two runs' loads differ (a busier host is a slower loopback, not a regression of what is tested)."""
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        return {}
    return {"cpus": os.cpu_count() or 1, f"load_1m_{when}": load}


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

    if executor_name != "kubernetes" or options.get("dry_run") == "client":
        return
    problems = placeholder_image_problems(scenario)
    if problems:
        raise ScenarioError(problems)


def _finish_record(scenario, record, outputs, stop, executor_name, started, results_dir, variant, parent, overrides,
                   record_reports=None, run_deadline: float = 0.0) -> RunResult:
    """run_deadline: time.monotonic() at which the run's time is up; parsing and judging get what is left of it, and
    never less than PARSE_BUDGET_MIN_S."""
    run_id = record.run_id
    output = merge_outputs(outputs)
    if stop() and output.state != "interrupted":
        output = RunOutput(output.executor, output.outcomes, "interrupted", f"interrupted by {stop.signal_name}", output.facts)
    record.mirror.close()  # the last output is in the record (redacted as it was copied): everything read below is clean
    outputs = [record.redactor.data(one) for one in outputs]
    output = record.redactor.data(output)
    lookup = baseline_lookup(results_dir)
    with time_budget(max(run_deadline - time.monotonic(), PARSE_BUDGET_MIN_S)):  # parsing and judging count against the run's time
        metrics = merge_metrics([collect_metrics(scenario, one) for one in outputs])
        verdict = record.redactor.data(judge(scenario, output, metrics, lookup, outputs if len(outputs) > 1 else ()))
    metrics = {name: record.redactor.data(entry) for name, entry in metrics.items()}
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
    final = record.finalize()
    return RunResult(scenario, run_id, final, verdict, metrics, output, report)


def _finalize_after_failure(record: RunRecord, scenario: Scenario, executor_name: str, started: float,
                            error: BaseException) -> BaseException:
    """Something failed after the record existed (a full disk, a bug, a second signal): finalize what can be, with an
    ERROR verdict and the cause, and return the error to raise (a RunnerError the CLI words plainly)."""
    interrupted = isinstance(error, KeyboardInterrupt)
    cause = "interrupted" if interrupted else _failure_text(error)
    status = CheckStatus.INTERRUPTED if interrupted else CheckStatus.ERROR
    notes = []
    for name, document in (("verdict.json", {"format": VERDICT_FORMAT, "scenario": scenario.name, "status": status,
                                             "summary": f"{status}: {cause}", "results": [],
                                             "run_id": record.run_id}),
                           ("run.json", {"format": RUN_FORMAT, "scenario": scenario.name, "run_id": record.run_id,
                                         "status": status, "executor": executor_name, "started": _iso(started),
                                         "ended": _iso(time.time()), "facts": {"run_state": "error", "run_message": cause}})):
        try:
            record.write_json(name, document)
        except OSError as write_error:
            notes.append(f"{name} not written ({write_error.strerror or write_error})")
    try:
        final = record.finalize()
    except OSError as move_error:
        final = record.dir
        notes.append(f"not renamed ({move_error.strerror or move_error})")
    if interrupted:
        return error
    text = f"the run failed after its record was created: {cause}; record: {final}" + (f" ({'; '.join(notes)})" if notes else "")
    if isinstance(error, RunnerError):
        return type(error)(record.redactor.text(text), hint=error.hint) if not isinstance(error, ScenarioError) else error
    return ExecutionError(record.redactor.text(text), hint=_failure_hint(error))


def _failure_text(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return f"the disk is full ({error.filename or 'results directory'})"
    if isinstance(error, RunnerError):
        return error.message
    return f"{type(error).__name__}: {error}"


def _failure_hint(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "free space where results/ lives, or pass --results DIR on another disk"
    return "this is a bug in the runner: please report it with the record"


class RedactingProgress:
    """Progress lines on the terminal with the run's secrets redacted (a ready line shows captured values)."""

    def __init__(self, inner: Any, redactor: Any):
        self.inner, self.redactor = inner, redactor

    def start(self, title: str, timeout_s: float | None) -> None:
        self.inner.start(self.redactor.text(title), timeout_s)

    def workload(self, name: str, state: str, detail: str = "") -> None:
        self.inner.workload(name, state, self.redactor.text(detail) if detail else detail)

    def tick(self, detail: str = "") -> None:
        self.inner.tick(self.redactor.text(detail) if detail else detail)

    def finish(self) -> None:
        self.inner.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


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

    def moved(o: WorkloadOutcome) -> WorkloadOutcome:
        return replace(o, logs=tuple(move(p) for p in o.logs), message=fix(o.message), diagnostics=tuple(fix(d) for d in o.diagnostics),
                       attempts=tuple(moved(a) for a in o.attempts))

    outcomes = {name: moved(o) for name, o in output.outcomes.items()}
    return replace(output, outcomes=outcomes, message=fix(output.message))


def _write_plan(executor, scenario: Scenario, out_dir: Path, run_id: str, options: Mapping[str, Any] | None) -> Plan | None:
    """The run's plan, made once: written to rendered/ for reviewers, and what the executor then runs."""
    try:
        return executor.plan(scenario, out_dir, run_id=run_id, options=options)
    except RunnerError:
        raise
    except Exception as error:  # a bug in planning is the executor's to meet again; the record says what happened
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "plan-error.txt").write_text(f"{type(error).__name__}: {error}\n")
        return None


def _write_extra_reports(record: RunRecord, report: RunReport, only: tuple[str, ...] | None = None) -> None:
    """Reporters that produce record files (junit.xml, summary.md, report.html) register with a `record_file` attribute."""
    for name, reporter in REPORTERS.items():
        filename = getattr(reporter, "record_file", None)
        if not filename or (only is not None and name not in only):
            continue
        try:
            content = reporter(report)
        except Exception as error:  # a broken report must not lose the record
            record.write_text(f"{filename}.error.txt", f"{type(error).__name__}: {error}\n")
            continue
        record.write_text(filename, content)


def _outcome_summary(outcome: WorkloadOutcome) -> dict:
    summary = {"state": outcome.state, "exit_code": outcome.exit_code, "ranks": outcome.ranks, "message": outcome.message,
               "duration_s": round(outcome.duration_s, 3) if outcome.duration_s is not None else None,
               "logs": [str(p) for p in outcome.logs], "outputs": dict(outcome.outputs), "diagnostics": list(outcome.diagnostics)}
    if outcome.attempts:
        summary["attempts"] = [_outcome_summary(attempt) for attempt in outcome.attempts]
    return summary


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

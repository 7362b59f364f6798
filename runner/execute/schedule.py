"""Pipeline stage "schedule": the one run loop of every executor.

The scheduler decides, for every executor alike: the start order (`after`), when a dependency
counts as satisfied (a job done, a service ready), readiness (the executor's own probe, and a
log regex that the scheduler matches itself, counting offsets in bytes), the finish rule, the
per-workload, readiness and whole-run deadlines, interruption, and how workloads still running
at the end are settled. An executor gives it a Backend (execute.py): start, observe, probe,
stop, logs and diagnostics for its own kind of workload.

Rules:
- a workload starts once every workload in its `after` is satisfied, and is skipped once one of
  them ended without success;
- a job is satisfied when it succeeded; a service when it is ready: the backend's probe holds
  and, with `ready.log`, a complete line of its primary log matched the regex (named groups
  become `{{ ready.NAME.GROUP }}` for dependents);
- a service must be ready within its readiness limit: `ready.timeout`, else its `timeout`, else
  `timeouts.ready`, else DEFAULT_READY_S; a job must end within its `timeout`;
- a service that exits while the run still needs it failed, whatever its exit code;
- the run ends when every job has ended and every service has ended, is ready, or (once no job
  is left) has at least been started; services still up are then stopped and count as done.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.base import saferegex
from runner.base.errors import ExecutionError, RunnerError
from runner.execute.contract import (
    Backend,
    Observation,
    Phase,
    RunContext,
    RunOutput,
    RunState,
    StartFailed,
    WorkloadOutcome,
    WorkloadState,
)
from runner.execute.plan import ready_text, start_order
from runner.scenario.model import Workload

DEFAULT_READY_S = 600.0
_FAILURE_STATES = (WorkloadState.FAILED, WorkloadState.TIMEOUT)


def ready_limit_s(workload: Workload, scenario_ready_s: float | None) -> float:
    return ((workload.ready.timeout_s if workload.ready else None) or workload.timeout_s or scenario_ready_s
            or DEFAULT_READY_S)


class LogWatch(saferegex.LogWatch):
    """Reads a growing log from a byte offset and matches a regex (RE2: linear time) against complete lines only."""

    def match(self, path: Path | None) -> dict[str, str] | None:
        try:
            return super().match(path)
        except OSError as error:
            raise ExecutionError(f"cannot read {path} for readiness: {error}") from error


@dataclass
class Tracked:
    """The scheduler's view of one workload during the run."""

    workload: Workload
    handle: Any = None
    started: float | None = None     # wall clock
    ended: float | None = None
    deadline: float | None = None    # monotonic: a job must end / a service must be ready by then
    limit_text: str = ""
    ready: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    watch: LogWatch | None = None
    state: WorkloadState | None = None
    message: str = ""
    diagnostics: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.workload.name

    @property
    def running(self) -> bool:
        return self.started is not None and self.state is None


class Scheduler:
    def __init__(self, context: RunContext, backend: Backend, poll_s: float):
        self.context = context
        self.backend = backend
        self.poll_s = poll_s
        self.scenario = context.scenario
        self.order = start_order(self.scenario)
        self.tracked = {w.name: Tracked(w) for w in self.order}
        self.deadline = time.monotonic() + context.timeout_s if context.timeout_s else None

    # --- entry ------------------------------------------------------------------------------------

    def run(self) -> RunOutput:
        state, message = RunState.COMPLETED, ""
        try:
            self.backend.open()
            state, message = self._loop()
        except RunnerError as error:
            state, message = RunState.ERROR, str(error)
            self._abort(WorkloadState.FAILED, error.message.splitlines()[0])
        finally:
            self._settle()
            state, message = self.backend.close(state, message)
        return RunOutput(self.backend.name, self._outcomes(), state, message, self.backend.facts)

    # --- the loop ---------------------------------------------------------------------------------

    def _loop(self) -> tuple[RunState, str]:
        while True:
            if self.context.should_stop():
                self._abort(WorkloadState.INTERRUPTED, "interrupted")
                return RunState.INTERRUPTED, "interrupted by signal"
            if self.deadline and time.monotonic() > self.deadline:
                limit = f"the run hit its {self.context.timeout_s:.0f}s limit"
                self._abort(WorkloadState.TIMEOUT, limit, diagnose=True)
                return RunState.TIMEOUT, limit
            self._start_what_can_start()
            for tracked in self.tracked.values():
                if tracked.running:
                    self._observe(tracked, time.monotonic())
            if self._finished():
                return RunState.COMPLETED, ""
            self.context.progress.tick(self.backend.tick_text())
            self.backend.wait(self.poll_s)

    def _finished(self) -> bool:
        jobs = [t for t in self.tracked.values() if not t.workload.is_service]
        if any(t.state is None for t in jobs):
            return False
        services = [t for t in self.tracked.values() if t.workload.is_service]
        if not jobs:
            return all(t.state is not None or t.ready for t in services)
        return all(t.state is not None or t.started is not None for t in services)

    def _start_what_can_start(self) -> None:
        for tracked in self.tracked.values():
            if tracked.started is not None or tracked.state is not None:
                continue
            after = tracked.workload.after
            blocked = [d for d in after if self._dependency(d) == "failed"]
            if blocked:
                self._decide(tracked, WorkloadState.SKIPPED, f"not started: {', '.join(blocked)} did not succeed")
            elif all(self._dependency(d) == "ok" for d in after):
                self._start(tracked)

    def _dependency(self, name: str) -> str:
        tracked = self.tracked[name]
        if tracked.state is not None:
            return "ok" if tracked.state == WorkloadState.DONE and not tracked.workload.is_service else "failed"
        if tracked.workload.is_service and tracked.ready:
            return "ok"
        return "waiting"

    def _start(self, tracked: Tracked) -> None:
        workload = tracked.workload
        tracked.started = time.time()
        now = time.monotonic()
        if workload.is_service:
            limit = ready_limit_s(workload, self.scenario.ready_timeout_s)
            tracked.deadline, tracked.limit_text = now + limit, f"not ready within {limit:.0f}s: {ready_text(workload)}"
            if workload.ready and workload.ready.log:
                tracked.watch = LogWatch(workload.ready.log)
        elif workload.timeout_s:
            tracked.deadline = now + workload.timeout_s
            tracked.limit_text = f"did not finish within its {workload.timeout_s:.0f}s limit and was stopped"
        try:
            tracked.handle = self.backend.start(workload, self.ready_outputs())
        except StartFailed as error:
            self._decide(tracked, WorkloadState.FAILED, error.message)

    # --- one workload -----------------------------------------------------------------------------

    def _observe(self, tracked: Tracked, now: float) -> None:
        seen = self.backend.observe(tracked.handle, now)
        if seen.phase == Phase.FAILED:
            return self._fail(tracked, WorkloadState.FAILED, seen.message)
        if seen.phase == Phase.TIMED_OUT:
            return self._fail(tracked, WorkloadState.TIMEOUT, seen.message)
        if seen.phase == Phase.SUCCEEDED:
            return self._ended(tracked, seen)
        if tracked.workload.is_service and not tracked.ready:
            self._check_ready(tracked)
            if tracked.ready:
                return
        if tracked.deadline and now > tracked.deadline and not tracked.ready:
            self._fail(tracked, WorkloadState.TIMEOUT, tracked.limit_text)

    def _ended(self, tracked: Tracked, seen: Observation) -> None:
        if not tracked.workload.is_service:
            return self._decide(tracked, WorkloadState.DONE, seen.message)
        when = "while the run still needed it" if tracked.ready else "before it became ready"
        self._fail(tracked, WorkloadState.FAILED, f"the service exited {when} (exit code 0); a service must run until the run ends")

    def _check_ready(self, tracked: Tracked) -> None:
        if not self.backend.probe(tracked.handle):
            return
        if tracked.watch is not None:
            outputs = tracked.watch.match(self.backend.primary_log(tracked.handle))
            if outputs is None:
                return
            tracked.outputs = outputs
        tracked.ready = True
        self.context.progress.workload(tracked.name, "ready", ", ".join(f"{k}={v}" for k, v in tracked.outputs.items()))

    # --- deciding ---------------------------------------------------------------------------------

    def _fail(self, tracked: Tracked, state: WorkloadState, message: str) -> None:
        self.backend.stop(tracked.handle)
        found = self.backend.diagnose(tracked.handle, state, message)
        detail = message
        if found.message and found.message not in message:
            detail = f"{message}; {found.message}" if message else found.message
        self._decide(tracked, state, detail, found.lines)

    def _decide(self, tracked: Tracked, state: WorkloadState, message: str, diagnostics: tuple[str, ...] = ()) -> None:
        if tracked.state is not None:
            return
        tracked.state, tracked.message, tracked.diagnostics = state, message, tuple(diagnostics)
        tracked.ended = time.time() if tracked.started is not None else None
        shown = message.splitlines()[0] if message else ""
        if tracked.ended is not None and state != WorkloadState.SKIPPED:
            shown = "; ".join(filter(None, [shown, f"{tracked.ended - tracked.started:.1f}s"]))
        self.context.progress.workload(tracked.name, state, shown)

    def _abort(self, state: WorkloadState, message: str, diagnose: bool = False) -> None:
        """The run stops early: running workloads end in `state`, the others are skipped."""
        for tracked in self.tracked.values():
            if tracked.running:
                if diagnose:
                    self._fail(tracked, state, message)
                else:
                    self.backend.stop(tracked.handle)
                    self._decide(tracked, state, message)
            elif tracked.state is None:
                self._decide(tracked, WorkloadState.SKIPPED, f"not started: {message}")

    def _settle(self) -> None:
        for tracked in self.tracked.values():
            if tracked.state is not None:
                continue
            if tracked.started is None:
                self._decide(tracked, WorkloadState.SKIPPED, "not started")
            elif tracked.ready:
                self._decide(tracked, WorkloadState.DONE, "stopped at the end of the run")
            else:
                self._decide(tracked, WorkloadState.FAILED, "stopped before it became ready")

    def _outcomes(self) -> dict[str, WorkloadOutcome]:
        outcomes = {}
        for name, tracked in self.tracked.items():
            started = tracked.handle is not None
            outcomes[name] = WorkloadOutcome(
                name=name, state=tracked.state or WorkloadState.SKIPPED,
                logs=self.backend.logs(tracked.handle) if started else (),
                exit_code=self.backend.exit_code(tracked.handle, tracked.state) if started else None,
                ranks=self.backend.ranks(tracked.handle) if started else tracked.workload.ranks,
                started=tracked.started, ended=tracked.ended, message=tracked.message,
                diagnostics=tracked.diagnostics, outputs=dict(tracked.outputs))
        return outcomes

    # --- what dependents see ------------------------------------------------------------------------

    def ready_outputs(self) -> dict[str, dict[str, str]]:
        return {name: dict(t.outputs) for name, t in self.tracked.items()}


def run_with(context: RunContext, backend: Backend, poll_s: float) -> RunOutput:
    """Run the context's scenario on a backend; the one entry point executors call."""
    return Scheduler(context, backend, poll_s).run()

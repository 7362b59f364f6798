"""Pipeline stage "execute": the contract between the run pipeline and the executors.

An executor takes a RunContext and returns a RunOutput: one WorkloadOutcome per
workload, with the logs it captured. It never judges: parsing and checks happen
afterwards on the logs, the same way for every executor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from runner.base.errors import ExecutionError
from runner.execute.plan import Plan
from runner.scenario.model import Scenario, Workload


class Vocabulary(str, Enum):
    """A closed set of names that are stored in records as plain strings."""

    __str__ = str.__str__
    __format__ = str.__format__


class WorkloadState(Vocabulary):
    """How a workload ended."""

    DONE = "done"                # a job ran to completion with exit code 0, or a service served until the run ended
    FAILED = "failed"            # non-zero exit, crash, failed pod, a service that exited while it was needed
    TIMEOUT = "timeout"          # hit its time limit (or its readiness limit) and was stopped
    SKIPPED = "skipped"          # never started (a dependency failed, or the run stopped first)
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM arrived while it ran


class RunState(Vocabulary):
    """How the run as a whole ended."""

    COMPLETED = "completed"
    ERROR = "error"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


class Phase(Vocabulary):
    """What an executor sees of a started workload at one moment."""

    RUNNING = "running"          # started, neither finished nor (for a service) up yet
    SUCCEEDED = "succeeded"      # every process exited 0 / the controller reports completion
    FAILED = "failed"            # a process exited non-zero / the controller gave up
    TIMED_OUT = "timed-out"      # the platform itself enforced a deadline (activeDeadlineSeconds)


@dataclass(frozen=True)
class Observation:
    """What a backend sees of a workload at one moment: its phase and why."""

    phase: Phase
    message: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """What an executor can say about a failed workload: a better one-line reason, and evidence lines."""

    message: str = ""
    lines: tuple[str, ...] = ()


class StartFailed(ExecutionError):
    """A workload could not be started (missing program, object refused); the run goes on without it."""


@dataclass(frozen=True)
class WorkloadOutcome:
    """How one workload ended: its state, message, logs, ranks, exit code and diagnosis."""

    name: str
    state: WorkloadState
    logs: tuple[Path, ...] = ()          # primary log first (rank 0 / launcher / leader): the one parsers read
    exit_code: int | None = None
    ranks: int = 1
    started: float | None = None
    ended: float | None = None
    message: str = ""                    # one line: why it failed / timed out
    diagnostics: tuple[str, ...] = ()    # events, container states, log tails, hints
    outputs: Mapping[str, str] = field(default_factory=dict)  # values captured by readiness regexes
    attempts: tuple["WorkloadOutcome", ...] = ()  # a repeated job: each attempt's own outcome, in order

    @property
    def duration_s(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass(frozen=True)
class RunOutput:
    """What an executor hands the verdict: every workload's outcome, the run's state, and facts about where it ran."""

    executor: str
    outcomes: Mapping[str, WorkloadOutcome]
    state: RunState
    message: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)  # cluster/node facts, tool paths, image refs


class Progress(Protocol):
    def workload(self, name: str, state: str, detail: str = "") -> None: ...
    def tick(self, detail: str = "") -> None: ...


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs from the flow that started it: the scenario, its plan, folders, options and progress."""

    scenario: Scenario
    run_id: str
    run_dir: Path
    timeout_s: float | None
    progress: Progress
    options: Mapping[str, Any] = field(default_factory=dict)
    should_stop: Callable[[], bool] = lambda: False
    redactor: Any = None  # runner.records.redaction.Redactor: everything executors write into the record goes through it
    plan: Plan | None = None  # this run's plan, made once before it started (rendered/ in the record)
    staging_dir: Path | None = None  # private (0700) twin of run_dir where processes write raw output; None: they write into run_dir
    mirror: Any = None  # runner.execute.local.mirror.Mirror: copies staged output into the record, redacted

    def redact(self, text: str) -> str:
        return self.redactor.text(text) if self.redactor is not None else text

    def redact_block(self, data: bytes) -> bytes:
        """Bytes of whole lines, redacted (output streamed into the record)."""
        return self.redactor.block(data) if self.redactor is not None else data

    def redact_argv(self, argv: list[str]) -> list[str]:
        """A command line for a .cmd file: each argument, and `--secret-opt value` pairs, redacted."""
        return self.redactor.argv(argv) if self.redactor is not None else list(argv)

    def log_dir(self, workload: str) -> Path:
        path = self.run_dir / "logs" / workload
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stage_dir(self, workload: str) -> Path:
        """Where the workload's processes write (their output and working directory): the private staging folder,
        which the mirror copies into log_dir(workload) redacted; log_dir itself without one."""
        if self.staging_dir is None:
            return self.log_dir(workload)
        path = self.staging_dir / "logs" / workload
        path.mkdir(parents=True, exist_ok=True)
        if self.mirror is not None:
            self.mirror.follow(path, self.log_dir(workload))
        return path


class Executor(Protocol):
    """An executor plans and runs scenarios; the run loop itself is runner.execute.schedule's, shared by all of them."""

    name: str

    def check_environment(self, options: Mapping[str, Any]) -> None:
        """Raise a RunnerError before any run record exists when this executor cannot run here."""

    def check_scenario(self, scenario: Scenario) -> None:
        """Raise a RunnerError before any run record exists when this scenario's commands need what is not here
        (known from the plan alone, e.g. NCCL without a GPU): one cause, its own hint, nothing started."""

    def plan(self, scenario: Scenario, out_dir: Path | None = None, *, run_id: str = "render",
             options: Mapping[str, Any] | None = None) -> Plan:
        """What a run would do; a run's own plan (its id, its options) is made once and handed to run() in the context."""

    def run(self, context: RunContext) -> RunOutput: ...


class Backend(Protocol):
    """The primitives an executor gives the scheduler, for one run.

    A handle is whatever the backend needs to find a started workload again (processes, objects).
    The scheduler owns order, readiness by log, deadlines, finish rules and settling; a backend only
    starts, observes, probes, stops and tells where logs are.
    """

    name: str
    facts: dict[str, Any]

    def open(self) -> None:
        """Before the first workload: connect, preflight, create what every workload shares."""

    def start(self, workload: Workload, ready: Mapping[str, Mapping[str, str]]) -> Any:
        """Launch the workload (`ready`: what readiness regexes captured so far); returns its handle.

        StartFailed fails this workload; any other RunnerError stops the run."""

    def observe(self, handle: Any, now: float) -> Observation: ...

    def probe(self, handle: Any) -> bool:
        """The workload's own readiness (port, HTTP, pods Ready) holds now; log readiness is the scheduler's."""

    def primary_log(self, handle: Any) -> Path | None:
        """The log that readiness regexes and parsers read first (rank 0, launcher, leader)."""

    def diagnose(self, handle: Any, state: WorkloadState, message: str) -> Diagnosis: ...

    def stop(self, handle: Any) -> None: ...

    def logs(self, handle: Any) -> tuple[Path, ...]:
        """Every log of the workload, primary first."""

    def ranks(self, handle: Any) -> int: ...

    def exit_code(self, handle: Any, state: WorkloadState) -> int | None: ...

    def wait(self, seconds: float) -> None:
        """Sleep until something may have changed, at most `seconds`."""

    def tick_text(self) -> str: ...

    def close(self, state: RunState, message: str) -> tuple[RunState, str]:
        """After the last workload: end or delete everything the run started, and verify it; may turn the run into an error."""


def log_tail(path: Path | None, lines: int = 20, max_bytes: int = 32768) -> str:
    """The last lines of a log file (read from its end, however large), or "" when there is none."""
    if path is None:
        return ""
    try:
        with Path(path).open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])

"""Pipeline stage "execute": the contract between the run pipeline and the executors.

An executor takes a RunContext and returns a RunOutput: one WorkloadOutcome per
workload, with the logs it captured. It never judges: parsing and checks happen
afterwards on the logs, the same way for every executor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from .errors import ExecutionError
from .model import Scenario, Workload

# Workload states as executors report them.
DONE = "done"          # a job ran to completion with exit code 0 (or a service ran until the run ended)
FAILED = "failed"      # non-zero exit, crash, failed pod
TIMEOUT = "timeout"    # hit its time limit and was stopped
SKIPPED = "skipped"    # never started (a dependency failed, or the run stopped first)
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class WorkloadOutcome:
    name: str
    state: str
    logs: tuple[Path, ...] = ()          # primary log first (rank 0 / launcher / leader): the one parsers read
    exit_code: int | None = None
    ranks: int = 1
    started: float | None = None
    ended: float | None = None
    message: str = ""                    # one line: why it failed / timed out
    diagnostics: tuple[str, ...] = ()    # events, container states, log tails, hints
    outputs: Mapping[str, str] = field(default_factory=dict)  # values captured by readiness regexes

    @property
    def duration_s(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass(frozen=True)
class RunOutput:
    executor: str
    outcomes: Mapping[str, WorkloadOutcome]
    state: str                           # completed | error | timeout | interrupted
    message: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)  # cluster/node facts, tool paths, image refs


class Progress(Protocol):
    def workload(self, name: str, state: str, detail: str = "") -> None: ...
    def tick(self, detail: str = "") -> None: ...


@dataclass(frozen=True)
class RunContext:
    scenario: Scenario
    run_id: str
    run_dir: Path
    timeout_s: float | None
    progress: Progress
    options: Mapping[str, Any] = field(default_factory=dict)
    should_stop: Callable[[], bool] = lambda: False

    def log_dir(self, workload: str) -> Path:
        path = self.run_dir / "logs" / workload
        path.mkdir(parents=True, exist_ok=True)
        return path


class Executor(Protocol):
    name: str

    def plan(self, scenario: Scenario, out_dir: Path | None = None) -> list[Path] | dict: ...

    def run(self, context: RunContext) -> RunOutput: ...


def start_order(scenario: Scenario) -> list[Workload]:
    """Workloads in dependency order (stable: file order among equals)."""
    done: list[str] = []
    remaining = list(scenario.workloads)
    while remaining:
        progressed = False
        for workload in list(remaining):
            if all(dep in done for dep in workload.after):
                done.append(workload.name)
                remaining.remove(workload)
                progressed = True
        if not progressed:
            raise ExecutionError(f"workloads wait on each other in a cycle: {', '.join(w.name for w in remaining)}")
    return [scenario.workload(name) for name in done]


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

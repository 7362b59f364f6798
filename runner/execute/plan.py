"""What an executor plans, apart from how it runs (runner.execute.contract): the Plan a reviewer reads and a run
applies, the order workloads start in, and how a plan words a workload's readiness. Validating a scenario plans it
for every executor, so this is all that validation loads of the stage."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from runner.base.errors import ExecutionError
from runner.render.kubernetes import RenderedObject
from runner.scenario.model import Scenario, Workload


@dataclass(frozen=True)
class Plan:
    """What an executor would do with a scenario, for reviewers: the Kubernetes objects, or the local process plan."""

    executor: str
    documents: tuple[Mapping[str, Any], ...]
    files: tuple[Path, ...] = ()         # written when the plan was asked for with an output folder
    objects: tuple[RenderedObject, ...] = ()  # Kubernetes: the rendered objects a run applies (rendered once)


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


def ready_text(workload: Workload) -> str:
    ready = workload.ready
    if not ready:
        return "its pods or processes are up"
    if ready.port:
        return f"port {ready.port} accepts connections"
    if ready.http_port:
        return f"GET {ready.http_path} on port {ready.http_port} answers 200"
    return f"a log line matches {ready.log!r}"

"""The executor delta: what a scenario's `local:` block changes when it runs on the local executor.

The block is an overlay merged onto the resolved scenario the way `extends` merges a variant
(maps deeply, lists of named items by name), after which the `--set` overrides are applied again so
that a value given on the command line still wins. The result is validated like any scenario: it is
the scenario that runs, and the one the run record keeps. `local.nodes` (emulated nodes) and
`local.refuse` stay in the block for the local executor to read.

Both executors run a job with `repeat: N` as N jobs in a row (expand_attempts); the plan shows them.
"""
from __future__ import annotations

import glob
import importlib.util
from dataclasses import replace
from typing import Any, Iterable

from runner.base.errors import Location, Problem, ScenarioError
from runner.scenario.load import SourceMap
from runner.scenario.model import Scenario, attempt_name, thaw
from runner.scenario.resolve import (
    Library,
    Resolved,
    apply_overrides,
    merge,
    merge_sources,
)
from runner.scenario.validate import Plugins, validate_resolved

OVERLAY_KEYS = ("parameters", "env", "timeouts", "workloads", "checks", "lints")


def for_executor(scenario: Scenario, executor: str, library: Library, overrides: Iterable[str] = (),
                 plugins: Plugins = Plugins()) -> Scenario:
    """The scenario as `executor` runs it; unchanged unless the executor is local and the scenario has a `local:` overlay."""
    if executor != "local":
        return scenario
    block = scenario.data.get("local") if scenario.data else None
    overlay = {key: thaw(block[key]) for key in OVERLAY_KEYS if block and key in block}
    if not overlay:
        return scenario
    data = thaw(scenario.data)
    merged = merge(data, overlay)
    overlay_sources = SourceMap({path[1:]: location for path, location in scenario.sources.items() if path[:1] == ("local",)})
    sources = merge_sources(data, scenario.sources, overlay, overlay_sources, merged)
    merged, sources = apply_overrides(merged, sources, overrides)
    return validate_resolved(Resolved(scenario.name, merged, sources, scenario.files), library, executor_view=True, plugins=plugins)


def runs_on(scenario: Scenario, executor: str) -> bool:
    """The scenario declares the executor, or (local) has a `local:` block: a plan to read, or a refusal that says why."""
    return executor in scenario.executors or (executor == "local" and bool(scenario.data and scenario.data.get("local")))


def check_runnable(scenario: Scenario, executor: str) -> None:
    """Raise the scenario's `local.refuse` reason (what this machine lacks) before anything starts."""
    if executor != "local" or not refusal(scenario):
        return
    where = scenario.sources.with_path(("local", "refuse")) if scenario.sources else Location()
    raise ScenarioError(Problem(f"scenario {scenario.name} cannot run on the local executor: {refusal(scenario)} "
                                f"(this machine: {_here()})", where,
                                f"`scenario render {scenario.name} --executor local` shows the local plan; run it on a cluster "
                                f"with --executor kubernetes"))


def refusal(scenario: Scenario) -> str:
    """Why the scenario cannot run locally ("" when it can)."""
    block = scenario.data.get("local") if scenario.data else None
    return str(block.get("refuse") or "") if block else ""


def _here() -> str:
    """What this machine has of what the refusals name: GPUs the driver shows, SGLang."""
    gpus = len(glob.glob("/dev/nvidia[0-9]*"))
    sglang = "SGLang installed" if importlib.util.find_spec("sglang") else "no SGLang"
    return f"{gpus} GPU{'s' if gpus != 1 else ''}, {sglang}"


def expand_attempts(scenario: Scenario) -> Scenario:
    """The scenario as the executors run it: each job with `repeat: N` becomes N jobs in a row, the first after
    what the job waited for, each next one after the previous; what waited for the job waits for the last."""
    if all(w.repeat <= 1 for w in scenario.workloads):
        return scenario
    last = {w.name: attempt_name(w.name, w.repeat) for w in scenario.workloads if w.repeat > 1}
    workloads, origin = [], []  # origin: the index in the scenario file of each workload that runs
    for index, workload in enumerate(scenario.workloads):
        after = tuple(last.get(name, name) for name in workload.after)
        if workload.repeat <= 1:
            workloads.append(replace(workload, after=after))
            origin.append(index)
            continue
        for attempt in range(1, workload.repeat + 1):
            previous = (attempt_name(workload.name, attempt - 1),) if attempt > 1 else ()
            workloads.append(replace(workload, name=attempt_name(workload.name, attempt), repeat=1, attempt_of=workload.name,
                                     after=after + previous))
            origin.append(index)
    return replace(scenario, workloads=tuple(workloads), sources=_sources_for(scenario.sources, origin))


def _sources_for(sources: SourceMap, origin: list[int]) -> SourceMap:
    """Locations for the expanded workload list: an attempt's values sit where the repeated job's do."""
    moved = SourceMap()
    by_workload: dict[Any, list] = {}
    for path, location in sources.items():
        if path[:1] == ("workloads",) and len(path) > 1:
            by_workload.setdefault(path[1], []).append((path[2:], location))
        else:
            moved[path] = location
    for new_index, old_index in enumerate(origin):
        for rest, location in by_workload.get(old_index, ()):
            moved[("workloads", new_index) + rest] = location
    return moved

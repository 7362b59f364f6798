"""The executor delta: what a scenario changes when it runs on one executor, as one overlay mechanism.

Two blocks say it: the scenario's `local:` block (the local executor only), then each workload's own `local:` or
`kubernetes:` block (command, ranks, shell, env, fallback). Both are overlays merged onto the resolved scenario the
way `extends` merges a variant (maps deeply, lists of named items by name), the workload blocks last, after which
the `--set` overrides are applied again so that a value given on the command line still wins. The result is
validated like any scenario: it is the scenario that runs, and the one the run record keeps; its workloads carry no
executor blocks any more. `local.nodes` (emulated nodes) and `local.refuse` stay in the block for the local
executor to read.

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
    check_edits,
    merge,
    merge_sources,
)
from runner.scenario.validate import Plugins, validate_resolved

OVERLAY_KEYS = ("parameters", "env", "timeouts", "workloads", "checks", "lints")
WORKLOAD_BLOCKS = ("local", "kubernetes")


def for_executor(scenario: Scenario, executor: str, library: Library, overrides: Iterable[str] = (),
                 plugins: Plugins = Plugins()) -> Scenario:
    """The scenario as `executor` runs it: unchanged when neither block says anything for that executor."""
    data, sources = thaw(scenario.data or {}), scenario.sources
    block = data.get("local") if executor == "local" else None
    scenario_overlay = {key: block[key] for key in OVERLAY_KEYS if isinstance(block, dict) and key in block}
    if scenario_overlay:
        check_edits(data.get("checks"), scenario_overlay.get("checks"), sources, ("local", "checks"))
        block_sources = SourceMap({path[1:]: where for path, where in sources.items() if path[:1] == ("local",)})
        data, sources = _merged(data, sources, scenario_overlay, block_sources)
    workload_overlay, workload_sources = _workload_blocks(data, sources, executor)
    if workload_overlay:
        data, sources = _merged(data, sources, workload_overlay, workload_sources)
    if not scenario_overlay and not workload_overlay:
        return scenario
    for workload in data.get("workloads") or []:
        for name in WORKLOAD_BLOCKS:
            workload.pop(name, None)
    data, sources = apply_overrides(data, sources, overrides)
    return validate_resolved(Resolved(scenario.name, data, sources, scenario.files), library, executor_view=True, plugins=plugins)


def _merged(data: dict, sources: SourceMap, overlay: dict, overlay_sources: SourceMap) -> tuple[dict, SourceMap]:
    merged = merge(data, overlay)
    return merged, merge_sources(data, sources, overlay, overlay_sources, merged)


def _workload_blocks(data: dict, sources: SourceMap, executor: str) -> tuple[dict, SourceMap]:
    """Each workload's `<executor>:` block as an overlay of the named `workloads` list, with its locations."""
    entries, located = [], SourceMap()
    for index, workload in enumerate(data.get("workloads") or []):
        block = workload.get(executor) if isinstance(workload, dict) else None
        if not isinstance(block, dict) or not block:
            continue
        at = len(entries)
        entries.append({"name": workload["name"], **block})
        prefix = ("workloads", index, executor)
        for path, where in sources.items():
            if path[:3] == prefix:
                located[("workloads", at) + path[3:]] = where
        if ("workloads", index, "name") in sources:
            located[("workloads", at, "name")] = sources[("workloads", index, "name")]
    return ({"workloads": entries}, located) if entries else ({}, located)


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

"""The executor delta: what a scenario's `local:` block changes when it runs on the local executor.

The block is an overlay merged onto the resolved scenario the way `extends` merges a variant
(maps deeply, lists of named items by name), after which the `--set` overrides are applied again so
that a value given on the command line still wins. The result is validated like any scenario: it is
the scenario that runs, and the one the run record keeps. `local.nodes` (emulated nodes) and
`local.refuse` stay in the block for the local executor to read.
"""
from __future__ import annotations

from typing import Iterable

from .model import Scenario, thaw

OVERLAY_KEYS = ("parameters", "env", "timeouts", "workloads", "checks", "lints")


def for_executor(scenario: Scenario, executor: str, overrides: Iterable[str] = ()) -> Scenario:
    """The scenario as `executor` runs it; unchanged unless the executor is local and the scenario has a `local:` overlay."""
    if executor != "local":
        return scenario
    block = scenario.data.get("local") if scenario.data else None
    overlay = {key: thaw(block[key]) for key in OVERLAY_KEYS if block and key in block}
    if not overlay:
        return scenario
    from .load import SourceMap
    from .resolve import Resolved, _merge_sources, apply_overrides, merge
    from .resolve import Library
    from .validate import validate_resolved

    data = thaw(scenario.data)
    merged = merge(data, overlay)
    overlay_sources = SourceMap({path[1:]: location for path, location in scenario.sources.items() if path[:1] == ("local",)})
    sources = _merge_sources(data, scenario.sources, overlay, overlay_sources, merged)
    merged, sources = apply_overrides(merged, sources, overrides)
    return validate_resolved(Resolved(scenario.name, merged, sources, scenario.files), Library(), executor_view=True)


def runs_on(scenario: Scenario, executor: str) -> bool:
    """The scenario declares the executor, or (local) has a `local:` block: a plan to read, or a refusal that says why."""
    return executor in scenario.executors or (executor == "local" and bool(scenario.data and scenario.data.get("local")))


def check_runnable(scenario: Scenario, executor: str) -> None:
    """Raise the scenario's `local.refuse` reason (what this machine lacks) before anything starts."""
    from .errors import Location, Problem, ScenarioError

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
    import glob
    import importlib.util

    gpus = len(glob.glob("/dev/nvidia[0-9]*"))
    sglang = "SGLang installed" if importlib.util.find_spec("sglang") else "no SGLang"
    return f"{gpus} GPU{'s' if gpus != 1 else ''}, {sglang}"

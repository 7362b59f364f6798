"""What a triage runs: the scenario's `triage:` block with the command line on top, checked once before any set runs.

Also how one node set is placed: the --set overrides that pin the workload to the set's nodes
(platform.nodes on Kubernetes; local.nodes for emulated nodes) and size it to the set.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import Location, Problem, ScenarioError
from ..model import Scenario, thaw
from ..render import render_string
from .scoring import DEFAULT_SLOW
from .strategies import STRATEGIES

HIGHER_OPS, LOWER_OPS = (">=", ">"), ("<=", "<")


@dataclass(frozen=True)
class TriageSettings:
    strategy: str
    workload: str
    metric: str                      # <workload>.<metric>
    better: str                      # higher | lower
    slow: float
    concurrency: int | None          # None: every set of a round at once
    set_size: int                    # nodes per set for the pair strategies and bisection's smallest sets
    base_nodes: int                  # the workload's own nodes and ranks, scaled per set
    base_ranks: int
    executor: str
    nodes: tuple[str, ...] = ()      # an explicit fleet (or emulated node names)
    selector: str = ""               # Kubernetes discovery
    reference: str = ""              # per-node: a known-good partner outside the fleet in every set

    @property
    def metric_name(self) -> str:
        return self.metric.split(".", 1)[1]


def triage_block(scenario: Scenario) -> Mapping[str, Any]:
    block = scenario.data.get("triage") if scenario.data else None
    return thaw(block) if isinstance(block, Mapping) else {}


def has_triage(scenario: Scenario) -> bool:
    return bool(triage_block(scenario))


def settings_for(scenario: Scenario, executor: str, cli: Mapping[str, Any] | None = None) -> TriageSettings:
    """cli: strategy, nodes (list), selector, concurrency, slow (None = the scenario's)."""
    cli = {k: v for k, v in (cli or {}).items() if v not in (None, "", ())}
    block = {**triage_block(scenario), **cli}
    where = lambda key: scenario.sources.with_path(("triage", key)) if key not in cli else Location(f"--{key}")
    strategy = block.get("strategy", "all-pairs")
    if strategy not in STRATEGIES:
        raise ScenarioError(Problem(STRATEGIES.unknown_message(strategy), where("strategy")))
    workload = _workload(scenario, block.get("workload"), where("workload"))
    metric, better = _metric(scenario, workload, block.get("metric"), where("metric"))
    base_nodes = max(workload_nodes(scenario, workload), 1)
    set_size = 1 if strategy == "per-node" else (2 if strategy.endswith("pairs") else base_nodes)
    reference = str(block.get("reference") or "")
    if reference and strategy != "per-node":
        reference = ""  # a partner for single nodes only: pair strategies and bisection draw partners from the fleet
    # with a reference every set shares that node, so the sets run one at a time
    return TriageSettings(
        strategy=strategy, workload=workload, metric=metric, better=better, slow=float(block.get("slow", DEFAULT_SLOW)),
        concurrency=1 if reference else block.get("concurrency"), set_size=set_size, base_nodes=base_nodes,
        base_ranks=scenario.workload(workload).for_executor(executor).ranks, executor=executor,
        nodes=_nodes(scenario, block.get("nodes"), where("nodes")), selector=block.get("selector", ""), reference=reference)


def workload_nodes(scenario: Scenario, name: str) -> int:
    workload = scenario.workload(name)
    return workload.nodes if workload.kind == "mpi" else max(workload.replicas * workload.group_size, 1) if workload.kind == "group" else 1


def _workload(scenario: Scenario, name: str | None, location: Location) -> str:
    names = [w.name for w in scenario.workloads]
    if name:
        if name not in names:
            raise ScenarioError(Problem(f"triage.workload {name!r} is not a workload of {scenario.name}", location,
                                        f"workloads: {', '.join(names)}"))
        return name
    return max(scenario.workloads, key=lambda w: workload_nodes(scenario, w.name)).name


def _metric(scenario: Scenario, workload: str, metric: str | None, location: Location) -> tuple[str, str]:
    checks = [c for c in scenario.checks if c.metric and c.workload == workload]
    if metric:
        if "." not in metric or metric.split(".", 1)[0] != workload:
            raise ScenarioError(Problem(f"triage.metric {metric!r} must be <workload>.<metric> of the triage workload {workload}",
                                        location, f"for example {workload}.busbw_gbps_max"))
        check = next((c for c in checks if c.metric == metric), None)
    else:
        check = next((c for c in checks if c.kind == "performance"), None)
        if check is None:
            raise ScenarioError(Problem(f"triage needs a metric to score the sets by: {workload} has no performance check",
                                        location, f"set triage.metric: {workload}.<metric>"))
        metric = check.metric
    better = "lower" if check is not None and check.op in LOWER_OPS else "higher"
    return metric, better


def _nodes(scenario: Scenario, value: Any, location: Location) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = _rendered(scenario, value, location)
    if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
        raise ScenarioError(Problem(f"triage.nodes: expected node names or a count, found {value!r}", location))
    if isinstance(value, int):
        if value < 1:
            raise ScenarioError(Problem(f"triage.nodes: a fleet needs at least one node, found {value}", location))
        return emulated_names(scenario, value)
    return tuple(str(v) for v in value)


def _rendered(scenario: Scenario, text: str, location: Location) -> Any:
    import yaml

    return yaml.safe_load(render_string(text, {"params": dict(scenario.parameters)}, location))


def emulated_names(scenario: Scenario, count: int) -> tuple[str, ...]:
    names = tuple(local_nodes_block(scenario).get("names") or ())
    return tuple(str(names[i]) if i < len(names) else f"node-{i}" for i in range(count))


def local_nodes_block(scenario: Scenario) -> dict:
    local = thaw(scenario.data.get("local") or {}) if scenario.data else {}
    return dict(local.get("nodes") or {}) if isinstance(local, dict) else {}


# --- one set -------------------------------------------------------------------------------------


def set_overrides(scenario: Scenario, settings: TriageSettings, nodes: Sequence[str]) -> list[str]:
    """--set strings that pin the triage workload to `nodes` and size it to them."""
    sets: list[str] = []  # the triage block stays: a set's record says what it was part of
    nodes = list(nodes) + ([settings.reference] if settings.reference and settings.reference not in nodes else [])
    count = len(nodes)
    if settings.executor == "local":
        sets.append(f"local.nodes={json.dumps(_local_nodes(scenario, settings, nodes))}")
    else:
        sets.append(f"platform.nodes={json.dumps(list(nodes))}")
    if count != settings.base_nodes and scenario.workload(settings.workload).kind == "mpi":
        ranks = max(settings.base_ranks // settings.base_nodes, 1) * count
        sets += [f"workloads.{settings.workload}.nodes={count}", f"workloads.{settings.workload}.ranks={ranks}"]
        sets += _scaled_rank_checks(scenario, settings, ranks)
    return sets


def _scaled_rank_checks(scenario: Scenario, settings: TriageSettings, ranks: int) -> list[str]:
    """A check that the workload ran on all its ranks (`<workload>.ranks == N`) follows the set's size."""
    sets = []
    for index, check in enumerate(scenario.checks):
        if check.metric == f"{settings.workload}.ranks" and check.op == "==" and check.value == settings.base_ranks:
            sets.append(f"checks.{index}.value={ranks}")
    return sets


def _local_nodes(scenario: Scenario, settings: TriageSettings, nodes: Sequence[str]) -> dict:
    """The emulated nodes of one set: only the set's nodes are created, with their own link settings
    (local.nodes.links, then triage.links with its names rendered)."""
    block = local_nodes_block(scenario)
    params = {"params": dict(scenario.parameters)}
    where = scenario.sources.with_path(("triage", "links"))
    links = {**(block.get("links") or {}),
             **{render_string(str(k), params, where): v for k, v in (triage_block(scenario).get("links") or {}).items()}}
    return {**{k: v for k, v in block.items() if k not in ("names", "count", "links", "placement")},
            "names": list(nodes), "count": len(nodes),
            "links": {n: links[n] for n in nodes if n in links},
            "placement": {settings.workload: list(nodes)}}

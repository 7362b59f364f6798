"""What a triage runs: the scenario's `triage:` block with the command line on top, checked once before any set runs.

Also how one node set is placed: the --set overrides that pin the workload to the set's nodes
(platform.nodes on Kubernetes; local.nodes for emulated nodes) and size it to the set.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from runner.base.errors import Location, Problem, RunnerError, ScenarioError
from runner.flows.triage.strategies import DEFAULT_SLOW, STRATEGIES
from runner.parse.catalog import unknown_metric_hint
from runner.parse.logs import catalog_of
from runner.scenario.model import Scenario, thaw
from runner.scenario.templating import render_string

HIGHER_OPS, LOWER_OPS = (">=", ">"), ("<=", "<")


@dataclass(frozen=True)
class TriageSettings:
    """A triage run's settings: the scenario's `triage:` block with the command line's options over it."""

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
        base_ranks=scenario.workload(workload).ranks, executor=executor,
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
        sets += _scaled_rank_checks(scenario, settings, ranks, count)
    return sets


def _scaled_rank_checks(scenario: Scenario, settings: TriageSettings, ranks: int, nodes: int) -> list[str]:
    """A check that the workload ran on all its ranks (`<workload>.ranks == N`) or hosts (`<workload>.hosts == N`)
    follows the set's size."""
    sets = []
    for index, check in enumerate(scenario.checks):
        if check.metric == f"{settings.workload}.ranks" and check.op == "==" and check.value == settings.base_ranks:
            sets.append(f"checks.{index}.value={ranks}")
        elif check.metric == f"{settings.workload}.hosts" and check.op == "==" and check.value == settings.base_nodes:
            sets.append(f"checks.{index}.value={nodes}")
    return sets


def link_names(scenario: Scenario) -> list[str]:
    """The node names triage.links names, rendered (`node-{{ params.degraded }}`)."""
    params = {"params": dict(scenario.parameters)}
    where = scenario.sources.with_path(("triage", "links"))
    return [render_string(str(k), params, where) for k in (triage_block(scenario).get("links") or {})]


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


# --- validate: the triage block means something ----------------------------------------------------


def triage_problems(scenario: Scenario) -> list[Problem]:
    """What `scenario validate` reports about the `triage:` block (the schema has checked its shape): the workload and
    the metric it scores by exist and the metric is a performance one, the fleet has at least two nodes (and as many
    as a set needs), the reference is not one of them, and every rehearsal link names a node of the fleet."""
    block = triage_block(scenario)
    if not block:
        return []
    problems: list[Problem] = []

    def at(*path: Any, key: bool = False) -> Location:
        return scenario.sources.with_path(("triage", *path), key=key)

    strategy = block.get("strategy", "all-pairs")
    workload = _checked_workload(scenario, block, at, problems)
    if workload is not None:
        problems += _metric_problems(scenario, workload, block.get("metric"), at)
    if is_placed_set(scenario):
        return problems  # one set of a triage: its fleet was checked on the triage's scenario, its size is the set's
    fleet = _checked_fleet(scenario, block, at, problems)
    if fleet is None:
        return problems
    # bisection halves the fleet down to sets of the workload's size: both halves must hold one
    needed = 2 * max(workload_nodes(scenario, workload), 1) if strategy == "bisection" and workload is not None else 2
    if len(fleet) < needed:
        problems.append(Problem(f"triage.nodes: a fleet of {len(fleet)} node{'s' if len(fleet) != 1 else ''} cannot be triaged"
                                + (f" by bisection (each half must hold a set of {needed // 2} nodes)" if needed > 2 else ""),
                                at("nodes"), "a suspect is a node whose sets are bad while the others' are fine: give at least "
                                f"{needed} nodes"))
    reference = str(block.get("reference") or "")
    if reference and reference in fleet:
        problems.append(Problem(f"triage.reference {reference!r} is also a node of the fleet (triage.nodes)", at("reference"),
                                "the reference is a known-good partner from outside the fleet, tested beside every node: "
                                "take it out of triage.nodes or pick another node"))
    for key in (block.get("links") or {}):
        if _TEMPLATE not in str(key) and str(key) not in fleet:
            problems.append(Problem(f"triage.links names node {key!r}, which is not in the fleet ({_fleet_text(fleet)})",
                                    at("links", key, key=True), _close_hint(str(key), fleet, "links apply to the fleet's nodes")))
    return problems


_TEMPLATE = "{{"


def is_placed_set(scenario: Scenario) -> bool:
    """One node set of a triage (set_overrides placed it: local.nodes.placement, or platform.nodes on Kubernetes):
    its triage block is the triage's, while its emulated node names and workload size are the set's."""
    return bool(local_nodes_block(scenario).get("placement")) or bool(scenario.platform.nodes)


def _checked_workload(scenario: Scenario, block: Mapping[str, Any], at, problems: list[Problem]) -> str | None:
    names = [w.name for w in scenario.workloads]
    name = block.get("workload")
    if name is None:
        return max(scenario.workloads, key=lambda w: workload_nodes(scenario, w.name)).name if scenario.workloads else None
    if name not in names:
        problems.append(Problem(f"triage.workload {name!r} is not a workload of {scenario.name}", at("workload"),
                                _close_hint(str(name), names, "workloads")))
        return None
    return name


def _metric_problems(scenario: Scenario, workload: str, metric: Any, at) -> list[Problem]:

    parser = scenario.workload(workload).parser
    if metric is None:
        checks = [c for c in scenario.checks if c.metric and c.workload == workload and c.kind == "performance"]
        if checks:
            return []
        return [Problem(f"triage needs a metric to score the sets by: workload {workload!r} has no performance check",
                        at(), f"set triage.metric: {workload}.<metric>, a performance metric of its parser"
                        + (f" {parser.name!r}" if parser else ""))]
    metric = str(metric)
    if "." not in metric or metric.split(".", 1)[0] != workload:
        return [Problem(f"triage.metric {metric!r} must be <workload>.<metric> of the triage workload {workload}", at("metric"),
                        f"for example {workload}.{_performance_names(parser)[0] if _performance_names(parser) else '<metric>'}")]
    name = metric.split(".", 1)[1]
    catalog = catalog_of(parser.name) if parser else None
    if parser is None:
        return [Problem(f"triage.metric {metric!r}: workload {workload!r} has no parser, so it yields no metrics", at("metric"),
                        "give the workload a parser (see `scenario parse --list`)")]
    if catalog is None:
        return []  # an unknown parser: the workload's own problem, reported there
    declared = catalog.metrics_for(thaw(parser.options))
    spec = declared.get(name)
    performance = _performance_names(parser)
    if spec is None:
        return [Problem(f"triage.metric: parser {parser.name!r} of workload {workload!r} yields no metric {name!r}", at("metric"),
                        unknown_metric_hint(name, performance or declared))]
    if spec.kind != "performance" or not spec.better:
        what = f"a {spec.kind} metric" if spec.kind != "performance" else "a metric with no better direction"
        return [Problem(f"triage.metric {metric!r} is {what}: sets are scored by a performance metric, higher or lower "
                        "being better", at("metric"), f"performance metrics of {parser.name}: {', '.join(performance) or 'none'}")]
    return []




def _performance_names(parser) -> list[str]:
    catalog = catalog_of(parser.name) if parser else None
    if catalog is None:
        return []
    return sorted(n for n, m in catalog.metrics_for(thaw(parser.options)).items() if m.kind == "performance" and m.better)


def _checked_fleet(scenario: Scenario, block: Mapping[str, Any], at, problems: list[Problem]) -> tuple[str, ...] | None:
    """The fleet the block names (None: discovered at run time, or not readable: then reported)."""

    if block.get("nodes") is None:
        return None
    try:
        value = block["nodes"]
        if isinstance(value, str):
            value = _rendered(scenario, value, at("nodes"))
        if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
            raise ScenarioError(Problem(f"triage.nodes: expected node names or a count, found {value!r}", at("nodes"),
                                        "a list of node names, or a count N of emulated nodes (node-0 .. node-<N-1>)"))
        if isinstance(value, int):
            return emulated_names(scenario, value) if value > 0 else ()
        names = tuple(str(v) for v in value)
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ScenarioError(Problem(f"triage.nodes names {', '.join(twice)} more than once", at("nodes"), "each node once"))
        return names
    except ScenarioError as error:
        problems += error.problems
    except RunnerError as error:
        problems.append(Problem(f"triage.nodes: {error.message}", at("nodes"), error.hint))
    except Exception as error:  # noqa: BLE001 - the rendered text is not YAML
        problems.append(Problem(f"triage.nodes: not readable once rendered ({error})", at("nodes"),
                                "a list of node names, or a count N of emulated nodes"))
    return None


def _fleet_text(fleet: Sequence[str]) -> str:
    return ", ".join(fleet) if len(fleet) <= 6 else f"{fleet[0]} .. {fleet[-1]}, {len(fleet)} nodes"


def _close_hint(name: str, known: Sequence[str], what: str) -> str:

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return (f"did you mean {close[0]!r}? " if close else "") + f"{what}: {_fleet_text(list(known)) or 'none'}"

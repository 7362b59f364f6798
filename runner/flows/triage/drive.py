"""Running a triage: rounds of node sets through the normal pipeline, scored after every round.

Every set is one ordinary run (validate -> execute -> judge, its own run record, linked to the triage
by `parent`), pinned to its nodes by --set overrides. A round's sets run at the same time, at most
`concurrency` at once; after a round the sets are judged again against the fleet median, the strategy
picks the next round, and (on Kubernetes) one list per kind checks that the round left nothing behind.
The triage record results/<scenario>/<triage-id>.triage/ (triage.json, summary.md, report.html) is
rewritten after every round, so a triage stopped half-way still says what it found.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from runner.base.errors import (
    EXIT_FAIL,
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_PASS,
    RunnerError,
    ScenarioError,
)
from runner.execute.kubernetes.client import SHARED, SharedCluster
from runner.execute.kubernetes.operations import cordon_nodes, discover_nodes
from runner.execute.kubernetes.operations import left_behind as kubernetes_left_behind
from runner.execute.local.nodes import left_behind as local_left_behind
from runner.execute.progress import QuietProgress
from runner.flows.check import for_executor, validate_scenario
from runner.flows.run import run_scenario
from runner.flows.triage.report import write_triage_record
from runner.flows.triage.scoring import (
    Findings,
    SetResult,
    find_suspects,
    judge_sets,
    outcomes,
)
from runner.flows.triage.settings import (
    TriageSettings,
    emulated_names,
    link_names,
    local_nodes_block,
    set_overrides,
    settings_for,
)
from runner.flows.triage.strategies import NodeSet, max_rounds, plan_next
from runner.records.history import TRIAGE_SUFFIX
from runner.records.record import default_results_dir, new_run_id
from runner.scenario.model import Scenario
from runner.scenario.resolve import Library
from runner.verdict.judge import CheckStatus

INSTANCE_LABEL = "node.kubernetes.io/instance-type"
SET_REPORTS = ("junit", "markdown")   # each set's record: no report.html (plots cost more than the set's whole run)


@dataclass(frozen=True)
class RoundStats:
    number: int
    sets: int
    wall_s: float
    left_behind: tuple[str, ...] = ()


@dataclass(frozen=True)
class TriageResult:
    triage_id: str
    scenario: str
    record: Path
    settings: TriageSettings
    fleet: tuple[str, ...]
    left_out: Mapping[str, str]
    results: tuple[SetResult, ...]
    findings: Findings
    rounds: tuple[RoundStats, ...]
    state: str = "complete"              # running | complete | interrupted
    cordoned: tuple[str, ...] = ()
    context: str = ""                    # kubeconfig context, for the cordon commands
    started: float = 0.0
    ended: float = 0.0

    @property
    def suspects(self) -> list[str]:
        return self.findings.suspect_names

    @property
    def exit_code(self) -> int:
        if self.state == "interrupted":
            return EXIT_INTERRUPTED
        if any(r.left_behind for r in self.rounds):
            return EXIT_INFRA
        if self.results and all(r.status not in (CheckStatus.PASS, CheckStatus.FAIL) for r in self.results):
            return EXIT_INFRA
        return EXIT_FAIL if self.findings.suspects or self.findings.unexplained else EXIT_PASS

    def cordon_commands(self) -> list[str]:
        if self.settings.executor != "kubernetes":
            return []  # emulated nodes: nothing to cordon
        context = f" --context {self.context}" if self.context else ""
        return [f"kubectl{context} cordon {node}" for node in self.suspects]


@dataclass(frozen=True)
class Fleet:
    nodes: tuple[str, ...]
    left_out: Mapping[str, str] = field(default_factory=dict)


def resolve_fleet(scenario: Scenario, settings: TriageSettings, options: Mapping[str, Any], discover: Callable | None = None) -> Fleet:
    """The explicit node list, else (Kubernetes) the nodes the selector finds, minus cordoned and NotReady ones."""
    if settings.nodes:
        return Fleet(tuple(n for n in settings.nodes if n != settings.reference))
    if settings.executor == "local":
        block = local_nodes_block(scenario)
        if block.get("names") or block.get("count"):  # the emulated nodes the scenario asks for (--set local.nodes.count=4)
            names = block.get("names") or ()
            return Fleet(tuple(n for n in emulated_names(scenario, int(block.get("count") or len(names))) if n != settings.reference))
        raise ScenarioError("triage on the local executor needs its fleet: triage.nodes (a count of emulated nodes or "
                            "their names), local.nodes.count (e.g. --set local.nodes.count=4), or --nodes node-0,node-1,...")
    selector = settings.selector or f"{INSTANCE_LABEL}={scenario.platform.instance_type}"
    found = (discover or discover_nodes)(options, selector)
    found = Fleet(tuple(n for n in found.nodes if n != settings.reference), found.left_out)
    if len(found.nodes) < settings.set_size:
        raise RunnerError(f"triage needs at least {settings.set_size} usable nodes; the selector {selector} found "
                          f"{len(found.nodes)}" + (f" (left out: {', '.join(f'{n} {w}' for n, w in found.left_out.items())})"
                                                  if found.left_out else ""),
                          hint="check the label selector (triage.selector / --node-selector) or pass --nodes")
    return Fleet(found.nodes, found.left_out)


def run_triage(name: str, library: Library | None = None, overrides: Sequence[str] = (), *, executor_name: str | None = None,
               cli: Mapping[str, Any] | None = None, run_fn: Callable[..., Any] | None = None, results_dir: Path | None = None,
               options: Mapping[str, Any] | None = None, timeout_s: float | None = None, stop=None,
               announce: Callable[[str], None] | None = None, discover: Callable | None = None,
               left_behind: Callable | None = None, cordon: bool = False) -> TriageResult:
    """Triage the scenario's fleet; run_fn is runner.flows.run.run_scenario or a stand-in with its signature."""

    run_fn = run_fn or run_scenario
    library = library or Library()
    options = dict(options or {})
    base = validate_scenario(name, library, overrides)
    executor = executor_name or base.default_executor
    settings = settings_for(for_executor(base, executor, library), executor, cli)  # ranks as the executor runs them
    shared = _share_cluster(options) if executor == "kubernetes" and not options.get("dry_run") else None
    try:
        return _run_triage(name, library, overrides, base, executor, settings, run_fn, results_dir, options, timeout_s, stop,
                           announce, discover, left_behind, cordon)
    finally:
        if shared is not None:

            shared.close()
            options.pop(SHARED, None)  # the caller's options do not keep a closed connection


def _share_cluster(options: dict):
    """One client for the whole triage (runner.execute.kubernetes.client.SharedCluster), unless the caller brought one."""

    if options.get(SHARED) is None:
        options[SHARED] = SharedCluster(options)
        return options[SHARED]
    return None


def _run_triage(name, library, overrides, base, executor, settings, run_fn, results_dir, options, timeout_s, stop, announce,
                discover, left_behind, cordon) -> TriageResult:
    fleet = resolve_fleet(base, settings, options, discover)
    # what a round may leave: Kubernetes objects; locally the round's namespaces, veths, hosts files, markers and processes
    left_behind = left_behind or (kubernetes_left_behind if executor == "kubernetes" else local_left_behind)
    scenarios = _set_scenarios(name, library, overrides, base, settings)
    scenarios(tuple(fleet.nodes[:settings.set_size]))  # a placement that cannot validate fails before anything runs
    announce = announce or _stderr_line
    results_dir = Path(results_dir or default_results_dir())
    triage_id = new_run_id()
    folder = results_dir / base.name / f"{triage_id}{TRIAGE_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=False)
    namespace = options.get("namespace") or base.platform.namespace
    state = _State(triage_id, base.name, folder, settings, fleet, str(options.get("context") or ""), time.time())
    announce(f"{base.name}: triage {triage_id}, {settings.strategy} over {len(fleet.nodes)} nodes"
             + (f" (left out: {', '.join(f'{n} {w}' for n, w in fleet.left_out.items())})" if fleet.left_out else ""))
    unused = [n for n in link_names(base) if n not in fleet.nodes and n != settings.reference]
    if unused:  # a parameter's "none" (node--1), or a node the fleet does not have: said, not guessed at
        many = len(unused) > 1
        announce(f"triage.links: {', '.join(unused)} {'are' if many else 'is'} not in the fleet: no link set for {'them' if many else 'it'}")

    def run_set(round_number: int, nodes: NodeSet) -> SetResult:
        result = run_set_once(round_number, nodes)
        # Cluster hiccups are retried once, not scored, and the record says so; a local set is not retried:
        # its ERROR is the runner's own problem (emulated nodes, mpirun), and a retry would hide it.
        if result.status == CheckStatus.ERROR and settings.executor != "local" and not (stop and stop()):
            first, why = result, result.message or ", ".join(result.failed_checks)
            announce(f"round {round_number}: {nodes_label(nodes)} ERROR ({why}); once more")
            result = run_set_once(round_number, nodes)
            result = replace(result, message=f"second try; the first (run {first.run_id or '-'}) was ERROR: {why}"
                             + (f"; {result.message}" if result.message else ""))
        return result

    def run_set_once(round_number: int, nodes: NodeSet) -> SetResult:
        sets, scenario = scenarios(nodes)
        try:
            run = run_fn(scenario, executor_name=executor, results_dir=results_dir, timeout_s=timeout_s, progress=QuietProgress(),
                         options=options, overrides=list(overrides) + sets, parent=triage_id,
                         variant={"triage.round": round_number, "triage.nodes": list(nodes)}, stop=stop,
                         record_reports=SET_REPORTS, library=library)
        except RunnerError as error:
            return SetResult(round_number, nodes, CheckStatus.ERROR, message=str(error).splitlines()[0] if str(error) else type(error).__name__)
        return set_result(round_number, nodes, run, settings)

    try:
        limit = max_rounds(settings.strategy, len(fleet.nodes))
        while len(state.rounds) < limit and not (stop and stop()):
            sets = plan_next(settings.strategy, fleet.nodes, state.history(), settings.set_size)
            if not sets:
                break
            number = len(state.rounds) + 1
            announce(f"round {number}: {len(sets)} set{'s' if len(sets) != 1 else ''} of {len(sets[0])} node{'s' if len(sets[0]) != 1 else ''}")
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=min(settings.concurrency or len(sets), len(sets))) as pool:
                round_results = list(pool.map(lambda nodes: run_set(number, nodes), sets))
            wall = time.perf_counter() - started
            leftovers = tuple(left_behind(options, namespace, [r.run_id for r in round_results if r.run_id])) if left_behind else ()
            state.add_round(round_results, RoundStats(number, len(sets), wall, leftovers))
            announce(_round_line(state, number, leftovers))
            state.write(reports=False)
            if leftovers:
                break
        state.finish("interrupted" if stop and stop() else "complete")
    except BaseException:
        state.finish("interrupted")
        state.write(reports=True)
        raise
    if cordon and state.result().suspects:

        state.cordoned = tuple(cordon_nodes(options, state.result().suspects))
    state.write(reports=True)
    return state.result()


def _set_scenarios(name: str, library: Library, overrides: Sequence[str], base: Scenario, settings: TriageSettings):
    """nodes -> (the set's --set overrides, its validated scenario)."""

    def scenario_for(nodes: NodeSet) -> tuple[list[str], Scenario]:
        sets = set_overrides(base, settings, nodes)
        return sets, validate_scenario(name, library, list(overrides) + sets)

    return scenario_for


def set_result(round_number: int, nodes: NodeSet, run, settings: TriageSettings) -> SetResult:
    """The set's verdict, its triage metric, and the checks that did not pass."""
    entry = run.metrics.get(settings.workload)
    metric = entry.result.metrics.get(settings.metric_name) if entry and entry.result else None
    failed = tuple(r.name for r in run.verdict.results if r.status not in (CheckStatus.PASS, CheckStatus.SKIP))
    value = metric.value if metric is not None and isinstance(metric.value, (int, float)) else None
    message = "" if run.verdict.status == CheckStatus.PASS else (run.output.message or "")
    status = run.verdict.status
    off_nodes = _not_on_its_nodes(run, settings)
    if off_nodes:  # a measurement of loopback says nothing about the set's links
        status, message = CheckStatus.ERROR, off_nodes
    return SetResult(round_number, tuple(nodes), status, value, metric.unit if metric else "", failed,
                     run.run_id, str(run.record), message)


def _not_on_its_nodes(run, settings: TriageSettings) -> str:
    """Why a local set did not run on its emulated nodes (the run fell back to loopback), or ""."""
    if settings.executor != "local":
        return ""
    layer = (run.output.facts or {}).get("nodes") or {}
    if layer.get("mode", "nodes") == "nodes":
        return ""
    return "ran on loopback, not on its emulated nodes" + (f": {layer['notice']}" if layer.get("notice") else "")


def nodes_label(nodes: Sequence[str]) -> str:
    return "+".join(nodes) if len(nodes) <= 4 else f"{len(nodes)} nodes from {nodes[0]}"


def _round_line(state: "_State", number: int, leftovers: Sequence[str]) -> str:
    judged = [j for j in state.judged() if j.result.round == number]
    bad = [j for j in judged if j.bad]
    line = f"round {number}: {len(judged) - len(bad)} fine, {len(bad)} bad"
    if bad:
        shown = "; ".join(f"{nodes_label(j.nodes)} {j.why}"
                          for j in bad[:4])
        line += f" ({shown}{'; ...' if len(bad) > 4 else ''})"
    if leftovers:
        line += f"; LEFT BEHIND: {', '.join(leftovers[:5])}"
    return line


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class _State:
    """The triage so far; turned into a TriageResult and written after every round."""

    def __init__(self, triage_id, scenario, folder, settings, fleet, context, started):
        self.triage_id, self.scenario, self.folder, self.settings, self.fleet = triage_id, scenario, folder, settings, fleet
        self.context, self.started = context, started
        self.results: list[SetResult] = []
        self.rounds: list[RoundStats] = []
        self.state, self.ended, self.cordoned = "running", 0.0, ()

    def add_round(self, results: Sequence[SetResult], stats: RoundStats) -> None:
        self.results += results
        self.rounds.append(stats)

    def judged(self):
        return judge_sets(self.results, self.settings.better, self.settings.slow)

    def history(self):
        judged = self.judged()
        return [outcomes([j for j in judged if j.result.round == r.number]) for r in self.rounds]

    def finish(self, state: str) -> None:
        self.state, self.ended = state, time.time()

    def result(self) -> TriageResult:
        findings = find_suspects(self.judged(), self.fleet.nodes)
        return TriageResult(self.triage_id, self.scenario, self.folder, self.settings, self.fleet.nodes, self.fleet.left_out,
                            tuple(self.results), findings, tuple(self.rounds), self.state, tuple(self.cordoned), self.context,
                            self.started, self.ended or time.time())

    def write(self, reports: bool) -> None:

        write_triage_record(self.result(), reports)

"""A library scenario under both executors: real tools on emulated nodes, then the fake cluster replaying their output.

The local run executes the scenario's `local:` view with the real tools. The Kubernetes run applies
the scenario's own objects to tests/fakekube, whose pods print exactly what the local run's processes
printed. Both must pass through the same workload states in the same order, judge the same set of
checks, and give the same status for every check that both views define alike and the local run judged.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from test_contract import Recorder

from runner.execute.local import nodes
from runner.flows.check import for_executor, validate_scenario
from runner.flows.run import StopFlag, run_scenario
from runner.render.labels import LABEL_PREFIX, dns_name
from runner.scenario.resolve import Library
from tests.fakekube import GPU_TAINT, Behavior, FakeKube, Match, node

REPO = Path(__file__).resolve().parents[3]
REGISTRY = "registry=registry.example/efa-validation"
TIME_SCALE = 0.01
pytestmark = pytest.mark.skipif(nodes.unavailable_reason() != "", reason=f"emulated nodes unavailable: {nodes.unavailable_reason()}")



@dataclass(frozen=True)
class Case:
    overrides: tuple[str, ...] = ()   # --set of the local view that keeps the run short on a 2-core machine
    alike: int = 0                    # checks judged alike on both executors, at least


SCENARIOS = {
    # The local view reads a 4 MB sweep with its own parser options: no check is judged alike, states and order are.
    "nccl-allreduce": Case(("local.workloads.nccl-tests.ranks=2", "local.checks.ranks.value=2")),
    # Metadata server, target and initiator: readiness by port on both, and the log checks read the same bytes.
    "mooncake-efa-dram": Case(("local.parameters.duration=3",), alike=2),
}


def _run(scenario, executor: str, results: Path, options: dict):
    recorder = Recorder({w.name for w in scenario.workloads}, StopFlag(), "")
    result = run_scenario(scenario, executor_name=executor, results_dir=results, progress=recorder, options=options)
    return result, recorder.events


def _replay(kube: FakeKube, local_result) -> None:
    """Every workload's pods print what the workload printed locally (its primary log), then end as it ended."""
    kube.scripts.clear()
    for name, outcome in local_result.output.outcomes.items():
        text = outcome.logs[0].read_text() if outcome.logs else ""
        labels = {f"{LABEL_PREFIX}/workload": dns_name(name)}
        workload = next(w for w in local_result.scenario.workloads if w.name == name)
        if workload.is_service:
            kube.script(Match(labels=labels), Behavior.serves(log=text, log_every=0.0))
        else:
            role = "launcher" if workload.kind == "mpi" else None
            kube.script(Match(labels=labels, role=role), Behavior.succeeds(log=text, log_every=0.0, after=0.5 / TIME_SCALE))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_library_scenario_gives_the_same_states_and_checks_on_both_executors(name, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    scenario = validate_scenario(name, Library(REPO / "scenarios"), [REGISTRY, *SCENARIOS[name].overrides])
    local, local_events = _run(scenario, "local", tmp_path / "local", {})
    assert local.verdict.status == "PASS", local.verdict.summary

    gpu_nodes = [node(f"gpu-{i}", scenario.platform.instance_type, taints=[GPU_TAINT]) for i in range(2)]
    with FakeKube(nodes=gpu_nodes + [node("cpu-0", "m7i.4xlarge")], time_scale=TIME_SCALE) as kube:
        _replay(kube, local)
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        remote, remote_events = _run(scenario, "kubernetes", tmp_path / "kube",
                                     {"kubeconfig": str(kubeconfig), "fail_fast_s": 2.0, "keep": False, "dry_run": None})
        assert kube.objects(f"{LABEL_PREFIX}/run-id") == []

    assert local_events == remote_events and local_events
    local_checks = {r.name: r for r in local.verdict.results if r.kind != "infrastructure"}
    remote_checks = {r.name: r for r in remote.verdict.results if r.kind != "infrastructure"}
    assert set(local_checks) == set(remote_checks)
    alike = _judged_alike(scenario, local_checks)
    assert len(alike) >= SCENARIOS[name].alike
    assert {n: local_checks[n].status for n in alike} == {n: remote_checks[n].status for n in alike}


def _judged_alike(scenario, local_checks) -> list[str]:
    """Checks with the same definition and the same parser in both views, that the local run did not skip."""
    local = for_executor(scenario, "local")
    local_defs = {c.name: c for c in local.checks}

    def parser(view, check):
        return next((w.parser for w in view.workloads if w.name == check.workload), None)

    return [c.name for c in scenario.checks
            if local_defs.get(c.name) == c and parser(local, c) == parser(scenario, c) and local_checks[c.name].status != "SKIP"]

"""A library scenario under both executors: real tools on emulated nodes, then the real control plane replaying their
output.

The local run executes the scenario's `local:` view with the real tools. The Kubernetes run applies
the scenario's own objects to the local control plane (tests/control_plane.py: real kube-apiserver, controllers,
scheduler, MPI Operator; kwok nodes), whose pods print exactly what the local run's processes printed (the
rehearsal's pod annotations, runner.flows.rehearse). Both must pass through the same workload states in the same order, judge the same set of
checks, and give the same status for every check that both views define alike and the local run judged.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from test_contract import Recorder

from runner.execute.local import nodes
from runner.flows.check import for_executor, validate_scenario
from runner.flows.rehearse import run_rehearsed
from runner.flows.run import StopFlag, run_scenario
from runner.scenario.resolve import Library

REPO = Path(__file__).resolve().parents[3]
REGISTRY = "registry=registry.example/efa-validation"
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


@dataclass(frozen=True)
class Replay:
    """Every workload's pods print what the workload printed locally (its primary log); they end as it ended (0)."""

    logs: dict

    def workload_file(self, workload):
        return self.logs.get(workload.name)

    def pod_file(self, workload, index):
        return self.logs.get(workload.name)

    def role_file(self, role):
        return None

    def exit_code(self, file):
        return 0


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_library_scenario_gives_the_same_states_and_checks_on_both_executors(name, tmp_path, monkeypatch, control_plane):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    scenario = validate_scenario(name, Library(REPO / "scenarios"), [REGISTRY, *SCENARIOS[name].overrides])
    local, local_events = _run(scenario, "local", tmp_path / "local", {})
    assert local.verdict.status == "PASS", local.verdict.summary

    replay = Replay({n: o.logs[0] for n, o in local.output.outcomes.items() if o.logs})
    recorder = Recorder({w.name for w in scenario.workloads}, StopFlag(), "")
    remote, leftovers = run_rehearsed(scenario, replay, control_plane, results_dir=tmp_path / "kube", progress=recorder,
                                      options={"fail_fast_s": 2.0})
    remote_events = recorder.events
    assert leftovers == ()

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

"""Placement: pods on emulated nodes as the Kubernetes templates place them; the `local:` delta; $(VAR) expansion."""
from __future__ import annotations

import textwrap

import pytest

from runner.base.errors import ExecutionError
from runner.execute.local.emulated import expand_kube_vars
from runner.execute.local.placement import nodes_config, place
from runner.flows.check import for_executor, validate_scenario
from runner.scenario.resolve import Library, resolve_text
from runner.scenario.validate import validate_resolved


def scenario(body: str):
    text = "apiVersion: scenarios/v1\nkind: Scenario\nmetadata: {name: s, layer: fabric}\n" + textwrap.dedent(body)
    return validate_resolved(resolve_text(text, "<test>"))


MPI = """\
executors: [kubernetes, local]
platform: {instanceType: p5.48xlarge, namespace: efa-validation}
workloads:
  - name: nccl-tests
    kind: mpi
    nodes: 2
    ranks: 16
    command: [all_reduce_perf]
    parser: nccl-tests
checks:
  - {metric: nccl-tests.busbw_gbps_max, op: ">=", value: 1}
local:
  nodes: {}
"""
MPI_CHECKS = 'checks:\n  - {metric: nccl-tests.busbw_gbps_max, op: ">=", value: 1}\n'


def test_mpi_workers_one_node_each_ranks_by_slot_with_the_mpijob_names():
    s = scenario(MPI)
    placement = place(s, nodes_config(s))
    pods = placement.pods_of("nccl-tests")
    assert [(p.hostname, p.node, p.ranks) for p in pods] == [
        ("nccl-tests-worker-0", "node-0", tuple(range(8))), ("nccl-tests-worker-1", "node-1", tuple(range(8, 16)))]
    hosts = placement.hosts()
    assert hosts["nccl-tests-worker-1.nccl-tests.efa-validation.svc"] == "node-1"
    assert hosts["nccl-tests.efa-validation.svc"] == "node-0"  # the Service: its first pod
    assert all(p.exclusive for p in pods)  # all 32 EFA interfaces of a p5: whole-node pods


def test_whole_node_pods_pinned_together_break_the_templates_anti_affinity():
    s = scenario(MPI.replace("nodes: {}", "nodes: {placement: {nccl-tests: [node-0, node-0]}}"))
    with pytest.raises(ExecutionError, match="both take a whole node.*node-0"):
        place(s, nodes_config(s))


def test_count_names_pins_and_links_as_triage_sets_them():
    s = scenario(MPI.replace("nodes: {}", """nodes:
    count: 4
    link: {rateMbit: 1000}
    links: {node-3: {rateMbit: 100, downAfter: 2s}}
    placement: {nccl-tests: [node-2, node-3]}"""))
    placement = place(s, nodes_config(s))
    assert list(placement.nodes) == ["node-0", "node-1", "node-2", "node-3"]
    assert [p.node for p in placement.pods_of("nccl-tests")] == ["node-2", "node-3"]
    assert placement.nodes["node-0"].rate_mbit == 1000
    assert placement.nodes["node-3"].rate_mbit == 100 and placement.nodes["node-3"].down_after_s == 2
    assert placement.workloads_on("node-3") == ["nccl-tests"] and placement.workloads_on("node-0") == []


def test_unknown_nodes_and_workloads_are_named():
    s = scenario(MPI.replace("nodes: {}", "nodes: {links: {node-9: {down: true}}}"))
    with pytest.raises(ExecutionError, match="node-9"):
        place(s, nodes_config(s))
    s = scenario(MPI.replace("nodes: {}", "nodes: {placement: {nope: node-0}}"))
    with pytest.raises(ExecutionError, match="'nope'"):
        place(s, nodes_config(s))


def test_services_and_jobs_get_a_node_each_and_their_service_names():
    s = validate_scenario("mooncake-efa-dram", Library())
    local = for_executor(s, "local")
    placement = place(local, nodes_config(local))
    assert [(p.workload, p.node) for p in placement.pods] == [("metadata", "node-0"), ("target", "node-1"), ("initiator", "node-2")]
    assert placement.namespace == "scenario-runner"  # platform.namespace, as the templates
    assert placement.hosts()["target.scenario-runner.svc"] == "node-1"


def test_no_nodes_block_means_loopback():
    assert nodes_config(scenario(MPI.replace("local:\n  nodes: {}\n", ""))) is None
    assert nodes_config(scenario(MPI.replace("nodes: {}", "nodes: {mode: loopback}"))).mode == "loopback"


def test_the_local_delta_merges_then_set_still_wins():
    body = MPI.replace(MPI_CHECKS, "").replace("[all_reduce_perf]", '[all_reduce_perf, -e, "{{ params.size }}"]') + """  parameters: {size: 1M}
  checks:
    - {name: busbw, skip: "no EFA here"}
parameters: {size: 8G}
checks:
  - {name: busbw, metric: nccl-tests.busbw_gbps_max, op: ">=", value: 320}
"""
    s = scenario(body)
    assert for_executor(s, "kubernetes") is s
    local = for_executor(s, "local")
    assert local.parameters["size"] == "1M"
    assert local.checks[0].skip == "no EFA here" and local.checks[0].value == 320
    s = validate_resolved(resolve_text("apiVersion: scenarios/v1\nkind: Scenario\nmetadata: {name: s, layer: fabric}\n"
                                       + textwrap.dedent(body), "<test>"))
    assert for_executor(s, "local", overrides=["parameters.size=2M"]).parameters["size"] == "2M"


def test_kubernetes_expansion_of_command_arguments():
    env = {"POD_IP": "198.18.0.11"}
    assert expand_kube_vars("--local_server_name=$(POD_IP):12345", env) == "--local_server_name=198.18.0.11:12345"
    assert expand_kube_vars('x="$(getent hosts t | awk)"', env) == 'x="$(getent hosts t | awk)"'  # not a variable name
    assert expand_kube_vars("$(UNSET) $$(POD_IP)", env) == "$(UNSET) $(POD_IP)"

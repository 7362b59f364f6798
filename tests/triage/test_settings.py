"""Triage settings and the placement of one set, on library scenarios and small scenarios of the test's own."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runner.base.errors import ScenarioError
from runner.flows.check import validate_scenario
from runner.flows.triage.settings import has_triage, set_overrides, settings_for
from runner.scenario.resolve import Library

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "registry=registry.example/efa-validation"

LOCAL = """\
apiVersion: scenarios/v1
kind: Scenario
metadata: {name: fleet-local, layer: fabric, description: two ranks across two nodes}
executors: [local]
parameters: {nodes: 4, degraded: 2}
triage: {strategy: all-pairs, nodes: "{{ params.nodes }}", links: {"node-{{ params.degraded }}": {rateMbit: 100}}}
workloads:
  - name: probe
    kind: mpi
    nodes: 2
    ranks: 2
    command: [python, -c, "print(1)"]
    parser: nccl-tests
checks:
  - {metric: probe.busbw_gbps_max, op: ">", value: 0}
  - {metric: probe.ranks, op: "==", value: 2, kind: correctness}
"""


def library(tmp_path: Path, text: str = LOCAL) -> Library:
    (tmp_path / "fleet-local.yaml").write_text(textwrap.dedent(text))
    return Library(tmp_path)


def test_defaults_from_the_library_scenario():
    scenario = validate_scenario("nccl-allreduce", Library(REPO / "scenarios"), [REGISTRY])
    assert not has_triage(scenario)
    settings = settings_for(scenario, "kubernetes", {"strategy": "adaptive-pairs"})
    assert (settings.workload, settings.metric, settings.better) == ("nccl-tests", "nccl-tests.busbw_gbps_min_at_or_above", "higher")
    assert (settings.set_size, settings.base_nodes, settings.base_ranks) == (2, 2, 16)


def test_a_pair_on_kubernetes_is_pinned_by_platform_nodes_and_sized_as_the_scenario():
    library = Library(REPO / "scenarios")
    scenario = validate_scenario("nccl-allreduce", library, [REGISTRY])
    settings = settings_for(scenario, "kubernetes", {"strategy": "all-pairs"})
    sets = set_overrides(scenario, settings, ("gpu-3", "gpu-9"))
    assert sets == ['platform.nodes=["gpu-3", "gpu-9"]']
    placed = validate_scenario("nccl-allreduce", library, [REGISTRY, *sets])
    assert placed.platform.nodes == ("gpu-3", "gpu-9")


def test_a_bisection_half_scales_nodes_ranks_and_the_ranks_check():
    library = Library(REPO / "scenarios")
    scenario = validate_scenario("nccl-allreduce", library, [REGISTRY])
    settings = settings_for(scenario, "kubernetes", {"strategy": "bisection"})
    nodes = tuple(f"gpu-{i}" for i in range(8))
    placed = validate_scenario("nccl-allreduce", library, [REGISTRY, *set_overrides(scenario, settings, nodes)])
    workload = placed.workload("nccl-tests")
    assert (workload.nodes, workload.ranks) == (8, 64)
    assert next(c for c in placed.checks if c.name == "ranks").value == 64


def test_local_sets_create_only_their_nodes_with_their_links(tmp_path):
    text = LOCAL + textwrap.dedent("""\
        local:
          nodes:
            link: {rateMbit: 400}
            links: {node-0: {rateMbit: 300}}
        """)
    lib = library(tmp_path, text)
    try:
        scenario = validate_scenario("fleet-local", lib)
    except ScenarioError as error:  # the emulated nodes' `local:` block is not in this build's schema yet
        pytest.skip(f"no local.nodes in the schema: {error}")
    settings = settings_for(scenario, "local")
    assert settings.nodes == ("node-0", "node-1", "node-2", "node-3")
    sets = set_overrides(scenario, settings, ("node-1", "node-2"))
    block = json.loads(sets[0].split("=", 1)[1])
    assert block == {"link": {"rateMbit": 400}, "names": ["node-1", "node-2"], "count": 2,
                     "links": {"node-2": {"rateMbit": 100}}, "placement": {"probe": ["node-1", "node-2"]}}
    assert json.loads(set_overrides(scenario, settings, ("node-0", "node-3"))[0].split("=", 1)[1])["links"] == {
        "node-0": {"rateMbit": 300}}


def test_fleet_count_from_a_parameter_and_per_node_reference(tmp_path):
    lib = library(tmp_path)
    scenario = validate_scenario("fleet-local", lib, ["parameters.nodes=3"])
    settings = settings_for(scenario, "local", {"strategy": "per-node"})
    assert settings.nodes == ("node-0", "node-1", "node-2") and settings.set_size == 1
    settings = settings_for(scenario, "local", {"strategy": "per-node", "reference": "ref"})
    assert settings.concurrency == 1
    overrides = set_overrides(scenario, settings, ("node-1",))
    assert any('"names": ["node-1", "ref"]' in o for o in overrides)
    assert not any(o.startswith("workloads.") for o in overrides)  # two nodes as the workload declares


@pytest.mark.parametrize("cli, message", [
    ({"strategy": "halving"}, "unknown triage strategy 'halving'"),
    ({"workload": "nope"}, "triage.workload 'nope' is not a workload of fleet-local"),
    ({"metric": "other.busbw"}, "must be <workload>.<metric> of the triage workload probe"),
])
def test_bad_settings_are_scenario_errors(tmp_path, cli, message):
    scenario = validate_scenario("fleet-local", library(tmp_path))
    with pytest.raises(ScenarioError, match=message):
        settings_for(scenario, "local", cli)


def test_validate_checks_the_triage_block_of_the_library_and_names_rendered_links(tmp_path):
    """The rehearsal's links key is a parameter: `degraded: -1` (none) renders a name outside the fleet, which validates
    (the triage says so when it starts); a literal name outside the fleet does not (tests/broken/triage-links-*)."""
    from runner.flows.triage.settings import link_names, triage_problems

    for degraded in ("-1", "3"):
        scenario = validate_scenario("triage-loopback", Library(REPO / "scenarios"), [f"parameters.degraded={degraded}"])
        assert triage_problems(scenario) == []
        assert link_names(scenario) == [f"node-{degraded}"]
    # a set of the triage (here per-node: node-1 beside the reference) keeps the block but is sized and named as the
    # set: its fleet is not checked again
    base = validate_scenario("triage-loopback", Library(REPO / "scenarios"), ["parameters.degraded=1"])
    for strategy, nodes in (("per-node", ("node-1",)), ("bisection", ("node-0", "node-1", "node-2"))):
        sets = set_overrides(base, settings_for(base, "local", {"strategy": strategy}), nodes)
        assert triage_problems(validate_scenario("triage-loopback", Library(REPO / "scenarios"), ["parameters.degraded=1", *sets])) == []
    with pytest.raises(ScenarioError, match=r"triage.links names node 'node-7', which is not in the fleet \(node-0, node-1"):
        validate_scenario("fleet-local", library(tmp_path, LOCAL.replace('"node-{{ params.degraded }}"', "node-7")))
    with pytest.raises(ScenarioError, match="a fleet of 1 node cannot be triaged"):
        validate_scenario("fleet-local", library(tmp_path, LOCAL), ["parameters.nodes=1"])


def test_the_readme_triage_example_has_its_fleet():
    """The README's local triage example gives the fleet as `--set local.nodes.count=4`, no --nodes: that is the fleet."""
    import shlex

    from runner.flows.triage.drive import resolve_fleet

    line = next(line for line in (REPO / "README.md").read_text().splitlines() if "--triage" in line and "local.nodes.count" in line)
    argv = shlex.split(line)
    overrides = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"]
    scenario = validate_scenario(argv[2], Library(REPO / "scenarios"), overrides)
    settings = settings_for(scenario, argv[argv.index("--executor") + 1], {"strategy": argv[argv.index("--triage") + 1]})
    assert resolve_fleet(scenario, settings, {}).nodes == ("node-0", "node-1", "node-2", "node-3")
    assert set_overrides(scenario, settings, ("node-1", "node-2"))  # a set of the fleet places on its nodes

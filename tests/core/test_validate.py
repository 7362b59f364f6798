from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner.base.errors import ScenarioError
from runner.flows.check import for_executor
from runner.scenario.resolve import Library, resolve_text
from runner.scenario.schemas import schema
from runner.scenario.validate import (
    KNOWN_VERSIONS,
    validate_resolved,
    validate_scenario,
)

from .conftest import JOB, SCENARIOS, scenario_text

LIBRARY_FILES = sorted(SCENARIOS.rglob("*.yaml"))


def problems(text: str, file: str = "demo.yaml") -> list:
    with pytest.raises(ScenarioError) as caught:
        validate_resolved(resolve_text(text, file, Library(Path(file).parent)), None)
    return caught.value.problems


def valid(text: str, file: str = "demo.yaml"):
    return validate_resolved(resolve_text(text, file, Library(Path(file).parent)), None)


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[p.stem for p in LIBRARY_FILES])
def test_every_library_scenario_validates(path):
    scenario = validate_scenario(path.stem, Library(SCENARIOS))
    assert scenario.name == path.stem


def test_schema_is_closed_and_versioned():
    document = schema()
    assert document["additionalProperties"] is False
    assert document["properties"]["apiVersion"]["enum"] == list(KNOWN_VERSIONS)
    for name, definition in document["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_all_schema_errors_of_a_file_are_reported_in_file_order():
    found = problems(scenario_text("demo", """\
platform:
  gpusPerNod: 8
workloads:
  - name: bench
    comand: [echo, hi]
    ranks: two
    timeout: soon
checks:
  - {metric: bench.x, op: "=>", value: 1}
"""))
    assert [(p.location.line, p.location.path) for p in found] == [
        (7, "$.platform.gpusPerNod"), (10, "$.workloads[0].comand"), (11, "$.workloads[0].ranks"),
        (12, "$.workloads[0].timeout"), (14, "$.checks[0].op")]
    assert [p.hint for p in found][:2] == ["did you mean 'gpusPerNode'?", "did you mean 'command'?"]
    assert "durations look like" in found[3].hint


def test_problem_text_names_file_line_column_path_value_and_hint():
    [problem] = problems(scenario_text("demo", JOB.replace("kind: job", "kind: jbo")))
    assert str(problem) == ("demo.yaml:8:11  $.workloads[0].kind: 'jbo' is not one of service, job, mpi, group, disaggregated\n"
                            "    hint: did you mean 'job'?")


@pytest.mark.parametrize("version, found", [("scenarios/v2", "found 'scenarios/v2'"), (None, "it is missing")])
def test_unknown_or_missing_version_names_the_known_ones(version, found):
    text = scenario_text("demo", JOB).replace("apiVersion: scenarios/v1\n", f"apiVersion: {version}\n" if version else "")
    [problem] = problems(text)
    assert found in problem.message
    assert "this build knows scenarios/v1" in problem.hint


def test_unknown_key_without_close_match_lists_the_allowed_keys():
    [problem] = problems(scenario_text("demo", "platform:\n  zzz: 1\n"))
    assert problem.hint.startswith("allowed keys here: arch, efaPerNode, gpusPerNode")


@pytest.mark.parametrize("body, message", [
    ("workloads:\n  - name: w\n    command: {a: b}\n", "expected list or string, found mapping"),
    ("timeouts: {run: -1}\n", "-1 must be greater than 0"),
    ("timeouts: {run: 5 minutes}\n", "'5 minutes' does not have the expected form"),
    ("env: {1BAD: x}\n", "'1BAD' is not a valid name here"),
    ("workloads:\n  - command: [echo]\n", "missing required key 'name'"),
    ("metadata: {name: x}\n", "duplicate key 'metadata'"),
    ("parameters: {when: 2024-01-01}\n" + JOB + "checks:\n  - {log: bench, contains: '{{ params.when }}'}\n", None),
])
def test_messages(body, message):
    if message is None:
        assert valid(scenario_text("demo", body)).parameters["when"] == "2024-01-01"
        return
    try:
        found = problems(scenario_text("demo", body))
    except ScenarioError as error:  # raised by load, before validate
        found = error.problems
    assert any(message in p.message for p in found), found


def test_lint_and_command_problems_are_reported_together_sorted_by_line():
    found = problems(scenario_text("demo", """\
env:
  FI_PROVIDER: efaa
workloads:
  - name: bench
    command: [echo, "{{ params.nope }}"]
    after: [ghost]
checks:
  - {log: bench, contains: hi}
"""))
    assert [(p.location.line, p.code) for p in found] == [(7, "env-fi-provider"), (10, ""), (11, "unknown-workload")]


def test_file_name_must_match_metadata_name(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(scenario_text("demo", JOB))
    with pytest.raises(ScenarioError, match="does not match the file name 'other'"):
        validate_scenario(str(path), Library(tmp_path))


def test_build_gives_an_immutable_scenario_with_defaults():
    scenario = valid(scenario_text("demo", """\
platform: {instanceType: p5.48xlarge}
env: {NCCL_IB_DISABLE: 1, FLAG: true}
workloads:
  - name: all-reduce
    kind: mpi
    nodes: 2
    command: [all_reduce_perf]
    parser: nccl-tests
    timeout: 20m
checks:
  - {metric: all-reduce.busbw_gbps_max, op: ">=", value: 320}
  - {log: all-reduce, contains: "Selected provider is efa"}
""", executor="kubernetes"))
    workload = scenario.workloads[0]
    assert (workload.ranks, workload.node, workload.timeout_s, workload.parser.name) == (16, "gpu", 1200.0, "nccl-tests")
    assert (scenario.platform.gpus_per_node, scenario.platform.efa_per_node) == (8, 32)
    assert dict(scenario.env) == {"NCCL_IB_DISABLE": "1", "FLAG": "1"}
    assert [c.kind for c in scenario.checks] == ["performance", "correctness"]
    assert scenario.checks[0].workload == "all-reduce" and scenario.checks[0].metric_name == "busbw_gbps_max"
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        scenario.data["metadata"]["name"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        scenario.env["X"] = "1"  # type: ignore[index]


def test_executor_overrides_apply_per_executor():
    scenario = valid(scenario_text("demo", """\
workloads:
  - name: bench
    command: [bench, --gpu]
    env: {A: "1"}
    local:
      command: [bench, --cpu]
      env: {B: "2"}
checks:
  - {log: bench, contains: done}
"""))
    local = for_executor(scenario, "local").workloads[0]
    assert local.command == ("bench", "--cpu") and dict(local.env) == {"A": "1", "B": "2"}
    assert for_executor(scenario, "kubernetes").workloads[0].command == ("bench", "--gpu")


def test_a_workload_block_and_the_local_block_are_one_overlay():
    """Both say what an executor changes; the workload's own block wins, --set wins over both, and the view the
    executor gets carries no executor blocks any more."""
    scenario = valid(scenario_text("demo", """\
parameters: {size: 8G}
workloads:
  - name: bench
    command: [bench, "{{ params.size }}"]
    local:
      command: [bench, --cpu, "{{ params.size }}"]
checks:
  - {log: bench, contains: done}
local:
  parameters: {size: 1M}
  workloads:
    - {name: bench, env: {FROM_LOCAL_BLOCK: "1"}}
"""))
    view = for_executor(scenario, "local", overrides=["parameters.size=2M"])
    bench = view.workloads[0]
    assert bench.command == ("bench", "--cpu", "{{ params.size }}") and view.parameters["size"] == "2M"
    assert dict(bench.env) == {"FROM_LOCAL_BLOCK": "1"} and not bench.overrides
    assert "local" not in view.data["workloads"][0]


def test_a_problem_in_a_workload_block_points_at_the_block():
    text = scenario_text("demo", """\
workloads:
  - name: bench
    command: [bench]
    local:
      command: [bench, "{{ params.missing }}"]
checks:
  - {log: bench, contains: done}
""")
    with pytest.raises(ScenarioError) as caught:
        valid(text)
    (problem,) = caught.value.problems
    assert problem.location.line == text.splitlines().index('      command: [bench, "{{ params.missing }}"]') + 1

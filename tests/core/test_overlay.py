"""The `local:` overlay is validated against the user's library, not the default one."""
from __future__ import annotations

import pytest

from runner.base.errors import ScenarioError
from runner.flows.check import for_executor, validate_scenario
from runner.scenario.resolve import Library

BASE = """\
apiVersion: scenarios/v1
kind: Scenario
metadata: {name: tuned, layer: kv-transfer}
executors: [kubernetes]
platform: {instanceType: p5.48xlarge}
parameters: {threads: 8}
workloads:
  - {name: bench, kind: job, image: busybox:1.36, command: [sleep, "{{ params.threads }}"], parser: mooncake-bench}
checks:
  - {metric: bench.throughput_gbps, op: ">=", baseline: {scenario: reference-only-here, factor: 0.9}}
local:
  parameters: {threads: 2}
"""
REFERENCE = BASE.replace("name: tuned", "name: reference-only-here").replace(
    '  - {metric: bench.throughput_gbps, op: ">=", baseline: {scenario: reference-only-here, factor: 0.9}}\n',
    '  - {metric: bench.throughput_gbps, op: ">=", value: 1}\n')


@pytest.fixture
def library(tmp_path):
    (tmp_path / "tuned.yaml").write_text(BASE)
    (tmp_path / "reference-only-here.yaml").write_text(REFERENCE)
    return Library(tmp_path)


def test_the_local_view_is_validated_against_the_users_library(library):
    scenario = validate_scenario("tuned", library)
    assert for_executor(scenario, "local", library).parameters["threads"] == 2


def test_a_baseline_missing_from_the_library_is_still_refused(library, tmp_path):
    (tmp_path / "reference-only-here.yaml").unlink()
    with pytest.raises(ScenarioError, match="baseline scenario 'reference-only-here' does not exist"):
        validate_scenario("tuned", Library(tmp_path))

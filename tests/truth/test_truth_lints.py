"""Lints and run-time refusals that came out of checking the library against the pinned tools."""
from __future__ import annotations

import pytest

from runner.base.errors import ScenarioError
from runner.cli.main import main
from runner.flows.check import validate_scenario
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library


def test_registry_placeholder_refused_at_run_time_on_kubernetes(tmp_path):
    scenario = validate_scenario("nccl-allreduce", Library())
    with pytest.raises(ScenarioError) as caught:
        run_scenario(scenario, executor_name="kubernetes", results_dir=tmp_path)
    assert "--set registry=" in caught.value.problems[0].hint and "<registry>" in str(caught.value)
    assert not list(tmp_path.iterdir()), "refused before a record or an object was made"


def test_registry_placeholder_still_renders(capsys):
    assert main(["render", "nccl-allreduce"]) == 0
    assert "<registry>/nccl-tests:" in capsys.readouterr().out


def test_image_without_the_gpus_architecture_is_invalid():
    with pytest.raises(ScenarioError) as caught:
        validate_scenario("uccl-ep-low-latency", Library(), ["platform.instanceType=p6-b200.48xlarge", "platform.efaPerNode=8"])
    codes = {p.code for p in caught.value.problems}
    assert "image-cuda-arch" in codes, str(caught.value)
    assert "sm_100" in str(caught.value) and "UCCL_TORCH_CUDA_ARCH_LIST" in str(caught.value)
    validate_scenario("nccl-allreduce-p6-b200", Library())  # nccl-tests is built for sm_90 and sm_100

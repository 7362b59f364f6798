"""The scenario library: every file validates, the four layers are there under their exact names,
variants are overlays (extends), and docs/scenarios.md is up to date."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.flows.check import validate_scenario
from runner.flows.docs import generate
from runner.scenario.resolve import Library

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Library(REPO_ROOT / "scenarios")
EXPECTED = {
    "fabric": {"nccl-allreduce", "nccl-alltoall", "nccl-allreduce-intranode", "nccl-allreduce-p5en", "nccl-allreduce-p6-b200"},
    "expert-parallel": {"uccl-ep-low-latency"},
    "kv-transfer": {"mooncake-efa-dram", "mooncake-efa-vram"},
    "serving": {"sglang-baseline-tp8", "sglang-1p1d", "sglang-1p2d", "sglang-1p1d-disaggregatedset"},
}
VARIANTS = {
    "nccl-alltoall": "nccl-allreduce", "nccl-allreduce-intranode": "nccl-allreduce", "nccl-allreduce-p5en": "nccl-allreduce",
    "nccl-allreduce-p6-b200": "nccl-allreduce", "mooncake-efa-vram": "mooncake-efa-dram", "sglang-1p2d": "sglang-1p1d",
}
IMAGE_KEYS = {"base-cuda-efa", "nccl-tests", "uccl-ep", "mooncake", "sglang-mooncake"}
_PARAM = re.compile(r"^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


@pytest.mark.parametrize("name", LIBRARY.names())
def test_validates(name):
    validate_scenario(name, LIBRARY)


@pytest.mark.parametrize("layer", sorted(EXPECTED))
def test_layer_directories_hold_the_named_scenarios(layer):
    files = {path.stem for path in (REPO_ROOT / "scenarios" / layer).glob("*.yaml")}
    assert files == EXPECTED[layer]
    for name in files:
        assert validate_scenario(name, LIBRARY).layer == layer


@pytest.mark.parametrize("name", sorted(set().union(*EXPECTED.values()) | {"nccl-allreduce-local"}))
def test_file_header_metadata_and_images(name):
    path = LIBRARY.paths[name]
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../../schema/scenario.v1.json"
    scenario = validate_scenario(name, LIBRARY)
    assert scenario.layer and scenario.description and scenario.proves
    assert scenario.run_timeout_s
    expected_executor = "local" if path.parent.name == "local" else "kubernetes"
    assert scenario.executors[0] == expected_executor
    if expected_executor == "kubernetes" and "local" in scenario.executors:  # a cluster scenario rehearsed locally
        assert scenario.data["local"]["description"], "its local: block says what differs from the cluster"
    assert set(scenario.images) <= IMAGE_KEYS
    for key, ref in scenario.images.items():
        assert re.fullmatch(r"\{\{ registry \}\}/" + re.escape(key) + r":v[0-9.]+", ref), ref


@pytest.mark.parametrize("name, parent", sorted(VARIANTS.items()))
def test_variants_are_overlays(name, parent):
    document = LIBRARY.document(LIBRARY.paths[name]).data
    assert document["extends"] == parent
    assert "workloads" not in document or all(set(w) - {"name", "replicas", "resources", "nodes", "ranks", "command"} == set()
                                              for w in document["workloads"]), "a variant restates only what changes"
    assert not {"images", "registry", "executors", "timeouts"} & set(document), "inherited from the parent"


@pytest.mark.parametrize("name", LIBRARY.names())
def test_templated_thresholds_name_existing_parameters(name):
    scenario = validate_scenario(name, LIBRARY)
    for raw, check in zip(scenario.data.get("checks") or (), scenario.checks):
        if isinstance(raw.get("value"), str) and "{{" in raw["value"]:
            match = _PARAM.match(raw["value"])
            assert match and match.group(1) in scenario.parameters, f"{check.name}: {raw['value']}"
            assert isinstance(scenario.parameters[match.group(1)], (int, float)) or check.op in ("==", "!="), \
                "an ordered threshold is a number; text (the collective's name) only for equality"
            assert check.value == scenario.parameters[match.group(1)], "the threshold is resolved to the parameter's number"


def test_thresholds_are_parameters_where_asked():
    uccl = validate_scenario("uccl-ep-low-latency", LIBRARY)
    checks = {c.name: c for c in uccl.checks}
    assert checks["dispatch-combine"].value == uccl.parameters["min_dispatch_combine_gbps"]
    assert (checks["correctness"].metric, checks["correctness"].op, checks["correctness"].value) == ("uccl-ep.passed_ranks", "==", 16)
    tuned = validate_scenario("uccl-ep-low-latency", LIBRARY, ["parameters.min_dispatch_combine_gbps=30"])
    assert {c.name: c for c in tuned.checks}["dispatch-combine"].value == 30
    local = validate_scenario("nccl-allreduce-local", LIBRARY)
    assert {c.name: c for c in local.checks}["busbw"].value == local.parameters["min_busbw_gbps"]


def test_nccl_allreduce_checks():
    scenario = validate_scenario("nccl-allreduce", LIBRARY)
    checks = {c.name: c for c in scenario.checks}
    assert (checks["busbw-large"].metric_name, checks["busbw-large"].op, checks["busbw-large"].value) == \
        ("busbw_gbps_min_at_or_above", ">=", 320)
    assert scenario.workload("nccl-tests").parser.options["min_bytes"] == 268435456
    # OFI's case: `NET/OFI Selected provider is efa, fabric is efa`; the rank from mpirun --tag-output, counted once each
    assert "NET/OFI Selected provider is efa" in checks["transport"].regex and "(?P<rank>" in checks["transport"].regex
    assert checks["transport"].count == checks["network"].count == "every-rank"
    assert scenario.env["NCCL_NET"] == "Libfabric"
    assert (checks["wrong"].metric_name, checks["wrong"].value) == ("wrong_total", 0)
    assert (checks["out-of-bounds"].metric_name, checks["out-of-bounds"].value) == ("out_of_bounds", 0)


def test_pd_checks_compare_with_the_baseline():
    for name in ("sglang-1p1d", "sglang-1p2d", "sglang-1p1d-disaggregatedset"):
        checks = {c.name: c for c in validate_scenario(name, LIBRARY).checks}
        for metric, factor in (("ttft", 3.0), ("tpot", 1.3), ("itl", 1.3)):
            assert checks[metric].baseline.scenario == "sglang-baseline-tp8" and checks[metric].baseline.factor == factor
            assert checks[metric].op == "<="
        assert checks["completed"].value == validate_scenario(name, LIBRARY).parameters["num_prompts"]


def test_mooncake_bench_sizing_fits_the_buffer():
    for name in ("mooncake-efa-dram", "mooncake-efa-vram"):
        p = validate_scenario(name, LIBRARY).parameters
        assert p["block_size"] * p["batch_size"] * p["threads"] <= p["buffer_size"]


def test_docs_are_up_to_date():
    committed = REPO_ROOT / "docs" / "scenarios.md"
    assert committed.exists(), "run `make docs`"
    assert committed.read_text() == generate(LIBRARY), "docs/scenarios.md is stale: run `make docs`"


def test_docs_show_topology_and_thresholds():
    text = generate(LIBRARY)
    assert "| nccl-tests | mpi | MPIJob | p5.48xlarge | 2 workers + launcher | 16 | 8 | 32 |" in text
    assert "`nccl-tests.busbw_gbps_min_at_or_above` >= 320" in text
    assert "`uccl-ep.dispatch_combine_gbps_min` >= 5.5 (parameter `min_dispatch_combine_gbps`)" in text
    assert "`bench.ttft_ms_mean` <= 3 x sglang-baseline-tp8's `ttft_ms_mean`" in text
    assert "`bench.tpot_ms_mean` <= 1.3 x sglang-baseline-tp8's `tpot_ms_mean`" in text

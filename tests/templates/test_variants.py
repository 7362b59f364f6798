"""A variant's rendered objects differ from its parent's only where the variant says so."""
from __future__ import annotations

from .helpers import by_kind_name, flatten

SCENARIO_LABEL = "scenario-runner.dev/scenario"


def changed_paths(parent: str, variant: str) -> set[tuple]:
    """(kind, name, *path) of every leaf that differs, appears or disappears; the scenario-name label excepted."""
    before = {key + path: value for key, obj in by_kind_name(parent).items() for path, value in flatten(obj).items()}
    after = {key + path: value for key, obj in by_kind_name(variant).items() for path, value in flatten(obj).items()}
    return {path for path in before.keys() | after.keys()
            if before.get(path, KeyError) != after.get(path, KeyError) and path[-1] != SCENARIO_LABEL}


def test_scenario_label_is_the_only_difference_of_a_scenario_with_itself():
    assert changed_paths("nccl-allreduce", "nccl-allreduce") == set()


def test_p5en_changes_only_instance_type_and_efa_count():
    worker = ("MPIJob", "nccl-tests", "spec", "mpiReplicaSpecs", "Worker", "template", "spec")
    launcher = ("MPIJob", "nccl-tests", "spec", "mpiReplicaSpecs", "Launcher", "template", "spec")
    assert changed_paths("nccl-allreduce", "nccl-allreduce-p5en") == {
        launcher + ("nodeSelector", "node.kubernetes.io/instance-type"),
        worker + ("nodeSelector", "node.kubernetes.io/instance-type"),
        worker + ("containers", 0, "resources", "requests", "vpc.amazonaws.com/efa"),
        worker + ("containers", 0, "resources", "limits", "vpc.amazonaws.com/efa"),
    }


def test_alltoall_changes_only_the_benchmark_command():
    objects = by_kind_name("nccl-allreduce")
    assert changed_paths("nccl-allreduce", "nccl-alltoall") == {("ConfigMap", "nccl-tests-launcher", "data", "launch.sh")}
    script = by_kind_name("nccl-alltoall")[("ConfigMap", "nccl-tests-launcher")]["data"]["launch.sh"]
    parent_script = objects[("ConfigMap", "nccl-tests-launcher")]["data"]["launch.sh"]
    assert script.replace("alltoall_perf", "all_reduce_perf").replace("-e 4G", "-e 8G") \
        == parent_script


def test_vram_changes_only_memory_kind_gpu_id_gpu_count_and_its_sourced_sizing():
    """Besides GPU memory, the VRAM variant runs at the settings its source measured (its own buffer, threads, batch),
    and its initiator waits for as many target buffers as GPU memory makes (the script before the bench)."""
    def command_indexes(kind: str, name: str, prefixes: tuple[str, ...]) -> set[int]:
        argv = by_kind_name("mooncake-efa-dram")[(kind, name)]["spec"]["template"]["spec"]["containers"][0]["command"]
        return {i for i, arg in enumerate(argv) if arg.startswith(prefixes)}

    sizing = ("--buffer_size=", "--threads=", "--batch_size=")
    expected = set()
    for kind, name in (("Deployment", "target"), ("Job", "initiator")):
        container = (kind, name, "spec", "template", "spec", "containers", 0)
        expected |= {container + ("command", i) for i in command_indexes(kind, name, ("--use_vram=", "--gpu_id=", *sizing, "target="))}
        expected |= {container + ("resources", "requests", "nvidia.com/gpu"), container + ("resources", "limits", "nvidia.com/gpu")}
    assert changed_paths("mooncake-efa-dram", "mooncake-efa-vram") == expected
    vram = by_kind_name("mooncake-efa-vram")[("Job", "initiator")]["spec"]["template"]["spec"]["containers"][0]
    assert {"--use_vram=true", "--gpu_id=-1"} <= set(vram["command"])


def test_1p2d_changes_only_decode_replicas_and_the_router_decode_list():
    router_command = ("Deployment", "router", "spec", "template", "spec", "containers", 0, "command")
    changed = changed_paths("sglang-1p1d", "sglang-1p2d")
    assert ("LeaderWorkerSet", "decode", "spec", "replicas") in changed
    assert changed - {("LeaderWorkerSet", "decode", "spec", "replicas")} == {p for p in changed if p[:len(router_command)] == router_command}
    argv = by_kind_name("sglang-1p2d")[router_command[:2]]["spec"]["template"]["spec"]["containers"][0]["command"]
    decodes = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--decode"]
    assert decodes == ["http://decode-0.decode.scenario-runner.svc:30000", "http://decode-1.decode.scenario-runner.svc:30000"]
    assert by_kind_name("sglang-1p2d")[("LeaderWorkerSet", "decode")]["spec"]["replicas"] == 2


def test_intranode_changes_only_node_count_ranks_network_and_env():
    changed = changed_paths("nccl-allreduce", "nccl-allreduce-intranode")
    worker = ("MPIJob", "nccl-tests", "spec", "mpiReplicaSpecs", "Worker")
    assert (worker + ("replicas",)) in changed
    assert ("ConfigMap", "nccl-tests-launcher", "data", "launch.sh") in changed
    allowed_prefixes = (
        worker + ("replicas",),
        worker + ("template", "spec", "containers", 0, "resources"),  # no EFA, no hugepages
        worker + ("template", "spec", "containers", 0, "env"),        # NCCL_P2P_DISABLE / NCCL_SHM_DISABLE
        ("MPIJob", "nccl-tests", "spec", "mpiReplicaSpecs", "Launcher", "template", "spec", "containers", 0, "env"),
        ("ConfigMap", "nccl-tests-launcher", "data", "launch.sh"),
    )
    assert {p for p in changed if not any(p[:len(prefix)] == prefix for prefix in allowed_prefixes)} == set()

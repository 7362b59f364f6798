"""What the rendered objects mean, checked on the scenarios that carry the most meaning."""
from __future__ import annotations

import re
import shlex

import pytest

from .helpers import by_kind_name, env_of, get, pod_templates


def _main(template: dict) -> dict:
    return template["spec"]["containers"][0]


def _pods(obj: dict) -> list[dict]:
    return [template for _, template in pod_templates(obj)]


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _wait_script(template: dict) -> str:
    (init,) = template["spec"]["initContainers"]
    return init["command"][-1]


# --- sglang-1p1d ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pd():
    return by_kind_name("sglang-1p1d")


def test_prefill_and_decode_pods_run_their_mode(pd):
    for role in ("prefill", "decode"):
        lws = pd[("LeaderWorkerSet", role)]
        pods = _pods(lws)
        assert pods
        for template in pods:
            argv = _main(template)["command"]
            assert _flag(argv, "--disaggregation-mode") == role
            assert _flag(argv, "--disaggregation-transfer-backend") == "mooncake"
            assert _flag(argv, "--disaggregation-bootstrap-port") == "8998"
            assert _flag(argv, "--mem-fraction-static") == "0.70"
            assert env_of(_main(template))["MOONCAKE_PROTOCOL"] == "efa"
        assert lws["spec"]["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
        assert lws["spec"]["startupPolicy"] == "LeaderReady"


def test_router_names_both_pools_with_the_bootstrap_port(pd):
    argv = _main(_pods(pd[("Deployment", "router")])[0])["command"]
    assert argv[:4] == ["python3", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    prefill = argv.index("--prefill")
    assert argv[prefill + 1:prefill + 3] == ["http://prefill.scenario-runner.svc:30000", "8998"]
    assert _flag(argv, "--decode") == "http://decode.scenario-runner.svc:30000"
    assert (_flag(argv, "--host"), _flag(argv, "--port")) == ("0.0.0.0", "8000")


def test_pool_services_select_the_leaders_and_publish_not_ready(pd):
    for role in ("prefill", "decode"):
        service = pd[("Service", role)]
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        assert service["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
        assert service["spec"]["selector"]["scenario-runner.dev/workload"] == role
        pod_labels = _pods(pd[("LeaderWorkerSet", role)])[0]["metadata"]["labels"]
        assert all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items() if not k.startswith("leaderworkerset"))


@pytest.mark.parametrize("overrides, gpus, efa", [
    ((), 8, 32),
    (("platform.instanceType=p5en.48xlarge",), 8, 16),
])
def test_gpu_and_efa_requests_follow_the_instance_type(overrides, gpus, efa):
    objs = by_kind_name("sglang-1p1d", *overrides)
    for role in ("prefill", "decode"):
        resources = _main(_pods(objs[("LeaderWorkerSet", role)])[0])["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == gpus
        assert resources["limits"]["vpc.amazonaws.com/efa"] == efa
        assert resources["requests"] == resources["limits"]
        assert resources["limits"]["hugepages-2Mi"] == "5120Mi" and resources["limits"]["memory"] == "256Gi"


def test_p5en_variant_requests_16_efa():
    worker = by_kind_name("nccl-allreduce-p5en")[("MPIJob", "nccl-tests")]["spec"]["mpiReplicaSpecs"]["Worker"]
    limits = _main(worker["template"])["resources"]["limits"]
    assert (limits["nvidia.com/gpu"], limits["vpc.amazonaws.com/efa"]) == (8, 16)
    assert worker["template"]["spec"]["nodeSelector"]["node.kubernetes.io/instance-type"] == "p5en.48xlarge"


def test_prefill_and_decode_never_share_a_node(pd):
    for role in ("prefill", "decode"):
        template = _pods(pd[("LeaderWorkerSet", role)])[0]
        term = template["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()


def test_bench_waits_until_router_and_both_pools_are_ready(pd):
    job = pd[("Job", "bench")]
    template = _pods(job)[0]
    script = _wait_script(template)
    for url in ("http://prefill.scenario-runner.svc:30000/health", "http://decode.scenario-runner.svc:30000/health",
                "http://router.scenario-runner.svc:8000/health"):
        assert f"wait_http {url}" in script
    assert "curl -fsS" in script
    argv = _main(template)["command"]
    assert _flag(argv, "--host") == "router.scenario-runner.svc" and _flag(argv, "--port") == "8000"
    assert "--pd-separated" in argv and _flag(argv, "--num-prompts") == "128"
    assert _flag(argv, "--random-range-ratio") == "1.0"
    assert job["spec"]["backoffLimit"] == 0
    assert template["spec"]["restartPolicy"] == "Never"


def test_router_waits_for_both_pools(pd):
    script = _wait_script(_pods(pd[("Deployment", "router")])[0])
    assert "prefill.scenario-runner.svc:30000/health" in script and "decode.scenario-runner.svc:30000/health" in script


def test_servers_are_probed_on_their_http_port(pd):
    for role in ("prefill", "decode"):
        probe = _main(_pods(pd[("LeaderWorkerSet", role)])[0])["readinessProbe"]
        assert probe["httpGet"] == {"path": "/health", "port": 30000}


# --- sglang-1p1d-disaggregatedset ----------------------------------------------------------------------


def test_disaggregatedset_roles_run_their_mode():
    objs = by_kind_name("sglang-1p1d-disaggregatedset")
    ds = objs[("DisaggregatedSet", "pd")]
    roles = {role["name"]: role for role in ds["spec"]["roles"]}
    assert set(roles) == {"prefill", "decode"}
    replicas = [role["spec"].get("replicas", 0) for role in roles.values()]
    assert all(replicas) or not any(replicas), "the CRD's CEL rule: zero for all roles or non-zero for all"
    for name, role in roles.items():
        (template,) = _pods(role)
        container = _main(template)
        assert _flag(container["command"], "--disaggregation-mode") == "$(DISAGGREGATION_MODE)"
        assert env_of(container)["DISAGGREGATION_MODE"] == name  # Kubernetes expands $(...) from the env
        service = objs[("Service", f"pd-{name}")]
        assert service["spec"]["selector"]["scenario-runner.dev/role"] == name
        assert template["metadata"]["labels"]["scenario-runner.dev/role"] == name
    script = _wait_script(_pods(objs[("Job", "bench")])[0])
    assert "pd-prefill.scenario-runner.svc:30000/health" in script and "pd-decode.scenario-runner.svc:30000/health" in script
    router = _main(_pods(objs[("Deployment", "router")])[0])["command"]
    assert router[router.index("--prefill") + 1:router.index("--prefill") + 3] == ["http://pd-prefill.scenario-runner.svc:30000", "8998"]


# --- nccl-allreduce ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nccl():
    return by_kind_name("nccl-allreduce")


def _mpirun_argv(configmap: dict) -> list[str]:
    script = configmap["data"]["launch.sh"]
    command = script[script.index("exec /opt/amazon/openmpi/bin/mpirun"):]
    return shlex.split(command.replace("\\\n", " "))[1:]


def test_rank_count_is_nodes_times_gpus(nccl):
    mpijob = nccl[("MPIJob", "nccl-tests")]
    argv = _mpirun_argv(nccl[("ConfigMap", "nccl-tests-launcher")])
    assert _flag(argv, "-np") == "16" and _flag(argv, "-N") == "8"
    assert mpijob["spec"]["slotsPerWorker"] == 8
    assert get(mpijob, "spec.mpiReplicaSpecs.Worker.replicas") == 2
    assert get(mpijob, "spec.mpiReplicaSpecs.Launcher.replicas") == 1
    assert int(_flag(argv, "-np")) == get(mpijob, "spec.mpiReplicaSpecs.Worker.replicas") * mpijob["spec"]["slotsPerWorker"]


def test_launcher_cannot_land_on_a_non_gpu_node(nccl):
    spec = get(nccl[("MPIJob", "nccl-tests")], "spec.mpiReplicaSpecs.Launcher.template.spec")
    assert spec["nodeSelector"]["node.kubernetes.io/instance-type"] == "p5.48xlarge"
    assert spec["nodeSelector"]["kubernetes.io/arch"] == "amd64"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["limits"], "the launcher needs the node type, not its GPUs"


def test_mpirun_flags_and_forwarded_environment(nccl):
    argv = _mpirun_argv(nccl[("ConfigMap", "nccl-tests-launcher")])
    script = nccl[("ConfigMap", "nccl-tests-launcher")]["data"]["launch.sh"]
    for flag in ("--allow-run-as-root", "--bind-to", "--tag-output"):
        assert flag in argv
    assert _flag(argv, "--hostfile") == "/tmp/hostfile"
    mca = {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv) if arg == "--mca"}
    assert mca == {"pml": "^ucx", "btl": "tcp,self", "btl_tcp_if_exclude": "lo,docker0", "plm_rsh_no_tree_spawn": "1",
                   "orte_keep_fqdn_hostnames": "1", "oob_tcp_if_include": "eth0"}
    forwarded = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-x"]
    launcher_env = env_of(get(nccl[("MPIJob", "nccl-tests")], "spec.mpiReplicaSpecs.Launcher.template.spec.containers.0"))
    assert set(launcher_env) - {"POD_IP"} <= set(forwarded), "every scenario env var reaches the ranks"
    assert {"PATH", "LD_LIBRARY_PATH", "FI_PROVIDER", "NCCL_DEBUG", "NCCL_NET_PLUGIN"} <= set(forwarded)
    assert argv[-14:] == ["/opt/nccl-tests/build/all_reduce_perf", "-b", "8K", "-e", "8G", "-f", "2", "-g", "1", "-c", "1",
                          "-n", "20", "-w", "5"][-14:]
    assert "discover_hosts.sh" in script and "slots=8" in script and re.search(r"ssh .*\"\$host\" true", script)


def test_mpijob_run_policy(nccl):
    spec = nccl[("MPIJob", "nccl-tests")]["spec"]
    assert spec["runPolicy"]["cleanPodPolicy"] == "Running"
    assert spec["runPolicy"]["ttlSecondsAfterFinished"] > 0
    assert spec["sshAuthMountPath"] == "/root/.ssh"


def test_workers_take_whole_nodes_with_efa(nccl):
    spec = get(nccl[("MPIJob", "nccl-tests")], "spec.mpiReplicaSpecs.Worker.template.spec")
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"memory": "256Gi", "nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 32,
                                                "hugepages-2Mi": "5120Mi"}
    assert "IPC_LOCK" in container["securityContext"]["capabilities"]["add"]
    shm = next(v for v in spec["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_intranode_reference_has_no_network():
    objs = by_kind_name("nccl-allreduce-intranode")
    worker = get(objs[("MPIJob", "nccl-tests")], "spec.mpiReplicaSpecs.Worker")
    limits = _main(worker["template"])["resources"]["limits"]
    assert worker["replicas"] == 1 and limits["nvidia.com/gpu"] == 8
    assert "vpc.amazonaws.com/efa" not in limits and "hugepages-2Mi" not in limits
    argv = _mpirun_argv(objs[("ConfigMap", "nccl-tests-launcher")])
    assert _flag(argv, "-np") == "8"


# --- Mooncake ------------------------------------------------------------------------------------------


def test_mooncake_target_and_initiator_on_different_nodes_with_metadata_url():
    objs = by_kind_name("mooncake-efa-dram")
    target = _pods(objs[("Deployment", "target")])[0]
    initiator = _pods(objs[("Job", "initiator")])[0]
    for template in (target, initiator):
        assert template["metadata"]["labels"]["scenario-runner.dev/placement"] == "whole-node"
        assert template["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        argv = _main(template)["command"]
        assert "--metadata_server=http://metadata.scenario-runner.svc:8080/metadata" in argv
        assert "--protocol=efa" in argv
    argv = _main(initiator)["command"]
    for flag in ("--block_size=1048576", "--batch_size=16", "--threads=48", "--buffer_size=4294967296", "--duration=60"):
        assert flag in argv
    assert "wait_tcp target.scenario-runner.svc 12345" in _wait_script(initiator)
    assert objs[("Service", "target")]["spec"]["clusterIP"] == "None", "getent must give the pod IP, the segment name"


def test_multi_pod_groups_probe_only_the_leader():
    lws = by_kind_name("sglang-1p1d", "workloads.prefill.groupSize=2")[("LeaderWorkerSet", "prefill")]
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 2
    assert "readinessProbe" in _main(template["leaderTemplate"])
    assert "readinessProbe" not in _main(template["workerTemplate"])

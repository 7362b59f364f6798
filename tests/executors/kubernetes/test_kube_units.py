"""The pure parts of runner/kube: pod problems, hints, statuses, labels, capacity packing, config lookup, the watch cache."""
from __future__ import annotations

from decimal import Decimal

import pytest
from kube_support import REPO

from runner.execute.kubernetes import client as client_module
from runner.execute.kubernetes.apply import prepare
from runner.execute.kubernetes.client import find_config
from runner.execute.kubernetes.diagnose import hints_for, pod_problems
from runner.execute.kubernetes.kinds import DEPLOYMENT, JOB, LWS, MPIJOB
from runner.execute.kubernetes.preflight import Demand, _pack, pod_templates
from runner.execute.kubernetes.wait import (
    DONE,
    FAILED,
    READY,
    RUNNING,
    WAITING,
    disaggregated_status,
    object_status,
)
from runner.flows.check import validate_scenario
from runner.render.kubernetes import render_kubernetes
from runner.scenario.resolve import Library


def pod(name="p", conditions=(), statuses=(), phase="Pending"):
    return {"metadata": {"name": name}, "status": {"phase": phase, "conditions": list(conditions), "containerStatuses": list(statuses)}}


def test_pod_problems_read_the_status_like_kubectl_describe():
    unschedulable = pod(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}])
    assert [(p.reason, p.message) for p in pod_problems(unschedulable)] == [
        ("Unschedulable", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")]
    pulling = pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}])
    assert [p.reason for p in pod_problems(pulling)] == ["ErrImagePull"]
    oom = pod(statuses=[{"name": "c", "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                         "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}])
    assert [p.reason for p in pod_problems(oom)] == ["OOMKilled", "CrashLoopBackOff"]
    arch = pod(statuses=[{"name": "c", "state": {"terminated": {"exitCode": 1, "reason": "Error",
                                                                "message": "exec /usr/bin/bash: exec format error"}}}])
    assert [p.reason for p in pod_problems(arch)] == ["ExecFormatError"]
    again = pod(phase="Running", statuses=[{"name": "c", "restartCount": 3, "state": {"running": {}},
                                            "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}}])
    assert [p.reason for p in pod_problems(again)] == ["CrashLoopBackOff"]  # between two crashes
    healthy = pod(phase="Running", statuses=[{"name": "c", "restartCount": 0, "state": {"running": {}}}])
    assert pod_problems(healthy) == []


@pytest.mark.parametrize("text, expected", [
    ("exec /usr/bin/bash: exec format error", "nodeSelector node.kubernetes.io/instance-type"),
    ("0/4 nodes are available: 2 Insufficient vpc.amazonaws.com/efa", "EFA device plugin"),
    ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu", "GPU Operator"),
    ("Back-off pulling image \"x\"; ImagePullBackOff", "ECR"),
    ("reason OOMKilled", "raise resources.memory"),
    ("[1,0]<stderr>:root@worker-0: Permission denied (publickey).", "StrictModes no"),
    ("CUDA runtime insufficient", "GPU Operator with CDI"),
    ("NCCL INFO NET/OFI Selected provider is tcp", "NCCL did not use EFA"),
])
def test_hints_map_known_symptoms_to_fixes(text, expected):
    assert any(expected in hint for hint in hints_for(text)), hints_for(text)


def test_hints_stay_quiet_on_a_healthy_log():
    assert hints_for("NCCL INFO NET/OFI Selected provider is efa, fabric is efa (found 32 nics)") == []


def test_object_status_names_the_conditions_like_kubectl_wait():
    def obj(kind, conditions=(), **status):
        return {"kind": kind, "metadata": {"name": "x", "generation": 1}, "spec": {"replicas": 1},
                "status": {"conditions": [{"type": t, "status": s, "reason": "R", "message": "m"} for t, s in conditions], **status}}
    assert object_status(MPIJOB, obj("MPIJob", [("Created", "True")])).phase == WAITING
    assert object_status(MPIJOB, obj("MPIJob", [("Running", "True")])).phase == RUNNING
    assert object_status(MPIJOB, obj("MPIJob", [("Succeeded", "True")])).phase == DONE
    failed = object_status(MPIJOB, obj("MPIJob", [("Failed", "True")]))
    assert failed.phase == FAILED and failed.message == "MPIJob/x Failed (R): m"
    assert object_status(JOB, obj("Job", [("Complete", "True")])).phase == DONE
    assert object_status(JOB, obj("Job", [("Failed", "True")])).phase == FAILED
    assert object_status(DEPLOYMENT, obj("Deployment", [("Available", "True")], availableReplicas=1, observedGeneration=1)).phase == READY
    assert object_status(DEPLOYMENT, obj("Deployment", [("Available", "True")], availableReplicas=1, observedGeneration=0)).phase == WAITING
    assert object_status(DEPLOYMENT, obj("Deployment", [("Progressing", "False")])).phase == WAITING
    assert object_status(LWS, obj("LeaderWorkerSet", [("Available", "True")], readyReplicas=1)).phase == READY
    assert object_status(LWS, None).phase == WAITING


def _scenario(name, *overrides):
    return validate_scenario(name, Library(REPO / "scenarios"), ["registry=r.example", *overrides])


def test_prepare_puts_the_run_labels_on_every_pod_template_and_the_namespace_on_every_object():
    scenario = _scenario("sglang-1p1d-disaggregatedset")
    objects = prepare(render_kubernetes(scenario, "run-1"), scenario, "run-1", "team-a")
    templates = 0
    for obj in objects:
        if obj.kind.kind == "Namespace":
            assert "scenario-runner.dev/run-id" not in obj.body["metadata"].get("labels", {})
            continue
        assert obj.body["metadata"]["labels"]["scenario-runner.dev/run-id"] == "run-1"
        assert obj.body["metadata"]["namespace"] == "team-a"

        def walk(node):
            nonlocal templates
            if isinstance(node, dict):
                if isinstance(node.get("spec"), dict) and "containers" in node["spec"]:
                    templates += 1
                    assert node["metadata"]["labels"]["scenario-runner.dev/run-id"] == "run-1"
                    assert node["metadata"]["labels"]["scenario-runner.dev/workload"] == obj.workload
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)
        walk(obj.body.get("spec"))
    assert templates >= 3  # the DisaggregatedSet's role templates, the router, the bench


def test_pod_templates_count_the_pods_of_each_kind():
    scenario = _scenario("nccl-allreduce")
    mpijob = next(o for o in render_kubernetes(scenario, "r") if o.kind == "MPIJob")
    assert [count for count, _ in pod_templates(mpijob.body)] == [1, 2]


def test_packing_sixteen_one_gpu_pods_onto_two_nodes():
    node = {"status": {"allocatable": {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "10256Mi"}}}
    pods = [Demand("w", {"nvidia.com/gpu": Decimal(1), "vpc.amazonaws.com/efa": Decimal(4)})] * 16
    assert _pack(pods, [node, node]) == []
    assert len(_pack(pods + pods[:1], [node, node])) == 1


def test_in_cluster_config_is_found_when_running_in_a_pod(monkeypatch, tmp_path, no_cluster_env):
    token = tmp_path / "token"
    token.write_text("t")
    monkeypatch.setattr(client_module, "IN_CLUSTER_TOKEN", token)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1")
    assert find_config({}).kind == "in-cluster"
    with pytest.raises(Exception, match="--context prod needs a kubeconfig"):
        find_config({"context": "prod"})


def test_a_followed_container_log_reaches_the_record_redacted(tmp_path):
    """Pod log lines are redacted as they are appended: the file never holds the secret, not even while it grows."""
    from runner.execute.kubernetes.logs import Follower
    from runner.records.redaction import Redactor

    secret = "hf_followed_s3cr3t_77"
    seen_while_growing = []
    path = tmp_path / "server-0.log"

    class Stream:
        closed = False

        def lines(self):
            for line in (b"loading model\n", f"HF_TOKEN={secret}\n".encode(), f"echo {secret} --api-key {secret}\n".encode(),
                         b"Authorization: Bearer abcdefghijk\n", b"ready\n"):
                yield line
                seen_while_growing.append(path.read_bytes() if path.exists() else b"")

        def close(self):
            self.closed = True

    class Client:
        def log_stream(self, path, container, follow):
            return Stream()

    follower = Follower(Client(), "ns", "server-0", "main", path, redact=Redactor([secret]).block).start()
    follower.join(10)
    text = path.read_text()
    assert text == ("loading model\nHF_TOKEN=<redacted>\necho <redacted> --api-key <redacted>\n"
                    "Authorization: Bearer <redacted>\nready\n")
    assert not any(secret.encode() in snapshot for snapshot in seen_while_growing)


def test_a_disaggregatedset_without_status_is_ready_when_every_role_has_its_ready_pods():
    """LWS v0.9.0's controller writes no DisaggregatedSet status (seen on the real control plane)."""
    dset = {"spec": {"roles": [{"name": "prefill", "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 1}}},
                               {"name": "decode", "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 1}}}]}}

    def pod(role, ready=True, deleting=False):
        meta = {"labels": {"disaggregatedset.x-k8s.io/role": role}, **({"deletionTimestamp": "now"} if deleting else {})}
        return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}

    waiting = disaggregated_status(dset, [pod("prefill"), pod("decode"), pod("decode", ready=False)])
    assert waiting.phase == "waiting" and waiting.message == "prefill 1/1 pods ready, decode 1/2 pods ready"
    assert disaggregated_status(dset, [pod("prefill"), pod("decode"), pod("decode", deleting=True)]).phase == "waiting"
    assert disaggregated_status(dset, [pod("prefill"), pod("decode"), pod("decode")]).phase == "ready"
    with_status = {**dset, "status": {"conditions": [{"type": "Available", "status": "False"}]}}
    assert disaggregated_status(with_status, [pod("prefill"), pod("decode"), pod("decode")]).phase == "waiting"

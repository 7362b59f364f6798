"""The real control plane (runner/cluster, cluster/build.sh): the real controllers do the work.

Uses the session's control plane (tests/control_plane.py): the one of $SCENARIO_CLUSTER_DIR (default .cluster, from
`make cluster`) when it is up, else built when needed and started there for the session.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from runner.cluster import (
    ANNOTATION_EXIT_CODE,
    ANNOTATION_LOG_FILE,
    ANNOTATION_MESSAGE,
    ANNOTATION_OUTCOME,
    ANNOTATION_READY,
    ANNOTATION_REASON,
    ANNOTATION_RUN_FOR,
    feed_log,
)

REPO = Path(__file__).resolve().parents[2]
MPI = ("kubeflow.org", "v2beta1", "mpijobs")
LWS = ("leaderworkerset.x-k8s.io", "v1", "leaderworkersets")


@pytest.fixture(scope="module")
def cluster(control_plane):
    """The session's control plane (tests/control_plane.py), by its kubeconfig."""
    return control_plane.kubeconfig


@pytest.fixture(scope="module")
def api(cluster):
    a = config.new_client_from_config(config_file=str(cluster))
    yield a
    a.close()


@pytest.fixture()
def ns(api):
    core = client.CoreV1Api(api)
    name = "t-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name}})
    wait(lambda: _sa(core, name), "default ServiceAccount")
    yield name
    core.delete_namespace(name)


def _sa(core, ns):
    try:
        return core.read_namespaced_service_account("default", ns)
    except client.ApiException:
        return None


def wait(check, what, timeout=60.0):
    end = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def gpu_container(name, gpus=8, efa=32):
    return {"name": name, "image": "example.invalid/none:1", "command": ["true"],
            "resources": {"limits": {"nvidia.com/gpu": str(gpus), "vpc.amazonaws.com/efa": str(efa),
                                     "hugepages-2Mi": "5120Mi", "memory": "8Gi", "cpu": "4"}}}


def test_version_is_stamped(api):
    want = dict(l.split("=", 1) for l in (REPO / "cluster" / "versions.env").read_text().splitlines()
                if l and not l.startswith("#"))["K8S_VERSION"]
    v = client.VersionApi(api).get_code()
    assert v.git_version == want and v.major == "1" and v.minor == want.split(".")[1], v


def test_nodes_have_gpu_efa_hugepages_and_instance_type(api):
    nodes = client.CoreV1Api(api).list_node().items
    types = {n.metadata.labels["node.kubernetes.io/instance-type"] for n in nodes}
    assert {"p5.48xlarge", "p5en.48xlarge", "p6-b200.48xlarge"} <= types
    efa = {"p5.48xlarge": "32", "p5en.48xlarge": "16", "p6-b200.48xlarge": "8"}
    for n in nodes:
        alloc = n.status.allocatable
        assert alloc["nvidia.com/gpu"] == "8"
        assert alloc["vpc.amazonaws.com/efa"] == efa[n.metadata.labels["node.kubernetes.io/instance-type"]]
        assert alloc["hugepages-2Mi"] == "10256Mi"
        assert any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)


def test_mpijob_real_operator_launcher_job_workers_and_success(api, ns):
    objs = client.CustomObjectsApi(api)
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    tmpl = lambda c, ann: {"metadata": {"annotations": ann}, "spec": {"containers": [c]}}  # noqa: E731
    job = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "pi"},
           "spec": {"slotsPerWorker": 8, "runPolicy": {"cleanPodPolicy": "Running"}, "mpiReplicaSpecs": {
               "Launcher": {"replicas": 1, "template": tmpl(
                   {"name": "launcher", "image": "example.invalid/none:1", "command": ["mpirun"]},
                   {ANNOTATION_RUN_FOR: "3s"})},
               "Worker": {"replicas": 2, "template": tmpl(gpu_container("worker"), {})}}}}
    objs.create_namespaced_custom_object(*MPI[:2], ns, MPI[2], job)
    launcher = wait(lambda: _get(batch.read_namespaced_job, "pi-launcher", ns), "launcher Job")
    assert launcher.metadata.owner_references[0].kind == "MPIJob"
    workers = wait(lambda: [p for p in core.list_namespaced_pod(ns, label_selector="training.kubeflow.org/job-role=worker").items
                            if p.status.phase == "Running"] or None, "2 Running workers")
    wait(lambda: len([p for p in core.list_namespaced_pod(ns, label_selector="training.kubeflow.org/job-role=worker").items
                      if p.status.phase == "Running"]) == 2, "2 Running workers")
    workers = core.list_namespaced_pod(ns, label_selector="training.kubeflow.org/job-role=worker").items
    assert sorted(p.metadata.name for p in workers) == ["pi-worker-0", "pi-worker-1"]
    assert all(p.spec.node_name for p in workers)  # placed by kube-scheduler
    assert _get(core.read_namespaced_config_map, "pi-config", ns).data["hostfile"]

    def succeeded():
        st = objs.get_namespaced_custom_object(*MPI[:2], ns, MPI[2], "pi").get("status") or {}
        return any(c["type"] == "Succeeded" and c["status"] == "True" for c in st.get("conditions", []))
    wait(succeeded, "MPIJob Succeeded", 90)
    # cleanPodPolicy Running: the operator deletes the running workers once the job is done
    wait(lambda: not core.list_namespaced_pod(ns, label_selector="training.kubeflow.org/job-role=worker").items,
         "workers cleaned up")


def _get(fn, *args):
    try:
        return fn(*args)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def test_leaderworkerset_real_controller_and_webhooks(api, ns):
    objs, apps, core = client.CustomObjectsApi(api), client.AppsV1Api(api), client.CoreV1Api(api)
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": {"name": "sg"},
           "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {
               "spec": {"containers": [gpu_container("server", efa=8)]}}}}}
    objs.create_namespaced_custom_object(*LWS[:2], ns, LWS[2], lws)
    wait(lambda: _get(apps.read_namespaced_stateful_set, "sg", ns), "leader StatefulSet")
    wait(lambda: _get(apps.read_namespaced_stateful_set, "sg-0", ns), "worker StatefulSet")

    def labelled():
        pods = core.list_namespaced_pod(ns, label_selector="leaderworkerset.sigs.k8s.io/name=sg").items
        return len(pods) == 2 and all(p.status.phase == "Running" for p in pods) and pods
    pods = wait(labelled, "2 Running LWS pods")
    for p in pods:  # written by the LWS pod mutating webhook
        assert p.metadata.labels["leaderworkerset.sigs.k8s.io/group-index"] == "0"
        assert "leaderworkerset.sigs.k8s.io/worker-index" in p.metadata.labels
        env = {e.name for e in p.spec.containers[0].env or []}
        assert "LWS_LEADER_ADDRESS" in env, env

    def available():
        st = objs.get_namespaced_custom_object(*LWS[:2], ns, LWS[2], "sg").get("status") or {}
        return any(c["type"] == "Available" and c["status"] == "True" for c in st.get("conditions", []))
    wait(available, "LeaderWorkerSet Available", 90)


def test_nine_gpus_stay_pending_with_failed_scheduling(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(ns, {"metadata": {"name": "big"}, "spec": {"containers": [gpu_container("c", gpus=9, efa=1)]}})

    def event():
        evs = core.list_namespaced_event(ns, field_selector="involvedObject.name=big").items
        return [e for e in evs if e.reason == "FailedScheduling"]
    evs = wait(event, "FailedScheduling event")
    assert "Insufficient nvidia.com/gpu" in evs[0].message, evs[0].message
    assert core.read_namespaced_pod("big", ns).status.phase == "Pending"


def test_pod_outcomes_and_logs_through_pods_log(api, ns, cluster, tmp_path):
    core = client.CoreV1Api(api)
    node = core.list_node().items[0].metadata.name

    def pod(name, ann):
        return {"metadata": {"name": name, "annotations": ann},
                "spec": {"nodeName": node, "restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "example.invalid/none:1"}]}}
    text = "# nccl-tests\n#  size  busbw\n 8589934592  389.12\n"
    feed_log(cluster, ns, "fed", "main", text, previous="the run before\n")  # before the pod exists
    core.create_namespaced_pod(ns, pod("fed", {ANNOTATION_OUTCOME: "Succeeded", ANNOTATION_RUN_FOR: "1s"}))
    recorded = tmp_path / "out.txt"
    recorded.write_text("NCCL WARN NET/OFI failed\nexit 3\n")
    core.create_namespaced_pod(ns, pod("bound", {ANNOTATION_OUTCOME: "Failed", ANNOTATION_EXIT_CODE: "3",
                                                 ANNOTATION_LOG_FILE: str(recorded)}))
    core.create_namespaced_pod(ns, pod("forever", {ANNOTATION_OUTCOME: "Running"}))
    wait(lambda: core.read_namespaced_pod("fed", ns).status.phase == "Succeeded", "fed Succeeded")
    failed = wait(lambda: (p := core.read_namespaced_pod("bound", ns)).status.phase == "Failed" and p, "bound Failed")
    assert failed.status.container_statuses[0].state.terminated.exit_code == 3
    assert core.read_namespaced_pod_log("fed", ns, container="main") == text
    assert wait(lambda: _log(core, "bound", ns), "bound's log") == recorded.read_text()
    time.sleep(2)
    assert core.read_namespaced_pod("forever", ns).status.phase == "Running"
    assert core.read_namespaced_pod_log("fed", ns, container="main", tail_lines=1) == " 8589934592  389.12\n"
    assert core.read_namespaced_pod_log("fed", ns, container="main", previous=True) == "the run before\n"
    # kwok's limit (v0.8.0): a follow stream never ends, even for a pod that has ended; read without follow
    with pytest.raises(Exception, match="(?i)timed? ?out"):
        core.read_namespaced_pod_log("fed", ns, container="main", follow=True, _request_timeout=2)


def test_pods_fail_as_a_kubelet_reports_it(api, ns):
    """The kubelet-side failures of pod-stages.yaml: what a real kubelet (v1.37) puts in the pod's status."""
    core = client.CoreV1Api(api)
    node = core.list_node().items[0].metadata.name
    image = "registry.example/efa-validation/nccl-tests:v1.1.0"

    def pod(name, ann):
        return {"metadata": {"name": name, "annotations": ann},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": image}]}}
    exec_format = ("failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                   'runc create failed: unable to start container process: error during container init: '
                   'exec: "/opt/run.sh": exec format error: unknown')
    core.create_namespaced_pod(ns, pod("pull", {ANNOTATION_OUTCOME: "ImagePullBackOff"}))
    core.create_namespaced_pod(ns, pod("crash", {ANNOTATION_OUTCOME: "CrashLoopBackOff", ANNOTATION_EXIT_CODE: "2"}))
    core.create_namespaced_pod(ns, pod("restarts", {ANNOTATION_OUTCOME: "CrashLoopBackOff", ANNOTATION_EXIT_CODE: "0",
                                                    ANNOTATION_RUN_FOR: "3s"}))
    core.create_namespaced_pod(ns, pod("oom", {ANNOTATION_OUTCOME: "Failed", ANNOTATION_EXIT_CODE: "137",
                                               ANNOTATION_REASON: "OOMKilled"}))
    core.create_namespaced_pod(ns, pod("arch", {ANNOTATION_OUTCOME: "Failed", ANNOTATION_EXIT_CODE: "128",
                                                ANNOTATION_REASON: "StartError", ANNOTATION_MESSAGE: exec_format}))
    core.create_namespaced_pod(ns, pod("unready", {ANNOTATION_OUTCOME: "Running", ANNOTATION_READY: "false"}))

    def state(name, key):
        status = core.read_namespaced_pod(name, ns).status
        return status if status.container_statuses and getattr(status.container_statuses[0].state, key) else None
    pull = wait(lambda: state("pull", "waiting"), "pull waiting")
    assert pull.phase == "Pending" and pull.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    assert pull.container_statuses[0].state.waiting.message.startswith(f'Back-off pulling image "{image}": ErrImagePull: ')
    crash = wait(lambda: state("crash", "waiting"), "crash waiting").container_statuses[0]
    uid = core.read_namespaced_pod("crash", ns).metadata.uid
    assert crash.state.waiting.reason == "CrashLoopBackOff" and crash.restart_count > 0 and not crash.ready
    assert crash.state.waiting.message == f"back-off 40s restarting failed container=main pod=crash_{ns}({uid})"
    assert crash.last_state.terminated.exit_code == 2
    restarts = wait(lambda: state("restarts", "waiting"), "restarts waiting").container_statuses[0]
    assert (restarts.last_state.terminated.exit_code, restarts.last_state.terminated.reason) == (0, "Completed")
    oom = wait(lambda: state("oom", "terminated"), "oom terminated")
    assert oom.phase == "Failed" and oom.container_statuses[0].state.terminated.reason == "OOMKilled"
    assert oom.container_statuses[0].state.terminated.exit_code == 137
    arch = wait(lambda: state("arch", "terminated"), "arch terminated").container_statuses[0].state.terminated
    assert (arch.reason, arch.exit_code, arch.message) == ("StartError", 128, exec_format)
    unready = wait(lambda: state("unready", "running"), "unready running")
    assert unready.phase == "Running" and not unready.container_statuses[0].ready
    assert {c.type: c.status for c in unready.conditions}["Ready"] == "False"
    time.sleep(2)
    assert core.read_namespaced_pod("pull", ns).status.phase == "Pending"  # it never starts


def _log(core, name, ns):
    try:
        return core.read_namespaced_pod_log(name, ns)
    except client.ApiException:
        return None


def test_job_deleted_with_background_propagation_removes_pods(api, ns):
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(ns, {"metadata": {"name": "j"}, "spec": {"parallelism": 2, "completions": 2,
        "template": {"metadata": {"annotations": {ANNOTATION_OUTCOME: "Running"}},
                     "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x.invalid/y:1"}]}}}})
    wait(lambda: len([p for p in core.list_namespaced_pod(ns, label_selector="job-name=j").items
                      if p.status.phase == "Running"]) == 2, "2 Running job pods")
    batch.delete_namespaced_job("j", ns, propagation_policy="Background")
    wait(lambda: not core.list_namespaced_pod(ns, label_selector="job-name=j").items, "job pods garbage-collected")


def test_job_deleted_without_propagation_policy_orphans_its_pods(api, ns):
    """batch/v1's default delete propagation is Orphan: cleanup must say Background (or Foreground)."""
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(ns, {"metadata": {"name": "o"}, "spec": {
        "template": {"metadata": {"annotations": {ANNOTATION_OUTCOME: "Running"}},
                     "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x.invalid/y:1"}]}}}})
    wait(lambda: core.list_namespaced_pod(ns, label_selector="job-name=o").items, "the job's pod")
    batch.delete_namespaced_job("o", ns)
    wait(lambda: _get(batch.read_namespaced_job, "o", ns) is None, "job gone")
    orphans = wait(lambda: [p for p in core.list_namespaced_pod(ns, label_selector="job-name=o").items
                            if not p.metadata.owner_references], "orphaned pod")
    assert len(orphans) == 1


def test_server_side_dry_run_rejects_wrong_mpijob_field(api, ns):
    objs = client.CustomObjectsApi(api)
    bad = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "bad"},
           "spec": {"slotsPerWorker": "eight", "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {
               "spec": {"containers": [{"name": "l", "image": "x.invalid/y:1"}]}}}}}}
    with pytest.raises(client.ApiException) as e:
        objs.create_namespaced_custom_object(*MPI[:2], ns, MPI[2], bad, dry_run="All")
    assert e.value.status == 422
    assert "spec.slotsPerWorker" in e.value.body and "integer" in e.value.body, e.value.body
    assert not objs.list_namespaced_custom_object(*MPI[:2], ns, MPI[2])["items"]


def test_disaggregatedset_real_controller_creates_a_leaderworkerset_per_role(api, ns):
    objs, core = client.CustomObjectsApi(api), client.CoreV1Api(api)

    def role(name):
        t = {"metadata": {"labels": {"role": name}}, "spec": {"containers": [gpu_container("server", efa=8)]}}
        return {"name": name, "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 1, "workerTemplate": t}}}
    objs.create_namespaced_custom_object("disaggregatedset.x-k8s.io", "v1", ns, "disaggregatedsets", {
        "apiVersion": "disaggregatedset.x-k8s.io/v1", "kind": "DisaggregatedSet", "metadata": {"name": "pd"},
        "spec": {"roles": [role("prefill"), role("decode")]}})
    lwss = wait(lambda: (items := objs.list_namespaced_custom_object(*LWS[:2], ns, LWS[2])["items"]) and
                len(items) == 2 and items, "2 LeaderWorkerSets")
    assert all(i["metadata"]["ownerReferences"][0]["kind"] == "DisaggregatedSet" for i in lwss)
    wait(lambda: len([p for p in core.list_namespaced_pod(ns).items if p.status.phase == "Running"]) == 2,
         "2 Running pods")


def test_mpijob_fails_when_the_launcher_fails(api, ns):
    objs = client.CustomObjectsApi(api)
    job = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "bad"},
           "spec": {"runPolicy": {"backoffLimit": 0}, "mpiReplicaSpecs": {
               "Launcher": {"replicas": 1, "template": {
                   "metadata": {"annotations": {ANNOTATION_OUTCOME: "Failed", ANNOTATION_EXIT_CODE: "2"}},
                   "spec": {"containers": [{"name": "launcher", "image": "x.invalid/y:1"}]}}},
               "Worker": {"replicas": 1, "template": {"spec": {"containers": [gpu_container("worker")]}}}}}}
    objs.create_namespaced_custom_object(*MPI[:2], ns, MPI[2], job)

    def failed():
        st = objs.get_namespaced_custom_object(*MPI[:2], ns, MPI[2], "bad").get("status") or {}
        return [c for c in st.get("conditions", []) if c["type"] == "Failed" and c["status"] == "True"]
    cond = wait(failed, "MPIJob Failed", 90)
    # MPI Operator v0.6.0 copies the launcher Job's condition as "<reason>/<its own reason>": "BackoffLimitExceeded/"
    assert cond[0]["reason"].startswith("BackoffLimitExceeded"), cond
    assert "backoff limit" in cond[0]["message"], cond
    # cleanPodPolicy defaults to None: the worker keeps running after the MPIJob failed
    assert client.CoreV1Api(api).read_namespaced_pod("bad-worker-0", ns).status.phase == "Running"


def test_rbac_a_service_account_token_without_mpijob_create_is_denied(api, ns, cluster):
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "reader"}})
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(ns, {
        "metadata": {"name": "reader-view"}, "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}})
    token = core.create_namespaced_service_account_token("reader", ns, {"spec": {"expirationSeconds": 600}}).status.token
    kc = config.kube_config.KubeConfigLoader(config_dict=yaml.safe_load(Path(cluster).read_text()))
    cfg = client.Configuration()
    kc.load_and_set(cfg)
    cfg.cert_file = cfg.key_file = None
    cfg.api_key = {"authorization": "Bearer " + token}
    with client.ApiClient(cfg) as sa:
        def can(verb, group, resource):
            r = client.AuthorizationV1Api(sa).create_self_subject_access_review({"spec": {"resourceAttributes": {
                "namespace": ns, "verb": verb, "group": group, "resource": resource}}})
            return r.status.allowed
        assert wait(lambda: can("list", "", "pods"), "RBAC cache sees the binding", 10)
        assert not can("create", "kubeflow.org", "mpijobs")
        with pytest.raises(client.ApiException) as e:
            client.CustomObjectsApi(sa).create_namespaced_custom_object(*MPI[:2], ns, MPI[2], {
                "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "x"}, "spec": {}})
        assert e.value.status == 403 and f"system:serviceaccount:{ns}:reader" in e.value.body, e.value.body


def test_an_unknown_mpijob_field_is_pruned_unless_field_validation_is_strict(api, ns):
    """The server's default fieldValidation is Warn: an unknown field is dropped with a warning header, not refused."""
    objs = client.CustomObjectsApi(api)
    job = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "typo"},
           "spec": {"slotsPerWorkers": 8, "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {
               "spec": {"containers": [{"name": "l", "image": "x.invalid/y:1"}]}}}}}}
    accepted = objs.create_namespaced_custom_object(*MPI[:2], ns, MPI[2], job, dry_run="All")
    assert "slotsPerWorkers" not in accepted["spec"]
    with pytest.raises(client.ApiException) as e:
        objs.create_namespaced_custom_object(*MPI[:2], ns, MPI[2], job, dry_run="All", field_validation="Strict")
    message = json.loads(e.value.body)["message"]
    assert e.value.status == 400 and 'strict decoding error: unknown field "spec.slotsPerWorkers"' in message, message

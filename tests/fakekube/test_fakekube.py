"""The fake API server, exercised only through the official kubernetes client."""
from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiException

from . import GPU_TAINT, Behavior, FakeKube, Match, node

NS = "default"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def kube(tmp_path):
    with FakeKube() as kube:
        kube.kubeconfig_path = kube.write_kubeconfig(tmp_path / "kubeconfig", context="fake")
        yield kube
        assert kube.server_errors == []


@pytest.fixture
def api(kube):
    api_client = config.new_client_from_config(config_file=str(kube.kubeconfig_path), context="fake")
    yield api_client
    api_client.close()


def configmap(name, labels=None, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {"key": "value"}}


def container(name="main", image="registry.example/tool:1.0", **extra):
    return {"name": name, "image": image, **extra}


def job(name, labels=None, backoff_limit=0, restart_policy="Never"):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"backoffLimit": backoff_limit, "template": {
                "metadata": {"labels": labels or {}},
                "spec": {"restartPolicy": restart_policy, "containers": [container()]}}}}


def mpijob(name, workers=2, labels=None):
    template = {"metadata": {"labels": labels or {}},
                "spec": {"containers": [container(command=["mpirun", "all_reduce_perf"])]}}
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"slotsPerWorker": 8, "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 0},
                     "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": template},
                                         "Worker": {"replicas": workers, "template": template}}}}


def condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind
                 and c["status"] == "True"), None)


# -- basic verbs ------------------------------------------------------------------------------------------

def test_configmap_create_get_list_watch_delete(kube, api):
    v1 = client.CoreV1Api(api)
    created = v1.create_namespaced_config_map(NS, configmap("settings", {"run": "r1"}))
    assert created.metadata.uid and int(created.metadata.resource_version) > 0
    assert created.metadata.creation_timestamp is not None and created.metadata.generation == 1

    assert v1.read_namespaced_config_map("settings", NS).data == {"key": "value"}
    listing = v1.list_namespaced_config_map(NS, label_selector="run in (r1,r2),!absent")
    assert [c.metadata.name for c in listing.items] == ["settings"]
    assert int(listing.metadata.resource_version) >= int(created.metadata.resource_version)
    assert v1.list_namespaced_config_map(NS, label_selector="run!=r1").items == []

    with pytest.raises(ApiException) as conflict:
        v1.create_namespaced_config_map(NS, configmap("settings"))
    assert conflict.value.status == 409 and '"reason":"AlreadyExists"' in conflict.value.body

    events = []
    stream = watch.Watch().stream(v1.list_namespaced_config_map, NS, resource_version=listing.metadata.resource_version,
                                  timeout_seconds=2)
    v1.patch_namespaced_config_map("settings", NS, {"data": {"key": "changed"}})
    v1.delete_namespaced_config_map("settings", NS)
    for event in stream:
        events.append((event["type"], event["object"].metadata.name, (event["object"].data or {}).get("key")))
        if event["type"] == "DELETED":
            break
    assert events == [("MODIFIED", "settings", "changed"), ("DELETED", "settings", "changed")]
    with pytest.raises(ApiException) as missing:
        v1.read_namespaced_config_map("settings", NS)
    assert missing.value.status == 404 and '"reason":"NotFound"' in missing.value.body
    assert '"message":"configmaps \\"settings\\" not found"' in missing.value.body


def test_missing_objects_resources_and_namespaces_are_404(kube, api):
    with pytest.raises(ApiException) as e:
        client.BatchV1Api(api).read_namespaced_job("nope", NS)
    assert e.value.status == 404
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(api).create_namespaced_config_map("no-such-namespace", configmap("x"))
    assert e.value.status == 404 and 'namespaces \\"no-such-namespace\\" not found' in e.value.body
    kube.remove_crd("mpijobs.kubeflow.org")
    with pytest.raises(ApiException) as e:
        client.CustomObjectsApi(api).list_namespaced_custom_object("kubeflow.org", "v2beta1", NS, "mpijobs")
    assert e.value.status == 404
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert "leaderworkerset.x-k8s.io" in groups and "kubeflow.org" not in groups


def test_server_side_apply_creates_updates_and_honours_dry_run(kube, api):
    v1 = client.CoreV1Api(api)
    first = v1.patch_namespaced_config_map("applied", NS, configmap("applied", {"run": "r1"}, {"a": "1", "b": "2"}),
                                           field_manager="scenario-runner", force=True, _content_type=APPLY)
    assert first.data == {"a": "1", "b": "2"} and first.metadata.managed_fields[0].manager == "scenario-runner"
    second = v1.patch_namespaced_config_map("applied", NS, configmap("applied", {"run": "r1"}, {"a": "3"}),
                                            field_manager="scenario-runner", force=True, _content_type=APPLY)
    assert second.data == {"a": "3"}, "fields the manager stopped applying are removed"
    assert second.metadata.uid == first.metadata.uid
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)

    dry = v1.patch_namespaced_config_map("dry", NS, configmap("dry"), field_manager="scenario-runner",
                                         dry_run="All", _content_type=APPLY)
    assert dry.metadata.name == "dry"
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_config_map("dry", NS)
    assert e.value.status == 404
    v1.patch_namespaced_config_map("applied", NS, configmap("applied", {"run": "r1"}, {"a": "4"}),
                                   field_manager="scenario-runner", dry_run="All", _content_type=APPLY)
    assert v1.read_namespaced_config_map("applied", NS).data == {"a": "3"}

    with pytest.raises(ApiException) as e:  # another manager owns data.a with a different value
        v1.patch_namespaced_config_map("applied", NS, configmap("applied", None, {"a": "5"}),
                                       field_manager="someone-else", _content_type=APPLY)
    assert e.value.status == 409 and "Apply failed with 1 conflict" in e.value.body
    with pytest.raises(ApiException) as e:
        v1.patch_namespaced_config_map("applied", NS, configmap("applied"), _content_type=APPLY)
    assert e.value.status == 400 and "fieldManager is required" in e.value.body


def test_server_side_apply_of_custom_resources_validates_against_the_crd(kube, api):
    objects = client.CustomObjectsApi(api)
    bad = mpijob("bad")
    bad["spec"]["slotsPerWorker"] = "eight"
    with pytest.raises(ApiException) as e:
        objects.patch_namespaced_custom_object("kubeflow.org", "v2beta1", NS, "mpijobs", "bad", bad,
                                               field_manager="scenario-runner", dry_run="All", _content_type=APPLY)
    assert e.value.status == 422
    assert "spec.slotsPerWorker in body must be of type integer" in e.value.body
    # An apply that creates answers 201, which CustomObjectsApi's generated code maps to None (the real
    # client does the same against a real server): read the raw response instead.
    response = objects.patch_namespaced_custom_object("kubeflow.org", "v2beta1", NS, "mpijobs", "good",
                                                      mpijob("good"), field_manager="scenario-runner", dry_run="All",
                                                      _content_type=APPLY, _preload_content=False)
    good = json.loads(response.data)
    assert response.status == 201
    assert good["spec"]["mpiImplementation"] == "OpenMPI", "CRD schema defaults are applied"
    assert kube.objects(resource="mpijobs") == []


# -- workloads ----------------------------------------------------------------------------------------------

def test_mpijob_succeeds_and_its_launcher_log_streams(kube, api):
    log = "".join(f"#  {size:>10}  all_reduce_perf line {i}\n" for i, size in enumerate(range(0, 4000, 200)))
    launcher = kube.script(Match(kind="MPIJob", name="nccl", role="launcher"),
                           Behavior.succeeds(log=log, after=60, log_every=1.5))
    objects, v1 = client.CustomObjectsApi(api), client.CoreV1Api(api)
    with pytest.raises(ApiException):  # the client builds its validators on first use: not while following
        v1.read_namespaced_pod_log("absent", NS, follow=True, _preload_content=False)
    objects.create_namespaced_custom_object("kubeflow.org", "v2beta1", NS, "mpijobs", mpijob("nccl", 2, {"run": "r1"}))

    pod = kube.wait_for(lambda: [p for p in v1.list_namespaced_pod(NS, label_selector=(
        "training.kubeflow.org/job-name=nccl,training.kubeflow.org/job-role=launcher")).items
        if p.status.phase == "Running"])[0]
    response = v1.read_namespaced_pod_log(pod.metadata.name, NS, follow=True, _preload_content=False)
    chunks = [(time.monotonic(), chunk.decode()) for chunk in response.stream()]
    assert "".join(text for _, text in chunks) == log
    assert len(chunks) > 5 and chunks[-1][0] - chunks[0][0] > 0.1, "lines arrive over the running period"
    assert launcher.pods == [pod.metadata.name]

    assert pod.metadata.name.startswith("nccl-launcher-") and pod.metadata.labels["run"] == "r1"
    workers = v1.list_namespaced_pod(NS, label_selector="training.kubeflow.org/job-role=worker").items
    assert sorted(w.metadata.name for w in workers) == ["nccl-worker-0", "nccl-worker-1"]
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["K_MPI_JOB_ROLE"] == "launcher" and env["OMPI_MCA_orte_default_hostfile"] == "/etc/mpi/hostfile"
    hostfile = v1.read_namespaced_config_map("nccl-config", NS).data["hostfile"]
    assert hostfile == "nccl-worker-0.nccl.default.svc slots=8\nnccl-worker-1.nccl.default.svc slots=8\n"

    done = kube.wait_for(lambda: condition(objects.get_namespaced_custom_object(
        "kubeflow.org", "v2beta1", NS, "mpijobs", "nccl"), "Succeeded") and objects.get_namespaced_custom_object(
        "kubeflow.org", "v2beta1", NS, "mpijobs", "nccl"))
    types = [c["type"] for c in done["status"]["conditions"]]
    assert types == ["Created", "Running", "Succeeded"]
    assert condition(done, "Succeeded")["reason"] == "MPIJobSucceeded"
    assert all(c["lastTransitionTime"] for c in done["status"]["conditions"])
    assert v1.read_namespaced_pod_log(pod.metadata.name, NS, tail_lines=1) == log.splitlines(True)[-1]
    kube.wait_for(lambda: not kube.pods("training.kubeflow.org/job-role=worker"))  # cleanPodPolicy: Running


def test_job_with_oom_killed_pod_fails(kube, api):
    kube.script("trainer", Behavior.oom_killed(log="allocating 80 GiB\n"))
    batch, v1 = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(NS, job("trainer", {"run": "r1"}))
    failed = kube.wait_for(lambda: condition(batch.read_namespaced_job("trainer", NS).to_dict(), "Failed") and
                           batch.read_namespaced_job("trainer", NS))
    assert failed.status.failed == 1 and failed.status.succeeded is None
    assert [c.reason for c in failed.status.conditions if c.type == "Failed"] == ["BackoffLimitExceeded"]
    pod = v1.list_namespaced_pod(NS, label_selector="batch.kubernetes.io/job-name=trainer").items[0]
    assert pod.metadata.name.startswith("trainer-") and len(pod.metadata.name) == len("trainer-") + 5
    assert pod.metadata.labels["job-name"] == "trainer" and pod.metadata.labels["run"] == "r1"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (pod.status.phase, terminated.reason, terminated.exit_code) == ("Failed", "OOMKilled", 137)
    assert v1.read_namespaced_pod_log(pod.metadata.name, NS) == "allocating 80 GiB\n"


def test_unschedulable_pod_gets_a_failed_scheduling_event(kube, api):
    for i in range(2):
        kube.add_node(node(f"gpu-{i}", "p5.48xlarge", taints=[GPU_TAINT]))
        kube.add_node(node(f"small-{i}", "p5en.48xlarge"))  # 16 EFA interfaces, no taint
    v1 = client.CoreV1Api(api)
    # The typed client validates bodies with its pydantic models: quantities must be strings client-side.
    resources = {"limits": {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "5120Mi",
                            "memory": "32000Mi"}}
    v1.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "worker"},
                                  "spec": {"containers": [container(resources=resources)]}})
    expected = ("0/4 nodes are available: 2 Insufficient vpc.amazonaws.com/efa, 2 node(s) had untolerated taint "
                "{nvidia.com/gpu: true}.")
    events = kube.wait_for(lambda: v1.list_namespaced_event(
        NS, field_selector="involvedObject.name=worker,reason=FailedScheduling").items)
    assert events[0].type == "Warning" and events[0].message.startswith(expected)
    assert events[0].involved_object.kind == "Pod" and events[0].source.component == "default-scheduler"
    pod = v1.read_namespaced_pod("worker", NS)
    scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert (pod.status.phase, scheduled.status, scheduled.reason) == ("Pending", "False", "Unschedulable")
    assert pod.spec.containers[0].resources.requests["nvidia.com/gpu"] == "8", "requests default to limits"

    kube.script(pod="scripted", behavior=Behavior.pending("0/9 nodes are available: 9 Too many pods."))
    v1.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "scripted"},
                                  "spec": {"containers": [container()]}})
    assert kube.wait_for(lambda: v1.list_namespaced_event(
        NS, field_selector="involvedObject.name=scripted").items)[0].message.startswith("0/9 nodes")


def test_deletecollection_by_label_removes_owned_pods(kube, api):
    apps, batch, v1 = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    labels = {"scenario-runner/run-id": "run-42"}
    kube.script("bench", Behavior.hangs())  # scripts apply to pods created after them
    batch.create_namespaced_job(NS, job("bench", labels))
    apps.create_namespaced_deployment(NS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "server", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "server"}},
                 "template": {"metadata": {"labels": {"app": "server", **labels}}, "spec": {"containers": [container()]}}}})
    v1.create_namespaced_config_map(NS, configmap("settings", labels))
    kube.wait_for(lambda: len([p for p in kube.pods(labels) if p["status"]["phase"] == "Running"]) == 3)
    kube.wait_for(lambda: apps.read_namespaced_deployment("server", NS).status.ready_replicas == 2)

    selector = "scenario-runner/run-id=run-42"
    batch.delete_collection_namespaced_job(NS, label_selector=selector, propagation_policy="Background")
    apps.delete_collection_namespaced_deployment(NS, label_selector=selector, propagation_policy="Background")
    v1.delete_collection_namespaced_config_map(NS, label_selector=selector)
    kube.wait_for(lambda: kube.objects(selector) == [])
    assert v1.list_namespaced_pod(NS, label_selector=selector).items == []


def test_deleting_a_job_without_propagation_policy_orphans_its_pods(kube, api):
    batch = client.BatchV1Api(api)
    kube.script("sleeper", Behavior.hangs())
    batch.create_namespaced_job(NS, job("sleeper"))
    kube.wait_for(lambda: kube.pods("job-name=sleeper"))
    batch.delete_namespaced_job("sleeper", NS)  # batch/v1 default: orphan, like a real cluster
    time.sleep(0.1)
    pods = kube.pods("job-name=sleeper")
    assert pods and not pods[0]["metadata"].get("ownerReferences")


def test_pod_watch_with_label_selector_sees_added_modified_deleted_in_order(kube, api):
    v1 = client.CoreV1Api(api)
    since = v1.list_namespaced_pod(NS, label_selector="app=web").metadata.resource_version
    seen = []

    def watch_pods():
        w = watch.Watch()
        for event in w.stream(v1.list_namespaced_pod, NS, label_selector="app=web", resource_version=since,
                              timeout_seconds=5):
            seen.append((event["type"], event["object"].metadata.name, event["object"].status.phase))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=watch_pods)
    thread.start()
    pod = lambda name, labels: {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                                "spec": {"containers": [container()]}}
    v1.create_namespaced_pod(NS, pod("web", {"app": "web"}))
    v1.create_namespaced_pod(NS, pod("db", {"app": "db"}))
    kube.wait_for(lambda: kube.get("pods", "web")["status"]["phase"] == "Running")
    v1.delete_namespaced_pod("web", NS)
    thread.join(5)
    assert seen[0] == ("ADDED", "web", "Pending")
    assert seen[-1][0] == "DELETED" and {name for _, name, _ in seen} == {"web"}
    assert {kind for kind, _, _ in seen[1:-1]} == {"MODIFIED"} and ("MODIFIED", "web", "Running") in seen


def test_self_subject_access_review_denial(kube, api):
    auth = client.AuthorizationV1Api(api)
    kube.deny("create", "mpijobs", group="kubeflow.org", namespace=NS)

    def allowed(verb, resource, group):
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": NS, "verb": verb, "group": group,
                                                  "resource": resource}}}
        return auth.create_self_subject_access_review(review).status.allowed

    assert allowed("create", "mpijobs", "kubeflow.org") is False
    assert allowed("delete", "mpijobs", "kubeflow.org") is True
    assert allowed("create", "pods", "") is True
    with pytest.raises(ApiException) as e:
        client.CustomObjectsApi(api).create_namespaced_custom_object("kubeflow.org", "v2beta1", NS, "mpijobs",
                                                                     mpijob("denied"))
    assert e.value.status == 403 and 'cannot create resource \\"mpijobs\\"' in e.value.body


# -- more of the surface the executor uses ------------------------------------------------------------------

def test_load_kube_config_discovery_and_seeded_nodes(kube):
    kube.add_node(node("gpu-0", "p5.48xlarge", taints=[GPU_TAINT]))
    kube.add_node(node("system-0", "m7g.xlarge"))
    config.load_kube_config(config_file=str(kube.kubeconfig_path), context="fake")
    nodes = {n.metadata.name: n for n in client.CoreV1Api().list_node().items}
    assert nodes["gpu-0"].status.allocatable["vpc.amazonaws.com/efa"] == "32"
    assert nodes["gpu-0"].metadata.labels["node.kubernetes.io/instance-type"] == "p5.48xlarge"
    assert nodes["system-0"].metadata.labels["kubernetes.io/arch"] == "arm64"
    crds = {c.metadata.name for c in client.ApiextensionsV1Api().list_custom_resource_definition().items}
    assert {"mpijobs.kubeflow.org", "leaderworkersets.leaderworkerset.x-k8s.io",
            "disaggregatedsets.disaggregatedset.x-k8s.io"} <= crds
    resources = client.BatchV1Api().get_api_resources()
    assert "jobs" in [r.name for r in resources.resources]


def test_leaderworkerset_pods_labels_env_and_status(kube, api):
    template = {"metadata": {"labels": {"run": "r1"}}, "spec": {"containers": [container()]}}
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": {"name": "sglang"},
           "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2, "workerTemplate": template}}}
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object("leaderworkerset.x-k8s.io", "v1", NS, "leaderworkersets", lws)
    status = kube.wait_for(lambda: (lambda o: o.get("status", {}).get("readyReplicas") == 1 and o["status"])(
        objects.get_namespaced_custom_object("leaderworkerset.x-k8s.io", "v1", NS, "leaderworkersets", "sglang")))
    assert condition({"status": status}, "Available")["reason"] == "AllGroupsReady"
    pods = {p["metadata"]["name"]: p for p in kube.pods("run=r1")}
    assert set(pods) == {"sglang-0", "sglang-0-1"}
    worker = pods["sglang-0-1"]["metadata"]["labels"]
    assert (worker["leaderworkerset.sigs.k8s.io/name"], worker["leaderworkerset.sigs.k8s.io/group-index"],
            worker["leaderworkerset.sigs.k8s.io/worker-index"]) == ("sglang", "0", "1")
    env = {e["name"]: e.get("value") for e in pods["sglang-0"]["spec"]["containers"][0]["env"]}
    assert env == {"LWS_LEADER_ADDRESS": "sglang-0.sglang.default", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "0"}


def test_disaggregatedset_makes_pods_for_each_role(kube, api):
    role = lambda name: {"name": name, "spec": {"replicas": 1, "leaderWorkerTemplate": {
        "size": 1, "workerTemplate": {"metadata": {"labels": {"run": "r1"}}, "spec": {"containers": [container()]}}}}}
    ds = {"apiVersion": "disaggregatedset.x-k8s.io/v1", "kind": "DisaggregatedSet", "metadata": {"name": "pd"},
          "spec": {"roles": [role("prefill"), role("decode")]}}
    client.CustomObjectsApi(api).create_namespaced_custom_object("disaggregatedset.x-k8s.io", "v1", NS,
                                                                 "disaggregatedsets", ds)
    kube.wait_for(lambda: len([p for p in kube.pods("run=r1") if p["status"]["phase"] == "Running"]) == 2)
    roles = sorted(p["metadata"]["labels"]["disaggregatedset.x-k8s.io/role"] for p in kube.pods("run=r1"))
    assert roles == ["decode", "prefill"]
    assert not kube.get("disaggregatedsets", "pd").get("status")  # as LWS v0.9.0: the controller writes no status


def test_failures_users_hit(kube, api):
    v1 = client.CoreV1Api(api)
    kube.add_node(node("gpu-0", "p5.48xlarge", taints=[GPU_TAINT]))
    kube.add_node(node("system-0", "m7g.xlarge"))
    kube.script(pod="pull", behavior=Behavior.image_pull_backoff())
    kube.script(pod="crash", behavior=Behavior.crash_loop(log="Traceback: boom\n"))
    kube.script(pod="launcher", behavior=Behavior.wrong_arch())
    for name in ("pull", "crash", "launcher"):
        v1.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                      "spec": {"restartPolicy": "Never" if name == "launcher" else "Always",
                                               "containers": [container()]}})

    def waiting_state(name):
        statuses = v1.read_namespaced_pod(name, NS).status.container_statuses or []
        return statuses[0].state.waiting if statuses else None

    def waiting(name):
        state = waiting_state(name)
        return state.reason if state else None

    state = kube.wait_for(lambda: waiting("pull") == "ImagePullBackOff" and waiting_state("pull"))
    assert state.message == 'Back-off pulling image "registry.example/tool:1.0"'
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod_log("pull", NS)
    assert e.value.status == 400 and "is waiting to start: trying and failing to pull image" in e.value.body

    kube.wait_for(lambda: v1.read_namespaced_pod("crash", NS).status.container_statuses[0].restart_count >= 2)
    crashed = v1.read_namespaced_pod("crash", NS).status.container_statuses[0]
    assert crashed.last_state.terminated.exit_code == 1
    assert v1.read_namespaced_pod_log("crash", NS, previous=True) == "Traceback: boom\n"
    assert kube.events("crash", reason="BackOff")[0]["type"] == "Warning"

    launcher = kube.wait_for(lambda: (lambda p: p.status.phase == "Failed" and p)(v1.read_namespaced_pod("launcher", NS)))
    terminated = launcher.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code, launcher.spec.node_name) == ("Error", 1, "system-0")
    assert terminated.message == "exec /usr/bin/bash: exec format error"
    assert v1.read_namespaced_pod_log("launcher", NS) == "exec /usr/bin/bash: exec format error\n"


def test_admission_rejects_what_a_real_server_rejects(kube, api):
    batch, v1 = client.BatchV1Api(api), client.CoreV1Api(api)
    bad_job = job("bad", restart_policy="Always")
    with pytest.raises(ApiException) as e:
        batch.create_namespaced_job(NS, bad_job)
    assert e.value.status == 422 and 'Unsupported value: \\"Always\\"' in e.value.body
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map(NS, configmap("x", {"scenario-runner/run-id": "a" * 64}))
    assert e.value.status == 422 and "must be no more than 63 characters" in e.value.body

    def raw_create(pod):  # past the typed client's own validation, as the dynamic client or kubectl would send
        response = api.call_api("POST", f"{kube.url}/api/v1/namespaces/{NS}/pods",
                                {"Content-Type": "application/json"}, body=pod)
        response.read()
        return response.status, json.loads(response.data)

    env_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "typed"},
               "spec": {"containers": [container(env=[{"name": "N", "value": 8}])]}}
    status, body = raw_create(env_pod)
    assert status == 400 and body["reason"] == "BadRequest"
    gpu_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gpus"},
               "spec": {"containers": [container(resources={"limits": {"nvidia.com/gpu": 8}},
                                                 volumeMounts=[{"name": "shm", "mountPath": "/dev/shm"}])]}}
    status, body = raw_create(gpu_pod)
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.containers[0].volumeMounts[0].name"
    gpu_pod["spec"]["volumes"] = [{"name": "shm", "emptyDir": {"medium": "Memory"}}]
    gpu_pod["spec"]["containers"][0]["tolerations"] = [{"operator": "Exists"}]  # misplaced: dropped, warned
    status, body = raw_create(gpu_pod)
    assert status == 201 and body["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert "tolerations" not in body["spec"]["containers"][0]


def test_request_counts_expose_hot_polling(kube, api):
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map(NS, configmap("polled"))
    kube.reset_requests()
    for _ in range(20):
        v1.read_namespaced_config_map("polled", NS)
    v1.list_namespaced_pod(NS)
    assert kube.count("get", "configmaps") == 20 and kube.count("list", "pods") == 1
    assert kube.max_rate("get", "configmaps", window=1.0) == 20
    method, path, query = kube.requests[-1]
    assert (method, path) == ("GET", "/api/v1/namespaces/default/pods")


def test_injected_errors_expired_watches_and_closed_watches(kube, api):
    v1 = client.CoreV1Api(api)
    kube.inject_error("list", "pods", code=429, times=1)
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_pod(NS)
    assert e.value.status == 429
    assert v1.list_namespaced_pod(NS).items == []

    old = v1.list_namespaced_config_map(NS).metadata.resource_version
    v1.create_namespaced_config_map(NS, configmap("after-compaction"))
    kube.compact()
    with pytest.raises(ApiException) as e:
        for _ in watch.Watch().stream(v1.list_namespaced_config_map, NS, resource_version=old, timeout_seconds=1):
            pass
    assert e.value.status == 410

    started = time.monotonic()
    threading.Timer(0.2, kube.end_watches).start()
    for _ in watch.Watch().stream(v1.list_namespaced_config_map, NS, timeout_seconds=5):
        pass
    assert time.monotonic() - started < 2, "end_watches() closes open streams"

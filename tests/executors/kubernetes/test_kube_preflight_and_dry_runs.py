"""Before anything is created: no cluster configured, --dry-run=client/server, and the preflight checks (CRDs, capacity, RBAC)."""
from __future__ import annotations

import pytest
import yaml
from kube_support import REGISTRY, RUN_LABEL, Cluster, gpu_nodes, make_cluster, run_cli

from runner.base.errors import ExecutionError
from runner.execute.kubernetes.client import find_config
from runner.execute.kubernetes.executor import KubernetesExecutor
from tests.fakekube import STANDARD_CRDS, node

# --- no cluster configured -------------------------------------------------------------------------------


def test_without_any_cluster_configuration_the_message_says_where_it_looked(no_cluster_env, tmp_path):
    with pytest.raises(ExecutionError) as caught:
        KubernetesExecutor.check_environment({"context": None, "kubeconfig": None, "dry_run": None})
    text = str(caught.value)
    assert "no Kubernetes cluster configured" in text
    assert "$KUBECONFIG (not set)" in text and f"{tmp_path / 'home' / '.kube' / 'config'} (no such file)" in text
    assert "in-cluster service account (KUBERNETES_SERVICE_HOST not set)" in text
    assert "--dry-run=client" in text and "make scenario S=mooncake-tcp-loopback" in text


def test_the_cli_stops_before_creating_a_run_record(no_cluster_env, tmp_path):
    results = tmp_path / "results"
    process = run_cli(tmp_path, "run", "nccl-allreduce", "--set", REGISTRY, "--results", str(results))
    assert process.returncode == 3, process.stderr
    assert "no Kubernetes cluster configured" in process.stderr and "--dry-run=client" in process.stderr
    assert not results.exists()


def test_a_missing_kubeconfig_file_or_context_is_named(no_cluster_env, tmp_path, monkeypatch):
    with pytest.raises(ExecutionError, match=r"kubeconfig .*nope.yaml \(from --kubeconfig\) does not exist"):
        find_config({"kubeconfig": str(tmp_path / "nope.yaml")})
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-a") + ":" + str(tmp_path / "missing-b"))
    with pytest.raises(ExecutionError, match=r"\$KUBECONFIG=.*missing-a.*\(no such file\)"):
        find_config({})
    kube, cluster = make_cluster(tmp_path)
    try:
        with pytest.raises(ExecutionError, match=r"has no context 'prod'") as caught:
            find_config({"kubeconfig": str(cluster.kubeconfig), "context": "prod"})
        assert "contexts: fake" in str(caught.value)
    finally:
        kube.stop()


def test_an_unreachable_server_is_reported_before_the_run(no_cluster_env, tmp_path):
    kube, cluster = make_cluster(tmp_path)
    kube.stop()  # the kubeconfig now points at a closed port
    with pytest.raises(ExecutionError, match="cannot reach the Kubernetes API server at http://127.0.0.1"):
        KubernetesExecutor.check_environment(cluster.options())


# --- dry runs ----------------------------------------------------------------------------------------------


def test_dry_run_client_needs_no_cluster_and_writes_the_objects(no_cluster_env, tmp_path):
    results = tmp_path / "results"
    process = run_cli(tmp_path, "run", "nccl-allreduce", "--set", REGISTRY, "--results", str(results), "--dry-run=client")
    assert process.returncode == 0, process.stderr
    record = next(p for p in (results / "nccl-allreduce").iterdir() if (p / "verdict.json").exists())
    mpijob = yaml.safe_load((record / "manifests" / "02-mpijob-nccl-tests.yaml").read_text())
    run_id = mpijob["metadata"]["labels"][RUN_LABEL]
    assert run_id == record.name
    for role in ("Launcher", "Worker"):
        assert mpijob["spec"]["mpiReplicaSpecs"][role]["template"]["metadata"]["labels"][RUN_LABEL] == run_id
    run = Cluster.run_json(record)
    assert "dry run (client)" in run["facts"]["run_message"]
    assert run["facts"]["outcomes"]["nccl-tests"]["state"] == "skipped"


def test_dry_run_server_submits_every_object_with_dry_run_all(cluster):
    result = cluster.run("nccl-allreduce", dry_run="server")
    assert result.output.state == "completed", result.output.message
    assert "3/3 objects accepted" in result.output.message
    applies = [r for r in cluster.kube.requests if r.verb == "patch"]
    assert [r.resource for r in applies] == ["namespaces", "configmaps", "mpijobs"]
    assert all(r.query.get("dryRun") == "All" for r in applies)
    assert cluster.kube.objects(RUN_LABEL) == [] and cluster.kube.get("namespace", "scenario-runner") is None
    report = (result.record / "dry-run-server.txt").read_text()
    assert "ok   MPIJob/nccl-tests in scenario-runner" in report
    assert [d["accepted"] for d in result.output.facts["dry_run"]] == [True, True, True]


def test_dry_run_server_reports_each_rejected_object(no_cluster_env, tmp_path):
    kube, cluster = make_cluster(tmp_path, crds=[c for c in STANDARD_CRDS if not c.startswith("mpijobs")], nodes=gpu_nodes())
    try:
        result = cluster.run("nccl-allreduce", dry_run="server")
    finally:
        kube.stop()
    assert result.output.state == "error"
    assert "2/3 objects accepted" in result.output.message
    assert "rejected MPIJob/nccl-tests in scenario-runner: mpijobs.kubeflow.org is not served by this cluster" in result.output.message
    assert "mpi-operator/v0.6.0/deploy/v2beta1/mpi-operator.yaml" in result.output.message
    assert result.verdict.status == "ERROR"


# --- preflight ---------------------------------------------------------------------------------------------


def _no_writes(kube) -> bool:
    return not [r for r in kube.requests if r.verb in ("patch", "update", "delete", "deletecollection")]


def test_preflight_missing_crd_gives_the_install_command_and_creates_nothing(no_cluster_env, tmp_path):
    kube, cluster = make_cluster(tmp_path, crds=[], nodes=gpu_nodes())
    try:
        result = cluster.run("sglang-1p1d")
        assert _no_writes(kube)
    finally:
        kube.stop()
    assert result.verdict.status == "ERROR" and result.output.state == "error"
    message = result.output.message
    assert "preflight failed" in message and "nothing was created" in message
    assert "LeaderWorkerSet (leaderworkersets.leaderworkerset.x-k8s.io/v1) is not installed" in message
    assert "kubectl apply --server-side -f https://github.com/kubernetes-sigs/lws/releases/download/v0.9.0/manifests.yaml" in message
    assert {o.state for o in result.output.outcomes.values()} == {"skipped"}


def test_preflight_not_enough_efa_names_the_device_plugin(no_cluster_env, tmp_path):
    kube, cluster = make_cluster(tmp_path, nodes=gpu_nodes(efa=0))
    try:
        result = cluster.run("nccl-allreduce")
        assert _no_writes(kube)
    finally:
        kube.stop()
    message = result.output.message
    assert result.verdict.status == "ERROR"
    assert "the p5.48xlarge nodes cannot hold the run: 2 of 3 pods fit nowhere" in message
    assert "vpc.amazonaws.com/efa 32" in message and "vpc.amazonaws.com/efa 0" in message
    assert "EFA device plugin" in message


def test_preflight_efa_per_node_wrong_for_the_nodes(no_cluster_env, tmp_path):
    kube, cluster = make_cluster(tmp_path, nodes=gpu_nodes(efa=16))  # p5en-like nodes, p5 scenario
    try:
        result = cluster.run("nccl-allreduce")
    finally:
        kube.stop()
    assert "check platform.efaPerNode" in result.output.message


def test_preflight_without_gpu_nodes_says_which_types_exist(no_cluster_env, tmp_path):
    kube, cluster = make_cluster(tmp_path, nodes=[node("system-0", "m7g.xlarge"), node("system-1", "m7g.xlarge")])
    try:
        result = cluster.run("nccl-allreduce")
    finally:
        kube.stop()
    assert "no node of instance type p5.48xlarge" in result.output.message
    assert "m7g.xlarge x2" in result.output.message and "scale up the p5.48xlarge node group" in result.output.message


def test_preflight_denied_permission_is_named_with_the_rbac_fix(cluster):
    cluster.kube.deny("create", "mpijobs", group="kubeflow.org", enforce=False)
    cluster.kube.deny("get", "pods", subresource="log", enforce=False)
    result = cluster.run("nccl-allreduce")
    message = result.output.message
    assert result.verdict.status == "ERROR"
    assert "the runner may not create mpijobs.kubeflow.org in namespace scenario-runner" in message
    assert "the runner may not get pods/log in namespace scenario-runner" in message
    assert "templates/rbac/" in message
    assert _no_writes(cluster.kube)

"""Before anything is created: no cluster configured, --dry-run=client/server, and the preflight checks (CRDs, capacity, RBAC).

On the real local control plane (tests/control_plane.py), each run in its own namespace. A proxy in front of it
(tests/kubeproxy.py) records every request (to prove dryRun=All, or that nothing was written) and makes a CRD group
look missing; a real ServiceAccount with a Role lacking verbs is the runner's identity for the RBAC check."""
from __future__ import annotations

import base64
import json
import socket
import ssl
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from kube_support import REGISTRY, RUN_LABEL, run_cli

from runner.base.errors import ExecutionError
from runner.execute.kubernetes import preflight
from runner.execute.kubernetes.client import find_config
from runner.execute.kubernetes.executor import KubernetesExecutor
from runner.flows import rehearse
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library
from tests.control_plane import delete_namespace, token_kubeconfig
from tests.kubeproxy import FaultProxy

REPO = Path(__file__).resolve().parents[3]
LIBRARY = Library(REPO / "scenarios")
INSTANCE = preflight.INSTANCE_LABEL
WAIVE = "lints.waive=[{lint: %s, reason: the test asks for what no node of the cluster has}]"


class Plane:
    """Runs on the real control plane in a namespace of their own (deleted at the end), through a recording proxy."""

    def __init__(self, control_plane, tmp_path: Path, proxy: FaultProxy):
        from kubernetes import client as k8s
        from kubernetes import config as k8s_config

        self.plane, self.tmp, self.proxy, self.k8s = control_plane, tmp_path, proxy, k8s
        self.namespace = "t-" + uuid.uuid4().hex[:6]
        self.kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        self.api = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
        self.core, self.rbac = k8s.CoreV1Api(self.api), k8s.RbacAuthorizationV1Api(self.api)

    def run(self, name: str, *overrides: str, kubeconfig: Path | None = None, **options):
        scenario = rehearse.for_rehearsal(name, LIBRARY, overrides)
        options = {"kubeconfig": str(kubeconfig or self.kubeconfig), "namespace": self.namespace, "fail_fast_s": 5.0, **options}
        return run_scenario(scenario, executor_name="kubernetes", results_dir=self.tmp / "results", library=LIBRARY,
                            options=options)

    def left(self, run_id: str) -> list[str]:
        return rehearse.labelled_leftovers(self.plane, run_id)

    def namespace_there(self) -> bool:
        try:
            return bool(self.core.read_namespace(self.namespace))
        except self.k8s.ApiException as error:
            assert error.status == 404, error
            return False

    def writes(self) -> list[str]:
        """Every request that changes something (a SelfSubjectAccessReview only asks)."""
        return [f"{r.method} {r.path}" for r in self.proxy.requests
                if r.method in ("PATCH", "PUT", "DELETE") or (r.method == "POST" and not r.path.endswith("/selfsubjectaccessreviews"))]

    def close(self) -> None:
        try:
            delete_namespace(self.plane.kubeconfig, self.namespace)
        finally:
            self.api.close()


@pytest.fixture
def real(control_plane, tmp_path, no_cluster_env):
    with FaultProxy(control_plane.kubeconfig) as proxy:
        plane = Plane(control_plane, tmp_path, proxy)
        try:
            yield plane
        finally:
            plane.close()


def _group_missing(group: str):
    """A proxy rule's match: every request of the API group (discovery included), as a server without its CRDs answers."""
    return lambda method, path, query: path == f"/apis/{group}" or path.startswith(f"/apis/{group}/")


def _resource(path: str) -> str:
    parts = path.strip("/").split("/")
    parts = parts[2:] if parts[0] == "api" else parts[3:]
    if parts[0] == "namespaces" and len(parts) > 2:
        parts = parts[2:]
    return parts[0]


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


def test_a_missing_kubeconfig_file_or_context_is_named(no_cluster_env, tmp_path, monkeypatch, control_plane):
    with pytest.raises(ExecutionError, match=r"kubeconfig .*nope.yaml \(from --kubeconfig\) does not exist"):
        find_config({"kubeconfig": str(tmp_path / "nope.yaml")})
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-a") + ":" + str(tmp_path / "missing-b"))
    with pytest.raises(ExecutionError, match=r"\$KUBECONFIG=.*missing-a.*\(no such file\)"):
        find_config({})
    contexts = [c["name"] for c in yaml.safe_load(control_plane.kubeconfig.read_text())["contexts"]]
    assert "prod" not in contexts
    with pytest.raises(ExecutionError, match=r"has no context 'prod'") as caught:
        find_config({"kubeconfig": str(control_plane.kubeconfig), "context": "prod"})
    assert f"contexts: {', '.join(contexts)}" in str(caught.value)


def test_an_unreachable_server_is_reported_before_the_run(no_cluster_env, tmp_path, control_plane):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig = tmp_path / "closed.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(ExecutionError, match=f"cannot reach the Kubernetes API server at https://127.0.0.1:{port}"):
        KubernetesExecutor.check_environment({"kubeconfig": str(kubeconfig), "context": None, "dry_run": None})


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
    run = json.loads((record / "run.json").read_text())
    assert "dry run (client)" in run["facts"]["run_message"]
    assert run["facts"]["outcomes"]["nccl-tests"]["state"] == "skipped"


def test_dry_run_server_submits_every_object_with_dry_run_all(real):
    result = real.run("nccl-allreduce", dry_run="server")
    assert result.output.state == "completed", result.output.message
    assert "3/3 objects accepted" in result.output.message
    applies = [r for r in real.proxy.requests if r.method == "PATCH"]
    assert [_resource(r.path) for r in applies] == ["namespaces", "configmaps", "mpijobs"]
    assert all(r.query.get("dryRun") == "All" for r in applies)
    assert real.writes() == [f"PATCH {r.path}" for r in applies]  # nothing but the dry-run applies
    assert real.left(result.run_id) == [] and not real.namespace_there()
    report = (result.record / "dry-run-server.txt").read_text()
    # the namespace does not exist yet: its objects are checked in `default` (the real server refuses them otherwise)
    assert f"ok   MPIJob/nccl-tests in {real.namespace}: accepted (checked in namespace default: " in report, report
    assert [d["accepted"] for d in result.output.facts["dry_run"]] == [True, True, True]


def test_dry_run_server_reports_each_rejected_object(real):
    real.proxy.rule(_group_missing("kubeflow.org"), status=404)
    result = real.run("nccl-allreduce", dry_run="server")
    assert result.output.state == "error"
    assert "2/3 objects accepted" in result.output.message
    assert (f"rejected MPIJob/nccl-tests in {real.namespace}: mpijobs.kubeflow.org is not served by this cluster"
            in result.output.message), result.output.message
    assert "mpi-operator/v0.6.0/deploy/v2beta1/mpi-operator.yaml" in result.output.message
    assert result.verdict.status == "ERROR"
    assert any(r.injected == "404" and r.method == "PATCH" for r in real.proxy.requests)
    assert real.left(result.run_id) == [] and not real.namespace_there()


# --- preflight ---------------------------------------------------------------------------------------------


def test_preflight_missing_crd_gives_the_install_command_and_creates_nothing(real):
    real.proxy.rule(_group_missing("leaderworkerset.x-k8s.io"), status=404)
    result = real.run("sglang-1p1d")
    assert real.writes() == []
    assert any(r.injected == "404" and r.path.startswith("/apis/leaderworkerset.x-k8s.io") for r in real.proxy.requests)
    assert result.verdict.status == "ERROR" and result.output.state == "error"
    message = result.output.message
    assert "preflight failed" in message and "nothing was created" in message
    assert "LeaderWorkerSet (leaderworkersets.leaderworkerset.x-k8s.io/v1) is not installed" in message
    assert "kubectl apply --server-side -f https://github.com/kubernetes-sigs/lws/releases/download/v0.9.0/manifests.yaml" in message
    assert {o.state for o in result.output.outcomes.values()} == {"skipped"}
    assert real.left(result.run_id) == [] and not real.namespace_there()


def _allocatable(real, instance: str, resource: str) -> set[str]:
    nodes = real.core.list_node(label_selector=f"{INSTANCE}={instance}").items
    assert nodes, f"the control plane has no {instance} node"
    return {n.status.allocatable.get(resource, "0") for n in nodes}


def test_preflight_not_enough_efa_names_the_shortage_and_creates_nothing(real):
    """Pods asking more EFA interfaces than the real p5.48xlarge nodes advertise (32) fit nowhere."""
    assert _allocatable(real, "p5.48xlarge", "vpc.amazonaws.com/efa") == {"32"}
    result = real.run("nccl-allreduce", "platform.efaPerNode=64", WAIVE % "platform-counts")
    assert real.writes() == []
    message = result.output.message
    assert result.verdict.status == "ERROR" and "preflight failed" in message
    assert "the p5.48xlarge nodes cannot hold the run: 2 of 3 pods fit nowhere" in message, message
    assert "vpc.amazonaws.com/efa 64" in message and "vpc.amazonaws.com/efa 32" in message
    assert "check platform.efaPerNode" in message
    assert real.left(result.run_id) == [] and not real.namespace_there()


def test_nodes_advertising_no_efa_name_the_device_plugin():
    """No node of the shared control plane lacks EFA (and adding one would change the fleet under concurrent tests), so
    the device-plugin hint is checked on the preflight's packing of node objects as the API server returns them."""
    def node(name):
        res = {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "0", "hugepages-2Mi": "10256Mi"}
        return {"metadata": {"name": name, "labels": {INSTANCE: "p5.48xlarge"}},
                "status": {"allocatable": res, "conditions": [{"type": "Ready", "status": "True"}]}}
    nodes = [node("gpu-0"), node("gpu-1")]
    worker = {"nvidia.com/gpu": Decimal(8), "vpc.amazonaws.com/efa": Decimal(32)}
    demands = [preflight.Demand("nccl-tests", {}), preflight.Demand("nccl-tests", worker), preflight.Demand("nccl-tests", worker)]
    finding = preflight._capacity_finding("p5.48xlarge", demands, nodes, nodes, preflight._pack(demands, nodes))
    assert "the p5.48xlarge nodes cannot hold the run: 2 of 3 pods fit nowhere" in finding.message
    assert "vpc.amazonaws.com/efa 32" in finding.message and "vpc.amazonaws.com/efa 0" in finding.message
    assert "EFA device plugin" in finding.fix


def test_preflight_efa_per_node_wrong_for_the_nodes(real):
    """The p5 scenario's 32 EFA per node on the p5en.48xlarge nodes (16 each)."""
    assert _allocatable(real, "p5en.48xlarge", "vpc.amazonaws.com/efa") == {"16"}
    result = real.run("nccl-allreduce", "platform.instanceType=p5en.48xlarge", "platform.efaPerNode=32", WAIVE % "platform-counts")
    assert real.writes() == []
    assert "the p5en.48xlarge nodes cannot hold the run" in result.output.message, result.output.message
    assert "check platform.efaPerNode" in result.output.message


def test_preflight_names_a_node_selector_no_node_matches(real):
    """platform.nodeSelector pins the pods to labelled nodes: when no node has the label, the scheduler would leave them
    Pending until the run's timeout; the preflight says so before anything is created."""
    assert not any((item.metadata.labels or {}).get("pool") == "blue" for item in real.core.list_node().items)
    result = real.run("nccl-allreduce", "platform.nodeSelector.pool=blue")
    message = result.output.message
    assert real.writes() == [] and result.verdict.status == "ERROR"
    assert "no node matches the nodeSelector of workload nccl-tests" in message and "pool=blue" in message, message
    assert "no node has pool=blue" in message and "kubectl label node" in message
    assert real.left(result.run_id) == []


def test_a_pod_goes_only_to_the_nodes_its_selector_matches():
    """Two free p5 nodes, but the selector allows one: the second worker fits nowhere."""
    def node(name, pool):
        res = {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "10256Mi"}
        return {"metadata": {"name": name, "labels": {INSTANCE: "p5.48xlarge", "pool": pool}},
                "status": {"allocatable": res, "conditions": [{"type": "Ready", "status": "True"}]}}
    worker = preflight.Demand("nccl-tests", {"nvidia.com/gpu": Decimal(8)}, {INSTANCE: "p5.48xlarge", "pool": "blue"})
    nodes = [node("gpu-0", "blue"), node("gpu-1", "green")]
    assert preflight._pack([worker, worker], nodes) == [worker]
    assert preflight._pack([worker], nodes) == []
    assert preflight._unmatched_selectors([worker], nodes) is None
    red = preflight.Demand("nccl-tests", {}, {INSTANCE: "p5.48xlarge", "pool": "red"})
    assert "no node has pool=red" in preflight._unmatched_selectors([worker, red], nodes).message


def test_preflight_without_nodes_of_the_type_says_which_types_exist(real):
    types: dict[str, int] = {}
    for item in real.core.list_node().items:
        kind = (item.metadata.labels or {}).get(INSTANCE, "?")
        types[kind] = types.get(kind, 0) + 1
    assert "p9.48xlarge" not in types
    result = real.run("nccl-allreduce", "platform.instanceType=p9.48xlarge", "platform.gpusPerNode=8", "platform.efaPerNode=32",
                      WAIVE % "unknown-instance-type")
    message = result.output.message
    assert real.writes() == []
    assert result.verdict.status == "ERROR"
    assert f"no node of instance type p9.48xlarge ({INSTANCE}=p9.48xlarge)" in message, message
    assert "found: " + ", ".join(f"{t} x{c}" for t, c in sorted(types.items())) in message
    assert "scale up the p9.48xlarge node group" in message


def _with_token(real, token: str) -> Path:
    """A kubeconfig through the recording proxy that authenticates with `token`: the proxy forwards the bearer token and
    presents no client certificate of its own (else the admin's certificate would win)."""
    config = yaml.safe_load(real.plane.kubeconfig.read_text())
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    real.proxy.tls = ssl.create_default_context(cadata=ca)
    return token_kubeconfig(replace(real.plane, kubeconfig=real.kubeconfig), token, real.tmp / "token-proxy.kubeconfig")


def _runner_identity(real, drop) -> str:
    """A ServiceAccount in the run's namespace bound to templates/rbac/role.yaml's Role and ClusterRole, less what
    `drop(rule)` takes away; returns its token. The namespaced objects go with the namespace, the cluster-wide ones
    with _drop_cluster_rbac."""
    role, cluster_role = yaml.safe_load_all((REPO / "templates" / "rbac" / "role.yaml").read_text())
    role["metadata"]["namespace"] = real.namespace
    role["rules"] = [r for r in (drop(rule) for rule in role["rules"]) if r]
    real.core.create_namespace({"metadata": {"name": real.namespace}})
    real.core.create_namespaced_service_account(real.namespace, {"metadata": {"name": "runner"}})
    real.rbac.create_namespaced_role(real.namespace, role)
    subject = [{"kind": "ServiceAccount", "name": "runner", "namespace": real.namespace}]
    real.rbac.create_namespaced_role_binding(real.namespace, {
        "metadata": {"name": "runner"}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}})
    cluster_role["metadata"]["name"] = f"scenario-runner-{real.namespace}"
    real.rbac.create_cluster_role(cluster_role)
    real.rbac.create_cluster_role_binding({
        "metadata": {"name": cluster_role["metadata"]["name"]}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role["metadata"]["name"]}})
    request = {"spec": {"expirationSeconds": 600}}
    return real.core.create_namespaced_service_account_token("runner", real.namespace, request).status.token


def _drop_cluster_rbac(real) -> None:
    name = f"scenario-runner-{real.namespace}"
    for delete in (real.rbac.delete_cluster_role_binding, real.rbac.delete_cluster_role):
        try:
            delete(name)
        except real.k8s.ApiException as error:
            if error.status != 404:
                raise


def _without_create_on_mpijobs_and_pod_logs(rule: dict) -> dict | None:
    if rule["resources"] == ["pods/log"]:
        return None
    if rule["resources"] == ["mpijobs"]:
        return {**rule, "verbs": [v for v in rule["verbs"] if v != "create"]}
    return rule


def test_preflight_denied_permission_is_named_with_the_rbac_fix(real):
    try:
        token = _runner_identity(real, _without_create_on_mpijobs_and_pod_logs)
        kubeconfig = _with_token(real, token)
        result = real.run("nccl-allreduce", kubeconfig=kubeconfig)
        message = result.output.message
        assert result.verdict.status == "ERROR" and "preflight failed" in message, message
        assert f"the runner may not create mpijobs.kubeflow.org in namespace {real.namespace}" in message
        assert f"the runner may not get pods/log in namespace {real.namespace}" in message
        assert "the runner may not patch mpijobs" not in message and "the runner may not create configmaps" not in message
        assert "templates/rbac/" in message
        assert real.proxy.requests and real.writes() == []
        assert real.left(result.run_id) == []
    finally:
        _drop_cluster_rbac(real)

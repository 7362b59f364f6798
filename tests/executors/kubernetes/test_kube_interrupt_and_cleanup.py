"""SIGINT mid-run, --keep and `scenario cleanup`, and a cleanup that cannot finish: nothing is left behind silently.

On the real local control plane (tests/control_plane.py): SIGINT to the CLI, the stop flag mid-run, --keep then
cleanup, a finalizer that holds cleanup, the namespace option, and cleanup as the ServiceAccount of templates/rbac/
(no deletecollection). A proxy in front of it (tests/kubeproxy.py) records the requests the runner sent."""
from __future__ import annotations

import base64
import json
import signal
import ssl
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from pathlib import Path

import yaml
from kube_support import REGISTRY, RUN_LABEL, cli_env, in_thread, run_cli
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from runner.execute.kubernetes.operations import cleanup
from runner.flows import rehearse
from runner.flows.run import StopFlag, run_scenario
from runner.scenario.resolve import Library
from tests.control_plane import annotate_launcher, delete_namespace, token_kubeconfig
from tests.kubeproxy import FaultProxy

REPO = Path(__file__).resolve().parents[3]
LIBRARY = Library(REPO / "scenarios")
TRUTH = REPO / "tests" / "truth"

LAUNCHER = "training.kubeflow.org/job-role=launcher"


def _hook(case_source, hang: bool):
    """The healthy case's output on every pod (runner.flows.rehearse), and the launcher kept Running when `hang`."""
    def hook(plan):
        plan = rehearse.decorate(plan, case_source.scenario, case_source.case, lambda *a: None)
        return annotate_launcher(plan, {rehearse.OUTCOME: "Running"}) if hang else plan
    return hook


class Real:
    """nccl-allreduce on the real control plane, its pods printing the healthy case."""

    def __init__(self, control_plane, tmp_path):
        self.plane, self.tmp = control_plane, tmp_path
        self.scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())
        self.case = rehearse.pick_case(self.scenario, TRUTH, None)
        self.api = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))

    def options(self, **extra):
        return {"kubeconfig": str(self.plane.kubeconfig), "fail_fast_s": 5.0, **extra}

    def run(self, *overrides, hang=False, stop=None, **options):
        scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, overrides) if overrides else self.scenario
        return run_scenario(scenario, executor_name="kubernetes", results_dir=self.tmp / "results", library=LIBRARY,
                            options=self.options(**options), stop=stop, plan_hook=_hook(self, hang))

    def left(self, run_id):
        return rehearse.labelled_leftovers(self.plane, run_id)

    def running_launcher(self, namespace="scenario-runner"):
        pods = k8s.CoreV1Api(self.api).list_namespaced_pod(namespace, label_selector=f"{RUN_LABEL},{LAUNCHER}").items
        return [p for p in pods if p.status.phase == "Running"]


def _wait_for(check, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s")


def test_stop_flag_mid_run_interrupts_cleans_up_and_writes_the_record(control_plane, tmp_path):
    real = Real(control_plane, tmp_path)
    stop = StopFlag()
    thread, box = in_thread(real.run, hang=True, stop=stop)
    _wait_for(real.running_launcher, 60)
    time.sleep(1.0)  # the runner's pod watch sees it too, and its log follower opens
    stop.signal_name = "SIGINT"
    stop.event.set()
    thread.join(timeout=60)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    result = box["result"]
    assert result.verdict.status == "INTERRUPTED" and result.verdict.exit_code == 130
    assert result.output.outcomes["nccl-tests"].state == "interrupted"
    assert json.loads((result.record / "verdict.json").read_text())["status"] == "INTERRUPTED"
    assert real.left(result.run_id) == []
    assert k8s.CoreV1Api(real.api).read_namespace("scenario-runner")  # the namespace itself stays
    # what the launcher printed before the interrupt was streamed into the record
    launcher = next((result.record / "logs" / "nccl-tests").glob("nccl-tests-launcher-*.log")).read_text()
    assert "NCCL INFO NET/OFI Selected provider is efa" in launcher


def test_keep_leaves_everything_and_cleanup_removes_it_later(control_plane, tmp_path):
    real = Real(control_plane, tmp_path)
    result = real.run(keep=True)
    assert result.verdict.status == "PASS"
    assert f"scenario cleanup --run {result.run_id}" in result.output.message
    left = real.left(result.run_id)
    assert any(item.startswith("MPIJob/nccl-tests ") for item in left) and any("ConfigMap/nccl-tests-launcher" in i for i in left)
    # the launcher's pod carries the run's labels (its template's); the MPI Operator's launcher Job does not (its
    # owner reference takes it away with the MPIJob), and the workers ended with the job (cleanPodPolicy Running)
    assert any(item.startswith("Pod/nccl-tests-launcher-") for item in left), left

    second = real.run(keep=True)
    assert real.left(second.run_id)
    assert cleanup(real.options(), run_id=result.run_id) == []
    assert real.left(result.run_id) == [] and real.left(second.run_id)

    process = run_cli(tmp_path, "cleanup", "--all", "--kubeconfig", str(control_plane.kubeconfig))
    assert process.returncode == 0, process.stderr
    assert "nothing left" in process.stdout
    assert real.left(second.run_id) == []
    assert k8s.CoreV1Api(real.api).read_namespace("scenario-runner")


def test_a_cleanup_that_cannot_finish_names_what_remains_and_fails_the_run(control_plane, tmp_path):
    real = Real(control_plane, tmp_path)
    core = k8s.CoreV1Api(real.api)
    hold = {"metadata": {"finalizers": ["example.com/hold"]}}

    def hold_the_configmap():
        _wait_for(lambda: _configmap(core), 60)
        core.patch_namespaced_config_map("nccl-tests-launcher", "scenario-runner", hold)

    holder, _ = in_thread(hold_the_configmap)
    started = time.monotonic()
    result = real.run("timeouts.cleanup=2s")
    holder.join(5)
    try:
        assert result.output.state == "error"
        assert result.verdict.status == "ERROR" and result.verdict.exit_code == 3
        message = result.output.message
        assert "CLEANUP INCOMPLETE" in message and "ConfigMap/nccl-tests-launcher in scenario-runner" in message
        assert "finalizers example.com/hold" in message and f"scenario cleanup --run {result.run_id}" in message
        assert time.monotonic() - started < 60
        assert [i.split(" ")[0] for i in real.left(result.run_id)] == ["ConfigMap/nccl-tests-launcher"]
    finally:  # the operator removes the finalizer; `scenario cleanup` then finishes the job
        core.patch_namespaced_config_map("nccl-tests-launcher", "scenario-runner", {"metadata": {"finalizers": None}})
    assert cleanup(real.options(), run_id=result.run_id) == []


def _configmap(core):
    try:
        return core.read_namespaced_config_map("nccl-tests-launcher", "scenario-runner")
    except k8s.ApiException:
        return None


def test_the_namespace_option_moves_the_run(control_plane, tmp_path):
    real = Real(control_plane, tmp_path)
    core = k8s.CoreV1Api(real.api)
    namespace = "team-" + uuid.uuid4().hex[:6]
    result = real.run(namespace=namespace)
    try:
        assert result.verdict.status == "PASS", result.verdict.summary
        assert result.output.facts["namespace"] == namespace
        pods = (result.record / "logs" / "nccl-tests" / "pods.txt").read_text()
        assert "nccl-tests-worker-0" in pods
        assert core.read_namespace(namespace)  # created for the run, and left in place
        assert real.left(result.run_id) == []
    finally:
        delete_namespace(control_plane.kubeconfig, namespace)


# --- SIGINT to the CLI; cleanup as templates/rbac/'s ServiceAccount -------------------------------------------------


def _hanging_cli(tmp_path: Path) -> Path:
    """The `scenario` command with one change: the MPIJob's launcher keeps Running (runner.cluster's outcome annotation on
    its pod template, as a rehearsal puts it), so the run is still going when the signal comes."""
    script = tmp_path / "scenario_hanging.py"
    script.write_text(textwrap.dedent(f"""
        from dataclasses import replace

        import runner.cli.run as cli_run
        from runner.cli.main import entry
        from runner.scenario.model import thaw

        def hang(plan):
            objects = []
            for obj in plan.objects:
                if obj.kind == "MPIJob":
                    body = thaw(obj.body)
                    meta = body["spec"]["mpiReplicaSpecs"]["Launcher"]["template"].setdefault("metadata", {{}})
                    meta.setdefault("annotations", {{}})[{rehearse.OUTCOME!r}] = "Running"
                    obj = replace(obj, body=body)
                objects.append(obj)
            return replace(plan, objects=tuple(objects))

        original = cli_run.run_scenario
        cli_run.run_scenario = lambda *args, **kwargs: original(*args, plan_hook=hang, **kwargs)
        entry()
    """))
    return script


def test_sigint_to_the_cli_leaves_no_object_and_exits_130(control_plane, tmp_path):
    real = Real(control_plane, tmp_path)
    namespace = "t-" + uuid.uuid4().hex[:6]
    results = tmp_path / "cli-results"
    try:
        with FaultProxy(control_plane.kubeconfig) as proxy:
            kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
            process = subprocess.Popen([sys.executable, str(_hanging_cli(tmp_path)), "run", "nccl-allreduce", "--set", REGISTRY,
                                        "--kubeconfig", str(kubeconfig), "--namespace", namespace, "--results", str(results),
                                        "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       env=cli_env(tmp_path), cwd=str(REPO))
            try:
                _wait_for(lambda: real.running_launcher(namespace) or process.poll() is not None, 90)
                assert process.poll() is None, process.communicate()
                time.sleep(1.0)  # the runner's pod watch sees it Running too
                process.send_signal(signal.SIGINT)
                stdout, stderr = process.communicate(timeout=90)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        assert process.returncode == 130, (stdout, stderr)
        records = [p for p in (results / "nccl-allreduce").iterdir() if (p / "verdict.json").exists()]
        assert len(records) == 1
        assert json.loads((records[0] / "verdict.json").read_text())["status"] == "INTERRUPTED"
        assert real.left(records[0].name) == []
        collection = f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs"
        deleted = [r for r in proxy.requests if r.method == "DELETE" and r.path == collection]
        assert deleted and all(r.query.get("labelSelector") == f"{RUN_LABEL}={records[0].name}" for r in deleted), deleted
    finally:
        delete_namespace(control_plane.kubeconfig, namespace)


def _as_runner(control_plane, tmp_path: Path, proxy: FaultProxy, namespace: str) -> Path:
    """A ServiceAccount of `namespace` bound to templates/rbac/role.yaml as it is (its ClusterRole under a name of this
    test's), and a kubeconfig through the proxy with its token. The proxy presents no client certificate of its own
    then (the admin's would win over the token)."""
    api = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
        role, cluster_role = yaml.safe_load_all((REPO / "templates" / "rbac" / "role.yaml").read_text())
        role["metadata"]["namespace"] = namespace
        cluster_role["metadata"]["name"] = f"scenario-runner-{namespace}"
        subject = [{"kind": "ServiceAccount", "name": "runner", "namespace": namespace}]
        core.create_namespace({"metadata": {"name": namespace}})
        core.create_namespaced_service_account(namespace, {"metadata": {"name": "runner"}})
        rbac.create_namespaced_role(namespace, role)
        rbac.create_namespaced_role_binding(namespace, {"metadata": {"name": "runner"}, "subjects": subject, "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}})
        rbac.create_cluster_role(cluster_role)
        rbac.create_cluster_role_binding({"metadata": {"name": cluster_role["metadata"]["name"]}, "subjects": subject, "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role["metadata"]["name"]}})
        token = core.create_namespaced_service_account_token("runner", namespace, {"spec": {"expirationSeconds": 600}}).status.token
    finally:
        api.close()
    ca = yaml.safe_load(control_plane.kubeconfig.read_text())["clusters"][0]["cluster"]["certificate-authority-data"]
    proxy.tls = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
    proxied = replace(control_plane, kubeconfig=proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig"))
    return token_kubeconfig(proxied, token, tmp_path / "runner.kubeconfig")


def _allowed(authorization, namespace: str, verb: str, resource: str, group: str) -> bool:
    review = {"spec": {"user": f"system:serviceaccount:{namespace}:runner", "resourceAttributes": {
        "namespace": namespace, "verb": verb, "resource": resource, "group": group}}}
    return authorization.create_subject_access_review(review).status.allowed


def test_cleanup_without_deletecollection_deletes_one_by_one(control_plane, tmp_path):
    """templates/rbac/role.yaml grants `delete`, not `deletecollection`: the runner falls back and still verifies."""
    real = Real(control_plane, tmp_path)
    rbac = k8s.RbacAuthorizationV1Api(real.api)
    namespace = "t-" + uuid.uuid4().hex[:6]
    try:
        with FaultProxy(control_plane.kubeconfig) as proxy:
            kubeconfig = _as_runner(control_plane, tmp_path, proxy, namespace)
            authorization = k8s.AuthorizationV1Api(real.api)
            for resource, group in (("mpijobs", "kubeflow.org"), ("configmaps", "")):
                assert _allowed(authorization, namespace, "delete", resource, group)
                assert not _allowed(authorization, namespace, "deletecollection", resource, group)
            result = real.run(kubeconfig=str(kubeconfig), namespace=namespace)
        assert result.verdict.status == "PASS", result.verdict.summary
        assert result.output.facts["cleanup"]["remaining"] == []
        assert real.left(result.run_id) == []
        base = {"mpijobs": f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs",
                "configmaps": f"/api/v1/namespaces/{namespace}/configmaps"}
        deletes = [r.path for r in proxy.requests if r.method == "DELETE"]
        for resource, path in base.items():
            assert path in deletes, deletes  # deletecollection tried first (and refused)...
            assert any(d.startswith(path + "/") for d in deletes), deletes  # ...then each object deleted by name
    finally:
        delete_namespace(control_plane.kubeconfig, namespace)
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete(f"scenario-runner-{namespace}")
            except k8s.ApiException as error:
                if error.status != 404:
                    raise

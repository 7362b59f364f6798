"""SIGINT mid-run, --keep and `scenario cleanup`, and a cleanup that cannot finish: nothing is left behind silently.

On the real local control plane (tests/control_plane.py): the stop flag mid-run, --keep then cleanup, a finalizer
that holds cleanup, the namespace option. On the fake API server (it counts requests and refuses verbs on demand):
SIGINT to the CLI, cleanup without deletecollection."""
from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

from kube_support import REGISTRY, RUN_LABEL, SCENARIO, in_thread, log_of, run_cli
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from runner.execute.kubernetes.operations import cleanup
from runner.flows import rehearse
from runner.flows.run import StopFlag, run_scenario
from runner.scenario.resolve import Library
from tests.fakekube import Behavior, Match

REPO = Path(__file__).resolve().parents[3]
LIBRARY = Library(REPO / "scenarios")
TRUTH = REPO / "tests" / "truth"

LAUNCHER = "training.kubeflow.org/job-role=launcher"


def _running_launcher(kube):
    return [p for p in kube.pods(f"{RUN_LABEL},{LAUNCHER}") if p.get("status", {}).get("phase") == "Running"]


def test_sigint_to_the_cli_leaves_no_object_and_exits_130(cluster):
    kube = cluster.kube
    kube.script(Match(kind="MPIJob", role="launcher"), Behavior.hangs())
    results = cluster.root / "cli-results"
    process = subprocess.Popen([*SCENARIO, "run", "nccl-allreduce", "--set", REGISTRY, "--kubeconfig", str(cluster.kubeconfig),
                                "--results", str(results), "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env())
    try:
        kube.wait_for(lambda: _running_launcher(kube) or process.poll() is not None, timeout=30)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (stdout, stderr)
    assert kube.objects(RUN_LABEL) == []
    records = [p for p in (results / "nccl-allreduce").iterdir() if (p / "verdict.json").exists()]
    assert len(records) == 1
    assert json.loads((records[0] / "verdict.json").read_text())["status"] == "INTERRUPTED"
    assert any(r.verb == "deletecollection" and r.resource == "mpijobs" for r in kube.requests)


def test_cleanup_without_deletecollection_deletes_one_by_one(cluster):
    """templates/rbac/role.yaml grants `delete`, not `deletecollection`: the runner falls back and still verifies."""
    kube = cluster.kube
    kube.deny("deletecollection")
    kube.script(Match(kind="MPIJob", role="launcher"), Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log")))
    result = cluster.run("nccl-allreduce")
    assert result.verdict.status == "PASS" and result.output.facts["cleanup"]["remaining"] == []
    assert cluster.left(result.run_id) == []
    assert {r.resource for r in kube.requests if r.verb == "delete"} >= {"mpijobs", "configmaps"}


# --- on the real control plane --------------------------------------------------------------------------------------


def _hook(case_source, hang: bool):
    """The healthy case's output on every pod (runner.flows.rehearse), and the launcher kept Running when `hang`."""
    def hook(plan):
        plan = rehearse.decorate(plan, case_source.scenario, case_source.case, lambda *a: None)
        if not hang:
            return plan
        for obj in plan.objects:
            if obj.kind == "MPIJob":
                meta = obj.body["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["metadata"]
                meta["annotations"][rehearse.OUTCOME] = "Running"
        return plan
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

    def running_launcher(self):
        pods = k8s.CoreV1Api(self.api).list_namespaced_pod("scenario-runner", label_selector=f"{RUN_LABEL},{LAUNCHER}").items
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
        core.delete_namespace(namespace)

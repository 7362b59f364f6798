"""Pods that fail the way GPU clusters fail: each gives the right status, the diagnostic that explains it, and no leftovers.

On the real local control plane (tests/control_plane.py): the API server, the scheduler, the Job controller, the MPI
Operator and LWS are real; kwok plays the kubelet, and how a container ends is chosen by the simulation's annotations
on its pod template (runner/cluster: the kubelet's own status texts). Every other pod prints the healthy recorded
case (runner.flows.rehearse.decorate). Each run has its own namespace, deleted after the test.
"""
from __future__ import annotations

import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pytest
from kube_support import REGISTRY, Recorder
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from runner.cluster import ANNOTATION_READY, ANNOTATION_REASON, feed_log
from runner.flows import rehearse
from runner.flows.run import RunResult, run_scenario
from runner.scenario.resolve import Library
from tests.control_plane import delete_namespace

REPO = Path(__file__).resolve().parents[3]
LIBRARY = Library(REPO / "scenarios")
TRUTH = REPO / "tests" / "truth"
LAUNCHER_LOG = TRUTH / "nccl-tests" / "v2.19.6" / "efa-16rank" / "launcher.log"
FAIL_FAST_S = 3.0
IMAGE = "registry.example/efa-validation/nccl-tests:v1.1.0"
# What Python prints for `python3 -m sglang_router.launch_router` in an image without the router package (runpy's
# own message; `python3 -m missing.module` prints it anywhere).
ROUTER_MISSING = ("/usr/bin/python3: Error while finding module specification for 'sglang_router.launch_router' "
                  "(ModuleNotFoundError: No module named 'sglang_router')\n")


@dataclass(frozen=True)
class Run:
    result: RunResult
    seconds: float
    namespace: str


class Plane:
    """Runs of the repository's scenarios in a namespace of their own, with some pods told how to fail."""

    def __init__(self, cluster: rehearse.Cluster, tmp_path: Path):
        self.cluster, self.tmp = cluster, tmp_path
        self.namespace = "t-" + uuid.uuid4().hex[:6]
        self.api = k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig))
        self.core = k8s.CoreV1Api(self.api)
        # made before the run: leader pods' logs are fed (kwok Logs objects, namespaced) before the pods exist
        self.core.create_namespace({"metadata": {"name": self.namespace}})

    def printed(self, name: str, text: str) -> str:
        """A file a pod prints (its log-file annotation)."""
        path = self.tmp / f"{name}.log"
        path.write_text(text)
        return str(path)

    def hostfile(self) -> str:
        """What the launcher script prints before mpirun: the hostfile from the MPI Operator's discover_hosts.sh."""
        return "".join(f"nccl-tests-worker-{i}.nccl-tests.{self.namespace}.svc slots=8\n" for i in range(2))

    def run(self, name: str, pods: Mapping[str, Mapping[str, str | None]], *overrides: str, timeout_s: float | None = None,
            edit: Callable[[dict], None] | None = None, progress=None) -> Run:
        """`pods`: annotations per pod template ("launcher", "worker" of an MPIJob; a Deployment's or Job's workload
        name), over the healthy case's; None removes one. `edit` changes each workload object's body before apply."""
        scenario = rehearse.for_rehearsal(name, LIBRARY, (REGISTRY, *overrides))
        case = rehearse.pick_case(scenario, TRUTH, None)

        def feed(namespace, pod, container, file):
            feed_log(self.cluster.kubeconfig, namespace, pod, container, file.read_text(errors="replace"),
                     cluster_dir=self.cluster.directory)

        def hook(plan):
            plan = rehearse.decorate(plan, scenario, case, feed)
            for obj in plan.objects:
                for key, template in _pod_templates(obj):
                    annotations = template["metadata"].setdefault("annotations", {})
                    for annotation, value in (pods.get(key) or {}).items():
                        if value is None:
                            annotations.pop(annotation, None)
                        else:
                            annotations[annotation] = value
                if edit is not None and obj.workload:
                    edit(obj.body)
            return plan

        options = {"kubeconfig": str(self.cluster.kubeconfig), "context": None, "namespace": self.namespace,
                   "fail_fast_s": FAIL_FAST_S}
        started = time.monotonic()
        result = run_scenario(scenario, executor_name="kubernetes", results_dir=self.tmp / "results", library=LIBRARY,
                              options=options, timeout_s=timeout_s, progress=progress or Recorder(), plan_hook=hook)
        return Run(result, time.monotonic() - started, self.namespace)

    def left(self, run: Run) -> list[str]:
        return rehearse.labelled_leftovers(self.cluster, run.result.run_id)

    def close(self) -> None:
        try:
            delete_namespace(self.cluster.kubeconfig, self.namespace)
        finally:
            self.api.close()
            shutil.rmtree(self.cluster.directory / "podlogs" / self.namespace, ignore_errors=True)  # what feed_log wrote


def _pod_templates(obj):
    """(key, pod template) of one rendered object: an MPIJob's "launcher" and "worker", a Deployment's or Job's
    workload name."""
    body = obj.body
    spec = body.get("spec") or {}
    if body.get("kind") == "MPIJob":
        for role, replica in (spec.get("mpiReplicaSpecs") or {}).items():
            yield role.lower(), replica["template"]
    elif body.get("kind") in ("Deployment", "Job"):
        yield obj.workload, spec["template"]


@pytest.fixture
def plane(control_plane, tmp_path):
    plane = Plane(control_plane, tmp_path)
    yield plane
    plane.close()


def _wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within 30 s"
        time.sleep(0.2)


def _infra_row(result, workload):
    return next(r for r in result.verdict.results if r.kind == "infrastructure" and r.workload == workload)


def _launcher(**annotations: str | None) -> dict:
    return {"launcher": {rehearse.OUTCOME: "Running", rehearse.LOG_FILE: None, **annotations}}


def test_image_pull_backoff_fails_fast_with_the_pull_error_and_a_registry_hint(plane):
    # the launcher waits for workers that never come (its script prints nothing until discover_hosts.sh lists them)
    run = plane.run("nccl-allreduce", {**_launcher(), "worker": {rehearse.OUTCOME: "ImagePullBackOff"}})
    result = run.result
    assert run.seconds < 120, run.seconds  # fail fast (grace 3 s), not the 30 min workload timeout

    assert result.verdict.status == "ERROR" and result.verdict.exit_code == 3
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed"
    assert "ImagePullBackOff" in outcome.message and f"for more than {FAIL_FAST_S:g}s" in outcome.message
    text = "\n".join(outcome.diagnostics)
    # the kubelet's waiting message, the pull error inside it
    assert f'Back-off pulling image "{IMAGE}": ErrImagePull: rpc error: code = NotFound' in text, text
    assert "hint: the image could not be pulled" in text and "ECR" in text
    assert "ImagePullBackOff" in _infra_row(result, "nccl-tests").message
    assert plane.left(run) == []


def test_oom_killed_launcher_is_an_error_with_the_memory_hint(plane):
    # what it printed before the kernel killed it: the hostfile, then the first lines of the ranks' output
    printed = plane.hostfile() + "".join(LAUNCHER_LOG.read_text().splitlines(keepends=True)[:24])
    last = printed.splitlines()[-1]
    run = plane.run("nccl-allreduce", {"launcher": {rehearse.OUTCOME: "Failed", rehearse.EXIT_CODE: "137",
                                                    ANNOTATION_REASON: "OOMKilled",
                                                    rehearse.LOG_FILE: plane.printed("oom", printed)}})
    result = run.result
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed"
    assert "OOMKilled" in outcome.message, outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "terminated OOMKilled, exit code 137" in text, text
    assert "hint: a container ran out of memory: raise resources.memory" in text
    assert last in text  # the tail of the failed container's log
    assert plane.left(run) == []


def test_unschedulable_workers_fail_fast_with_the_scheduler_message_and_the_efa_hint(plane):
    """A worker pinned to a p5.48xlarge whose EFA interfaces another pod holds: preflight counts what nodes have
    (allocatable), not what other pods use, so it passes; the scheduler has no EFA left there. (Both workers pinned to
    one node are refused by preflight now: it packs each pod onto the nodes its selector matches.)"""
    node = "p5-48xlarge-0"
    efa = {"vpc.amazonaws.com/efa": "32"}
    plane.core.create_namespaced_pod(plane.namespace, {
        "metadata": {"name": "holds-the-efa"},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                 "tolerations": [{"operator": "Exists"}],
                 "containers": [{"name": "c", "image": "registry.example/pause:3.10", "resources": {"requests": efa, "limits": efa}}]}})
    _wait_for(lambda: plane.core.read_namespaced_pod("holds-the-efa", plane.namespace).spec.node_name == node)
    run = plane.run("nccl-allreduce", _launcher(), f"platform.nodeSelector[kubernetes.io/hostname]={node}",
                    "workloads[nccl-tests].nodes=1", "workloads[nccl-tests].ranks=8")
    result = run.result
    assert run.seconds < 120, run.seconds
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed"
    assert "Unschedulable" in outcome.message and "Insufficient vpc.amazonaws.com/efa" in outcome.message, outcome.message
    assert re.search(r"0/\d+ nodes are available", outcome.message) and "didn't match Pod's node affinity/selector" in outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "event Warning FailedScheduling" in text, text
    assert "EFA device plugin" in text and "efaPerNode" in text
    assert plane.left(run) == []


def test_launcher_on_the_wrong_architecture_gets_the_node_selector_hint(plane):
    """runc starts the container and its exec of an arm64 /bin/bash fails: the container prints the error and exits 1."""
    printed = plane.printed("arch", "exec /bin/bash: exec format error\n")
    run = plane.run("nccl-allreduce", {"launcher": {rehearse.OUTCOME: "Failed", rehearse.EXIT_CODE: "1",
                                                    rehearse.LOG_FILE: printed}})
    result = run.result
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed" and "exit code 1" in outcome.message, outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "exec /bin/bash: exec format error" in text, text
    assert any("nodeSelector node.kubernetes.io/instance-type" in line for line in outcome.diagnostics)
    assert plane.left(run) == []


def test_hanging_launcher_times_out_at_the_run_limit_with_the_mpirun_hint(plane):
    hostfile = plane.hostfile()
    limit = 20.0
    run = plane.run("nccl-allreduce", _launcher(**{rehearse.LOG_FILE: plane.printed("hang", hostfile)}), timeout_s=limit)
    result = run.result
    assert limit <= run.seconds < limit + 60, run.seconds
    assert result.verdict.status == "TIMEOUT" and result.verdict.exit_code == 3
    assert result.output.state == "timeout"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "timeout" and f"{limit:.0f}s limit" in outcome.message, outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "mpirun printed no rank output" in text and "orte_keep_fqdn_hostnames" in text
    assert "slots=8" in text  # the tail of the launcher's log: what it printed before it hung
    # The launcher's log was streamed while it ran: it is in the record although the pod never ended.
    assert (result.record / "logs" / "nccl-tests" / outcome.logs[0].name).read_text() == hostfile
    assert plane.left(run) == []


def test_workload_timeout_is_a_timeout_even_when_the_controller_enforces_it(plane):
    """timeout: renders runPolicy.activeDeadlineSeconds; the launcher Job's controller then fails it with
    DeadlineExceeded and the MPI Operator copies that onto the MPIJob, which is still TIMEOUT.

    As rendered, the runner's own timer (started before the MPIJob is applied) and the deadline (counted by the Job
    controller from the launcher Job's start) are the same length, so the runner's always fires first. The deadline
    here is set below the runner's limit, as a cluster policy or a rounded-down fractional timeout would leave it."""
    hostfile = plane.hostfile()
    rendered = []

    def shorter_deadline(body):
        if body.get("kind") == "MPIJob":
            rendered.append(body["spec"]["runPolicy"]["activeDeadlineSeconds"])
            body["spec"]["runPolicy"]["activeDeadlineSeconds"] = 4

    run = plane.run("nccl-allreduce", _launcher(**{rehearse.LOG_FILE: plane.printed("deadline", hostfile)}),
                    "workloads.nccl-tests.timeout=120s", edit=shorter_deadline)
    result = run.result
    assert rendered == [120]  # as rendered: the workload's timeout
    assert run.seconds < 100, run.seconds  # the controller's deadline, long before the runner's 120 s
    assert result.verdict.status == "TIMEOUT"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "timeout"
    assert "DeadlineExceeded" in outcome.message and "120s limit" not in outcome.message, outcome.message
    assert "Job was active longer than specified deadline" in outcome.message
    assert (result.record / "logs" / "nccl-tests" / outcome.logs[0].name).read_text() == hostfile
    assert plane.left(run) == []


def test_crash_looping_router_fails_and_the_bench_is_skipped(plane):
    progress = Recorder()
    # it exits at start, before it ever listens: its readiness probe never passes
    run = plane.run("sglang-1p1d", {"router": {rehearse.OUTCOME: "CrashLoopBackOff", ANNOTATION_READY: "false",
                                               rehearse.LOG_FILE: plane.printed("router", ROUTER_MISSING)}},
                    progress=progress)
    result = run.result
    assert result.verdict.status == "ERROR"
    outcomes = result.output.outcomes
    assert outcomes["router"].state == "failed" and "CrashLoopBackOff" in outcomes["router"].message, outcomes["router"]
    assert any("No module named 'sglang_router'" in line for line in outcomes["router"].diagnostics)
    assert outcomes["bench"].state == "skipped" and "router did not succeed" in outcomes["bench"].message
    assert outcomes["prefill"].state == "done" and outcomes["decode"].state == "done"
    assert plane.left(run) == []
    # the bench was never applied: the runner did not apply it, and the Job controller never saw a Job
    assert not any(name == "bench" and state == "applied" for name, state, _ in progress.events)
    events = plane.core.list_namespaced_event(run.namespace).items
    assert not [e for e in events if e.involved_object.kind == "Job"], [e.message for e in events]

"""SIGINT mid-run, --keep and `scenario cleanup`, and a cleanup that cannot finish: nothing is left behind silently."""
from __future__ import annotations

import json
import signal
import subprocess
import time

from kube_support import REGISTRY, RUN_LABEL, SCENARIO, in_thread, log_of

from runner.execute.kubernetes.executor import cleanup
from runner.flows.run import StopFlag
from tests.fakekube import Behavior, Match

LAUNCHER = "training.kubeflow.org/job-role=launcher"


def _running_launcher(kube):
    return [p for p in kube.pods(f"{RUN_LABEL},{LAUNCHER}") if p.get("status", {}).get("phase") == "Running"]


def test_stop_flag_mid_run_interrupts_cleans_up_and_writes_the_record(cluster):
    kube = cluster.kube
    kube.script(Match(kind="MPIJob", role="launcher"), Behavior.hangs(log="warming up ssh to the workers\n"))
    stop = StopFlag()
    thread, box = in_thread(cluster.run, "nccl-allreduce", stop=stop)
    kube.wait_for(lambda: _running_launcher(kube), timeout=20)
    time.sleep(0.3)  # the runner's pod watch sees it too
    stop.signal_name = "SIGINT"
    stop.event.set()
    thread.join(timeout=30)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    result = box["result"]
    assert result.verdict.status == "INTERRUPTED" and result.verdict.exit_code == 130
    assert result.output.outcomes["nccl-tests"].state == "interrupted"
    assert cluster.verdict(result.record)["status"] == "INTERRUPTED"
    assert cluster.left(result.run_id) == []
    assert kube.get("namespace", "scenario-runner") is not None  # the namespace itself stays
    # what the launcher printed before the interrupt was streamed into the record
    assert "warming up ssh" in next((result.record / "logs" / "nccl-tests").glob("nccl-tests-launcher-*.log")).read_text()


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


def test_keep_leaves_everything_and_cleanup_removes_it_later(cluster):
    kube = cluster.kube
    kube.script(Match(kind="MPIJob", role="launcher"), Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log")))
    result = cluster.run("nccl-allreduce", keep=True)
    assert result.verdict.status == "PASS"
    assert f"scenario cleanup --run {result.run_id}" in result.output.message
    left = cluster.left(result.run_id)
    assert "MPIJob/nccl-tests" in left and "ConfigMap/nccl-tests-launcher" in left

    second = cluster.run("nccl-allreduce", keep=True)
    assert cluster.left(second.run_id)
    assert cleanup(cluster.options(), run_id=result.run_id) == []
    assert cluster.left(result.run_id) == [] and cluster.left(second.run_id)

    process = cluster.cli("cleanup", "--all", "--kubeconfig", str(cluster.kubeconfig))
    assert process.returncode == 0, process.stderr
    assert "nothing left" in process.stdout
    assert kube.objects(RUN_LABEL) == []
    assert kube.get("namespace", "scenario-runner") is not None


def test_a_cleanup_that_cannot_finish_names_what_remains_and_fails_the_run(cluster):
    kube = cluster.kube
    kube.script(Match(kind="MPIJob", role="launcher"), Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log"), after=50.0))
    configmaps = kube.api.rt("configmaps")

    def hold():
        kube.wait_for(lambda: kube.get("configmap", "nccl-tests-launcher", "scenario-runner"), timeout=20)
        kube.api.mutate(configmaps, "scenario-runner", "nccl-tests-launcher",
                        lambda o: o["metadata"].__setitem__("finalizers", ["example.com/hold"]), "test", subresource="")

    holder, _ = in_thread(hold)
    started = time.monotonic()
    result = cluster.run("nccl-allreduce", "timeouts.cleanup=1s")
    holder.join(5)
    assert result.output.state == "error"
    assert result.verdict.status == "ERROR" and result.verdict.exit_code == 3
    message = result.output.message
    assert "CLEANUP INCOMPLETE" in message and "ConfigMap/nccl-tests-launcher in scenario-runner" in message
    assert "finalizers example.com/hold" in message and f"scenario cleanup --run {result.run_id}" in message
    assert time.monotonic() - started < 20
    assert cluster.left(result.run_id) == ["ConfigMap/nccl-tests-launcher"]
    # the operator removes the finalizer; `scenario cleanup` then finishes the job
    kube.api.mutate(configmaps, "scenario-runner", "nccl-tests-launcher",
                    lambda o: o["metadata"].__setitem__("finalizers", []), "test", subresource="")
    assert cleanup(cluster.options(), run_id=result.run_id) == []


def test_cleanup_without_deletecollection_deletes_one_by_one(cluster):
    """templates/rbac/role.yaml grants `delete`, not `deletecollection`: the runner falls back and still verifies."""
    kube = cluster.kube
    kube.deny("deletecollection")
    kube.script(Match(kind="MPIJob", role="launcher"), Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log")))
    result = cluster.run("nccl-allreduce")
    assert result.verdict.status == "PASS" and result.output.facts["cleanup"]["remaining"] == []
    assert cluster.left(result.run_id) == []
    assert {r.resource for r in kube.requests if r.verb == "delete"} >= {"mpijobs", "configmaps"}


def test_the_namespace_option_moves_the_run(cluster):
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log")))
    result = cluster.run("nccl-allreduce", namespace="team-a")
    assert result.verdict.status == "PASS"
    assert {r.namespace for r in cluster.kube.requests if r.verb == "patch" and r.resource != "namespaces"} == {"team-a"}
    assert cluster.kube.get("namespace", "team-a") is not None  # created for the run, and left in place
    assert cluster.kube.get("namespace", "scenario-runner") is None

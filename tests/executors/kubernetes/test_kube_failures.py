"""Pods that fail the way GPU clusters fail: each gives the right status, the diagnostic that explains it, and no leftovers."""
from __future__ import annotations

import time

from kube_support import log_of

from tests.fakekube import Behavior, Match

HOSTFILE_ONLY = ("nccl-tests-worker-0.nccl-tests.scenario-runner.svc slots=8\n"
                 "nccl-tests-worker-1.nccl-tests.scenario-runner.svc slots=8\n")


def _infra_row(result, workload):
    return next(r for r in result.verdict.results if r.kind == "infrastructure" and r.workload == workload)


def test_image_pull_backoff_fails_fast_with_the_pull_error_and_a_registry_hint(cluster):
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.hangs())  # waits for workers that never come
    cluster.kube.script(Match(kind="MPIJob", role="worker"), Behavior.image_pull_backoff())
    started = time.monotonic()
    result = cluster.run("nccl-allreduce")
    assert time.monotonic() - started < 15  # fail fast (grace 0.5 s), not the 30 min workload timeout

    assert result.verdict.status == "ERROR" and result.verdict.exit_code == 3
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed"
    assert "ImagePullBackOff" in outcome.message and "for more than 2s" in outcome.message
    text = "\n".join(outcome.diagnostics)
    assert 'Failed to pull image "registry.example/efa-validation/nccl-tests:v1.1.0"' in text
    assert "hint: the image could not be pulled" in text and "ECR" in text
    assert "ImagePullBackOff" in _infra_row(result, "nccl-tests").message
    assert cluster.left(result.run_id) == []


def test_oom_killed_launcher_is_an_error_with_the_memory_hint(cluster):
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.oom_killed(log="loading 16 GiB buffers\n"))
    result = cluster.run("nccl-allreduce")
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed"
    assert "OOMKilled" in outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "terminated OOMKilled, exit code 137" in text
    assert "hint: a container ran out of memory: raise resources.memory" in text
    assert "loading 16 GiB buffers" in text  # the tail of the failed container's log
    assert cluster.left(result.run_id) == []


def test_unschedulable_workers_fail_fast_with_the_scheduler_message_and_the_efa_hint(cluster):
    message = ("0/4 nodes are available: 2 Insufficient vpc.amazonaws.com/efa, 2 node(s) didn't match Pod's node "
               "affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.")
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.hangs())
    cluster.kube.script(Match(kind="MPIJob", role="worker"), Behavior.pending(message))
    result = cluster.run("nccl-allreduce")
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed"
    assert "Unschedulable" in outcome.message and "Insufficient vpc.amazonaws.com/efa" in outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "event Warning FailedScheduling" in text
    assert "EFA device plugin" in text and "efaPerNode" in text
    assert cluster.left(result.run_id) == []


def test_launcher_on_the_wrong_architecture_gets_the_node_selector_hint(cluster):
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.wrong_arch())
    result = cluster.run("nccl-allreduce")
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert "exec format error" in outcome.message
    assert any("nodeSelector node.kubernetes.io/instance-type" in line for line in outcome.diagnostics)


def test_hanging_launcher_times_out_at_the_run_limit_with_the_mpirun_hint(cluster):
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.hangs(log=HOSTFILE_ONLY))
    started = time.monotonic()
    result = cluster.run("nccl-allreduce", timeout_s=2.0)
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 15, elapsed
    assert result.verdict.status == "TIMEOUT" and result.verdict.exit_code == 3
    assert result.output.state == "timeout"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "timeout" and "2s limit" in outcome.message
    text = "\n".join(outcome.diagnostics)
    assert "mpirun printed no rank output" in text and "orte_keep_fqdn_hostnames" in text
    assert "slots=8" in text  # the tail of the launcher's log: what it printed before it hung
    # The launcher's log was streamed while it ran: it is in the record although the pod never ended.
    assert (result.record / "logs" / "nccl-tests" / outcome.logs[0].name).read_text() == HOSTFILE_ONLY
    assert cluster.left(result.run_id) == []


def test_workload_timeout_is_a_timeout_even_when_the_controller_enforces_it(cluster):
    """timeout: renders activeDeadlineSeconds; the MPIJob then fails with DeadlineExceeded, which is still TIMEOUT.
    The fake cluster's clock runs 100x fast, so its controller's deadline (50 ms) comes long before the runner's own
    timer (5 s): the outcome must come from the controller's failure, not from the runner's limit."""
    cluster.kube.script(Match(kind="MPIJob", role="launcher"), Behavior.hangs(log=HOSTFILE_ONLY))
    started = time.monotonic()
    result = cluster.run("nccl-allreduce", "workloads.nccl-tests.timeout=5s")
    assert time.monotonic() - started < 5.0
    assert result.verdict.status == "TIMEOUT"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "timeout"
    assert "DeadlineExceeded" in outcome.message and "5s limit" not in outcome.message


def test_crash_looping_router_fails_and_the_bench_is_skipped(cluster):
    kube = cluster.kube
    for pool in ("prefill", "decode"):  # each pool prints its own healthy log: no check fails on what it printed
        kube.script(Match(kind="LeaderWorkerSet", name=pool, role="leader"),
                    Behavior.serves(**log_of(f"sglang/0.5.10.post1/pd-healthy/{pool}.log")))
    kube.script(Match(kind="Deployment", name="router"),
                Behavior.crash_loop(log="Traceback (most recent call last):\nValueError: unknown --prefill URL\n"))
    result = cluster.run("sglang-1p1d")
    assert result.verdict.status == "ERROR"
    outcomes = result.output.outcomes
    assert outcomes["router"].state == "failed" and "CrashLoopBackOff" in outcomes["router"].message
    assert any("ValueError: unknown --prefill URL" in line for line in outcomes["router"].diagnostics)
    assert outcomes["bench"].state == "skipped" and "router did not succeed" in outcomes["bench"].message
    assert outcomes["prefill"].state == "done"
    assert cluster.left(result.run_id) == []
    assert not any(r.resource == "jobs" and r.verb == "patch" for r in kube.requests)  # the bench was never applied

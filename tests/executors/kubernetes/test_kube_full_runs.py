"""Whole library scenarios on the fake cluster: nccl-allreduce (MPIJob) and sglang-1p1d after its baseline (LWS + Deployment + Job)."""
from __future__ import annotations

import json

from kube_support import Recorder, log_of

from tests.fakekube import Behavior, Match


def test_nccl_allreduce_passes_from_the_launcher_log_and_leaves_nothing(cluster):
    cluster.kube.script(Match(kind="MPIJob", name="nccl-tests", role="launcher"),
                        Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log")))
    progress = Recorder()
    result = cluster.run("nccl-allreduce", progress=progress)

    assert result.verdict.status == "PASS", [(r.name, r.status, r.message) for r in result.verdict.results]
    assert {r.name: r.status for r in result.verdict.results} == {
        "busbw-large": "PASS", "transport": "PASS", "network": "PASS", "wrong": "PASS", "out-of-bounds": "PASS", "ranks": "PASS"}
    assert result.metrics["nccl-tests"].result.metrics["busbw_gbps_max"].value > 470
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "done" and outcome.exit_code == 0
    # The launcher's log is the primary one (parsers read logs[0]); the workers' logs follow.
    assert outcome.logs[0].name.startswith("nccl-tests-launcher-")
    assert sorted(p.name for p in outcome.logs[1:]) == ["nccl-tests-worker-0.log", "nccl-tests-worker-1.log"]
    assert "Selected provider is efa" in (result.record / "logs" / "nccl-tests" / outcome.logs[0].name).read_text()
    assert (result.record / "logs" / "nccl-tests" / "pods.txt").read_text().count("Succeeded") >= 1

    assert cluster.left(result.run_id) == []
    run = cluster.run_json(result.record)
    facts = run["facts"]
    assert facts["cluster"]["gitVersion"] == "v1.31.0-fakekube"
    assert {n["instance_type"] for n in facts["nodes"]} == {"p5.48xlarge"}
    assert facts["nodes"][0]["allocatable"] == {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "10256Mi"}
    assert facts["nodes"][0]["kubelet"] and facts["nodes"][0]["container_runtime"] and facts["nodes"][0]["arch"] == "amd64"
    assert facts["images"] == ["registry.example/efa-validation/nccl-tests:v1.1.0"]
    assert facts["cleanup"]["remaining"] == []
    # Objects went in by server-side apply as field manager scenario-runner, with the run labels on pods too.
    applies = [r for r in cluster.kube.requests if r.verb == "patch"]
    assert applies and all(r.query.get("fieldManager") == "scenario-runner" and r.query.get("force") == "true" for r in applies)
    assert [r.resource for r in applies] == ["namespaces", "configmaps", "mpijobs"]
    # The progress shows the workload and its pods; the rendered manifests are in the record.
    assert ("nccl-tests", "applied", "MPIJob/nccl-tests") in progress.events
    assert any("3 pods" in detail for _, _, detail in progress.events)
    assert sorted(p.name for p in (result.record / "manifests").iterdir()) == [
        "00-namespace-scenario-runner.yaml", "01-configmap-nccl-tests-launcher.yaml", "02-mpijob-nccl-tests.yaml"]


def test_no_hot_polling_while_waiting(cluster):
    """A run whose launcher takes a while: the runner waits on watches, it does not poll."""
    cluster.kube.script(Match(kind="MPIJob", role="launcher"),
                        Behavior.succeeds(**log_of("nccl-tests/v2.19.6/efa-16rank/launcher.log"), after=150.0))  # 1.5 s real
    result = cluster.run("nccl-allreduce")
    assert result.verdict.status == "PASS"
    kube = cluster.kube
    assert kube.count("watch") <= 4
    assert kube.max_rate("list", window=1.0) <= 6  # the initial lists (and preflight), never a poll loop
    gets = [r for r in kube.requests if r.verb == "get" and r.subresource != "log"]
    assert len(gets) <= 2, [r.path for r in gets]  # the namespace (preflight); logs are one follow per container
    assert kube.count("get", "pods/log") == 3
    polls = [r for r in kube.requests if r.verb in ("get", "list") and r.resource in ("pods", "mpijobs") and r.subresource != "log"]
    assert len(polls) <= 4, [(r.verb, r.path) for r in polls]  # one list per cache + one per kind to verify cleanup


def test_sglang_1p1d_after_its_baseline(cluster):
    kube = cluster.kube
    kube.script(Match(kind="LeaderWorkerSet", name="server", role="leader"),
                Behavior.serves(**log_of("sglang/0.5.10.post1/baseline-healthy/server.log")))
    kube.script(Match(kind="Job", name="bench"), Behavior.succeeds(**log_of("sglang/0.5.10.post1/baseline-healthy/bench.log")))
    baseline = cluster.run("sglang-baseline-tp8")
    assert baseline.verdict.status == "PASS", baseline.verdict.summary
    assert baseline.metrics["bench"].result.metrics["ttft_ms_mean"].value == 330.0
    assert (baseline.record / "verdict.json").exists()
    assert cluster.left(baseline.run_id) == []

    kube.scripts.clear()
    kube.script(Match(kind="LeaderWorkerSet", name="prefill", role="leader"), Behavior.serves(**log_of("sglang/0.5.10.post1/pd-healthy/prefill.log")))
    kube.script(Match(kind="LeaderWorkerSet", name="decode", role="leader"), Behavior.serves(**log_of("sglang/0.5.10.post1/pd-healthy/decode.log")))
    kube.script(Match(kind="Deployment", name="router"), Behavior.serves())
    kube.script(Match(kind="Job", name="bench"), Behavior.succeeds(**log_of("sglang/0.5.10.post1/pd-healthy/bench.log")))
    progress = Recorder()
    result = cluster.run("sglang-1p1d", progress=progress)

    assert result.verdict.status == "PASS", result.verdict.summary + "\n" + "\n".join(
        f"{r.name} {r.status} {r.message}" for r in result.verdict.results)
    checks = {r.name: r for r in result.verdict.results}
    assert checks["ttft"].status == "PASS" and abs(checks["ttft"].threshold - 330 * 1.3) < 1e-6
    assert checks["tpot"].status == "PASS"
    for name in ("prefill-served", "decode-received-kv", "kv-over-efa", "kv-over-efa-prefill", "kv-not-over-tcp", "no-kv-errors", "completed"):
        assert checks[name].status == "PASS", checks[name]
    # Order: the router starts only when both pools are ready; the bench only when router and pools are.
    ready = {name: progress.index(name, "ready") for name in ("prefill", "decode", "router")}
    assert progress.index("router", "applied") > max(ready["prefill"], ready["decode"])
    assert progress.index("bench", "applied") > max(ready.values())
    outcomes = result.output.outcomes
    assert outcomes["bench"].state == "done"
    assert outcomes["prefill"].state == outcomes["decode"].state == outcomes["router"].state == "done"
    assert outcomes["prefill"].message == "stopped at the end of the run"
    assert outcomes["prefill"].logs[0].name == "prefill-0.log"
    assert outcomes["bench"].logs[0].name.startswith("bench-")
    assert cluster.left(result.run_id) == []
    stored = cluster.verdict(result.record)
    assert stored["status"] == "PASS"
    run = json.loads((result.record / "run.json").read_text())
    assert run["facts"]["outcomes"]["bench"]["state"] == "done"


def test_sglang_1p1d_as_one_disaggregatedset(cluster):
    kube = cluster.kube
    kube.script(Match(kind="LeaderWorkerSet", name="server", role="leader"), Behavior.serves(**log_of("sglang/0.5.10.post1/baseline-healthy/server.log")))
    kube.script(Match(kind="Job", name="bench"), Behavior.succeeds(**log_of("sglang/0.5.10.post1/baseline-healthy/bench.log")))
    assert cluster.run("sglang-baseline-tp8").verdict.status == "PASS"

    kube.scripts.clear()
    kube.script(Match(kind="DisaggregatedSet", role="prefill"), Behavior.serves(**log_of("sglang/0.5.10.post1/pd-healthy/prefill.log")))
    kube.script(Match(kind="DisaggregatedSet", role="decode"), Behavior.serves(**log_of("sglang/0.5.10.post1/pd-healthy/decode.log")))
    kube.script(Match(kind="Job", name="bench"), Behavior.succeeds(**log_of("sglang/0.5.10.post1/pd-healthy/bench.log")))
    progress = Recorder()
    result = cluster.run("sglang-1p1d-disaggregatedset", progress=progress)
    assert result.verdict.status == "PASS", [(r.name, r.status, r.message) for r in result.verdict.results]
    assert progress.index("bench", "applied") > max(progress.index("pd", "ready"), progress.index("router", "ready"))
    # both role leaders' logs belong to the workload (the log checks read all of them)
    assert len(result.output.outcomes["pd"].logs) == 2
    assert cluster.left(result.run_id) == []
    assert kube.objects(resource="leaderworkersets") == []  # the DisaggregatedSet's own LWSs went with it

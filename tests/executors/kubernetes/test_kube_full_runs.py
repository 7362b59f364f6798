"""Whole runs: nccl-allreduce on the real local control plane (tests/control_plane.py), what the run records of it; and
the absence of polling, counted on the fake API server (tests/fakekube: it counts every request). The whole library,
healthy and faulty, is rehearsed on the real control plane in tests/flows/test_rehearse.py."""
from __future__ import annotations

from pathlib import Path

from kube_support import Recorder, log_of

from runner.flows import rehearse
from runner.scenario.resolve import Library
from tests.fakekube import Behavior, Match

REPO = Path(__file__).resolve().parents[3]
LIBRARY = Library(REPO / "scenarios")
TRUTH = REPO / "tests" / "truth"


def test_nccl_allreduce_passes_from_the_launcher_log_and_leaves_nothing(control_plane, tmp_path):
    scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())
    case = rehearse.pick_case(scenario, TRUTH, None)
    progress = Recorder()
    result, leftovers = rehearse.run_rehearsed(scenario, rehearse.CaseSource(case), control_plane, results_dir=tmp_path,
                                               library=LIBRARY, progress=progress)

    assert result.verdict.status == "PASS", [(r.name, r.status, r.message) for r in result.verdict.results]
    assert {r.name for r in result.verdict.results} == {c.name for c in scenario.checks}
    assert result.metrics["nccl-tests"].result.metrics["busbw_gbps_max"].value > 470
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "done" and outcome.exit_code == 0
    # The launcher's log is the primary one (parsers read logs[0]): the MPI Operator's launcher Job's pod.
    assert outcome.logs[0].name.startswith("nccl-tests-launcher-")
    assert "Selected provider is efa" in (result.record / "logs" / "nccl-tests" / outcome.logs[0].name).read_text()
    pods = (result.record / "logs" / "nccl-tests" / "pods.txt").read_text()
    assert "nccl-tests-worker-0" in pods and "nccl-tests-worker-1" in pods and "Succeeded" in pods

    assert leftovers == ()
    facts = result.output.facts
    assert facts["cluster"]["gitVersion"] == "v1.37.2"
    assert {n["instance_type"] for n in facts["nodes"]} >= {"p5.48xlarge"}
    p5 = next(n for n in facts["nodes"] if n["instance_type"] == "p5.48xlarge")
    assert p5["allocatable"] == {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32", "hugepages-2Mi": "10256Mi"}
    assert facts["images"] == ["rehearsal.invalid/nccl-tests:v1.1.0"]
    assert facts["cleanup"]["remaining"] == []
    # Objects went in by server-side apply: the namespace (when new), the hostfile ConfigMap, the MPIJob.
    assert 2 <= facts["api_requests"]["patch"] <= 3
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

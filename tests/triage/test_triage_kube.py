"""Triage against the fake API server: a fleet of p5.48xlarge nodes, one of them degraded (its launchers print the
real nccl-tests fixture with a quarter of the bandwidth: tests/fixtures/k8s/README.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.flows.triage.drive import run_triage
from runner.scenario.resolve import Library
from tests.fakekube import Behavior, FakeKube, Match
from tests.fakekube.fleet import DegradedFleet, fleet_nodes

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "truth" / "nccl-tests" / "v2.19.6" / "efa-16rank" / "launcher.log"
REGISTRY = "registry=registry.example/efa-validation"


@pytest.fixture
def no_cluster_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def fleet(count: int, degraded: dict[str, float], **kube_args) -> FakeKube:
    kube = FakeKube(nodes=fleet_nodes(count), **kube_args)
    kube.script(Match(kind="MPIJob", role="launcher"),
                Behavior.succeeds(log=DegradedFleet(FIXTURE.read_text(), degraded), log_every=0.0))
    return kube


def triage(kube: FakeKube, tmp_path: Path, strategy: str, *overrides: str, **kw):
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    options = {"kubeconfig": str(kubeconfig), "context": None, "namespace": None, "keep": False, "dry_run": None, "fail_fast_s": 5.0}
    return run_triage("nccl-allreduce", Library(REPO / "scenarios"), [REGISTRY, *overrides], executor_name="kubernetes",
                      cli={"strategy": strategy, **kw.pop("cli", {})}, results_dir=tmp_path / "results", options=options,
                      announce=lambda line: None, **kw)


def test_adaptive_pairs_on_16_nodes_names_the_degraded_node_and_cleans_every_round(tmp_path, no_cluster_env, capsys):
    kube = fleet(16, {"gpu-11": 0.25})
    with kube:
        result = triage(kube, tmp_path, "adaptive-pairs")
        assert kube.server_errors == []
        assert kube.objects("scenario-runner.dev/run-id") == []
    assert result.suspects == ["gpu-11"], result.findings
    assert len(result.rounds) == 2 and all(r.left_behind == () for r in result.rounds)
    evidence = result.findings.suspects[0]
    assert evidence.bad_sets == evidence.sets == 2
    assert all("slow" in j.why or "FAIL" in j.why for j in evidence.evidence)
    document = json.loads((result.record / "triage.json").read_text())
    assert document["suspects"] == ["gpu-11"] and document["cordon"] == ["kubectl cordon gpu-11"]
    assert "gpu-11" in (result.record / "summary.md").read_text()
    assert 'class="heat"' in (result.record / "report.html").read_text()
    _report_again(result, tmp_path / "results", capsys)


def _report_again(result, results: Path, capsys) -> None:
    """`scenario report <triage-id>` prints the suspects table and writes summary.md and report.html again from
    triage.json alone: the same files, whether the triage is named by its id or its folder."""
    from runner.cli.main import main

    summary, html = (result.record / "summary.md").read_text(), (result.record / "report.html").read_text()
    for name in ("summary.md", "report.html"):
        (result.record / name).unlink()
    capsys.readouterr()
    assert main(["report", result.triage_id, "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "suspect" in out and result.suspects[0] in out and "bad" in out, out
    assert f"{result.record / 'summary.md'}" in out and f"{result.record / 'report.html'}" in out
    assert (result.record / "summary.md").read_text() == summary
    regenerated = (result.record / "report.html").read_text()
    assert 'class="heat"' in regenerated and regenerated.count("<td") == html.count("<td")
    assert main(["report", str(result.record)]) == 0 and (result.record / "summary.md").read_text() == summary
    # a record that is not one: one paragraph naming the file, exit 3 (as for a broken run record)
    (result.record / "triage.json").write_text("{\"format\": \"scenario-runner/flows/triage/v1\", \"sets\": 3}")
    capsys.readouterr()
    assert main(["report", str(result.record)]) == 3
    err = capsys.readouterr().err
    assert "triage.json: not a readable triage document" in err and "hint:" in err and "Traceback" not in err, err


# The fake's launchers print the 16-rank, 2-host fixture whatever the set's size: bisection's larger sets would fail
# an "== 16 ranks" or "== 2 hosts" check (triage scales them with the set) and the every-rank evidence lines, so these
# runs check ">= 16" ranks, hosts "<=" the set's and each evidence line at least once instead.
AT_LEAST_16_RANKS = ("checks.ranks.op=>=", "checks.hosts.op=<=", "checks.transport.count=1", "checks.network.count=1",
                     "checks.efa-devices.count=1", "checks.gpudirect.count=1")


@pytest.mark.parametrize("strategy, count", [("all-pairs", 8), ("bisection", 16)])
def test_one_degraded_node(tmp_path, no_cluster_env, strategy, count):
    kube = fleet(count, {"gpu-6": 0.25})
    with kube:
        result = triage(kube, tmp_path, strategy, *AT_LEAST_16_RANKS, cli={"concurrency": 8})
        assert kube.server_errors == []
        assert kube.objects("scenario-runner.dev/run-id") == []
        requests = list(kube.requests)
    assert result.suspects == ["gpu-6"], [(j.nodes, j.why) for j in result.findings.judged if j.bad]
    assert all(r.left_behind == () for r in result.rounds)
    if strategy == "all-pairs":
        assert len(result.rounds) == 7 and len(result.results) == 28
        suspect = result.findings.suspects[0]
        assert suspect.bad_sets == suspect.sets == 7
        assert suspect.fine_without == suspect.without == 21, [(j.nodes, j.why) for j in result.findings.unexplained]
    else:
        assert len(result.rounds) <= 5
    # API requests grow with the pods, not with time: no polling (a set is 2 workers + a launcher).
    pods = sum(len(r.nodes) + 1 for r in result.results)
    sets = len(result.results)
    assert len(requests) / pods < 10, _by_verb(requests)
    assert sum(1 for r in requests if r.verb == "list" and r.resource == "pods") <= 4 * sets
    # One connection for the triage: the cluster version, CRD discovery and the access reviews are asked once,
    # not once per set (the reviews twice: before the first set creates the namespace, and once it exists) ...
    reviews = [r for r in requests if r.resource == "selfsubjectaccessreviews"]
    assert 0 < len(reviews) <= 40, len(reviews)
    assert sum(1 for r in requests if r.path == "/version") == 1
    assert sum(1 for r in requests if r.path.rstrip("/") == "/apis/kubeflow.org/v2beta1") == 1
    # ... while every set still asks what is its own: the namespace, its nodes' capacity, its objects, their
    # deletion and the verification that they are gone (a list of every kind it created, after the deletion)
    assert sum(1 for r in requests if r.verb == "get" and r.resource == "namespaces") == sets
    assert sum(1 for r in requests if r.verb == "list" and r.resource == "nodes") >= sets
    assert sum(1 for r in requests if r.verb == "deletecollection" and r.resource == "mpijobs") == sets
    after_delete = {}
    for r in requests:
        selector = r.query.get("labelSelector", "")
        if r.verb == "deletecollection":
            after_delete.setdefault(selector, set())
        elif r.verb == "list" and selector in after_delete:
            after_delete[selector].add(r.resource)
    assert len(after_delete) == sets and all({"pods", "mpijobs", "configmaps"} <= kinds for kinds in after_delete.values()), after_delete
    # and after every round, one list per kind over the round's run ids: nothing of the round is left
    round_checks = [r for r in requests if r.verb == "list" and r.query.get("labelSelector", "").startswith("scenario-runner.dev/run-id in (")]
    assert len(round_checks) == len(result.rounds) * len({r.resource for r in round_checks}) and \
        {"pods", "mpijobs", "configmaps"} <= {r.resource for r in round_checks}


def _by_verb(requests) -> dict:
    counts: dict = {}
    for r in requests:
        counts[r.verb] = counts.get(r.verb, 0) + 1
    return counts


def test_64_nodes_adaptive_in_3_rounds_bisection_in_7(tmp_path, no_cluster_env):
    kube = fleet(64, {"gpu-45": 0.25})
    with kube:
        adaptive = triage(kube, tmp_path / "a", "adaptive-pairs", *AT_LEAST_16_RANKS)
        bisection = triage(kube, tmp_path / "b", "bisection", *AT_LEAST_16_RANKS)
        assert kube.objects("scenario-runner.dev/run-id") == []
    assert adaptive.suspects == ["gpu-45"] and len(adaptive.rounds) <= 3, [(j.nodes, j.why) for j in adaptive.findings.judged if j.bad]
    assert bisection.suspects == ["gpu-45"] and len(bisection.rounds) <= 7, [(j.nodes, j.why) for j in bisection.findings.judged if j.bad]
    assert all(r.left_behind == () for r in adaptive.rounds + bisection.rounds)
    assert len(adaptive.results) >= 32 and adaptive.findings.suspects[0].bad_sets == adaptive.findings.suspects[0].sets


def test_discovery_leaves_out_cordoned_and_not_ready_nodes_and_cordon_cordons(tmp_path, no_cluster_env):
    from tests.fakekube.fleet import fleet_nodes as nodes

    fleet_ = nodes(6) + nodes(1, prefix="cordoned-", unschedulable=True) + nodes(1, prefix="down-", ready=False) \
        + nodes(1, instance_type="m7i.4xlarge", prefix="cpu-")
    kube = FakeKube(nodes=fleet_)
    kube.script(Match(kind="MPIJob", role="launcher"),
                Behavior.succeeds(log=DegradedFleet(FIXTURE.read_text(), {"gpu-2": 0.25}), log_every=0.0))
    with kube:
        result = triage(kube, tmp_path, "adaptive-pairs", cordon=True)
        cordoned = {n["metadata"]["name"] for n in kube.store.items("nodes") if (n.get("spec") or {}).get("unschedulable")}
    assert result.fleet == tuple(f"gpu-{i}" for i in range(6))
    assert set(result.left_out) == {"cordoned-0", "down-0"} and result.left_out["cordoned-0"] == "cordoned"
    assert result.suspects == ["gpu-2"] and result.cordoned == ("gpu-2",)
    assert cordoned == {"cordoned-0", "gpu-2"}


def test_explicit_nodes_and_a_healthy_fleet(tmp_path, no_cluster_env):
    kube = fleet(8, {})
    with kube:
        result = triage(kube, tmp_path, "all-pairs", cli={"nodes": ["gpu-1", "gpu-3", "gpu-5", "gpu-7"]})
    assert result.fleet == ("gpu-1", "gpu-3", "gpu-5", "gpu-7")
    assert result.suspects == [] and not result.findings.unexplained and result.exit_code == 0
    assert len(result.rounds) == 3 and len(result.results) == 6
    pinned = {tuple(json.loads((Path(r.record) / "run.json").read_text())["variant"]["triage.nodes"]) for r in result.results}
    assert pinned == {r.nodes for r in result.results}


def test_cli_prints_suspects_as_json_and_exits_1(tmp_path, no_cluster_env):
    import os
    import subprocess
    import sys

    kube = fleet(6, {"gpu-4": 0.25})
    with kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        env = {**{k: v for k, v in os.environ.items() if k != "KUBECONFIG"}, "HOME": str(tmp_path), "CI": "true"}
        done = subprocess.run([str(Path(sys.executable).parent / "scenario"), "run", "nccl-allreduce", "--executor", "kubernetes",
                               "--set", REGISTRY, "--triage", "adaptive-pairs", "--kubeconfig", str(kubeconfig), "-o", "json",
                               "--results", str(tmp_path / "results")], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["suspects"] == ["gpu-4"] and document["strategy"] == "adaptive-pairs", [(s["nodes"], s["why"]) for s in document["sets"]]
    assert document["evidence"]["gpu-4"]["bad_sets"] == 2
    assert "round 1: 3 sets of 2 nodes" in done.stderr and "round 2:" in done.stderr


def test_cli_errors_are_one_paragraph_with_exit_2(tmp_path):
    import subprocess
    import sys

    scenario = str(Path(sys.executable).parent / "scenario")
    done = subprocess.run([scenario, "run", "collectives-loopback", "--triage", "all-pairs", "--cordon"], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2 and "--cordon works only on the kubernetes executor" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([scenario, "run", "collectives-loopback", "--triage", "all-pairs", "--set", "triage.workload=nope"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2 and "triage.workload 'nope' is not a workload" in done.stderr, done.stderr
    done = subprocess.run([scenario, "run", "collectives-loopback", "--triage", "all-pairs"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 2 and "needs its fleet: triage.nodes" in done.stderr, done.stderr

"""Triage on the real local control plane (tests/control_plane.py: kube-apiserver, scheduler, controllers, the MPI
Operator; kwok nodes): each test adds its own p5.48xlarge-shaped kwok nodes, selected by a label only it uses, one of
them degraded (the launchers of its sets print the real nccl-tests fixture with a quarter of the bandwidth:
tests/triage/kwok_fleet.py), runs in its own namespace, and removes both at the end."""
from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest

from runner.execute.kubernetes.cleanup import labelled_anywhere
from runner.execute.kubernetes.client import connect
from runner.flows.triage import drive
from runner.flows.triage.drive import run_triage
from runner.render.labels import LABEL_PREFIX
from runner.scenario.resolve import Library
from tests.kubeproxy import FaultProxy
from tests.triage.kwok_fleet import KwokFleet, delete_namespace, launchers_print

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "registry=registry.example/efa-validation"


@pytest.fixture
def no_cluster_env(monkeypatch, tmp_path):
    """Only the kubeconfig each test names: no $KUBECONFIG, no ~/.kube/config."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def fleet(control_plane, no_cluster_env):
    with KwokFleet(control_plane.kubeconfig) as added:
        yield added


@pytest.fixture
def namespace(control_plane):
    name = "t-" + uuid.uuid4().hex[:6]
    yield name
    delete_namespace(control_plane.kubeconfig, name)


def triage(kubeconfig: Path, fleet: KwokFleet, namespace: str, tmp_path: Path, strategy: str, *overrides: str,
           degraded: dict[str, float] | None = None, cli: dict | None = None, **kw):
    options = {"kubeconfig": str(kubeconfig), "context": None, "namespace": namespace, "keep": False, "dry_run": None,
               "fail_fast_s": 60.0}
    return run_triage("nccl-allreduce", Library(REPO / "scenarios"), [REGISTRY, *overrides], executor_name="kubernetes",
                      cli={"strategy": strategy, "selector": fleet.selector, **(cli or {})}, results_dir=tmp_path / "results",
                      options=options, announce=lambda line: None, run_fn=launchers_print(tmp_path / "logs", degraded or {}), **kw)


def left_anywhere(kubeconfig: Path, *results) -> list[str]:
    """Every object of any kind, in any namespace, that carries the run id of one of the triages' sets."""
    run_ids = sorted(r.run_id for result in results for r in result.results if r.run_id)
    assert run_ids, "no set of the triage ran"
    client = connect({"kubeconfig": str(kubeconfig)})
    try:
        return labelled_anywhere(client, f"{LABEL_PREFIX}/run-id in ({','.join(run_ids)})")
    finally:
        client.close()


def bad_sets(result) -> list:
    return [(j.nodes, j.why) for j in result.findings.judged if j.bad]


def test_adaptive_pairs_on_16_nodes_names_the_degraded_node_and_cleans_every_round(control_plane, fleet, namespace, tmp_path, capsys):
    fleet.add(fleet.names(16))
    degraded = fleet.name(11)
    result = triage(control_plane.kubeconfig, fleet, namespace, tmp_path, "adaptive-pairs", degraded={degraded: 0.25})
    assert left_anywhere(control_plane.kubeconfig, result) == []
    assert result.suspects == [degraded], result.findings
    assert len(result.rounds) == 2 and all(r.left_behind == () for r in result.rounds)
    evidence = result.findings.suspects[0]
    assert evidence.bad_sets == evidence.sets == 2
    assert all("slow" in j.why or "FAIL" in j.why for j in evidence.evidence)
    document = json.loads((result.record / "triage.json").read_text())
    assert document["suspects"] == [degraded] and document["cordon"] == [f"kubectl cordon {degraded}"]
    assert degraded in (result.record / "summary.md").read_text()
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


# The launchers print the 16-rank, 2-host fixture whatever the set's size: bisection's larger sets would fail an
# "== 16 ranks" or "== 2 hosts" check (triage scales them with the set) and the every-rank evidence lines, so these
# runs check ">= 16" ranks, hosts "<=" the set's and each evidence line at least once instead.
AT_LEAST_16_RANKS = ("checks.ranks.op=>=", "checks.hosts.op=<=", "checks.transport.count=1", "checks.network.count=1",
                     "checks.efa-devices.count=1", "checks.gpudirect.count=1")


@pytest.mark.parametrize("strategy, count", [("all-pairs", 8), ("bisection", 16)])
def test_one_degraded_node(control_plane, fleet, namespace, tmp_path, strategy, count):
    fleet.add(fleet.names(count))
    degraded = fleet.name(6)
    with FaultProxy(control_plane.kubeconfig) as proxy:  # records every request of the triage
        result = triage(proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig"), fleet, namespace, tmp_path, strategy,
                        *AT_LEAST_16_RANKS, degraded={degraded: 0.25}, cli={"concurrency": 8})
        requests = [Request.of(r) for r in proxy.requests]
    assert left_anywhere(control_plane.kubeconfig, result) == []
    assert result.suspects == [degraded], bad_sets(result)
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
    # every run of a set: a set whose run was ERROR (a cluster hiccup) runs once more, and asks again for its own
    runs = sum(1 for record in (tmp_path / "results" / "nccl-allreduce").iterdir() if (record / "run.json").is_file())
    assert sets <= runs <= sets + 2, (sets, runs)
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
    assert sum(1 for r in requests if r.verb == "get" and r.resource == "namespaces") == runs
    assert sum(1 for r in requests if r.verb == "list" and r.resource == "nodes") >= runs
    assert sum(1 for r in requests if r.verb == "deletecollection" and r.resource == "mpijobs") == runs
    after_delete: dict = {}
    for r in requests:
        selector = r.query.get("labelSelector", "")
        if r.verb == "deletecollection":
            after_delete.setdefault(selector, set())
        elif r.verb == "list" and selector in after_delete:
            after_delete[selector].add(r.resource)
    assert len(after_delete) == runs and all({"pods", "mpijobs", "configmaps"} <= kinds for kinds in after_delete.values()), after_delete
    # and after every round, one list per kind over the round's run ids: nothing of the round is left
    round_checks = [r for r in requests if r.verb == "list" and r.query.get("labelSelector", "").startswith(f"{LABEL_PREFIX}/run-id in (")]
    assert len(round_checks) == len(result.rounds) * len({r.resource for r in round_checks}) and \
        {"pods", "mpijobs", "configmaps"} <= {r.resource for r in round_checks}


class Request:
    """A request the proxy saw, named as the API server's audit log names it: verb (get, list, watch, create, patch,
    delete, deletecollection, ...) and resource (the plural; a subresource as pods/log)."""

    VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}

    def __init__(self, method: str, path: str, query: dict):
        self.method, self.path, self.query = method, path, query
        parts = [p for p in path.split("/") if p]
        rest = parts[2:] if parts[:1] == ["api"] else parts[3:] if parts[:1] == ["apis"] else []
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            rest = rest[2:]  # a namespaced resource (a namespace itself is /api/v1/namespaces/NAME)
        self.resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "") if rest else ""
        collection = len(rest) == 1
        if method == "GET":
            self.verb = "watch" if query.get("watch") in ("true", "1") else "list" if collection else "get"
        elif method == "DELETE":
            self.verb = "deletecollection" if collection else "delete"
        else:
            self.verb = self.VERBS.get(method, method.lower())

    @classmethod
    def of(cls, seen) -> "Request":
        return cls(seen.method, seen.path, seen.query)


def _by_verb(requests) -> dict:
    counts: dict = {}
    for r in requests:
        counts[r.verb] = counts.get(r.verb, 0) + 1
    return counts


# 32 nodes, not the 64 of tests/triage/test_strategies.py: on the real control plane (2 CPUs shared with the other
# tests) 64 took 4.7 minutes, 32 keep both relations: adaptive pairs in 3 rounds, bisection in log2(fleet) + 1.
FLEET = 32


def test_32_nodes_adaptive_in_3_rounds_bisection_in_log2_rounds(control_plane, fleet, namespace, tmp_path):
    fleet.add(fleet.names(FLEET))
    degraded = fleet.name(21)
    adaptive = triage(control_plane.kubeconfig, fleet, namespace, tmp_path / "a", "adaptive-pairs", *AT_LEAST_16_RANKS,
                      degraded={degraded: 0.25})
    bisection = triage(control_plane.kubeconfig, fleet, namespace, tmp_path / "b", "bisection", *AT_LEAST_16_RANKS,
                       degraded={degraded: 0.25})
    assert left_anywhere(control_plane.kubeconfig, adaptive, bisection) == []
    assert adaptive.suspects == [degraded] and len(adaptive.rounds) <= 3, bad_sets(adaptive)
    assert bisection.suspects == [degraded] and len(bisection.rounds) <= math.log2(FLEET) + 1, bad_sets(bisection)
    assert all(r.left_behind == () for r in adaptive.rounds + bisection.rounds)
    assert len(adaptive.results) >= FLEET // 2 and adaptive.findings.suspects[0].bad_sets == adaptive.findings.suspects[0].sets


def test_discovery_leaves_out_cordoned_and_not_ready_nodes_and_cordon_cordons(control_plane, fleet, namespace, tmp_path):
    gpus = fleet.add(fleet.names(6))
    cordoned = fleet.add([fleet.name(0, "cordoned-")], cordoned=True)
    down = fleet.add([fleet.name(0, "down-")], not_ready=True)
    fleet.add([fleet.name(0, "p5en-")], "p5en.48xlarge")  # labelled for the test, but not the scenario's instance type
    degraded = fleet.name(2)
    result = triage(control_plane.kubeconfig, fleet, namespace, tmp_path, "adaptive-pairs", degraded={degraded: 0.25},
                    cli={"selector": f"{fleet.selector},node.kubernetes.io/instance-type=p5.48xlarge"}, cordon=True)
    assert result.fleet == tuple(gpus)
    assert set(result.left_out) == {*cordoned, *down}, result.left_out
    assert result.left_out[cordoned[0]] == "cordoned" and result.left_out[down[0]].startswith("NotReady ("), result.left_out
    assert result.suspects == [degraded] and result.cordoned == (degraded,)
    assert fleet.unschedulable() == {cordoned[0], degraded}


def test_explicit_nodes_and_a_healthy_fleet(control_plane, fleet, namespace, tmp_path):
    nodes = fleet.add(fleet.names(8))
    chosen = nodes[1::2]
    result = triage(control_plane.kubeconfig, fleet, namespace, tmp_path, "all-pairs", cli={"nodes": chosen})
    assert result.fleet == tuple(chosen)
    assert result.suspects == [] and not result.findings.unexplained and result.exit_code == 0
    assert len(result.rounds) == 3 and len(result.results) == 6
    pinned = {tuple(json.loads((Path(r.record) / "run.json").read_text())["variant"]["triage.nodes"]) for r in result.results}
    assert pinned == {r.nodes for r in result.results}
    assert set().union(*pinned) == set(chosen)
    assert left_anywhere(control_plane.kubeconfig, result) == []


def test_cli_prints_suspects_as_json_and_exits_1(control_plane, fleet, namespace, tmp_path, monkeypatch, capsys):
    """The real command line, in this process: its sets' launchers print through the same plan hook (a separate
    process could not be given one)."""
    from runner.cli.main import main

    fleet.add(fleet.names(6))
    degraded = fleet.name(4)
    monkeypatch.setattr(drive, "run_scenario", launchers_print(tmp_path / "logs", {degraded: 0.25}))
    monkeypatch.setenv("CI", "true")
    capsys.readouterr()
    code = main(["run", "nccl-allreduce", "--executor", "kubernetes", "--set", REGISTRY, "--triage", "adaptive-pairs",
                 "--kubeconfig", str(control_plane.kubeconfig), "--namespace", namespace, "--node-selector", fleet.selector,
                 "-o", "json", "--results", str(tmp_path / "results")])
    out, err = capsys.readouterr()
    assert code == 1, err
    document = json.loads(out)
    assert document["suspects"] == [degraded] and document["strategy"] == "adaptive-pairs", [(s["nodes"], s["why"]) for s in document["sets"]]
    assert document["evidence"][degraded]["bad_sets"] == 2
    assert "round 1: 3 sets of 2 nodes" in err and "round 2:" in err


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

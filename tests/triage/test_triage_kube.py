"""Triage against the fake API server: a fleet of p5.48xlarge nodes, one of them degraded (its launchers print the
real nccl-tests fixture with a quarter of the bandwidth: tests/fixtures/k8s/README.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.resolve import Library
from runner.triage.drive import run_triage
from tests.fakekube import Behavior, FakeKube, Match
from tests.fakekube.fleet import DegradedFleet, fleet_nodes

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "k8s" / "nccl-allreduce-16ranks.log"
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


def test_adaptive_pairs_on_16_nodes_names_the_degraded_node_and_cleans_every_round(tmp_path, no_cluster_env):
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

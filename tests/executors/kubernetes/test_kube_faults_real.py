"""Faults a real server does not produce on demand, injected by a proxy in front of the real control plane
(tests/kubeproxy.py): 410 Gone on a watch, a watch cut mid-stream, slow answers, a server error on apply."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from runner.flows import rehearse
from runner.scenario.resolve import Library
from tests.kubeproxy import FaultProxy

REPO = Path(__file__).resolve().parents[3]
LIBRARY = Library(REPO / "scenarios")
TRUTH = REPO / "tests" / "truth"


@pytest.fixture
def proxied(control_plane, tmp_path):
    with FaultProxy(control_plane.kubeconfig) as proxy:
        yield proxy, replace(control_plane, kubeconfig=proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig"))


def _run(cluster, tmp_path):
    scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())
    case = rehearse.pick_case(scenario, TRUTH, None)
    return rehearse.run_rehearsed(scenario, rehearse.CaseSource(case), cluster, results_dir=tmp_path / "results",
                                  library=LIBRARY)


def _pod_watch(method, path, query):
    return method == "GET" and path.endswith("/pods") and query.get("watch") == "true" and "run-id" in query.get("labelSelector", "")


def test_a_watch_answered_410_gone_lists_again_and_the_run_passes(proxied, tmp_path):
    proxy, cluster = proxied
    proxy.rule(_pod_watch, gone=True, times=1)
    result, leftovers = _run(cluster, tmp_path)
    assert result.verdict.status == "PASS", result.verdict.summary
    assert leftovers == ()
    pods = [r for r in proxy.requests if r.path.endswith("/pods") and "run-id" in r.query.get("labelSelector", "")]
    gone = next(i for i, r in enumerate(pods) if r.injected == "410")
    assert any("watch" not in r.query for r in pods[gone + 1:])  # listed again after the 410
    assert result.output.facts["watch"]["pods"]["lists"] >= 2


def test_a_watch_cut_mid_stream_is_watched_again_and_the_run_passes(proxied, tmp_path):
    proxy, cluster = proxied
    proxy.rule(_pod_watch, drop_after=0.3, times=1)
    result, leftovers = _run(cluster, tmp_path)
    assert result.verdict.status == "PASS", result.verdict.summary
    assert leftovers == ()
    watches = [r for r in proxy.requests if _pod_watch(r.method, r.path, r.query)]
    assert watches[0].injected.startswith("dropped") and len(watches) >= 2


def test_slow_answers_slow_the_run_but_not_its_verdict(proxied, tmp_path):
    proxy, cluster = proxied
    proxy.rule(lambda method, path, query: query.get("watch") != "true" and not path.endswith("/log"), delay=0.2)
    result, leftovers = _run(cluster, tmp_path)
    assert result.verdict.status == "PASS", result.verdict.summary
    assert leftovers == ()
    assert sum(1 for r in proxy.requests if r.injected.startswith("delay")) >= 20


def test_a_server_error_on_apply_fails_the_workload_naming_it_and_leaves_nothing(proxied, tmp_path):
    proxy, cluster = proxied
    proxy.rule(lambda method, path, query: method == "PATCH" and path.endswith("/mpijobs/nccl-tests"), status=503)
    result, leftovers = _run(cluster, tmp_path)
    assert result.verdict.status == "ERROR"
    outcome = result.output.outcomes["nccl-tests"]
    assert outcome.state == "failed" and "MPIJob/nccl-tests" in outcome.message and "503" in outcome.message, outcome.message
    assert leftovers == ()

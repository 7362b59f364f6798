"""Faults a real server does not produce on demand, injected by a proxy in front of the real control plane
(tests/kubeproxy.py): 410 Gone on a watch, a watch cut mid-stream, slow answers, a server error on apply."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from runner.execute.kubernetes.client import connect
from runner.execute.kubernetes.kinds import Kind
from runner.execute.kubernetes.wait import Cache
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


def _why(result) -> str:
    outcomes = "; ".join(f"{name}: {o.state} {o.message}" for name, o in result.output.outcomes.items())
    return f"{result.verdict.summary} ({outcomes})"


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
    assert result.verdict.status == "PASS", _why(result)
    assert leftovers == ()
    pods = [r for r in proxy.requests if r.path.endswith("/pods") and "run-id" in r.query.get("labelSelector", "")]
    gone = next(i for i, r in enumerate(pods) if r.injected == "410")
    assert any("watch" not in r.query for r in pods[gone + 1:])  # listed again after the 410
    assert result.output.facts["watch"]["pods"]["lists"] >= 2


def test_a_watch_cut_mid_stream_is_watched_again_and_the_run_passes(proxied, tmp_path):
    proxy, cluster = proxied
    proxy.rule(_pod_watch, drop_after=0.3, times=1)
    result, leftovers = _run(cluster, tmp_path)
    assert result.verdict.status == "PASS", _why(result)
    assert leftovers == ()
    watches = [r for r in proxy.requests if _pod_watch(r.method, r.path, r.query)]
    assert watches[0].injected.startswith("dropped") and len(watches) >= 2


def test_slow_answers_slow_the_run_but_not_its_verdict(proxied, tmp_path):
    proxy, cluster = proxied
    proxy.rule(lambda method, path, query: query.get("watch") != "true" and not path.endswith("/log"), delay=0.2)
    result, leftovers = _run(cluster, tmp_path)
    assert result.verdict.status == "PASS", _why(result)
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


def test_a_broken_watch_resumes_after_its_last_event_and_replays_nothing(proxied):
    proxy, cluster = proxied
    configmaps = Kind("ConfigMap", "", "v1", "configmaps")
    selector = f"resume-test={uuid.uuid4().hex[:8]}"
    client = connect({"kubeconfig": str(cluster.kubeconfig)})
    woke = threading.Event()
    proxy.rule(lambda method, path, query: path.endswith("/configmaps") and query.get("watch") == "true",
               drop_after=1.5, times=1)
    cache = Cache(client, configmaps, "default", selector, woke.set).start()
    names = [f"resume-{selector[-8:]}-{i}" for i in range(2)]
    try:
        assert cache.synced.wait(10)
        for name in names:
            client.create(configmaps.path("default"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": name, "labels": dict([selector.split("=")])}})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len([r for r in proxy.requests if r.path.endswith("/configmaps")
                                                   and r.query.get("watch") == "true"]) < 2:
            time.sleep(0.1)
        watches = [r for r in proxy.requests if r.path.endswith("/configmaps") and r.query.get("watch") == "true"]
        assert watches[0].injected.startswith("dropped") and len(watches) >= 2
        assert int(watches[1].query["resourceVersion"]) > int(watches[0].query["resourceVersion"])  # after the events
        assert cache.events == 2 and cache.relists == 1  # nothing replayed, nothing listed again
        assert sorted(o["metadata"]["name"] for o in cache.items()) == names
    finally:
        cache.stop()
        for name in names:
            client.delete(configmaps.path("default", name))
        client.close()

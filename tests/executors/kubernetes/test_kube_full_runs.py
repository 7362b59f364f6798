"""Whole runs: nccl-allreduce on the real local control plane (tests/control_plane.py), what the run records of it; and
the absence of polling, counted by a recording proxy in front of it (tests/kubeproxy.py). The whole library, healthy
and faulty, is rehearsed on the real control plane in tests/flows/test_rehearse.py."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kube_support import Recorder

from runner.execute.kubernetes.wait import WATCH_TIMEOUT_S
from runner.flows import rehearse
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library
from tests.control_plane import annotate_launcher, delete_namespace
from tests.kubeproxy import FaultProxy

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


@dataclass(frozen=True)
class Call:
    """One API request as the proxy saw it, in Kubernetes audit terms."""

    time: float
    verb: str          # get list watch create patch delete deletecollection; version, discovery
    resource: str      # plural ("pods"), "" for version and discovery
    subresource: str   # "log", ...
    path: str
    query: dict


def _call(at: float, method: str, path: str, query: dict) -> Call:
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if parts[0] not in ("api", "apis") or not rest:
        return Call(at, "version" if parts == ["version"] else "discovery", "", "", path, query)
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource, name, subresource = (rest + ["", ""])[:3]
    if method == "GET":
        verb = "watch" if query.get("watch") in ("true", "1") else "get" if name else "list"
    else:
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update"}.get(method) or ("delete" if name else "deletecollection")
    return Call(at, verb, resource, subresource, path, query)


def _most_within(times: list[float], window: float) -> int:
    """The most of `times` within any `window` seconds."""
    return max((sum(1 for t in times if start <= t <= start + window) for start in times), default=0)


def test_no_hot_polling_while_waiting(control_plane, tmp_path):
    """A run whose launcher runs a while: the runner waits on watches, it does not poll."""
    run_for = 5.0
    scenario = rehearse.for_rehearsal("nccl-allreduce", LIBRARY, ())
    case = rehearse.pick_case(scenario, TRUTH, None)

    def launcher_runs_a_while(plan):
        return annotate_launcher(rehearse.decorate(plan, scenario, case, lambda *a: None),
                                 {rehearse.ANNOTATIONS + "run-for": f"{run_for:g}s"})

    times: list[float] = []
    namespace = "t-" + uuid.uuid4().hex[:6]
    with FaultProxy(control_plane.kubeconfig) as proxy:
        proxy.rule(lambda *request: times.append(time.monotonic()) and False)  # a rule that never matches: the clock
        options = {"kubeconfig": str(proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")), "namespace": namespace}
        started = time.monotonic()
        try:
            result = run_scenario(scenario, executor_name="kubernetes", results_dir=tmp_path / "results", library=LIBRARY,
                                  options=options, plan_hook=launcher_runs_a_while)
            elapsed = time.monotonic() - started
            assert rehearse.labelled_leftovers(control_plane, result.run_id) == []
        finally:
            delete_namespace(control_plane.kubeconfig, namespace)
        calls = [_call(at, seen.method, seen.path, seen.query) for at, seen in zip(times, proxy.requests)]
    assert result.verdict.status == "PASS", [(r.name, r.status, r.message) for r in result.verdict.results]
    assert len(calls) == len(proxy.requests)
    waiting = [c for c in calls if c.time > started]

    # a watch per cache (pods, mpijobs) and one to wait out the cleanup (3, one spare); a watch the server ends after
    # WATCH_TIMEOUT_S is watched again, so a run longer than that may have more
    watches = [c.path for c in waiting if c.verb == "watch"]
    assert len(watches) <= 4 + 2 * int(elapsed // WATCH_TIMEOUT_S), watches
    # the initial lists (nodes, the caches) and the cleanup's verification (one list per kind the run can leave),
    # never a poll loop
    assert _most_within([c.time for c in waiting if c.verb == "list"], window=1.0) <= 6
    gets = [c.path for c in waiting if c.verb == "get" and c.subresource != "log"]
    assert len(gets) <= 2, gets  # the namespace (preflight)
    logs = [c for c in waiting if c.subresource == "log"]
    assert len(logs) == 3 and all(c.query.get("follow") == "true" for c in logs), logs  # one follow per container
    assert len({c.path for c in logs}) == 3
    polls = [(c.verb, c.path) for c in waiting if c.verb in ("get", "list") and c.resource in ("pods", "mpijobs")
             and c.subresource != "log"]
    assert len(polls) <= 4, polls  # one list per cache + one per kind to verify cleanup
    # while the launcher ran, nobody asked anything: the longest silence lasts about as long as its run
    quiet = max(b.time - a.time for a, b in zip(waiting, waiting[1:]))
    assert quiet >= run_for - 1.0, quiet

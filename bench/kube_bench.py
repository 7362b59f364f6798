"""Benchmark: the Kubernetes executor's own overhead and API traffic, against tests/fakekube or the real local
control plane (runner/cluster: kube-apiserver, controllers, scheduler, MPI Operator; kwok nodes).

    .venv/bin/python bench/kube_bench.py [--target fake|real|both] [--rounds 3] [--workers 16] [--run-for 4] [--json]

On both targets, from the runner's own progress events: `apply -> first Running` (the MPIJob applied to the first
pod the runner saw Running) and `done -> verdict` (the launcher pod's Succeeded, seen by a separate observer, to
run_scenario's return). --target real uses the control plane of $SCENARIO_CLUSTER_DIR (default .cluster; started
when it is not up, and stopped afterwards then); the launcher's run time and log come from the simulation's pod
annotations (runner.cluster).

A 16-worker MPIJob (2 nodes x 8, one GPU per worker) whose launcher runs `--run-for` seconds and
prints an nccl-tests log. A sampler thread reads the fake's store directly (no API request) to
time-stamp what really happened; the runner's progress events time-stamp what it observed.
Reported, medians over rounds:

  apply -> all running   from the MPIJob's apply request to the moment the runner reported every
                         pod Running, minus when they really were all Running (watch latency)
  completion -> verdict  from the launcher pod's Succeeded (in the store) to run_scenario's return
                         (observe + cleanup with verification + parse + judge + record), with the
                         cleanup part on its own
  requests by verb       every request the fake received during the run
  while waiting          requests per second while the launcher ran (no hot polling: ~0 but log
                         and watch streams already open), and the most requests in any 1 s window

The fake runs its controllers at time_scale 0.01 (a simulated second is 10 ms), so container
start-up is nearly instant; what is measured is the runner, not a cluster.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tabulate import tabulate  # noqa: E402

from runner.execute.progress import QuietProgress  # noqa: E402
from runner.flows.run import run_scenario  # noqa: E402
from runner.scenario.resolve import Library  # noqa: E402
from runner.scenario.validate import validate_scenario  # noqa: E402
from tests.fakekube import GPU_TAINT, Behavior, FakeKube, Match, node  # noqa: E402

RUNNING = "Running"

FIXTURE = REPO / "tests" / "truth" / "nccl-tests" / "v2.19.6" / "efa-16rank" / "launcher.log"  # provenance: its README.md
SCENARIO = """\
apiVersion: scenarios/v1
kind: Scenario
metadata: {{name: kube-bench, layer: fabric}}
executors: [kubernetes]
registry: registry.example/efa-validation
platform: {{instanceType: p5.48xlarge, gpusPerNode: 8, efaPerNode: 32}}
images: {{nccl-tests: "{{{{ registry }}}}/nccl-tests:v1.0.0"}}
workloads:
  - name: nccl
    kind: mpi
    image: nccl-tests
    nodes: {workers}
    ranks: {workers}
    resources: {{gpus: 1, efa: 0}}
    command: [/opt/nccl-tests/build/all_reduce_perf, -b, 8K, -e, 8G, -f, "2", -g, "1"]
    parser: nccl-tests
    timeout: 10m
checks:
  - {{metric: nccl.busbw_gbps_max, op: ">=", value: 320}}
"""


class Stamps(QuietProgress):
    def __init__(self):
        self.events: list[tuple[float, str, str, str]] = []

    def workload(self, name, state, detail=""):
        self.events.append((time.monotonic(), name, state, detail))

    def first(self, predicate) -> float | None:
        return next((t for t, *event in self.events if predicate(*event)), None)


def sample(kube: FakeKube, workers: int, marks: dict, stop: threading.Event) -> None:
    """What really happened, read from the fake's store (no API request)."""
    while not stop.is_set():
        pods = kube.store.items("pods")
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        if running and "first_running" not in marks:
            marks["first_running"] = time.monotonic()
        if "all_running" not in marks and len(running) >= workers + 1:
            marks["all_running"] = time.monotonic()
        launchers = [p for p in pods if (p["metadata"].get("labels") or {}).get("training.kubeflow.org/job-role") == "launcher"]
        if "launcher_done" not in marks and any((p.get("status") or {}).get("phase") == "Succeeded" for p in launchers):
            marks["launcher_done"] = time.monotonic()
        time.sleep(0.001)


def one_round(workers: int, run_for: float, workdir: Path) -> dict:
    library = workdir / "scenarios"
    library.mkdir(parents=True)
    (library / "kube-bench.yaml").write_text(SCENARIO.format(workers=workers))
    nodes = [node(f"gpu-{i}", "p5.48xlarge", taints=[GPU_TAINT]) for i in range(2)]
    kube = FakeKube(nodes=nodes)
    with kube:
        kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig")
        kube.script(Match(kind="MPIJob", role="launcher"),
                    Behavior.succeeds(log=FIXTURE, log_every=0.0, after=run_for / kube.clock.scale))
        scenario = validate_scenario("kube-bench", Library(library))
        marks: dict[str, float] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(kube, workers, marks, stop), daemon=True)
        sampler.start()
        stamps = Stamps()
        started = time.monotonic()
        result = run_scenario(scenario, executor_name="kubernetes", results_dir=workdir / "results", progress=stamps,
                              options={"kubeconfig": str(kubeconfig)})
        returned = time.monotonic()
        stop.set()
        sampler.join()
        requests = list(kube.requests)
    assert result.verdict.status == "PASS", result.verdict.summary
    apply_at = next(r.time for r in requests if r.verb == "patch" and r.resource == "mpijobs")
    seen_running = stamps.first(lambda name, state, detail: name == "nccl" and f"{workers + 1} Running" in detail)
    cleanup_start = stamps.first(lambda name, state, detail: name == "cleanup" and state == "deleting")
    cleanup_end = stamps.first(lambda name, state, detail: name == "cleanup" and state == "done")
    window = (marks["all_running"] + 0.2, marks["launcher_done"] - 0.2)
    waiting = [r for r in requests if window[0] <= r.time <= window[1]]
    per_verb: dict[str, int] = {}
    for r in requests:
        key = r.verb or ("discovery" if r.path.startswith(("/api", "/apis")) else r.path)
        if r.subresource:
            key += f" {r.resource}/{r.subresource}"
        per_verb[key] = per_verb.get(key, 0) + 1
    busiest = 0
    times = sorted(r.time for r in waiting)
    for i, t in enumerate(times):
        busiest = max(busiest, sum(1 for u in times[i:] if u - t <= 1.0))
    return {
        **_runner_view(stamps, marks, returned),
        "total_s": returned - started,
        "until_apply_s": apply_at - started,
        "apply_to_running_s": marks["all_running"] - apply_at,
        "running_seen_late_s": seen_running - marks["all_running"],
        "completion_to_verdict_s": returned - marks["launcher_done"],
        "cleanup_s": cleanup_end - cleanup_start,
        "requests": len(requests),
        "by_verb": per_verb,
        "waiting_s": window[1] - window[0],
        "waiting_requests": len(waiting),
        "waiting_rps": len(waiting) / max(window[1] - window[0], 1e-9),
        "waiting_max_in_1s": busiest,
    }


def _runner_view(stamps: Stamps, marks: dict, returned: float) -> dict:
    """The figures both targets share: what the runner saw, against when the launcher really ended."""
    applied = stamps.first(lambda name, state, detail: name == "nccl" and state == "applied")
    running = stamps.first(lambda name, state, detail: name == "nccl" and RUNNING in detail)
    seen_done = stamps.first(lambda name, state, detail: name == "nccl" and state == "done")
    return {"apply_to_first_running_s": running - applied, "done_to_verdict_s": returned - marks["launcher_done"],
            "done_seen_s": seen_done - marks["launcher_done"], "seen_to_verdict_s": returned - seen_done}


def watch_pods(kubeconfig: Path, namespace: str, marks: dict, stop: threading.Event) -> None:
    """The real cluster's pods as a second client sees them (its requests are not the runner's)."""
    from kubernetes import client, config, watch  # the real target only

    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    marks["watching"] = True
    while not stop.is_set():
        for event in watch.Watch().stream(core.list_namespaced_pod, namespace, timeout_seconds=2):
            pod = event["object"]
            phase = pod.status.phase if pod.status else None
            if phase == RUNNING:
                marks.setdefault("first_running", time.monotonic())
            role = (pod.metadata.labels or {}).get("training.kubeflow.org/job-role")
            if role == "launcher" and phase == "Succeeded":
                marks.setdefault("launcher_done", time.monotonic())
            if stop.is_set():
                break
    api.close()


def one_round_real(workers: int, run_for: float, workdir: Path, cluster) -> dict:
    from runner.flows.rehearse import LOG_FILE  # the real target only

    library = workdir / "scenarios"
    library.mkdir(parents=True)
    (library / "kube-bench.yaml").write_text(SCENARIO.format(workers=workers))
    scenario = validate_scenario("kube-bench", Library(library))

    def launcher_prints_the_fixture(plan):
        objects = []
        for obj in plan.objects:
            body = json.loads(json.dumps(obj.body, default=dict))
            launcher = ((body.get("spec") or {}).get("mpiReplicaSpecs") or {}).get("Launcher")
            if launcher:
                meta = launcher["template"].setdefault("metadata", {})
                meta["annotations"] = {**(meta.get("annotations") or {}), LOG_FILE: str(FIXTURE),
                                       "sim.scenario-runner.io/run-for": f"{run_for:g}s"}
            objects.append(type(obj)(obj.order, obj.workload, obj.template, body))
        return type(plan)(plan.executor, plan.documents, plan.files, tuple(objects))

    marks: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_pods, args=(cluster.kubeconfig, "scenario-runner", marks, stop), daemon=True)
    watcher.start()
    while "watching" not in marks:
        time.sleep(0.01)
    stamps = Stamps()
    started = time.monotonic()
    result = run_scenario(scenario, executor_name="kubernetes", results_dir=workdir / "results", progress=stamps,
                          options={"kubeconfig": str(cluster.kubeconfig)}, plan_hook=launcher_prints_the_fixture)
    returned = time.monotonic()
    stop.set()
    assert result.verdict.status == "PASS", result.verdict.summary
    facts = result.output.facts
    cleanup_start = stamps.first(lambda name, state, detail: name == "cleanup" and state == "deleting")
    cleanup_end = stamps.first(lambda name, state, detail: name == "cleanup" and state == "done")
    return {**_runner_view(stamps, marks, returned), "total_s": returned - started,
            "cleanup_s": cleanup_end - cleanup_start, "requests": sum(facts["api_requests"].values()),
            "by_verb": dict(facts["api_requests"])}


def rounds_on(target: str, args) -> list[dict]:
    rounds = []
    cluster = None
    if target == "real":
        from runner.flows.rehearse import ensure_cluster, stop_cluster  # the real target only
        from tests.control_plane import cluster_dir

        cluster = ensure_cluster(cluster_dir(), print)
        print(f"control plane: {'started in %.1f s' % cluster.start_s if cluster.started else 'already up'}")
    try:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                rounds.append(one_round(args.workers, args.run_for, Path(tmp)) if target == "fake"
                              else one_round_real(args.workers, args.run_for, Path(tmp), cluster))
    finally:
        if cluster is not None and cluster.started:
            stop_cluster(cluster, print)
    return rounds


def compare(results: dict[str, list[dict]], args) -> None:
    med = lambda rounds, key: statistics.median(r[key] for r in rounds)  # noqa: E731
    rows = [["apply -> first pod Running (as the runner saw it)"] + [f"{med(r, 'apply_to_first_running_s'):.3f} s" for r in results.values()],
            ["launcher done -> verdict returned"] + [f"{med(r, 'done_to_verdict_s'):.3f} s" for r in results.values()],
            ["- launcher done -> the runner sees the MPIJob done (controllers + watch)"] + [f"{med(r, 'done_seen_s'):.3f} s" for r in results.values()],
            ["- the runner sees it done -> verdict (cleanup, logs, parse, judge, record)"] + [f"{med(r, 'seen_to_verdict_s'):.3f} s" for r in results.values()],
            ["- of which cleanup + verification"] + [f"{med(r, 'cleanup_s'):.3f} s" for r in results.values()],
            ["run_scenario wall time"] + [f"{med(r, 'total_s'):.2f} s" for r in results.values()],
            ["API requests per run"] + [f"{med(r, 'requests'):.0f}" for r in results.values()]]
    print(f"{args.workers}-worker MPIJob, launcher runs {args.run_for:g} s; median of {args.rounds} rounds")
    print(tabulate(rows, headers=["", *results], tablefmt="simple"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--run-for", type=float, default=4.0, help="seconds the launcher runs (the waiting window)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--target", choices=["fake", "real", "both"], default="fake")
    args = parser.parse_args()
    if args.target != "fake":
        results = {target: rounds_on(target, args) for target in (["fake", "real"] if args.target == "both" else ["real"])}
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            compare(results, args)
        return
    rounds = rounds_on("fake", args)
    if args.json:
        print(json.dumps(rounds, indent=2))
        return
    med = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    print(f"{args.workers}-worker MPIJob (2 nodes x {args.workers // 2}), launcher runs {args.run_for:g} s; "
          f"median of {args.rounds} rounds")
    print(tabulate([
        ["run_scenario wall time", f"{med('total_s'):.2f} s"],
        ["start -> MPIJob applied (render, preflight, namespace)", f"{med('until_apply_s'):.3f} s"],
        ["apply -> all pods Running (the fake's controllers)", f"{med('apply_to_running_s'):.3f} s"],
        ["all Running -> runner reports it (watch latency)", f"{med('running_seen_late_s') * 1000:.1f} ms"],
        ["launcher Succeeded -> verdict returned", f"{med('completion_to_verdict_s'):.3f} s"],
        ["- of which cleanup + verification", f"{med('cleanup_s'):.3f} s"],
        ["API requests per run", f"{med('requests'):.0f}"],
        ["requests while waiting", f"{med('waiting_requests'):.0f} in {med('waiting_s'):.1f} s = {med('waiting_rps'):.2f}/s"],
        ["most requests in any 1 s while waiting", f"{med('waiting_max_in_1s'):.0f}"],
    ], tablefmt="plain"))
    print()
    verbs = sorted(rounds[0]["by_verb"].items(), key=lambda kv: -kv[1])
    print(tabulate(verbs, headers=["request (round 1)", "count"], tablefmt="simple"))


if __name__ == "__main__":
    main()

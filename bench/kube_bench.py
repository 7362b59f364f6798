"""Benchmark: the Kubernetes executor's own overhead and API traffic on the real local control plane (runner/cluster:
kube-apiserver, controllers, scheduler, MPI Operator; kwok nodes).

    .venv/bin/python bench/kube_bench.py [--rounds 3] [--workers 16] [--run-for 4] [--json]

It uses the control plane of $SCENARIO_CLUSTER_DIR (default .cluster; started when it is not up, and stopped
afterwards then). A 16-worker MPIJob (2 nodes x 8, one GPU per worker) whose launcher runs `--run-for` seconds
(the simulation's pod annotations, runner.cluster) and prints the recorded nccl-tests log. A second client watches
the pods to time-stamp what really happened; the runner's progress events time-stamp what it observed. Reported,
medians over rounds:

  apply -> first Running   the MPIJob applied to the first pod the runner saw Running
  done -> verdict          the launcher pod's Succeeded (as the second client saw it) to run_scenario's return:
                           the controllers and the watch, then cleanup with verification, parse, judge, record
  requests                 every API request of the run, by verb (the run's facts)
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

from kubernetes import client, config, watch  # noqa: E402
from tabulate import tabulate  # noqa: E402

from runner.execute.progress import QuietProgress  # noqa: E402
from runner.flows.rehearse import LOG_FILE, ensure_cluster, stop_cluster  # noqa: E402
from runner.flows.run import run_scenario  # noqa: E402
from runner.scenario.resolve import Library  # noqa: E402
from runner.scenario.validate import validate_scenario  # noqa: E402
from tests.control_plane import cluster_dir  # noqa: E402

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


def _runner_view(stamps: Stamps, marks: dict, returned: float) -> dict:
    """What the runner saw, against when the launcher really ended."""
    applied = stamps.first(lambda name, state, detail: name == "nccl" and state == "applied")
    running = stamps.first(lambda name, state, detail: name == "nccl" and RUNNING in detail)
    seen_done = stamps.first(lambda name, state, detail: name == "nccl" and state == "done")
    return {"apply_to_first_running_s": running - applied, "done_to_verdict_s": returned - marks["launcher_done"],
            "done_seen_s": seen_done - marks["launcher_done"], "seen_to_verdict_s": returned - seen_done}


def watch_pods(kubeconfig: Path, namespace: str, marks: dict, stop: threading.Event) -> None:
    """The real cluster's pods as a second client sees them (its requests are not the runner's)."""
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


def one_round(workers: int, run_for: float, workdir: Path, cluster) -> dict:
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


def rounds(args) -> list[dict]:
    cluster = ensure_cluster(cluster_dir(), print)
    print(f"control plane: {'started in %.1f s' % cluster.start_s if cluster.started else 'already up'}")
    done = []
    try:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                done.append(one_round(args.workers, args.run_for, Path(tmp), cluster))
    finally:
        if cluster.started:
            stop_cluster(cluster, print)
    return done


def report(done: list[dict], args) -> None:
    med = lambda key: statistics.median(r[key] for r in done)  # noqa: E731
    rows = [["apply -> first pod Running (as the runner saw it)", f"{med('apply_to_first_running_s'):.3f} s"],
            ["launcher done -> verdict returned", f"{med('done_to_verdict_s'):.3f} s"],
            ["- launcher done -> the runner sees the MPIJob done (controllers + watch)", f"{med('done_seen_s'):.3f} s"],
            ["- the runner sees it done -> verdict (cleanup, logs, parse, judge, record)", f"{med('seen_to_verdict_s'):.3f} s"],
            ["- of which cleanup + verification", f"{med('cleanup_s'):.3f} s"],
            ["run_scenario wall time", f"{med('total_s'):.2f} s"],
            ["API requests per run", f"{med('requests'):.0f}"]]
    print(f"{args.workers}-worker MPIJob, launcher runs {args.run_for:g} s; median of {args.rounds} rounds")
    print(tabulate(rows, tablefmt="simple"))
    print(tabulate(sorted(done[0]["by_verb"].items(), key=lambda kv: -kv[1]), headers=["request (round 1)", "count"],
                   tablefmt="simple"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--run-for", type=float, default=4.0, help="seconds the launcher runs (the waiting window)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    done = rounds(args)
    if args.json:
        print(json.dumps(done, indent=2))
    else:
        report(done, args)


if __name__ == "__main__":
    main()

"""Benchmark: fleet triage on the real local control plane, one node degraded to a quarter of the bandwidth.

    .venv/bin/python bench/triage_bench.py [--nodes 16] [--strategies adaptive-pairs,bisection] [--json]

The fleet is --nodes kwok nodes shaped like p5.48xlarge, added for the run and removed after it
(tests/triage/kwok_fleet.py), on the control plane of $SCENARIO_CLUSTER_DIR (default .cluster; started when it is
not up, and stopped afterwards then). Every set is a whole run of nccl-allreduce through the pipeline (validate,
render, preflight, apply, the real MPI Operator and scheduler, watch, logs, cleanup with verification, parse,
judge, record) pinned to its nodes; its launcher prints the recorded nccl-tests log, scaled down when the set
holds the degraded node. Every request goes through tests/kubeproxy.py, which counts them.

Reported per strategy: rounds, sets, wall time, the median round against one plain run of the same scenario on two
of the fleet's nodes (the reference, in the same process), this process's CPU per set (the runner, plus the
counting proxy's threads), API requests per set, whether the suspect is the degraded node and every round left
nothing behind.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tabulate import tabulate  # noqa: E402

from runner.execute.progress import QuietProgress  # noqa: E402
from runner.flows.rehearse import ensure_cluster, stop_cluster  # noqa: E402
from runner.flows.triage.drive import run_triage  # noqa: E402
from runner.scenario.resolve import Library  # noqa: E402
from runner.scenario.validate import validate_scenario  # noqa: E402
from tests.control_plane import cluster_dir  # noqa: E402
from tests.kubeproxy import FaultProxy  # noqa: E402
from tests.triage.kwok_fleet import KwokFleet, delete_namespace, launchers_print  # noqa: E402

LIBRARY = Library(REPO / "scenarios")
REGISTRY = "registry=registry.example/efa-validation"
# The launchers print the 16-rank, 2-host log whatever the set's size: bisection's larger sets check "at least 16
# ranks", "at most 2 hosts" and the per-rank lines once (as tests/triage/test_triage_kube.py does).
OVERRIDES = [REGISTRY, "checks.ranks.op=>=", "checks.hosts.op=<=", "checks.transport.count=1", "checks.network.count=1",
             "checks.efa-devices.count=1", "checks.gpudirect.count=1"]


def options(kubeconfig: Path, namespace: str) -> dict:
    return {"kubeconfig": str(kubeconfig), "context": None, "namespace": namespace, "keep": False, "dry_run": None,
            "fail_fast_s": 30.0}


def reference_run(fleet: KwokFleet, kubeconfig: Path, namespace: str, root: Path) -> float:
    scenario = validate_scenario("nccl-allreduce", LIBRARY, [REGISTRY, f"platform.nodes={fleet.names(2)}".replace("'", "")])
    run = launchers_print(root / "reference-logs", {})
    started = time.perf_counter()
    result = run(scenario, executor_name="kubernetes", results_dir=root / "reference", progress=QuietProgress(),
                 options=options(kubeconfig, namespace))
    assert result.verdict.status == "PASS", result.verdict.summary
    return time.perf_counter() - started


def triage(strategy: str, fleet: KwokFleet, degraded: str, kubeconfig: Path, namespace: str, root: Path) -> dict:
    with FaultProxy(kubeconfig) as proxy:
        started, cpu = time.perf_counter(), time.process_time()
        result = run_triage("nccl-allreduce", LIBRARY, OVERRIDES, executor_name="kubernetes",
                            cli={"strategy": strategy, "selector": fleet.selector}, results_dir=root / strategy,
                            options=options(proxy.write_kubeconfig(root / f"{strategy}.kubeconfig"), namespace),
                            announce=lambda line: print(f"  {line}", file=sys.stderr, flush=True),
                            run_fn=launchers_print(root / f"{strategy}-logs", {degraded: 0.25}))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        requests = len(proxy.requests)
    sets = max(len(result.results), 1)
    return {"strategy": strategy, "rounds": len(result.rounds), "sets": len(result.results), "wall_s": wall,
            "round_s": statistics.median(r.wall_s for r in result.rounds), "cpu_per_set_s": cpu / sets,
            "requests": requests, "requests_per_set": requests / sets, "suspects": result.suspects,
            "expected": [degraded], "left_behind": [list(r.left_behind) for r in result.rounds if r.left_behind]}


def right(run: dict) -> bool:
    return run["suspects"] == run["expected"] and not run["left_behind"]


def text_report(data: dict) -> str:
    reference = data["reference_run_s"]
    rows = [[r["strategy"], r["rounds"], r["sets"], f"{r['wall_s']:.1f} s", f"{r['round_s']:.1f} s",
             f"{r['round_s'] / reference:.2f}x", f"{r['cpu_per_set_s']:.2f} s", r["requests"], f"{r['requests_per_set']:.1f}",
             ",".join(r["suspects"]) or "-", "yes" if right(r) else "NO"] for r in data["runs"]]
    return "\n".join([
        f"fleet of {data['nodes']} kwok p5.48xlarge on the real control plane, {data['degraded']} at a quarter of the "
        f"bandwidth; one plain run of nccl-allreduce on 2 of them (reference): {reference:.2f} s",
        tabulate(rows, headers=["strategy", "rounds", "sets", "wall", "round (median)", "vs 1 run", "CPU per set",
                                "API requests", "per set", "suspects", "right + clean"])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--degraded", type=int, default=11, help="index of the degraded node")
    parser.add_argument("--strategies", default="adaptive-pairs,bisection")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.pop("KUBECONFIG", None)
    cluster = ensure_cluster(cluster_dir(), lambda line: print(line, file=sys.stderr))
    namespace = "bench-" + uuid.uuid4().hex[:6]
    try:
        with KwokFleet(cluster.kubeconfig) as fleet, tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
            fleet.add(fleet.names(args.nodes))
            degraded = fleet.name(args.degraded)
            reference = reference_run(fleet, cluster.kubeconfig, namespace, Path(tmp))
            runs = [triage(s, fleet, degraded, cluster.kubeconfig, namespace, Path(tmp)) for s in args.strategies.split(",") if s]
    finally:
        delete_namespace(cluster.kubeconfig, namespace)
        if cluster.started:
            stop_cluster(cluster, lambda line: print(line, file=sys.stderr))
    data = {"nodes": args.nodes, "degraded": degraded, "reference_run_s": reference, "runs": runs}
    print(json.dumps(data, indent=2) if args.json else text_report(data))
    return 0 if all(right(r) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

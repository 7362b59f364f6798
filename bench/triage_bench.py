"""Benchmark: fleet triage against tests/fakekube, one node degraded to a quarter of the bandwidth.

    .venv/bin/python bench/triage_bench.py [--nodes 64] [--strategies per-node,all-pairs,adaptive-pairs,bisection]
                                           [--concurrency 32] [--json] [--keep]

Every set is a whole run of nccl-allreduce through the pipeline (validate, render, preflight, apply, watch,
logs, cleanup with verification, parse, judge, record) pinned to its nodes; the fake's launchers print
the real nccl-tests fixture, scaled down on the degraded node (tests/fixtures/k8s/README.md).
Reported per strategy: rounds, sets, wall time, the runner's overhead per round (round wall time minus
the time the launcher pods themselves run: with the fake that is nearly all of it), API requests in
all, per pod and per set, requests while the pods run (the window in which every launcher of a round
runs at once: polling would show here; the strategies with few rounds get launchers that run for
--long-launcher-s so that window is seconds long), whether the suspect is the degraded node and every
round left nothing behind. Also, as the reference in the same process, one plain run of the same
scenario; and the strategies' own planning and scoring over the same fleet with no runs at all.
The fake API server runs in the same process: its CPU is in the wall times and "CPU per set"; "runner CPU" counts
only the runner's threads (bench.ThreadCpu).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
from runner.flows.triage.drive import run_triage  # noqa: E402
from runner.flows.triage.scoring import SetResult, find_suspects, judge_sets, outcomes  # noqa: E402
from runner.flows.triage.strategies import plan_next  # noqa: E402
from runner.scenario.resolve import Library  # noqa: E402
from runner.scenario.validate import validate_scenario  # noqa: E402
from tests.fakekube import Behavior, FakeKube, Match  # noqa: E402
from tests.fakekube.fleet import DegradedFleet, fleet_nodes  # noqa: E402

FIXTURE = REPO / "tests" / "truth" / "nccl-tests" / "v2.19.6" / "efa-16rank" / "launcher.log"
REGISTRY = "registry=registry.example/efa-validation"
# The fake's launchers print the 16-rank fixture whatever the set's size, so for bisection's larger sets the two
# rank-count checks become "at least 16 ranks" and "the provider line at least once" (triage scales an "==" ranks
# check with the set, and every-rank counts the set's ranks: both would fail on the 16-rank log).
OVERRIDES = [REGISTRY, "checks.ranks.op=>=", "checks.transport.count=1", "checks.network.count=1"]
TIME_SCALE = 0.01
LAUNCHER_RUN = 3.0  # simulated seconds a launcher runs (30 ms real)
MANY_ROUNDS = ("all-pairs", "per-node")
ROUND_START, ROUND_END = re.compile(r"^round \d+: \d+ sets? of \d+ nodes?$"), re.compile(r"^round \d+: \d+ fine, \d+ bad")  # these keep the short launcher: 63 rounds of long launchers measure only sleep


class ThreadCpu:
    """CPU seconds by side: the fake API server's threads (its HTTP handlers, controllers, kubelet) or the runner's
    (the main thread, the triage's set threads, watch caches, log followers, access-review pools). Each thread is
    classified by what it runs when it starts; a thread's CPU is read when it ends, and for the live ones from
    /proc/self/task/<tid>/stat when asked."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ended: dict[str, float] = {"fake": 0.0, "runner": 0.0}
        self.live: dict[int, str] = {}
        self.main = time.thread_time()
        original, meter = threading.Thread.run, self

        def run(thread):
            side = meter.side(thread)
            with meter.lock:
                meter.live[threading.get_native_id()] = side
            try:
                original(thread)
            finally:
                with meter.lock:
                    meter.live.pop(threading.get_native_id(), None)
                    meter.ended[side] += time.thread_time()

        threading.Thread.run = run

    @staticmethod
    def side(thread: threading.Thread) -> str:
        target = getattr(thread, "_target", None)
        module = getattr(target, "__module__", "") or type(thread).__module__
        owner = getattr(getattr(target, "__self__", None), "__class__", None)
        fake = module.startswith(("tests.fakekube", "socketserver", "http.server")) or \
            (owner is not None and owner.__module__.startswith(("tests.fakekube", "socketserver", "http.server")))
        return "fake" if fake else "runner"

    def totals(self) -> dict[str, float]:
        tick = os.sysconf("SC_CLK_TCK")
        with self.lock:
            totals = dict(self.ended)
            live = dict(self.live)
        for tid, side in live.items():
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                totals[side] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
        totals["runner"] += time.thread_time() - self.main
        return totals


CPU = ThreadCpu()


def fake_fleet(count: int, degraded: str, launcher_s: float = LAUNCHER_RUN) -> FakeKube:
    kube = FakeKube(nodes=fleet_nodes(count), time_scale=TIME_SCALE)
    kube.script(Match(kind="MPIJob", role="launcher"),
                Behavior.succeeds(log=DegradedFleet(FIXTURE.read_text(), {degraded: 0.25}), log_every=0.0, after=launcher_s))
    return kube


def options(kubeconfig: Path) -> dict:
    return {"kubeconfig": str(kubeconfig), "context": None, "namespace": None, "keep": False, "dry_run": None, "fail_fast_s": 30.0}


def reference_run(count: int, degraded: str, root: Path) -> float:
    kube = fake_fleet(count, degraded)
    with kube:
        scenario = validate_scenario("nccl-allreduce", Library(REPO / "scenarios"), [REGISTRY])
        started = time.perf_counter()
        run_scenario(scenario, executor_name="kubernetes", results_dir=root / "reference", progress=QuietProgress(),
                     options=options(kube.write_kubeconfig(root / "kubeconfig")))
        return time.perf_counter() - started


def triage_on_fake(strategy: str, count: int, degraded: str, concurrency: int | None, root: Path, launcher_s: float) -> dict:
    kube = fake_fleet(count, degraded, launcher_s)
    marks: list[tuple[float, str]] = []

    def announce(line: str) -> None:
        marks.append((time.monotonic(), line))
        print(f"  {line}", file=sys.stderr, flush=True)

    with kube:
        started, cpu, sides = time.perf_counter(), time.process_time(), CPU.totals()
        result = run_triage("nccl-allreduce", Library(REPO / "scenarios"), OVERRIDES, executor_name="kubernetes",
                            cli={"strategy": strategy, "concurrency": concurrency}, results_dir=root / strategy,
                            options=options(kube.write_kubeconfig(root / f"{strategy}.kubeconfig")), announce=announce)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        sides = {side: spent - sides[side] for side, spent in CPU.totals().items()}
        requests = list(kube.requests)
        launchers = [run for _, pod, container, run in kube.kubelet.started if "-launcher" in pod]
        left = kube.objects("scenario-runner.dev/run-id")
    pods = sum(len(r.nodes) + 1 for r in result.results)  # workers + launcher per set
    pod_time = launcher_s * TIME_SCALE
    overheads = [r.wall_s - pod_time for r in result.rounds]
    windows = _all_running_windows(marks, launchers)
    during = [r for r in requests if any(a <= r.time <= b for a, b in windows)]
    return {"strategy": strategy, "nodes": count, "rounds": len(result.rounds), "sets": len(result.results), "wall_s": wall,
            "cpu_s": cpu, "runner_cpu_s": sides["runner"], "fake_cpu_s": sides["fake"],
            "launcher_s": pod_time, "overhead_per_round_s": statistics.median(overheads) if overheads else 0.0,
            "overhead_per_round_max_s": max(overheads, default=0.0),
            "overhead_first_last_s": [round(overheads[0], 3), round(overheads[-1], 3)] if overheads else [],
            "overhead_per_set_s": sum(overheads) / max(len(result.results), 1),
            "requests": len(requests), "requests_per_pod": len(requests) / max(pods, 1),
            "requests_per_set": len(requests) / max(len(result.results), 1),
            "requests_while_running": len(during), "requests_while_running_by_what": _by_what(during),
            "running_window_s": sum(b - a for a, b in windows),
            "requests_by_verb": _by_verb(requests), "suspects": result.suspects, "expected": [degraded],
            "left_behind": left, "round_left_behind": [list(r.left_behind) for r in result.rounds if r.left_behind]}


def _all_running_windows(marks: list[tuple[float, str]], launchers) -> list[tuple[float, float]]:
    """Per round, the time in which every launcher of the round ran at once ([latest start, earliest end])."""
    starts = [t for t, line in marks if ROUND_START.match(line)]
    ends = [t for t, line in marks if ROUND_END.match(line)]
    windows = []
    for begin, end in zip(starts, ends):
        runs = [r for r in launchers if begin <= r.started_at <= end and r.ended_at is not None]
        if runs:
            latest_start, earliest_end = max(r.started_at for r in runs), min(r.ended_at for r in runs)
            if earliest_end > latest_start:
                windows.append((latest_start, earliest_end))
    return windows


def _by_what(requests) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        what = f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}"
        counts[what] = counts.get(what, 0) + 1
    return counts


def _by_verb(requests) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        counts[r.verb] = counts.get(r.verb, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def planning_only(strategy: str, count: int, degraded: str) -> dict:
    """The strategy and the scoring alone: every set's value made up (a quarter when it holds the degraded node)."""
    fleet = [f"gpu-{i}" for i in range(count)]
    results: list[SetResult] = []
    history = []
    started = time.perf_counter()
    while sets := plan_next(strategy, fleet, history, 2):
        number = len(history) + 1
        results += [SetResult(number, s, "PASS", 476.91 * (0.25 if degraded in s else 1.0)) for s in sets]
        judged = judge_sets(results)
        history = [outcomes([j for j in judged if j.result.round == r]) for r in range(1, number + 1)]
    findings = find_suspects(judge_sets(results), fleet)
    return {"strategy": strategy, "rounds": len(history), "sets": len(results), "wall_s": time.perf_counter() - started,
            "suspects": findings.suspect_names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--degraded", type=int, default=37, help="index of the degraded node")
    parser.add_argument("--strategies", default="per-node,all-pairs,adaptive-pairs,bisection")
    parser.add_argument("--concurrency", type=int, default=None, help="sets at once (default: every set of a round)")
    parser.add_argument("--long-launcher-s", type=float, default=300.0,
                        help="simulated seconds the launchers of the strategies with few rounds run (x 0.01 real)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the records (a temporary folder, named at the end)")
    parser.add_argument("--show", metavar="FILE", type=Path, help="print the tables of a --json output saved in FILE, run nothing")
    args = parser.parse_args()
    if args.show:
        data = json.loads(args.show.read_text())
        print(text_report(data))
        return 0 if right(data["fake"]) else 1
    os.environ.pop("KUBECONFIG", None)
    degraded = f"gpu-{args.degraded}"
    strategies = [s for s in args.strategies.split(",") if s]
    root = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    try:
        planning = [planning_only(s, args.nodes, degraded) for s in strategies]
        reference = reference_run(args.nodes, degraded, root)
        runs = []
        for strategy in strategies:
            launcher_s = LAUNCHER_RUN if strategy in MANY_ROUNDS else args.long_launcher_s
            print(f"{strategy} over {args.nodes} nodes (launchers run {launcher_s * TIME_SCALE:g} s) ...", file=sys.stderr, flush=True)
            runs.append(triage_on_fake(strategy, args.nodes, degraded, args.concurrency, root, launcher_s))
    finally:
        if args.keep:
            print(f"records kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    data = {"nodes": args.nodes, "degraded": degraded, "reference_run_s": reference, "planning": planning, "fake": runs}
    print(json.dumps(data, indent=2) if args.json else text_report(data))
    return 0 if right(runs) else 1


def right(runs) -> bool:
    return all(r["suspects"] == r["expected"] and not r["left_behind"] and not r["round_left_behind"] for r in runs)


def text_report(data: dict) -> str:
    runs, planning, reference = data["fake"], data["planning"], data["reference_run_s"]
    nodes = data.get("nodes") or (runs[0]["nodes"] if runs else "?")
    degraded = data.get("degraded") or (runs[0]["expected"][0] if runs else "?")
    lines = [f"fleet of {nodes} p5.48xlarge (fake API server), {degraded} at a quarter of the bandwidth; "
             f"one plain run of nccl-allreduce (reference): {reference:.2f} s"]
    lines.append(tabulate(
        [[r["strategy"], r["rounds"], r["sets"], f"{r['wall_s']:.1f} s", f"{r['launcher_s']:g} s",
          f"{r['overhead_per_round_s']:.2f} s (max {r['overhead_per_round_max_s']:.2f})",
          f"{r['overhead_per_round_s'] / reference:.2f}x", f"{r['overhead_per_set_s']:.3f} s",
          f"{r['cpu_s'] / max(r['sets'], 1):.3f} s" if "cpu_s" in r else "-",
          f"{r['runner_cpu_s'] / max(r['sets'], 1):.3f} s" if "runner_cpu_s" in r else "-",
          f"{r['runner_cpu_s'] / max(r['rounds'], 1):.2f} s" if "runner_cpu_s" in r else "-", r["requests"],
          f"{r['requests_per_pod']:.1f}", f"{r['requests_per_set']:.1f}",
          f"{r['requests_while_running']} in {r['running_window_s']:.1f} s" if r["running_window_s"] else "-",
          ",".join(r["suspects"]) or "-", "yes" if right([r]) else "NO"]
         for r in runs],
        headers=["strategy", "rounds", "sets", "wall", "launcher", "overhead/round (median)", "vs 1 run", "per set",
                 "CPU per set", "runner CPU per set", "runner CPU per round", "API requests", "per pod", "per set", "while pods run", "suspects", "right + clean"]))
    lines += ["", "planning and scoring alone (no runs):"]
    lines.append(tabulate([[p["strategy"], p["rounds"], p["sets"], f"{p['wall_s'] * 1000:.1f} ms", ",".join(p["suspects"])]
                           for p in planning], headers=["strategy", "rounds", "sets", "wall", "suspects"]))
    for r in runs:
        lines.append(f"{r['strategy']}: overhead first/last round {r['overhead_first_last_s']} s; requests by verb {r['requests_by_verb']}"
                     + (f"; while pods ran: {r['requests_while_running_by_what']}" if r["running_window_s"] else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

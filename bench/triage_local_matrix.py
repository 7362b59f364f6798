"""Local fleet triage, every case: each strategy with each degraded node K of the 6-node fleet, and with none.

    python bench/triage_local_matrix.py [--strategy S ...] [--degraded K ...] [--set KEY=VALUE ...] [--json PATH]

Each case is the CLI a user runs (`python -m runner run triage-loopback --set parameters.degraded=K --triage S -o json`)
on emulated nodes (root only). A case is correct when the suspects are exactly [node-K] with exit 1, or none with
exit 0 for K = -1. Per case it records the suspects, exit code, rounds, sets, wall time, the degraded node's median
relative value (its sets' metric over the fleet median), the slowest healthy set and the fastest set with the degraded
node (the margin either side of the `slow` threshold), ERROR sets, retried sets, and anything of its sets left on
the machine afterwards (namespaces, veths, markers, processes). Prints a line per case as it goes, then the table and
"N of M correct", with `uptime` before and after: the verdict has to hold on a loaded machine. Exit 0 when all are correct.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = ("per-node", "all-pairs", "adaptive-pairs", "bisection")
FLEET = 6


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def left_on_the_machine(document: dict) -> list[str]:
    """The case's own leftovers, checked again from outside the triage: namespaces, veths, markers, processes of its sets."""
    sys.path.insert(0, str(REPO))
    from runner.execute.local.nodes import left_behind

    return left_behind({}, "", [s["run_id"] for s in document.get("sets", []) if s.get("run_id")])


def run_case(strategy: str, degraded: int, sets: list[str], results: Path, timeout_s: float) -> dict:
    argv = [sys.executable, "-m", "runner", "run", "triage-loopback", "--set", f"parameters.degraded={degraded}",
            "--triage", strategy, "-o", "json", "--results", str(results)]
    for item in sets:
        argv += ["--set", item]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=timeout_s,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        code, stdout, stderr = None, "", f"timed out after {timeout_s:g}s: {expired.stderr or ''}"
    wall = time.monotonic() - started
    try:
        document = json.loads(stdout) if stdout.strip().startswith("{") else {}
    except ValueError:
        document = {}
    return judge_case(strategy, degraded, code, document, stderr, wall, left_on_the_machine(document))


def judge_case(strategy: str, degraded: int, code, document: dict, stderr: str, wall: float, leftovers: list[str]) -> dict:
    node = f"node-{degraded}" if degraded >= 0 else None
    expected = [node] if node else []
    suspects = document.get("suspects")
    all_sets = document.get("sets", [])
    with_it = [s for s in all_sets if node and node in s["nodes"]]
    healthy = [s for s in all_sets if not node or node not in s["nodes"]]
    relative = lambda group: [s["relative"] for s in group if s.get("relative") is not None]
    score = (document.get("scores") or {}).get(node, {}) if node else {}
    correct = suspects == expected and code == (1 if node else 0) and not leftovers
    return {
        "strategy": strategy, "degraded": degraded, "correct": correct, "suspects": suspects, "exit": code,
        "rounds": len(document.get("rounds", [])), "sets": len(all_sets), "wall_s": round(wall, 1),
        "degraded_relative": score.get("relative"),
        "degraded_sets_max_relative": max(relative(with_it), default=None),
        "healthy_sets_min_relative": min(relative(healthy), default=None),
        "error_sets": sum(1 for s in all_sets if s["status"] != "PASS"),
        "retried_sets": sum(1 for s in all_sets if "second try" in (s.get("message") or "")),
        "unexplained": len(document.get("unexplained", [])),
        "left_behind": [x for r in document.get("rounds", []) for x in r.get("left_behind", [])] + leftovers,
        "triage_id": document.get("triage_id", ""),
        "stderr_tail": "" if correct else stderr[-1500:],
    }


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def row(case: dict) -> list:
    return [case["strategy"], case["degraded"], "ok" if case["correct"] else "WRONG", ",".join(case["suspects"] or []) or "-",
            case["exit"], case["rounds"], case["sets"], f"{case['wall_s']:.0f}", fmt(case["degraded_relative"]),
            fmt(case["degraded_sets_max_relative"]), fmt(case["healthy_sets_min_relative"]),
            case["error_sets"], case["retried_sets"], len(case["left_behind"])]


HEADERS = ["strategy", "K", "verdict", "suspects", "exit", "rounds", "sets", "wall s", "K rel", "K sets max",
           "healthy min", "errors", "retried", "left"]


def main(argv=None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--strategy", action="append", choices=STRATEGIES, help="default: all four")
    cli.add_argument("--degraded", action="append", type=int, help=f"default: 0..{FLEET - 1} and -1")
    cli.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="extra --set for every case")
    cli.add_argument("--json", type=Path, help="write the cases and the summary here")
    cli.add_argument("--timeout", type=float, default=900, help="seconds per case (default 900)")
    args = cli.parse_args(argv)
    if os.geteuid() != 0:
        print("error: bench/triage_local_matrix.py: emulated nodes need root (network namespaces); run it as root",
              file=sys.stderr)
        return 2
    strategies = args.strategy or list(STRATEGIES)
    degraded = args.degraded or [*range(FLEET), -1]
    load_before = uptime()
    print(f"# {len(strategies) * len(degraded)} cases; extra settings: {' '.join(args.sets) or 'none'}; {load_before}", file=sys.stderr)
    cases = []
    with tempfile.TemporaryDirectory(prefix="triage-matrix-") as results:
        for strategy in strategies:
            for k in degraded:
                case = run_case(strategy, k, args.sets, Path(results), args.timeout)
                cases.append(case)
                print(f"# {len(cases)}/{len(strategies) * len(degraded)} {strategy} K={k}: {'ok' if case['correct'] else 'WRONG'} "
                      f"suspects={case['suspects']} exit={case['exit']} rounds={case['rounds']} {case['wall_s']:.0f}s "
                      f"(load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
                if not case["correct"]:
                    print(case["stderr_tail"], file=sys.stderr)
    load_after = uptime()
    from tabulate import tabulate

    correct = sum(1 for c in cases if c["correct"])
    degraded_rel = [c["degraded_sets_max_relative"] for c in cases if c["degraded_sets_max_relative"] is not None]
    healthy_rel = [c["healthy_sets_min_relative"] for c in cases if c["healthy_sets_min_relative"] is not None]
    summary = {
        "correct": correct, "cases": len(cases), "extra_settings": args.sets,
        "wall_s_total": round(sum(c["wall_s"] for c in cases), 1),
        "wall_s_by_strategy": {s: round(sum(c["wall_s"] for c in cases if c["strategy"] == s), 1) for s in strategies},
        "fastest_set_with_the_degraded_node": max(degraded_rel, default=None),
        "slowest_set_without_it": min(healthy_rel, default=None),
        "error_sets": sum(c["error_sets"] for c in cases), "retried_sets": sum(c["retried_sets"] for c in cases),
        "uptime_before": load_before, "uptime_after": load_after,
    }
    print(tabulate([row(c) for c in cases], headers=HEADERS, tablefmt="simple"))
    print()
    print(f"{correct} of {len(cases)} correct; {summary['error_sets']} ERROR sets, {summary['retried_sets']} retried; "
          f"relative metric: sets with the degraded node at most {fmt(summary['fastest_set_with_the_degraded_node'])}, "
          f"sets without it at least {fmt(summary['slowest_set_without_it'])} (slow threshold 0.75)")
    print(f"wall time {summary['wall_s_total']:.0f}s in all; by strategy: "
          + ", ".join(f"{s} {w:.0f}s" for s, w in summary["wall_s_by_strategy"].items()))
    print(f"before: {load_before}\nafter:  {load_after}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "cases": cases}, indent=1) + "\n")
    return 0 if correct == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())

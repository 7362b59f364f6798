"""Benchmark of the verdicts: does `scenario compare` (and `history`) flag real regressions only?

    .venv/bin/python bench/compare_noise_bench.py [--tries 10] [--repeat 5] [--hog N] [--results DIR]

With the real Mooncake transfer engine on this machine:
1. false alarms: `tries` times, two runs of mooncake-tcp-loopback with identical settings and --repeat N,
   then `scenario compare A B`; any regression reported (exit 1) is a false alarm (target: 0 of tries). `--hog N`
   keeps N busy-looping processes beside the runs the whole time (a busy machine); "inconclusive" verdicts are
   counted apart: they are the answer when the noise model cannot decide, never a regression.
2. a real regression: one run with --set parameters.block_size=4096 against the last default run; it must be
   a throughput regression and must not name batch_count.
3. history: `scenario history` over all the identical runs; every change point it flags is a false alarm,
   and so is each one flagged in `shuffles` random orders of the same runs (the measured false-alarm rate).
Prints a table and writes bench-compare-noise.json into the results folder.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

SCENARIO = "mooncake-tcp-loopback"


def scenario_cli(*args: str) -> subprocess.CompletedProcess:
    """This checkout's runner (python -m runner from the repository root), not whatever `scenario` is installed."""
    return subprocess.run([sys.executable, "-m", "runner", *args], capture_output=True, text=True, timeout=900,
                          cwd=Path(__file__).resolve().parents[1])


def run_once(results: Path, repeat: int, *sets: str) -> str:
    before = set((results / SCENARIO).iterdir()) if (results / SCENARIO).exists() else set()
    outcome = scenario_cli("run", SCENARIO, "--repeat", str(repeat), "--results", str(results), "--no-progress", "-o", "json",
                           *[arg for s in sets for arg in ("--set", s)])
    if outcome.returncode != 0:
        raise SystemExit(f"run failed ({outcome.returncode}):\n{outcome.stdout}\n{outcome.stderr}")
    (new,) = set((results / SCENARIO).iterdir()) - before
    return new.name


def compare(results: Path, a: str, b: str) -> dict:
    outcome = scenario_cli("compare", a, b, "--results", str(results), "-o", "json")
    if outcome.returncode not in (0, 1):
        raise SystemExit(f"compare failed ({outcome.returncode}):\n{outcome.stdout}\n{outcome.stderr}")
    document = json.loads(outcome.stdout)
    document["exit_code"] = outcome.returncode
    return document


HOG = "import time\nend = time.time() + 1e9\nwhile time.time() < end:\n    pass\n"


def start_hogs(count: int) -> list[subprocess.Popen]:
    """Busy-looping processes beside the runs: the host the runs measure is busy, as a shared CI machine is."""
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for hog in hogs:  # only the processes this bench started, by their own handles
        hog.terminate()
    for hog in hogs:
        hog.wait(timeout=10)


def load_text(results: Path, *run_ids: str) -> str:
    """Each run's mean 1-minute load per CPU, from run.json's facts.runner_host."""
    from runner.records.compare import _load_per_cpu
    from runner.records.history import find_run

    loads = [_load_per_cpu(find_run(results, run_id, SCENARIO)) for run_id in run_ids]
    return "/".join("-" if load is None else f"{load:.2f}" for load in loads)


def throughput(document: dict) -> dict:
    return next(m for m in document["metrics"] if m["metric"] == "initiator.throughput_gbps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shuffles", type=int, default=200)
    parser.add_argument("--hog", type=int, default=0, help="busy-looping processes to keep beside the runs")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args(argv)
    results = args.results or Path(tempfile.mkdtemp(prefix="compare-noise-"))
    hogs = start_hogs(args.hog)
    try:
        return measure(args, results)
    finally:
        stop_hogs(hogs)


def measure(args: argparse.Namespace, results: Path) -> int:
    started = time.time()
    rows, false_alarms, false_alarms_load, runs, exits, undecided = [], 0, 0, [], [], 0
    for attempt in range(1, args.tries + 1):
        a, b = run_once(results, args.repeat), run_once(results, args.repeat)
        runs += [a, b]
        document = compare(results, a, b)
        change = throughput(document)
        false_alarms += bool(document["regressions"])
        exits.append(document["exit_code"])
        undecided += change["verdict"] == "inconclusive"
        confounded = bool(document.get("conditions"))
        false_alarms_load += bool(document["regressions"]) and confounded
        rows.append([attempt, a, b, f"{change['a']:.3f}", f"{change['b']:.3f}", f"{change['change_pct']:+.1f}%",
                     f"{change['p_value']:.3g}" if change["p_value"] is not None else "-", change["verdict"], document["regressions"],
                     load_text(results, a, b) + (" (named)" if confounded else "")])
        print(f"try {attempt}/{args.tries}: {change['verdict']} ({change['change_pct']:+.1f}%), {document['regressions']} regression(s)",
              file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["try", "A", "B", "A median GB/s", "B median GB/s", "change", "p", "verdict", "regressions",
                                  "host load per CPU A/B"]))
    print(f"\nfalse alarms (identical settings, --repeat {args.repeat}, {args.hog} CPU hog(s)): {false_alarms} of {args.tries}"
          f" (compare exit codes {exits}; {undecided} inconclusive; {false_alarms_load} with the host-load difference named)")

    slow = run_once(results, args.repeat, "parameters.block_size=4096")
    document = compare(results, runs[-1], slow)
    regressed = [m["metric"] for m in document["metrics"] if m["regression"]]
    change = throughput(document)
    print(f"block_size=4096 against the default: throughput {change['a']:.3f} -> {change['b']:.3f} GB/s "
          f"({change['change_pct']:+.1f}%, p={'-' if change['p_value'] is None else format(change['p_value'], '.3g')}, "
          f"{change['note'] or '-'}): {change['verdict']}; regressions: {', '.join(regressed) or 'none'}; exit {document['exit_code']}")
    real_ok = regressed == ["initiator.throughput_gbps"] and document["exit_code"] == 1

    history = history_false_alarms(results, runs, args.shuffles)
    print(f"history change points over {len(runs)} identical runs: {history['flagged_in_order']} flagged in run order; "
          f"{history['flagged_shuffled']} in {args.shuffles} random orders "
          f"({history['rate_per_series']:.3f} per series of {len(runs)} runs)")
    summary = {"tries": args.tries, "repeat": args.repeat, "hogs": args.hog, "false_alarms": false_alarms, "compare_exit_codes": exits,
               "inconclusive": undecided, "false_alarms_load_named": false_alarms_load,
               "rows": rows,
               "block_size_4096": {"change": change, "regressions": regressed, "ok": real_ok}, "history": history,
               "wall_s": round(time.time() - started, 1), "results": str(results)}
    (results / "bench-compare-noise.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"wall time {summary['wall_s']} s; records in {results}")
    return 0 if false_alarms == 0 and real_ok else 1


def history_false_alarms(results: Path, runs: list[str], shuffles: int) -> dict:
    """Change points flagged among runs with identical settings: all of them are false alarms."""
    from runner.records.history import find_run
    from runner.records.trend import change_points, run_samples

    series = [run_samples(find_run(results, run_id, SCENARIO), "initiator.throughput_gbps") for run_id in runs]
    in_order = change_points(series, "higher")
    rng = random.Random(7)
    shuffled = 0
    for _ in range(shuffles):
        order = series[:]
        rng.shuffle(order)
        shuffled += len(change_points(order, "higher"))
    return {"flagged_in_order": len(in_order), "flagged_shuffled": shuffled, "rate_per_series": shuffled / max(shuffles, 1),
            "runs": len(runs)}


if __name__ == "__main__":
    sys.exit(main())

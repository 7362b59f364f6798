"""Benchmark of the sweep's "best": how often does it mark one among variants that are all the same?

    .venv/bin/python bench/sweep_noise_bench.py [--sweeps 5] [--variants 4] [--repeat 3] [--results DIR]

Runs `sweeps` sweeps of mooncake-tcp-loopback (real Mooncake transfer engine, TCP loopback) whose matrix lists
the same block size `variants` times, each variant with --repeat N. Every best marked is a false one. Also
prints, as the reference, the rate runner.ranking gives when every sample is drawn from one distribution
(exchangeable noise, simulated), and then one sweep of the library's mooncake-tcp-loopback-sweep (real gain).
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

BIN = Path(sys.executable).parent
SCENARIO = "mooncake-tcp-loopback"


def sweep(results: Path, *args: str) -> dict:
    done = subprocess.run([str(BIN / "scenario"), "run", *args, "--results", str(results), "--no-progress"],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode not in (0, 1):
        raise SystemExit(f"sweep failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    found = sorted(results.glob("*/*.sweep/sweep.json"), key=lambda p: p.stat().st_mtime)
    document = json.loads(found[-1].read_text())
    best = next((line for line in done.stdout.splitlines() if line.startswith("best:")), "")
    return {"document": document, "best_line": best, "table": done.stdout}


def simulated_rate(variants: int, repeat: int, trials: int = 20000) -> float:
    """Share of sweeps of identical variants (i.i.d. samples) in which ranking.rank marks a best."""
    from runner.verdict.ranking import rank

    class Variant:
        def __init__(self, index, samples):
            self.index, self.status, self.samples, self.metrics = index, "PASS", {"m": samples}, {"m": samples[0]}

    rng = random.Random(11)
    marked = sum(rank([Variant(i, [rng.random() for _ in range(repeat)]) for i in range(variants)], "m", "higher")[0] is not None
                 for _ in range(trials))
    return marked / trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=5)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--block-size", default="262144")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args(argv)
    results = args.results or Path(tempfile.mkdtemp(prefix="sweep-noise-"))
    started = time.time()
    rows, false_best = [], 0
    matrix = "parameters.block_size=" + ",".join([args.block_size] * args.variants)
    for index in range(1, args.sweeps + 1):
        found = sweep(results, SCENARIO, "--matrix", matrix, "--repeat", str(args.repeat), "--set", "parameters.duration=2")
        marked = found["best_line"].startswith("best: variant")
        false_best += marked
        rows.append([index, "yes" if marked else "no", found["best_line"][:110]])
        print(f"sweep {index}/{args.sweeps}: {'a best marked' if marked else 'no best'}", file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["sweep", "best marked", "what the sweep said"]))
    expected = simulated_rate(args.variants, args.repeat)
    print(f"\nfalse bests ({args.variants} identical variants x --repeat {args.repeat}): {false_best} of {args.sweeps}; "
          f"with exchangeable noise the ranking rule marks one in {expected:.1%} of sweeps (simulated, 20,000 sweeps)")
    real = sweep(results, "mooncake-tcp-loopback-sweep")
    print("\nthe library's sweep (a real gain):\n" + real["table"])
    summary = {"sweeps": args.sweeps, "variants": args.variants, "repeat": args.repeat, "false_best": false_best,
               "simulated_rate": expected, "rows": rows, "real_best": real["best_line"], "wall_s": round(time.time() - started, 1)}
    (results / "bench-sweep-noise.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"wall time {summary['wall_s']} s; records in {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: what emulated nodes cost, against plain loopback in the same run.

    .venv/bin/python bench/nodes_bench.py [--rounds 5] [--mooncake-rounds 2] [--duration 5]

1. Set-up plus tear-down of 2, 4 and 8 emulated nodes (namespaces, veth pairs on the hub's bridge,
   addresses, hosts files, run marker; one node rate-limited), median over rounds. Target: < 1 s for 4.
2. Mooncake throughput through the runner: `scenario run mooncake-efa-dram --executor local` on
   three emulated nodes against the same scenario with `--set local.nodes.mode=loopback` (the same
   commands on this machine's loopback), rounds interleaved. Reports the ratio nodes / loopback
   (medians): what the veth pairs and the bridge cost a real transfer.
Needs root (it says so and stops otherwise).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tabulate import tabulate

from runner.execute.local import nodes
from runner.execute.local.nodes import Fabric, LinkSettings

REPO = Path(__file__).resolve().parents[1]
SCENARIO = Path(sys.executable).parent / "scenario"


def setup_teardown(count: int, rounds: int) -> tuple[float, float]:
    setups, teardowns = [], []
    for _ in range(rounds):
        links = {f"node-{i}": LinkSettings(rate_mbit=1000 if i == 1 else None) for i in range(count)}
        hosts = {f"pod-{i}.ns.svc": f"node-{i}" for i in range(count)}
        started = time.perf_counter()
        fabric = Fabric.create(f"bench-{uuid.uuid4().hex[:8]}", links, hosts=hosts)
        made = time.perf_counter()
        left = fabric.teardown()
        done = time.perf_counter()
        if left:
            raise SystemExit(f"teardown left {left}")
        setups.append(made - started)
        teardowns.append(done - made)
    return statistics.median(setups), statistics.median(teardowns)


def mooncake(mode: str, duration: int, results: Path, overrides: list[str]) -> tuple[float, float]:
    """(throughput GB/s, run wall time s) of one runner run."""
    args = [str(SCENARIO), "run", "mooncake-efa-dram", "--executor", "local", "--no-progress", "--results", str(results), "-o", "json",
            "--set", f"local.parameters.duration={duration}"] + [a for o in overrides for a in ("--set", o)]
    if mode == "loopback":
        args += ["--set", "local.nodes.mode=loopback"]
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    try:
        verdict = json.loads(out.stdout)
    except ValueError:
        raise SystemExit(f"{mode} run printed no verdict (exit {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}") from None
    record = next(results.glob(f"mooncake-efa-dram/{verdict.get('run_id')}/metrics.json"), None)
    metrics = json.loads(record.read_text()) if record else {}
    found = metrics.get("workloads", {}).get("initiator", {}).get("metrics", {})
    value = None
    if record and "batch_count" in found and found.get("duration_s", {}).get("value"):
        # From the batches moved, not the two-decimal GB/s the tool prints.
        import yaml

        params = yaml.safe_load((record.parent / "scenario.yaml").read_text())["parameters"]
        moved = found["batch_count"]["value"] * int(params["batch_size"]) * int(params["block_size"])
        value = moved / found["duration_s"]["value"] / 1e9
    if value is None:
        summary = verdict.get("summary", "") if isinstance(verdict, dict) else ""
        raise SystemExit(f"{mode} run has no throughput (exit {out.returncode}): {summary}")
    return float(value), wall


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--rounds", type=int, default=5)
    cli.add_argument("--mooncake-rounds", type=int, default=2)
    cli.add_argument("--duration", type=int, default=5)
    cli.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE", help="passed to both runs")
    args = cli.parse_args()
    reason = nodes.unavailable_reason()
    if reason:
        print(f"emulated nodes unavailable here ({reason})", file=sys.stderr)
        return 2
    rows = []
    for count in (2, 4, 8):
        setup, teardown = setup_teardown(count, args.rounds)
        rows.append([count, f"{setup * 1000:.0f} ms", f"{teardown * 1000:.0f} ms", f"{(setup + teardown) * 1000:.0f} ms"])
        print(f"[{count} nodes] done", file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["nodes", "set-up", "tear-down", "total"]))
    if args.mooncake_rounds <= 0:
        return 0
    measured: dict[str, list[tuple[float, float]]] = {"nodes": [], "loopback": []}
    with tempfile.TemporaryDirectory() as results:
        for round_ in range(args.mooncake_rounds):
            for mode in ("loopback", "nodes"):
                measured[mode].append(mooncake(mode, args.duration, Path(results), args.overrides))
                print(f"[mooncake round {round_ + 1}, {mode}] {measured[mode][-1][0]:.3f} GB/s", file=sys.stderr, flush=True)
    median = {mode: (statistics.median(v[0] for v in runs), statistics.median(v[1] for v in runs)) for mode, runs in measured.items()}
    print()
    print(tabulate([[mode, f"{gbps:.3f} GB/s", f"{wall:.2f} s"] for mode, (gbps, wall) in median.items()],
                   headers=["mooncake-efa-dram", "throughput", "run wall time"]))
    print(f"throughput ratio nodes / loopback: {median['nodes'][0] / median['loopback'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the local executor against the same transfer_engine_bench commands run by hand.

    .venv/bin/python bench/local_bench.py [--rounds 3] [--duration 5]

Each round runs, back to back, (a) the target and initiator started by hand from this
script (target first, its RPC address read from its log, initiator until it exits, target
stopped and waited for until its whole process group is gone), and (b) `scenario run mooncake-tcp-loopback` as a user would, with the same
parameters. Reports the throughput ratio (runner / by hand) and the runner's wall-time
overhead (runner wall time - by-hand wall time), medians over rounds.
Targets: ratio >= 0.95, overhead < 1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from runner.base.errors import ParseError
from runner.execute.local.processes import group_alive
from runner.parse.logs import parse_lines

BIN = Path(sys.executable).parent
PARAMS = {"threads": 2, "block_size": 65536, "batch_size": 16, "buffer_size": 67108864}
ADDRESS = re.compile(r"listening on (\S+:\d+)")


def stop_group(process: subprocess.Popen) -> None:
    """Stop the target and wait until its whole process group is gone, the same guarantee the runner gives.

    The console script `transfer_engine_bench` is a Python wrapper around the bundled C++ binary, which
    takes 1-2.5 s to exit after SIGTERM: waiting only for the wrapper would leave it running.
    """
    os.killpg(process.pid, signal.SIGTERM)
    process.wait()
    while group_alive(process.pid):  # zombies count as gone, as in the runner: init reaps them, not us
        time.sleep(0.02)


def by_hand(duration: int, workdir: Path) -> tuple[float, float]:
    started = time.monotonic()
    target_log = workdir / "target.log"
    with target_log.open("wb") as log:
        target = subprocess.Popen([str(BIN / "transfer_engine_bench"), "--mode=target", "--protocol=tcp", "--metadata_server=P2PHANDSHAKE",
                                   "--local_server_name=127.0.0.1", f"--buffer_size={PARAMS['buffer_size']}", f"--duration={duration + 30}"],
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = None
        while address is None:
            match = ADDRESS.search(target_log.read_text(errors="replace"))
            address = match.group(1) if match else None
            if address is None:
                time.sleep(0.05)
        initiator = subprocess.run([str(BIN / "transfer_engine_bench"), "--mode=initiator", "--protocol=tcp", "--metadata_server=P2PHANDSHAKE",
                                    "--local_server_name=127.0.0.1", f"--segment_id={address}", "--operation=write",
                                    f"--threads={PARAMS['threads']}", f"--block_size={PARAMS['block_size']}",
                                    f"--batch_size={PARAMS['batch_size']}", f"--buffer_size={PARAMS['buffer_size']}",
                                    f"--duration={duration}", "--report_unit=GB"], capture_output=True, text=True)
    finally:
        stop_group(target)
    wall = time.monotonic() - started
    try:  # the same parser the runner uses, so both sides are read alike
        result = parse_lines("mooncake-bench", (initiator.stdout + initiator.stderr).splitlines(), "by-hand initiator")
    except ParseError as error:
        raise SystemExit(f"by-hand initiator: {error}\n{initiator.stderr[-2000:]}")
    return result.value("throughput_gbps"), wall


def with_runner(duration: int, results: Path) -> tuple[float, float]:
    sets = [f"--set=parameters.{k}={v}" for k, v in PARAMS.items()] + [f"--set=parameters.duration={duration}"]
    started = time.monotonic()
    completed = subprocess.run([str(BIN / "scenario"), "run", "mooncake-tcp-loopback", "--no-progress", "--results", str(results),
                                "-o", "json", *sets], capture_output=True, text=True)
    wall = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"runner failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    run_id = json.loads(completed.stdout)["run_id"]
    metrics = json.loads((results / "mooncake-tcp-loopback" / run_id / "metrics.json").read_text())
    return metrics["workloads"]["initiator"]["metrics"]["throughput_gbps"]["value"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.rounds + 1):
            hand_tput, hand_wall = by_hand(args.duration, Path(tmp))
            run_tput, run_wall = with_runner(args.duration, Path(tmp) / "results")
            rows.append([round_, hand_tput, run_tput, run_tput / hand_tput, hand_wall, run_wall, run_wall - hand_wall])
    print(tabulate(rows, headers=["round", "by hand GB/s", "runner GB/s", "ratio", "by hand wall s", "runner wall s", "overhead s"],
                   floatfmt=".3f"))
    ratio = statistics.median(r[3] for r in rows)
    overhead = statistics.median(r[6] for r in rows)
    print(f"\nmedian throughput ratio {ratio:.3f} (target >= 0.95), median overhead {overhead:.2f} s (target < 1 s), "
          f"duration {args.duration} s, {args.rounds} rounds, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

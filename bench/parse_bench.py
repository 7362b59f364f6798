"""Streaming benchmark of the nccl-tests parser: throughput and peak memory on big noisy logs.

    python bench/parse_bench.py                # 20 MB and 200 MB logs
    python bench/parse_bench.py --sizes 5,50

Each log is written into a temporary directory: many all_reduce_perf runs under mpirun --tag-output,
with NCCL INFO lines from 16 ranks between the rows. Each parse runs in a fresh child process, so that
its peak RSS (ru_maxrss) is its own; a second pass under tracemalloc gives the peak of Python allocations.
If the parser streams, the peak stays flat while the log grows tenfold.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RANKS = 16
SIZES = [8 << i for i in range(32)]  # 8 B .. 16 GiB, like -b 8 -e 16G -f 2


def noise(rank: int, n: int) -> str:
    return (
        f"[1,{rank}]<stdout>:ip-10-1-{rank // 8}-7:{4100 + rank}:{4180 + rank} [{rank % 8}] NCCL INFO "
        f"Channel {n % 32:02d}/32 : 0[{rank % 8}] -> 1[{(rank + 1) % 8}] via P2P/CUMEM/read comm 0x55d1c0a4e2b0 nRanks {RANKS}\n"
    )


def row(size: int, variant: int) -> str:
    time_us = 15.0 + size / 4.0e5 * (1 + variant / 100)
    algbw = size / time_us / 1e3
    busbw = algbw * 2 * (RANKS - 1) / RANKS
    half = f"  {time_us:7.2f}  {algbw:6.2f}  {busbw:6.2f}       0"
    return f"{size:12d}  {size // 4:12d}     float     sum      -1{half}{half}\n"


def run_block(variant: int) -> str:
    """One all_reduce_perf run with about 300 NCCL INFO lines spread through it."""
    out = [noise(r, n) for n in range(4) for r in range(RANKS)]
    out.append("[1,0]<stdout>:NCCL version 2.28.9+cuda12.9\n")
    header = [
        "# nccl-tests version 2.19.6 nccl-headers=22809 nccl-library=22809",
        "# Collective test starting: all_reduce_perf",
        "# nThread 1 nGpus 1 minBytes 8 maxBytes 17179869184 step: 2(factor) warmup iters: 1 iters: 20 agg iters: 1 validation: 1 graph: 0 unalign: 0",
        "#",
        "# Using devices",
        *[f"#  Rank {r:2d} Group  0 Pid {4100 + r:6d} on ip-10-1-{r // 8}-7 device {r % 8:2d} [0000:{0x53 + r:02x}:00] NVIDIA H100 80GB HBM3" for r in range(RANKS)],
        "#",
        "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong",
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)",
    ]
    out += [f"[1,0]<stdout>:{line}\n" for line in header]
    for i, size in enumerate(SIZES):
        out.append("[1,0]<stdout>:" + row(size, variant))
        out += [noise((i + r) % RANKS, i) for r in range(8)]
    out += [
        "[1,0]<stdout>:# Out of bounds values : 0 OK\n",
        f"[1,0]<stdout>:# Avg bus bandwidth    : {100 + variant:.4f} \n",
        "[1,0]<stdout>:#\n",
        "[1,0]<stdout>:# Collective test concluded: all_reduce_perf\n",
    ]
    return "".join(out)


def write_log(path: Path, megabytes: int) -> int:
    """Writes runs until the file reaches the size; returns the number of runs."""
    blocks = [run_block(variant) for variant in range(7)]
    target, written, runs = megabytes * 1_000_000, 0, 0
    with path.open("w") as handle:
        while written < target:
            block = blocks[runs % len(blocks)]
            handle.write(block)
            written += len(block)
            runs += 1
    return runs


def child(path: str) -> None:
    """Parses the log twice (timed, then under tracemalloc) and prints the figures as JSON."""
    sys.path.insert(0, str(REPO))
    from runner.parse.logs import parse_file

    parse_file("nccl-tests", REPO / "tests/fixtures/nccl-tests/all_gather_perf.txt")  # imports and warms up everything
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = parse_file("nccl-tests", path)
    seconds = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    parse_file("nccl-tests", path)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({
        "seconds": seconds, "rss_before_kb": rss_before, "rss_after_kb": rss_after, "traced_peak_b": traced_peak,
        "runs": result.info["runs"], "avg": result.value("busbw_gbps_avg"),
    }))


def measure(path: Path) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--sizes", default="20,200", help="log sizes in MB, comma separated (default 20,200)")
    options.add_argument("--child", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        child(args.child)
        return 0

    from tabulate import tabulate

    rows = []
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as tmp:
        for megabytes in [int(size) for size in args.sizes.split(",")]:
            path = Path(tmp) / f"nccl-{megabytes}mb.log"
            runs = write_log(path, megabytes)
            lines = sum(1 for _ in path.open())
            size_mb = path.stat().st_size / 1e6
            figures = measure(path)
            path.unlink()
            assert int(figures["runs"]) == runs, (figures, runs)
            rows.append([
                f"{size_mb:.0f}", f"{lines:,}", f"{runs:,}", f"{figures['seconds']:.2f}", f"{size_mb / figures['seconds']:.0f}",
                f"{(figures['rss_after_kb'] - figures['rss_before_kb']) / 1024:.1f}", f"{figures['rss_after_kb'] / 1024:.1f}",
                f"{figures['traced_peak_b'] / 1024:.0f}",
            ])
    headers = ["log MB", "lines", "runs", "parse s", "MB/s", "RSS growth MB", "peak RSS MB", "tracemalloc peak KiB"]
    print(tabulate(rows, headers=headers, disable_numparse=True, colalign=["right"] * len(headers)))
    peaks = [int(row[-1]) for row in rows]
    if len(peaks) > 1:
        print(f"\ntracemalloc peak, largest log / smallest log: {peaks[-1] / peaks[0]:.2f}x (bounded if far below the size ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: time and peak memory on hostile logs, each case against a reference in the same run.

    .venv/bin/python bench/hostile_logs_bench.py [--rows 1000000] [--line-mb 100] [--json]

Cases (the logs are written into a temporary directory; every measurement runs in a fresh child process, so
ru_maxrss is its own):
  nccl-1M-rows     the nccl-tests parser on one all_reduce_perf run with --rows rows (the row format of
                   tests/fixtures/nccl-tests/sample_a_all_reduce_v2.18.2.txt); past 100,000 rows in one run
                   the parser stops with a ParseError naming the line, so memory stays bounded
  nccl-100MB-line  the nccl-tests parser on a log with one --line-mb MB line in it
  sglang-spaces    the sglang-bench-serving parser on its real result block (tests/fixtures/sglang) after a
                   60,000-space line and a line whose label is followed by a 10 MB run of spaces
  evidence-100MB   a log check (judge: RE2, bounded lines) counting lines of the 100 MB-line log
  ready-300MB      readiness (schedule.LogWatch) polling a log that is one 300 MB unterminated line
Reference: reading the same file line by line in Python (`for line in f: pass`), time and memory.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NCCL_FIXTURE = REPO / "tests" / "fixtures" / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt"
SGLANG_FIXTURE = REPO / "tests" / "fixtures" / "sglang" / "serving_block_0.5.23_template.txt"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, REPO)
kind, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
outcome = ""
if kind == "reference":
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            pass
elif kind == "parse":
    from runner.errors import ParseError
    from runner.parse import parse_file
    try:
        result = parse_file(sys.argv[3], path)
        outcome = f"{len(result.metrics)} metrics"
    except ParseError as error:
        outcome = "ParseError: " + error.reason[:80]
elif kind == "evidence":
    from runner import saferegex
    outcome = f"{saferegex.count_matching_lines(path, saferegex.compile('(a+)+$'))} lines"
elif kind == "ready":
    from runner.schedule import LogWatch
    from pathlib import Path
    watch = LogWatch(r"^(?P<x>ready) on (?P<port>[0-9]+)$")
    for _ in range(20):
        found = watch.match(Path(path))
    outcome = f"match={found}"
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "outcome": outcome}))
"""


def measure(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", f"REPO = {str(REPO)!r}\n" + CHILD, *args], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"seconds": float("nan"), "rss_mb": float("nan"), "outcome": done.stderr.strip().splitlines()[-1][:100]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def nccl_rows_log(path: Path, rows: int) -> None:
    lines = NCCL_FIXTURE.read_text().splitlines(keepends=True)
    head = [line for line in lines[:12]]
    body = [line for line in lines if line.startswith("  ") and not line.startswith("#")]
    tail = [line for line in lines if line.startswith("# Out of bounds") or line.startswith("# Avg bus") or
            line.startswith("# Collective test concluded")]
    with path.open("w") as out:
        out.writelines(head)
        for i in range(rows // len(body)):
            out.writelines(body)
        out.writelines(tail)


def long_line_log(path: Path, megabytes: int) -> None:
    lines = NCCL_FIXTURE.read_text().splitlines(keepends=True)
    with path.open("w") as out:
        out.writelines(lines[:12])
        chunk = "a" * (1 << 20)
        for _ in range(megabytes):
            out.write(chunk)
        out.write("\n")
        out.writelines(lines[12:])


def spaces_log(path: Path) -> None:
    text = SGLANG_FIXTURE.read_text()
    with path.open("w") as out:
        out.write(" " * 60_000 + "x\n")
        out.write("Benchmark duration (s):" + " " * (10 << 20) + "\n")  # a 10 MB run of spaces before the block
        out.write(text)


def unterminated_log(path: Path, megabytes: int) -> None:
    with path.open("w") as out:
        chunk = "b" * (1 << 20)
        for _ in range(megabytes):
            out.write(chunk)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--line-mb", type=int, default=100)
    parser.add_argument("--ready-mb", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [
            ("nccl-1M-rows", tmp / "rows.log", lambda p: nccl_rows_log(p, options.rows), ("parse", "nccl-tests")),
            ("nccl-100MB-line", tmp / "line.log", lambda p: long_line_log(p, options.line_mb), ("parse", "nccl-tests")),
            ("sglang-spaces", tmp / "spaces.log", spaces_log, ("parse", "sglang-bench-serving")),
            ("evidence-100MB", tmp / "line.log", None, ("evidence",)),
            ("ready-300MB", tmp / "ready.log", lambda p: unterminated_log(p, options.ready_mb), ("ready",)),
        ]
        for name, path, make, (kind, *extra) in cases:
            if make is not None:
                print(f"writing {name} ...", file=sys.stderr, flush=True)
                make(path)
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            reference = measure("reference", str(path))
            got = measure(kind, str(path), *extra)
            rows.append({"case": name, "log_mb": round(path.stat().st_size / 1e6, 1), "seconds": round(got["seconds"], 2),
                         "peak_rss_mb": round(got["rss_mb"]), "reference_s": round(reference["seconds"], 2),
                         "reference_rss_mb": round(reference["rss_mb"]),
                         "time_ratio": round(got["seconds"] / reference["seconds"], 1) if reference["seconds"] else None,
                         "outcome": got["outcome"]})
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    from tabulate import tabulate

    print(tabulate(rows, headers="keys"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

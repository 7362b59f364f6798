"""Log checks, redaction and parsing against hostile sizes: throughput in MB per CPU second (this process's CPU time:
on a shared machine wall time measures the neighbours too) beside a plain read of the same file in the same run (the
ratio is what to compare across machines), and the worst parse time of each parser on a 1 MiB adversarial line
(tests/parsers/adversarial.py, wall time).

The log is the real tool output of tests/fixtures/ (nccl-tests, Mooncake, UCCL-EP, sglang; every line one a tool
printed) repeated up to --mb megabytes, plus the lines a run with secrets writes (an echoed token, a command line).

    python bench/reliability_bench.py --mb 200 [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runner.base import saferegex  # noqa: E402  (after the path is set)
from runner.base.saferegex import line_blocks  # noqa: E402
from runner.records.redaction import Redactor  # noqa: E402
from tests.parsers import adversarial  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
SOURCES = ("nccl-tests/sample_a_all_reduce_v2.18.2.txt", "nccl-tests/all_gather_perf.json", "mooncake/tcp-loopback-initiator.log",
           "mooncake/tcp-loopback-target.log", "uccl-ep/low_latency_16_ranks.log", "sglang/serving_block_real_older.txt",
           "sglang/serving_results.jsonl")
SECRETS = [f"s3cr3t-value-{i:02d}-Zq9" for i in range(14)]
CHECKS = {"contains 'Avg bus bandwidth'": saferegex.literal("Avg bus bandwidth"),
          "regex 'Test completed: duration [0-9.]+'": saferegex.compile(r"Test completed: duration [0-9.]+"),
          "absent 'FAILED|Check failed'": saferegex.compile("FAILED|Check failed"),
          "every-rank '(?P<rank>...)'": saferegex.compile(r"\[rank (?P<rank>\d+)\] Dispatch")}


def make_log(path: Path, megabytes: int) -> int:
    corpus = b"".join((FIXTURES / name).read_bytes() for name in SOURCES)
    corpus += (f"token {SECRETS[0]} HF_TOKEN={SECRETS[1]} --api-key {SECRETS[2]}\n").encode()
    with path.open("wb") as handle:
        written = 0
        while written < megabytes << 20:
            handle.write(corpus)
            written += len(corpus)
    return written


def mb_per_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def timed(fn) -> tuple[float, object]:
    """CPU seconds of this process (the machine is shared: wall time measures the neighbours too) and the result."""
    started = time.process_time()
    result = fn()
    return time.process_time() - started, result


def plain_read(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(len(block) for block in iter(lambda: handle.read(4 << 20), b""))


def redact_file(path: Path, redactor: Redactor) -> int:
    out = 0
    with path.open("rb") as handle:
        for block in line_blocks(handle):
            out += len(redactor.block(block))
    return out


def adversarial_worst() -> dict[str, dict[str, float | str]]:
    worst = {}
    for parser in adversarial.LOGS:
        times = {shape: adversarial.parse_seconds(parser, shape) for shape in adversarial.SHAPES}
        shape = max(times, key=times.get)
        worst[parser] = {"shape": shape, "seconds": round(times[shape], 4)}
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="size of the log in MB (default 200)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.log"
        size = make_log(path, args.mb)
        plain_read(path)  # the page cache holds the file for every measurement below
        read_s, _ = timed(lambda: plain_read(path))
        results = {"machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)}, "bytes": size,
                   "plain_read_mb_s": round(mb_per_s(size, read_s), 1), "log_checks": {}}
        for name, pattern in CHECKS.items():
            seconds, found = timed(lambda p=pattern: sum(1 for _ in saferegex.matching_lines(path, p, capture="rank" in p.groupindex)))
            results["log_checks"][name] = {"mb_s": round(mb_per_s(size, seconds), 1), "ratio_to_read": round(read_s / seconds, 3),
                                           "lines": found}
        redactor = Redactor(SECRETS)
        seconds, _ = timed(lambda: redact_file(path, redactor))
        results["redaction"] = {"mb_s": round(mb_per_s(size, seconds), 1), "ratio_to_read": round(read_s / seconds, 3)}
        results["parse_1mib_adversarial_worst"] = adversarial_worst()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{size / 1e6:.0f} MB of real tool output; {results['machine']}")
    print(f"plain read:  {results['plain_read_mb_s']:8.1f} MB/s")
    for name, figures in results["log_checks"].items():
        print(f"log check {name}: {figures['mb_s']:8.1f} MB/s ({figures['ratio_to_read']:.3f} of a read; {figures['lines']} lines)")
    print(f"redaction:   {results['redaction']['mb_s']:8.1f} MB/s ({results['redaction']['ratio_to_read']:.3f} of a read)")
    for name, worst in results["parse_1mib_adversarial_worst"].items():
        print(f"parse {name}: worst {worst['seconds']:.4f} s on a 1 MiB line ({worst['shape']})")


if __name__ == "__main__":
    main()

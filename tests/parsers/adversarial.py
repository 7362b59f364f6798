"""One-mebibyte adversarial lines, each placed where its parser looks hardest: inside sglang's result block, after
nccl-tests' column header, among Mooncake's glog lines. Shared by tests/parsers/test_hostile_logs.py and
bench/reliability_bench.py. A backtracking pattern is quadratic (or worse) on some of these: `^([^:]+):\\s+(.+?)\\s*$`
spent 24 s on a 60 KB line of the first shape."""
from __future__ import annotations

import time
from pathlib import Path

from runner.base.errors import ParseError
from runner.parse.logs import parse_lines

MIB = 1 << 20
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOGS = {  # a real log of each tool, and the line after which the adversarial line goes
    "sglang-bench-serving": (FIXTURES / "sglang" / "serving_block_real_older.txt", "Serving Benchmark Result"),
    "nccl-tests": (FIXTURES / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt", "#  size"),
    "mooncake-bench": (FIXTURES / "mooncake" / "current_format_gbps.log", ""),
    "uccl-ep": (FIXTURES / "uccl-ep" / "low_latency_16_ranks.log", ""),
    "regex": (FIXTURES / "mooncake" / "current_format_gbps.log", ""),
}
OPTIONS = {"regex": {"patterns": [{"regex": r"throughput (?P<tput>[0-9.]+)\s*(?P<unit>\w+)/s\s*$"}]}}


def _fill(prefix: str, unit: str, suffix: str = "x") -> str:
    return prefix + unit * ((MIB - len(prefix) - len(suffix)) // len(unit)) + suffix + "\n"


SHAPES = {
    "label, colon, whitespace": _fill("Mean TTFT (ms):", " "),
    "label, colon, whitespace, tab": _fill("Successful requests:", " \t"),
    "whitespace": _fill("", " "),
    "colons": _fill("", ":", ""),
    "colon-space pairs": _fill("", ": "),
    "digits": _fill("", "9", ""),
    "digits and dots": _fill("", "1.", ""),
    "a row of numbers": _fill("", "8 ", ""),
    "launcher prefix, then whitespace": _fill("[1,0]<stdout>:", " "),
    "avg busbw, digits": _fill("# Avg bus bandwidth    : ", "9"),
    "nccl-tests version": _fill("# nccl-tests version ", "2"),
    "device header, whitespace": _fill("#  Rank  0 Group", " "),
    "Test completed, digits": _fill("Test completed: duration 1, batch count 1, throughput ", "9"),
    "Test completed, trailing spaces": _fill("Test completed: duration 1, batch count 1, throughput 1 GB/s", " "),
    "glog prefix, no bracket": _fill("I0101 00:00:00.000000 1 ", "a:1"),
    "RPC address prefix": _fill("Transfer Engine RPC using P2P handshake, listening on ", "a"),
    "rank bandwidth, digits": _fill("[rank 0] Dispatch + combine bandwidth: ", "1"),
    "rank prefixes": _fill("", "[rank 0] "),
    "JSON object start": _fill("{", '"a": '),
    "brackets": _fill("", "["),
}


def hostile_log(parser: str, line: str) -> list[str]:
    path, after = LOGS[parser]
    lines = path.read_text().splitlines(keepends=True)
    at = next((i + 1 for i, text in enumerate(lines) if after and after in text), len(lines) // 2)
    return lines[:at] + [line] + lines[at:]


def parse_seconds(parser: str, shape: str) -> float:
    """Seconds to parse the parser's real log with the shape's line in it (a ParseError counts: it is an answer)."""
    lines = hostile_log(parser, SHAPES[shape])
    started = time.perf_counter()
    try:
        parse_lines(parser, lines, "hostile.log", OPTIONS.get(parser, {}))
    except ParseError:
        pass
    return time.perf_counter() - started

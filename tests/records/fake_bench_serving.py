"""Prints sglang bench_serving's result block (the 0.5.23 fixture) with latencies scaled: a stand-in serving benchmark."""
import re
import sys
from pathlib import Path

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
block = (Path(__file__).resolve().parents[1] / "fixtures" / "sglang" / "serving_block_0.5.23_template.txt").read_text()


def scaled(match: re.Match) -> str:
    return f"{match.group(1)}{float(match.group(2)) * scale:.2f}"


print(re.sub(r"^((?:Mean|Median|P\d+|Max) (?:TTFT|TPOT|ITL) \(ms\):\s+)([0-9.]+)", scaled, block, flags=re.MULTILINE))

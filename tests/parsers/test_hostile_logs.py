"""Malformed or hostile tool output: every parser either reads it or raises ParseError naming the file (and the line,
when the parser tripped over it); never another exception, which would lose the verdict."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.base.errors import ParseError
from runner.parse.logs import parse_lines, parser_names
from tests.parsers import adversarial

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MOONCAKE = (FIXTURES / "mooncake" / "current_format_gbps.log").read_text()
UCCL = (FIXTURES / "uccl-ep" / "low_latency_16_ranks.log").read_text()
NCCL = (FIXTURES / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt").read_text()

HOSTILE = {
    "mooncake duration 3.0.0": MOONCAKE.replace("duration 5.25", "duration 3.0.0"),
    "uccl 6.9.2 GB/s": UCCL.replace(" GB/s", ".2 GB/s"),
    "nccl 1e400 busbw": NCCL.replace("22.86   22.86", "1e400   1e400"),
    "json 200000 deep": "[" * 200_000 + "]" * 200_000 + "\n",
    "json 1e400": '{"x": 1e400}\n',
    "json 5000 digits": '{"x": ' + "9" * 5000 + "}\n",
    "NUL and ESC": "a\x00b\x1b[31m\n" * 100,
    "60000 spaces": " " * 60_000 + "x\n",
}
OPTIONS = {"regex": {"patterns": [{"regex": r"throughput (?P<tput>[0-9.]+)"}]}}


@pytest.mark.parametrize("parser", parser_names())
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_parser_reads_or_raises_parse_error(parser, case):
    try:
        parse_lines(parser, HOSTILE[case].splitlines(keepends=True), "log.txt", OPTIONS.get(parser, {}))
    except ParseError as error:
        assert error.source.startswith("log.txt")


def test_an_unexpected_failure_names_the_line():
    with pytest.raises(ParseError) as caught:
        parse_lines("mooncake-bench", HOSTILE["mooncake duration 3.0.0"].splitlines(keepends=True), "log.txt", {})
    line = next(i for i, text in enumerate(HOSTILE["mooncake duration 3.0.0"].splitlines(), 1) if "3.0.0" in text)
    assert caught.value.source in ("log.txt", f"log.txt:{line}")


ONE_MIB_LIMIT_S = 5.0  # linear parsers take well under a second on a 1 MiB line; a quadratic one takes hours


@pytest.mark.parametrize("parser", parser_names())
def test_a_one_mebibyte_adversarial_line_costs_one_pass(parser):
    times = {shape: adversarial.parse_seconds(parser, shape) for shape in adversarial.SHAPES}
    worst = max(times, key=times.get)
    assert times[worst] < ONE_MIB_LIMIT_S, f"{parser}: {times[worst]:.1f} s on a 1 MiB line of {worst}"


def test_the_sglang_label_split_reads_what_the_pattern_read():
    from runner.parse.sglang_bench_serving import _labeled

    assert _labeled("Mean TTFT (ms):                          12.34") == ("Mean TTFT (ms)", "12.34")
    assert _labeled("Backend:   sglang-oai  ") == ("Backend", "sglang-oai")
    assert _labeled("Mean TTFT (ms):12.34") is None  # whitespace must follow the colon
    assert _labeled("Mean TTFT (ms):    ") is None
    assert _labeled(": value") is None
    assert _labeled("a: b: c") == ("a", "b: c")

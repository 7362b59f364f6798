"""Log checks match in blocks exactly as line by line, and reading logs stops when its time budget is spent."""
from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from runner.base import saferegex
from runner.base.budget import BudgetSpent, time_budget
from runner.base.errors import ParseError
from runner.parse.logs import parse_file, parse_lines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PATTERNS = ["foo", "^foo$", r"foo\s+bar", r"\Afoo", "a*", "^$", "bar$", r"\s", r"^\s*$", r"o\b", "[^x]+", ".", r"\d+$",
            r"(?i)token=\d", "^.{2}$", r"(?P<rank>\d)"]
PIECES = ["foo", "bar", "", "  ", "\r", "x", "a b", "foo\r", "123", "é", "TOKEN=1", "\udcff"]


def _line_by_line(path: Path, pattern: saferegex.SafePattern) -> int:
    """What log checks counted before blocks: each line alone, read in text mode with errors replaced."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return sum(1 for line in handle if pattern.search(line.rstrip("\r\n")))


def test_block_matching_counts_what_line_by_line_matching_counts(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "log"
    for _ in range(300):
        lines = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3))) for _ in range(rng.randint(0, 8))]
        path.write_bytes(("\n".join(lines) + rng.choice(["", "\n", "\r\n"])).encode("utf-8", "surrogateescape"))
        for text in PATTERNS:
            pattern = saferegex.compile(text)
            assert saferegex.count_matching_lines(path, pattern) == _line_by_line(path, pattern), (path.read_bytes(), text)


def test_no_match_spans_two_lines_and_giant_lines_cost_one_pass(tmp_path):
    path = tmp_path / "log"
    giant = b"y" * (saferegex.MAX_LINE * 2 + 5) + b"z"
    path.write_bytes(b"foo\nbar\n" + giant + b"\n" + giant * 4 + b"\nfoo")
    assert saferegex.count_matching_lines(path, saferegex.compile(r"foo\s+bar")) == 0
    assert saferegex.count_matching_lines(path, saferegex.compile("foo")) == 2
    assert saferegex.count_matching_lines(path, saferegex.compile("yz$")) == 2  # each giant line's end is seen


def test_a_spent_budget_stops_a_log_check_naming_the_log(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("line\n" * 1000)
    with time_budget(0.0), pytest.raises(BudgetSpent) as spent:
        time.sleep(0.001)
        saferegex.count_matching_lines(path, saferegex.compile("line"))
    assert str(path) in str(spent.value) and "time budget" in str(spent.value)


def test_a_spent_budget_stops_a_parser_with_a_parse_error_naming_the_log():
    log = FIXTURES / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt"
    assert parse_file("nccl-tests", log).metrics  # without a budget: read
    with time_budget(0.0), pytest.raises(ParseError) as caught:
        time.sleep(0.001)
        parse_file("nccl-tests", log)
    assert str(log) in str(caught.value) and "time budget of 0 s is spent" in str(caught.value)


def test_an_endless_input_ends_with_the_budget():
    def endless():
        while True:
            yield "\0" * saferegex.MAX_LINE

    started = time.monotonic()
    with time_budget(0.5), pytest.raises(ParseError, match="time budget"):
        parse_lines("sglang-bench-serving", endless(), "<stdin>")
    assert time.monotonic() - started < 10

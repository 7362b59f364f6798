"""Every registered parser fails with a ParseError, never another exception, on output it cannot read."""
from __future__ import annotations

import random

import pytest

from runner.base.errors import ParseError
from runner.parse.logs import parse_lines, parser_names

# options that get each parser past its option checks, so that the input itself is what fails
OPTIONS = {"regex": {"patterns": [{"regex": r"busbw (?P<busbw>[0-9.]+)"}]}}


def garbage(seed: int) -> list[str]:
    data = random.Random(seed).randbytes(64 * 1024)
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def test_every_tool_has_a_parser():
    assert set(parser_names()) >= {"nccl-tests", "mooncake-bench", "sglang-bench-serving", "uccl-ep", "regex"}


@pytest.mark.parametrize("name", parser_names())
@pytest.mark.parametrize("lines", [[], ["\n", "   \n"]], ids=["empty", "blank"])
def test_empty_input(name, lines):
    with pytest.raises(ParseError) as caught:
        parse_lines(name, lines, "empty.log", OPTIONS.get(name))
    assert caught.value.parser == name
    assert caught.value.reason


@pytest.mark.parametrize("name", parser_names())
@pytest.mark.parametrize("seed", range(5))
def test_random_binary_garbage(name, seed):
    with pytest.raises(ParseError):
        parse_lines(name, garbage(seed), "garbage.bin", OPTIONS.get(name))


@pytest.mark.parametrize("name", parser_names())
def test_garbage_after_an_opening_brace(name):
    with pytest.raises(ParseError):
        parse_lines(name, ["{", *garbage(99)], "garbage.json", OPTIONS.get(name))

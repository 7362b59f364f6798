from __future__ import annotations

import pytest

from runner.base.errors import ParseError

from .helpers import values

P = "regex"
LOG = """\
step 1 loss 2.50 throughput 100.5 GB/s host=a
step 2 loss 2.25 throughput 120.0 GB/s host=b
step 3 loss 2.00 throughput 110.0 GB/s host=c
done in 12 s
"""


def pattern(regex: str, **extra) -> dict:
    return {"patterns": [{"regex": regex, **extra}]}


@pytest.mark.parametrize(
    ("reduce", "expected"),
    [("last", 110.0), ("first", 100.5), ("max", 120.0), ("min", 100.5), ("sum", 330.5), ("count", 3), ("mean", 110.16666666666667)],
)
def test_reducers(parse_text, reduce, expected):
    result = parse_text(P, LOG, **pattern(r"throughput (?P<tput>[0-9.]+) GB/s", unit="GB/s", better="higher", reduce=reduce))
    assert result.value("tput") == pytest.approx(expected)
    assert result.metrics["tput"].unit == ("count" if reduce == "count" else "GB/s")
    assert result.metrics["tput"].better == "higher"


def test_last_is_the_default_and_groups_become_metrics(parse_text):
    result = parse_text(P, LOG, patterns=[
        {"regex": r"loss (?P<loss>[0-9.]+) .* host=(?P<host>\w+)", "better": "lower"},
        {"regex": r"done in (?P<seconds>\d+) s", "unit": "s"},
    ])
    assert values(result) == {"loss": 2.0, "host": "c", "seconds": 12}
    assert isinstance(result.value("seconds"), int)


def test_pattern_that_never_matches(parse_text):
    regex = r"busbw (?P<busbw>\d+)"
    with pytest.raises(ParseError) as caught:
        parse_text(P, LOG, **pattern(regex))
    assert caught.value.reason == f"pattern {regex!r} never matched"


def test_invalid_regex(parse_text):
    with pytest.raises(ParseError, match=r"patterns\[0\] regex 'tput \(\?P<x>\[0-9' is invalid: missing \]"):
        parse_text(P, LOG, **pattern(r"tput (?P<x>[0-9"))


def test_regex_without_named_group(parse_text):
    with pytest.raises(ParseError, match="has no named group"):
        parse_text(P, LOG, **pattern(r"throughput ([0-9.]+)"))


def test_numeric_reduce_of_text(parse_text):
    with pytest.raises(ParseError, match=r"group 'host' of pattern .* captured 'a', not a number, but reduce 'max' needs numbers"):
        parse_text(P, LOG, **pattern(r"host=(?P<host>\w+)", reduce="max"))


def test_optional_group_that_never_captures(parse_text):
    with pytest.raises(ParseError, match="group 'extra' of pattern .* never captured a value"):
        parse_text(P, LOG, **pattern(r"loss (?P<loss>[0-9.]+)(?: extra (?P<extra>\d+))?"))


def test_duplicate_metric_names(parse_text):
    options = {"patterns": [{"regex": r"loss (?P<x>[0-9.]+)"}, {"regex": r"done in (?P<x>\d+)"}]}
    with pytest.raises(ParseError, match="metric name.* x appear in more than one named group"):
        parse_text(P, LOG, **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "option 'patterns' must be a non-empty list"),
        ({"patterns": []}, "option 'patterns' must be a non-empty list"),
        ({"patterns": ["x"]}, r"patterns\[0\] must be a mapping with a 'regex' string"),
        (pattern(r"(?P<a>\d)", reduce="median"), "reduce must be one of last, first, max, min, sum, count, mean, got 'median'"),
        (pattern(r"(?P<a>\d)", better="more"), "better must be 'higher', 'lower' or '', got 'more'"),
    ],
)
def test_bad_options(parse_text, options, message):
    with pytest.raises(ParseError, match=message):
        parse_text(P, LOG, **options)

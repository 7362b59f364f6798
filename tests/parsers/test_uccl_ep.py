from __future__ import annotations

import pytest

from runner.base.errors import ParseError

from .helpers import FIXTURES, values

P = "uccl-ep"
SIXTEEN = "uccl-ep/low_latency_16_ranks.log"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_sixteen_ranks(parse_fixture):
    result = parse_fixture(P, SIXTEEN, expected_ranks=16)
    assert values(result) == pytest.approx({
        "passed_ranks": 16,
        "ranks": 16,
        "dispatch_combine_gbps_min": 6.92,
        "dispatch_combine_gbps_mean": 6.9725,
        "dispatch_combine_gbps_max": 7.02,
        "dispatch_gbps_min": 6.50,
        "dispatch_gbps_mean": 7.98875,
        "dispatch_gbps_max": 9.05,
        "combine_gbps_min": 5.87,
        "combine_gbps_mean": 6.749375,
        "combine_gbps_max": 8.01,
        "dispatch_combine_us_mean": 4210.914375,
        "dispatch_us_mean": 1860.55875,
        "combine_us_mean": 2196.324375,
    })
    assert (result.metrics["dispatch_combine_gbps_min"].unit, result.metrics["dispatch_combine_gbps_min"].better) == ("GB/s", "higher")
    assert (result.metrics["dispatch_us_mean"].unit, result.metrics["dispatch_us_mean"].better) == ("us", "lower")


def test_ranks_series(parse_fixture):
    series = parse_fixture(P, SIXTEEN).series["ranks"]
    assert series.columns == (
        "rank", "dispatch_combine_gbps", "dispatch_combine_avg_us", "dispatch_combine_min_us", "dispatch_combine_max_us",
        "dispatch_gbps", "dispatch_avg_us", "combine_gbps", "combine_avg_us",
    )
    assert [row[0] for row in series.rows] == list(range(16))
    assert series.rows[0] == (0, 6.92, 4242.79, 4115.51, 4412.5, 6.5, 2258.47, 8.01, 1832.72)


def test_a_rank_without_its_pass_line(parse_fixture):
    result = parse_fixture(P, "uccl-ep/low_latency_rank_11_no_pass.log", expected_ranks=16)
    assert result.value("passed_ranks") == 15
    assert result.value("ranks") == 16


def test_verbatim_two_rank_lines(parse_text):
    text = (
        "[rank 0] Dispatch + combine bandwidth: 24.38 GB/s, avg_t=904.30 us, min_t=890.59 us, max_t=925.28 us\n"
        "[rank 1] Dispatch + combine bandwidth: 24.38 GB/s, avg_t=904.32 us, min_t=889.57 us, max_t=927.23 us\n"
        "[rank 0] Dispatch bandwidth: 23.49 GB/s, avg_t=319.75 us | Combine bandwidth: 25.14 GB/s, avg_t=578.22 us\n"
        "[rank 1] Dispatch bandwidth: 23.49 GB/s, avg_t=319.75 us | Combine bandwidth: 25.14 GB/s, avg_t=578.22 us\n"
        "[rank 0] Dispatch send/recv time: 190.23 + 73509.90 us | Combine send/recv time: 201.45 + 135822.10 us\n"
    )
    result = parse_text(P, text)
    assert result.value("ranks") == 2
    assert result.value("passed_ranks") == 0
    assert result.value("dispatch_combine_us_mean") == pytest.approx(904.31)


def test_missing_rank_is_an_error(parse_text):
    text = "".join(line for line in fixture_text(SIXTEEN).splitlines(keepends=True) if "[rank 5]" not in line)
    with pytest.raises(ParseError, match=r"expected 16 ranks but found 15: no bandwidth lines from rank\(s\) 5"):
        parse_text(P, text, expected_ranks=16)


def test_rank_without_its_profiled_line_leaves_the_separate_figures_absent(parse_text):
    """test_low_latency.py skips the separate dispatch/combine line when kineto times nothing (cd4b0f53 :451-453): the run
    is still a correct run, its dispatch + combine figure stands, and the separate ones are absent with the reason."""
    text = "".join(line for line in fixture_text(SIXTEEN).splitlines(keepends=True) if "[rank 9] Dispatch bandwidth" not in line)
    result = parse_text(P, text, expected_ranks=16)
    assert result.value("dispatch_combine_gbps_min") == 6.92 and result.value("passed_ranks") == 16
    assert "dispatch_gbps_min" not in result.metrics and "combine_us_mean" not in result.metrics
    assert "rank(s) 9" in result.absent["dispatch_gbps_min"] and "kineto" in result.absent["dispatch_gbps_min"]


def test_run_without_any_profiled_line_parses(parse_text):
    text = "".join(line for line in fixture_text(SIXTEEN).splitlines(keepends=True)
                   if "] Dispatch bandwidth" not in line and "send/recv time" not in line)
    result = parse_text(P, text, expected_ranks=16)
    assert result.value("ranks") == 16 and set(result.absent) >= {"dispatch_gbps_min", "combine_gbps_max"}


def test_rank_without_its_dispatch_combine_line_is_truncated(parse_text):
    text = "".join(line for line in fixture_text(SIXTEEN).splitlines(keepends=True) if "[rank 9] Dispatch + combine" not in line)
    with pytest.raises(ParseError, match=r"rank\(s\) 9 printed no 'Dispatch \+ combine bandwidth' line: truncated output?"):
        parse_text(P, text)


def test_only_pass_lines(parse_text):
    with pytest.raises(ParseError, match=r"no '\[rank r\] Dispatch \+ combine bandwidth' lines found"):
        parse_text(P, "✓ All correctness tests passed!\n")


def test_expected_ranks_must_be_an_integer(parse_fixture):
    with pytest.raises(ParseError, match="option 'expected_ranks' must be an integer"):
        parse_fixture(P, SIXTEEN, expected_ranks="16")

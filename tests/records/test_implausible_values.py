"""A parsed value no tool can have measured (a bus bandwidth above any hardware's, NaN, an infinity, a negative
latency) makes the check on it ERROR with the reason: never a PASS, never a metric silently gone. The logs are real
tool output (tests/fixtures) with one value corrupted the way a broken run or a hostile file would."""
from __future__ import annotations

import pytest

from runner.parse.logs import parse_lines

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
NCCL = (FIXTURES / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt").read_text()
SGLANG = (FIXTURES / "sglang" / "serving_block_real_older.txt").read_text()


def _results(lab, name: str, log: str, parser: str, checks: list[str]):
    (lab.scenarios / f"{name}.log").write_text(log)
    lab.write(name, f"workloads:\n  - name: tool\n    command: [cat, {lab.scenarios / f'{name}.log'}]\n    parser: {parser}\n"
                    "checks:\n" + "".join(f"  - {check}\n" for check in checks), layer="fabric")
    return {f"{r.workload}.{r.metric}": r for r in lab.run(name).verdict.results}


def test_a_bus_bandwidth_above_any_hardware_is_an_error_not_a_pass(lab):
    log = NCCL.replace("5871.07   22.86   22.86", "5871.07   22.86   1e308")
    results = _results(lab, "busbw-1e308", log, "nccl-tests", ['{metric: tool.busbw_gbps_max, op: ">=", value: 1}',
                                                                '{metric: tool.busbw_gbps_avg, op: ">=", value: 1}'])
    busbw = results["tool.busbw_gbps_max"]
    assert busbw.status == "ERROR"
    assert "not a measurement: busbw_gbps_max is 1e+308 GB/s, above the 10000 GB/s no hardware reaches" in busbw.message
    assert "B200 HBM3e" in busbw.message
    assert results["tool.busbw_gbps_avg"].status == "PASS"  # the footer's figure is still a measurement


def test_a_nan_latency_is_an_error_and_the_other_metrics_are_still_judged(lab):
    log = SGLANG.replace("Mean TTFT (ms):                          3828.65", "Mean TTFT (ms):                          nan")
    results = _results(lab, "ttft-nan", log, "sglang-bench-serving", ['{metric: tool.ttft_ms_mean, op: "<=", value: 10000}',
                                                                      '{metric: tool.completed, op: "==", value: 160}'])
    assert results["tool.ttft_ms_mean"].status == "ERROR"
    assert "ttft_ms_mean is nan, not a finite number" in results["tool.ttft_ms_mean"].message
    assert results["tool.completed"].status == "PASS"


def test_a_negative_latency_from_a_regex_parser_is_an_error(lab):
    parser = "{name: regex, options: {patterns: [{regex: 'took (?P<latency>-?[0-9.]+) ms', unit: ms, better: lower}]}}"
    results = _results(lab, "negative", "took -3.5 ms\n", parser, ['{metric: tool.latency, op: "<=", value: 10}'])
    assert results["tool.latency"].status == "ERROR"
    assert "latency is negative (-3.5)" in results["tool.latency"].message


@pytest.mark.parametrize("printed, why", [("inf", "inf, not a finite number"), ("nan", "nan, not a finite number"),
                                          ("-inf", "-inf, not a finite number")])
def test_infinities_and_nan_are_named_not_dropped(printed, why):
    lines = SGLANG.replace("3828.65", printed).splitlines(keepends=True)
    result = parse_lines("sglang-bench-serving", lines, "bench.log")
    assert "ttft_ms_mean" not in result.metrics
    assert result.implausible["ttft_ms_mean"] == f"ttft_ms_mean is {why}"


def test_an_unlimited_request_rate_is_a_setting_not_an_implausible_value():
    lines = SGLANG.splitlines(keepends=True)
    rate = next((line for line in lines if line.startswith("Traffic request rate:")), None)
    if rate is None:
        pytest.skip("this fixture prints no request rate")
    result = parse_lines("sglang-bench-serving", [line.replace(rate.split(":", 1)[1].strip(), "inf") if line is rate else line
                                                  for line in lines], "bench.log")
    assert "request_rate" not in result.metrics and "request_rate" not in result.implausible

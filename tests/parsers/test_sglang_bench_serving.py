from __future__ import annotations

import pytest

from runner.base.errors import ParseError

from .helpers import FIXTURES, values

P = "sglang-bench-serving"
TEMPLATE = "sglang/serving_block_0.5.23_template.txt"
COMMON = {
    "completed": 160,
    "duration_s": 560.37,
    "total_input_tokens": 655360,
    "total_input_text_tokens": 655360,
    "total_output_tokens": 655360,
    "total_output_tokens_retokenized": 654700,
    "request_throughput": 0.29,
    "input_tok_s": 1169.50,
    "output_tok_s": 1169.50,
    "max_output_tok_s": 1376.00,
    "max_concurrent_requests": 64,
    "total_tok_s": 2339.01,
    "concurrency": 31.99,
    "max_concurrency": 32,
    "e2e_ms_mean": 112055.69,
    "e2e_ms_median": 111967.15,
    "e2e_ms_p90": 112712.63,
    "e2e_ms_p99": 112721.22,
    "ttft_ms_mean": 3828.65,
    "ttft_ms_median": 3786.40,
    "ttft_ms_p99": 6531.28,
    "tpot_ms_mean": 26.43,
    "tpot_ms_median": 26.41,
    "tpot_ms_p99": 27.29,
    "itl_ms_mean": 26.43,
    "itl_ms_median": 25.78,
    "itl_ms_p95": 27.88,
    "itl_ms_p99": 28.32,
    "itl_ms_max": 6010.40,
}
TEMPLATE_ONLY = {
    "e2e_ms_p95": 112716.00,
    "ttft_ms_p90": 5000.00,
    "ttft_ms_p95": 6000.00,
    "tpot_ms_p90": 27.00,
    "tpot_ms_p95": 27.10,
    "itl_ms_p90": 27.50,
}


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_template_block(parse_fixture):
    result = parse_fixture(P, TEMPLATE)
    assert values(result) == COMMON | TEMPLATE_ONLY
    assert result.info == {"format": "text", "backend": "sglang", "request_rate": "inf", "max_concurrency": "32"}
    assert (result.metrics["ttft_ms_mean"].unit, result.metrics["ttft_ms_mean"].better) == ("ms", "lower")
    assert (result.metrics["output_tok_s"].unit, result.metrics["output_tok_s"].better) == ("tok/s", "higher")
    assert result.metrics["request_throughput"].unit == "req/s"


def test_real_block_of_an_older_build(parse_fixture):
    assert values(parse_fixture(P, "sglang/serving_block_real_older.txt")) == COMMON


def test_jsonl_agrees_with_the_printed_block(parse_fixture):
    text = parse_fixture(P, TEMPLATE)
    jsonl = parse_fixture(P, "sglang/serving_results.jsonl")
    assert jsonl.info["tag"] == "tp8-inf"
    assert jsonl.info["request_rate"] == text.info["request_rate"] == "inf"
    only_printed = {"itl_ms_max"}  # the JSONL record has no max ITL
    assert text.metrics.keys() - jsonl.metrics.keys() == only_printed
    for name in text.metrics.keys() - only_printed:
        assert jsonl.value(name) == pytest.approx(text.value(name), abs=0.005), name
        assert (jsonl.metrics[name].unit, jsonl.metrics[name].better) == (text.metrics[name].unit, text.metrics[name].better)
    assert jsonl.value("ttft_ms_std") == 811.93


def test_jsonl_tag_option(parse_fixture):
    result = parse_fixture(P, "sglang/serving_results.jsonl", tag="rate-8")
    assert result.info["tag"] == "rate-8"
    assert result.value("request_rate") == 8.0
    assert result.value("output_tok_s") == 584.75


def test_jsonl_unknown_tag(parse_fixture):
    with pytest.raises(ParseError, match="no JSONL record has tag 'nope'"):
        parse_fixture(P, "sglang/serving_results.jsonl", tag="nope")


def test_jsonl_cut_line(parse_text):
    text = fixture_text("sglang/serving_results.jsonl")
    with pytest.raises(ParseError, match="line 2 of the JSONL is not a complete JSON object: truncated output?"):
        parse_text(P, text[:-40])


def test_truncated_block(parse_fixture):
    with pytest.raises(ParseError, match="the 'Serving Benchmark Result' block has no closing '=====' line: truncated output?"):
        parse_fixture(P, "sglang/serving_block_truncated.txt")


def test_the_last_block_wins(parse_text):
    text = fixture_text("sglang/serving_block_real_older.txt") + fixture_text(TEMPLATE)
    assert values(parse_text(P, text)) == COMMON | TEMPLATE_ONLY


def test_not_set_concurrency_gives_no_metric(parse_text):
    text = fixture_text(TEMPLATE).replace("Max request concurrency:                 32", "Max request concurrency:                 not set")
    result = parse_text(P, text)
    assert "max_concurrency" not in result.metrics
    assert result.info["max_concurrency"] == "not set"


def test_no_block(parse_text):
    with pytest.raises(ParseError, match="no 'Serving Benchmark Result' block found"):
        parse_text(P, "Namespace(backend='sglang')\n#Input tokens: 655360\n")


def test_block_without_results(parse_text):
    with pytest.raises(ParseError, match="the result has no completed or duration_s"):
        parse_text(P, "== Serving Benchmark Result ==\nBackend: sglang\n=====\n")

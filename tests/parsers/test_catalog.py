"""The metric catalog: every parser declares what it yields, and values outside a metric's domain are parse errors."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from runner.base.errors import ParseError
from runner.cli.main import cli
from runner.parse.catalog import BETTER, KINDS
from runner.parse.logs import get_catalog, parse_file, parse_lines, parser_names

from .helpers import FIXTURES

# one real log per parser; what it yields must be declared, with the catalog's unit, direction and kind
REAL_LOGS = {
    "mooncake-bench": ("mooncake/tcp-loopback-initiator.log", {}),
    "nccl-tests": ("nccl-tests/all_gather_perf.txt", {"min_bytes": "1M"}),
    "uccl-ep": ("uccl-ep/low_latency_16_ranks.log", {}),
    "sglang-bench-serving": ("sglang/serving_block_real_older.txt", {}),
}


@pytest.mark.parametrize("name", parser_names())
def test_every_metric_is_described(name):
    catalog = get_catalog(name)
    assert catalog.description
    assert catalog.metrics or catalog.dynamic is not None
    for spec in catalog.metrics:
        assert spec.kind in KINDS and spec.better in BETTER and spec.description, spec
        if spec.kind == "performance":
            assert spec.better, f"{name}.{spec.name} is a performance metric with no better direction"
    for option in catalog.options:
        assert option.description, option


@pytest.mark.parametrize("name", sorted(REAL_LOGS))
def test_real_output_yields_declared_metrics_only(name):
    relative, options = REAL_LOGS[name]
    result = parse_file(name, FIXTURES / relative, options)
    declared = get_catalog(name).metrics_for(options)
    assert result.metrics
    for metric in result.metrics.values():
        spec = declared[metric.name]
        assert (metric.unit, metric.better, metric.kind) == (spec.unit, spec.better, spec.kind)


def test_mooncake_batch_count_has_no_direction_and_addresses_are_info():
    result = parse_file("mooncake-bench", FIXTURES / "mooncake/tcp-loopback-initiator.log")
    assert result.metrics["throughput_gbps"].better == "higher"
    assert result.metrics["throughput_gbps"].kind == "performance"
    assert result.metrics["batch_count"].better == ""
    target = parse_file("mooncake-bench", FIXTURES / "mooncake/tcp-loopback-target.log", {"role": "target"})
    assert target.metrics["rpc_address"].kind == "info"


def _initiator_lines(throughput: str) -> list[str]:
    lines = (FIXTURES / "mooncake/tcp-loopback-initiator.log").read_text().splitlines(keepends=True)
    return [line.replace("throughput 0.59 GB/s", f"throughput {throughput} GB/s") for line in lines]


def test_a_number_too_long_to_be_finite_is_no_measurement():
    assert parse_lines("mooncake-bench", _initiator_lines("0.59")).value("throughput_gbps") == pytest.approx(0.59)
    result = parse_lines("mooncake-bench", _initiator_lines("9" * 400))
    assert "throughput_gbps" not in result.metrics
    assert result.implausible["throughput_gbps"] == "throughput_gbps is inf, not a finite number"


def test_a_negative_bandwidth_is_a_parse_error():
    lines = (FIXTURES / "nccl-tests/all_gather_perf.txt").read_text().splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.lstrip().startswith("1048576"))
    fields = lines[row].split()
    fields[7] = "-" + fields[7]  # out-of-place busbw
    lines[row] = "  ".join(fields) + "\n"
    with pytest.raises(ParseError, match="looks like a result row but could not be read"):
        parse_lines("nccl-tests", lines)


def test_regex_metrics_take_their_declaration_from_the_pattern():
    options = {"patterns": [{"regex": r"took (?P<elapsed>-?[0-9.]+) s", "unit": "s", "better": "lower", "reduce": "max"}]}
    result = parse_lines("regex", ["took 1.5 s\n", "took 2.5 s\n"], "<t>", options)
    assert (result.value("elapsed"), result.metrics["elapsed"].kind) == (2.5, "performance")
    negative = parse_lines("regex", ["took -1.5 s\n"], "<t>", options)
    assert "elapsed" not in negative.metrics and "negative" in negative.implausible["elapsed"]


def test_unknown_option_is_refused_with_a_guess():
    with pytest.raises(ParseError) as caught:
        parse_file("mooncake-bench", FIXTURES / "mooncake/tcp-loopback-initiator.log", {"rol": "target"})
    assert "no option 'rol'" in str(caught.value) and "did you mean 'role'" in str(caught.value)


def test_option_type_is_checked():
    with pytest.raises(ParseError, match="option 'run' must be an integer"):
        parse_file("nccl-tests", FIXTURES / "nccl-tests/all_gather_perf.txt", {"run": "last"})


def test_parse_list_prints_the_catalog():
    runner = CliRunner()
    text = runner.invoke(cli, ["parse", "--list"])
    assert text.exit_code == 0, text.output
    for name in parser_names():
        assert f"{name}: " in text.output
    assert "batch_count" in text.output and "performance" in text.output
    one = runner.invoke(cli, ["parse", "--list", "--json", "mooncake-bench"])
    document = json.loads(one.output)
    assert [entry["parser"] for entry in document] == ["mooncake-bench"]
    assert {m["name"]: m["kind"] for m in document[0]["metrics"]}["throughput_gbps"] == "performance"

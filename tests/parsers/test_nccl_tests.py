from __future__ import annotations

import json

import pytest

from runner.base.errors import ParseError

from .helpers import FIXTURES, values

P = "nccl-tests"
ALL_GATHER = {
    "busbw_gbps_max": 351.54,
    "busbw_gbps_avg": 217.198,
    "busbw_gbps_at_largest": 345.16,
    "algbw_gbps_max": 468.72,
    "wrong_total": 0,
    "validated": 1,
    "out_of_bounds": 0,
    "collective": "all_gather",
    "ranks": 4,
    "hosts": 1,
    "sizes": 7,
    "size_bytes_max": 4294967296,
}


def fixture_text(name: str) -> str:
    return (FIXTURES / "nccl-tests" / name).read_text()


def test_all_gather_real_run(parse_fixture):
    result = parse_fixture(P, "nccl-tests/all_gather_perf.txt")
    assert values(result) == ALL_GATHER
    assert result.info == {
        "nccl-tests": "2.19.6", "nccl-headers": "22809", "nccl-library": "22809",
        "format": "text", "runs": "1", "run": "0",
    }
    assert result.metrics["busbw_gbps_max"].unit == "GB/s"
    assert result.metrics["busbw_gbps_max"].better == "higher"
    assert result.metrics["wrong_total"].better == "lower"


def test_rows_series(parse_fixture):
    rows = parse_fixture(P, "nccl-tests/all_gather_perf.txt").series["rows"]
    assert rows.columns[:5] == ("size_bytes", "count", "type", "redop", "root")
    assert rows.columns[5:] == (
        "oop_time_us", "oop_algbw_gbps", "oop_busbw_gbps", "oop_wrong",
        "ip_time_us", "ip_algbw_gbps", "ip_busbw_gbps", "ip_wrong",
    )
    assert len(rows.rows) == 7
    assert rows.rows[-1] == (4294967296, 268435456, "float", "none", -1, 9332.66, 460.21, 345.16, 0, 9163.25, 468.72, 351.54, 0)
    assert rows.units[rows.columns.index("oop_time_us")] == "us"


def test_min_bytes_gives_min_busbw_over_large_sizes(parse_fixture):
    result = parse_fixture(P, "nccl-tests/all_gather_perf.txt", min_bytes=268435456)
    assert result.value("busbw_gbps_min_at_or_above") == 304.95
    assert parse_fixture(P, "nccl-tests/all_gather_perf.txt", min_bytes="1G").value("busbw_gbps_min_at_or_above") == 325.72


def test_min_bytes_above_the_sweep_is_an_error(parse_fixture):
    with pytest.raises(ParseError, match=r"no result row has size >= min_bytes 8589934592 \(the largest size is 4294967296\)"):
        parse_fixture(P, "nccl-tests/all_gather_perf.txt", min_bytes="8G")


def test_min_bytes_must_be_a_size(parse_fixture):
    with pytest.raises(ParseError, match="option 'min_bytes' must be a byte count"):
        parse_fixture(P, "nccl-tests/all_gather_perf.txt", min_bytes="lots")


def test_alltoall_in_place_wrong_is_not_applicable(parse_fixture):
    result = parse_fixture(P, "nccl-tests/alltoall_perf.txt")
    assert values(result) == {
        "busbw_gbps_max": 352.10,
        "busbw_gbps_avg": 127.411,
        "busbw_gbps_at_largest": 352.10,
        "algbw_gbps_max": 469.47,
        "wrong_total": 0,
        "validated": 1,
        "out_of_bounds": 0,
        "collective": "alltoall",
        "ranks": 4,
        "hosts": 1,
        "sizes": 12,
        "size_bytes_max": 4294967296,
    }
    assert {row[-1] for row in result.series["rows"].rows} == {None}


def test_sample_a_srun_all_reduce_v2_18_2(parse_fixture):
    result = parse_fixture(P, "nccl-tests/sample_a_all_reduce_v2.18.2.txt")
    assert values(result) == {
        "busbw_gbps_max": 22.88,
        "busbw_gbps_avg": 14.9966,
        "busbw_gbps_at_largest": 22.86,
        "algbw_gbps_max": 22.88,
        "wrong_total": 0,
        "validated": 1,
        "out_of_bounds": 0,
        "collective": "all_reduce",
        "ranks": 2,
        "hosts": 2,
        "sizes": 8,
        "size_bytes_max": 134217728,
    }
    assert result.info["nccl-tests"] == "2.18.2"
    assert result.info["nccl-library"] == "23007"


def test_srun_label_prefixes_are_ignored(parse_text):
    text = "".join(f"0: {line}" for line in fixture_text("sample_a_all_reduce_v2.18.2.txt").splitlines(keepends=True))
    unprefixed = fixture_text("sample_a_all_reduce_v2.18.2.txt")
    assert values(parse_text(P, text)) == values(parse_text(P, unprefixed))


def test_srun_rows_without_footer_are_truncated(parse_fixture):
    with pytest.raises(ParseError, match="truncated run"):
        parse_fixture(P, "nccl-tests/srun_prefix_rows.txt")


def test_sample_b_tag_output_partial_old_build(parse_fixture):
    result = parse_fixture(P, "nccl-tests/sample_b_tag_output_partial.txt")
    assert values(result) == {
        "busbw_gbps_max": 437.89,
        "busbw_gbps_avg": 52.9753,
        "busbw_gbps_at_largest": 437.79,
        "algbw_gbps_max": 233.54,
        "wrong_total": 0,
        "validated": 1,
        "out_of_bounds": 0,
        "sizes": 7,
        "size_bytes_max": 2147483648,
    }
    assert result.series["rows"].rows[0][:2] == (0, 0)


def test_collective_option_is_the_fallback(parse_fixture):
    result = parse_fixture(P, "nccl-tests/sample_b_tag_output_partial.txt", collective="all_reduce")
    assert result.value("collective") == "all_reduce"
    assert parse_fixture(P, "nccl-tests/all_gather_perf.txt", collective="x").value("collective") == "all_gather"


def test_sample_c_new_number_formats_and_nccl_version(parse_fixture):
    result = parse_fixture(P, "nccl-tests/sample_c_alltoall_v2.18.3.txt", min_bytes="512M")
    assert values(result) == {
        "busbw_gbps_max": 41.90,
        "busbw_gbps_avg": 20.9533,
        "busbw_gbps_at_largest": 40.47,
        "algbw_gbps_max": 44.69,
        "wrong_total": 0,
        "validated": 1,
        "out_of_bounds": 0,
        "collective": "alltoall",
        "ranks": 2,  # the excerpt elides ranks 1-14
        "hosts": 2,
        "sizes": 6,
        "size_bytes_max": 8589934592,
        "busbw_gbps_min_at_or_above": 40.47,
    }
    assert result.info["nccl"] == "2.30.3+cuda13.0"
    assert result.series["rows"].rows[-2][9] == 103946.0


def test_noise_and_two_runs_default_to_the_last(parse_fixture):
    result = parse_fixture(P, "nccl-tests/noise_two_runs_tag_output.txt")
    assert result.value("collective") == "alltoall"
    assert result.value("busbw_gbps_avg") == 127.411
    assert result.value("sizes") == 12
    assert result.info["runs"] == "2"
    assert result.info["run"] == "1"
    assert result.info["nccl"] == "2.28.9+cuda12.9"


@pytest.mark.parametrize("run", [0, -2])
def test_run_option_picks_a_run(parse_fixture, run):
    result = parse_fixture(P, "nccl-tests/noise_two_runs_tag_output.txt", run=run)
    assert values(result) == ALL_GATHER
    assert result.info["run"] == "0"


@pytest.mark.parametrize("run", [2, -3])
def test_run_option_out_of_range(parse_fixture, run):
    with pytest.raises(ParseError, match=f"option 'run' is {run} but the log holds 2 complete run"):
        parse_fixture(P, "nccl-tests/noise_two_runs_tag_output.txt", run=run)


def test_run_option_must_be_an_integer(parse_fixture):
    with pytest.raises(ParseError, match="option 'run' must be an integer"):
        parse_fixture(P, "nccl-tests/all_gather_perf.txt", run="last")


def test_truncated_run_is_an_error(parse_fixture):
    with pytest.raises(ParseError) as caught:
        parse_fixture(P, "nccl-tests/truncated_no_footer.txt")
    assert caught.value.reason == "the log ends before the '# Avg bus bandwidth' footer: truncated run?"
    assert "truncated_no_footer.txt" in str(caught.value)


def test_truncated_run_names_the_tool_failure(parse_text):
    text = fixture_text("truncated_no_footer.txt") + " .. vm pid 1818: Test failure common.cu:1196\n"
    with pytest.raises(ParseError, match="truncated run") as caught:
        parse_text(P, text)
    assert "Test failure common.cu:1196" in caught.value.hint


def test_a_truncated_run_before_a_complete_one_is_counted(parse_text):
    result = parse_text(P, fixture_text("truncated_no_footer.txt") + fixture_text("alltoall_perf.txt"))
    assert result.value("collective") == "alltoall"
    assert result.info["runs"] == "1"
    assert result.info["runs_incomplete"] == "1"


def test_empty_output(parse_fixture):
    with pytest.raises(ParseError, match="the output is empty"):
        parse_fixture(P, "nccl-tests/empty.txt")


def test_no_rows(parse_text):
    with pytest.raises(ParseError, match="no result rows found"):
        parse_text(P, "NCCL version 2.30.3+cuda13.0\nhello\n")


def test_footer_without_rows(parse_text):
    with pytest.raises(ParseError, match="no result rows found in run 0"):
        parse_text(P, "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 0\n")


def test_unreadable_row_is_an_error(parse_text):
    text = fixture_text("all_gather_perf.txt").replace("345.16", "34x.16")
    with pytest.raises(ParseError, match=r"line 20 looks like a result row but could not be read: '4294967296"):
        parse_text(P, text)


def test_no_validation_gives_validated_0(parse_text):
    lines = []
    for line in fixture_text("all_gather_perf.txt").splitlines():
        fields = line.split()
        if line.startswith(" "):
            fields[8] = fields[12] = "N/A"
            line = "  ".join(fields)
        lines.append(line + "\n")
    result = parse_text(P, "".join(lines))
    assert result.value("validated") == 0
    assert result.value("wrong_total") == 0


def test_wrong_values_are_summed(parse_text):
    text = fixture_text("all_gather_perf.txt").replace("62.97       0", "62.97       3").replace("351.54       0", "351.54   1e+06")
    result = parse_text(P, text)
    assert result.value("wrong_total") == 1000003


def test_per_iteration_columns_move_the_in_place_half(parse_text):
    text = (
        "# Collective test starting: all_reduce_perf\n"
        "#       size         count      type   redop    root     time   algbw   busbw  #wrong    i_min    i_max    i_p99    i_cv%"
        "     time   algbw   busbw  #wrong    i_min    i_max    i_p99    i_cv%\n"
        "     1048576        262144     float     sum      -1   339.61    3.09    3.09       0   330.10   350.20   349.00     1.20"
        "   335.85    3.12    3.13       0   331.00   351.00   350.00     1.10\n"
        "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 3.11\n"
    )
    row = parse_text(P, text).series["rows"].rows[0]
    assert row[5:] == (339.61, 3.09, 3.09, 0, 335.85, 3.12, 3.13, 0)


def test_json_output_matches_the_text_output(parse_fixture):
    text = parse_fixture(P, "nccl-tests/all_gather_perf.txt", min_bytes="256M")
    json_ = parse_fixture(P, "nccl-tests/all_gather_perf.json", min_bytes="256M")
    assert json_.info["format"] == "json"
    assert json_.info["nccl-library"] == text.info["nccl-library"]
    assert json_.metrics.keys() == text.metrics.keys()
    for name, metric in text.metrics.items():
        # the text rounds to 2 decimals (the average to 6 significant digits); the JSON keeps 6 decimals
        assert json_.value(name) == pytest.approx(metric.value, abs=0.005), name
        assert (json_.metrics[name].unit, json_.metrics[name].better) == (metric.unit, metric.better)
    for text_row, json_row in zip(text.series["rows"].rows, json_.series["rows"].rows, strict=True):
        assert json_row[:5] == text_row[:5]
        assert json_row[5:] == pytest.approx(text_row[5:], abs=0.005)


def test_json_ranks_are_processes_times_gpus_per_process(parse_text):
    """v2.19.6 -J lists one device entry per process: 1 process with -g 4 is 4 ranks, 16 MPI processes with -g 1 are 16."""
    one_process = fixture_text("all_gather_perf.json")
    assert one_process.count('"hostname"') == 1
    assert parse_text(P, one_process).value("ranks") == 4
    document = json.loads(one_process)
    document["config"]["ngpus"] = 1
    document["config"]["devices"] = [dict(document["config"]["devices"][0], rank=r, hostname=f"worker-{r // 8}") for r in range(16)]
    result = parse_text(P, json.dumps(document))
    assert (result.value("ranks"), result.value("hosts")) == (16, 2)


def test_json_environment_is_not_copied(parse_fixture):
    result = parse_fixture(P, "nccl-tests/all_gather_perf.json")
    assert "hf_abc" not in repr(result)


def test_truncated_json_is_an_error(parse_text):
    text = fixture_text("all_gather_perf.json")
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_text(P, text[: len(text) // 2])


def test_json_without_results_is_an_error(parse_text):
    with pytest.raises(ParseError, match=r"does not have the nccl-tests -J layout \(KeyError: 'average_bus_bandwidth'\)"):
        parse_text(P, '{"version": 3, "results": []}')


def test_very_old_layout_without_root_column(parse_text):
    text = (
        "#       size         count    type   redop     time   algbw   busbw  error     time   algbw   busbw  error\n"
        "     1048576        262144   float     sum   339.61    3.09    3.09  0e+00   335.85    3.12    3.12  0e+00\n"
        "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 3.105\n"
    )
    row = parse_text(P, text).series["rows"].rows[0]
    assert row == (1048576, 262144, "float", "sum", None, 339.61, 3.09, 3.09, 0, 335.85, 3.12, 3.12, 0)

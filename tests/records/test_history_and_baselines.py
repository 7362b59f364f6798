"""Past runs in order, `scenario history`, baseline lookup (pinned or latest passing as written), --with-baseline."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from runner.cli.main import cli
from runner.execute.progress import QuietProgress
from runner.flows.baseline import (
    baseline_scenarios,
    ensure_baselines,
    missing_baselines,
)
from runner.flows.run import run_scenario
from runner.records.history import baseline_lookup, find_run, latest_passing, past_runs

from .conftest import bench_scenario, read_json


def fake_record(results: Path, scenario: str, run_id: str, status: str = "PASS", ttft: float = 100.0, **meta) -> Path:
    folder = results / scenario / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"scenario": scenario, "run_id": run_id, "status": status,
                                                 "started": f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}+00:00",
                                                 **meta}))
    (folder / "verdict.json").write_text(json.dumps({"scenario": scenario, "run_id": run_id, "status": status, "results": [
        {"name": "bench.ttft_ms_mean", "kind": "performance", "workload": "bench", "status": status, "metric": "ttft_ms_mean"}]}))
    (folder / "metrics.json").write_text(json.dumps({"workloads": {"bench": {"parser": "sglang-bench-serving", "metrics": {
        "ttft_ms_mean": {"value": ttft, "unit": "ms", "better": "lower"}}}}}))
    return folder


def test_past_runs_are_oldest_first_and_skip_partial_and_sweep_folders(tmp_path):
    for run_id in ("20260102-000000-bbbb", "20260101-000000-zzzz", "20260103-000000-aaaa"):
        fake_record(tmp_path, "s", run_id)
    (tmp_path / "s" / "20260104-000000-cccc.partial").mkdir()
    (tmp_path / "s" / "20260104-000000-dddd.sweep").mkdir()
    assert [r.run_id for r in past_runs(tmp_path, "s")] == ["20260101-000000-zzzz", "20260102-000000-bbbb", "20260103-000000-aaaa"]
    assert past_runs(tmp_path, "nothing") == []


def test_runs_started_in_the_same_second_keep_the_order_they_finished_in(tmp_path):
    late = fake_record(tmp_path, "s", "20260101-000000-0001")
    early = fake_record(tmp_path, "s", "20260101-000000-ffff")
    os.utime(early, (time.time() - 10, time.time() - 10))
    os.utime(late, (time.time(), time.time()))
    assert [r.run_id for r in past_runs(tmp_path, "s")] == ["20260101-000000-ffff", "20260101-000000-0001"]


def test_find_run_by_id_or_path(tmp_path):
    folder = fake_record(tmp_path, "s", "20260101-000000-aaaa")
    assert find_run(tmp_path, "20260101-000000-aaaa").path == folder
    assert find_run(tmp_path, str(folder)).scenario == "s"
    assert find_run(tmp_path, "20260101-000000-aaaa", "other") is None
    assert find_run(tmp_path, "*") is None


def test_baseline_is_the_latest_passing_run_as_written(tmp_path):
    fake_record(tmp_path, "base", "20260101-000000-aaaa", ttft=100)
    fake_record(tmp_path, "base", "20260102-000000-aaaa", ttft=90)
    fake_record(tmp_path, "base", "20260103-000000-aaaa", status="FAIL", ttft=10)
    fake_record(tmp_path, "base", "20260104-000000-aaaa", ttft=5, overrides=["parameters.x=1", "registry=r.example/x"])
    fake_record(tmp_path, "base", "20260105-000000-aaaa", ttft=6, variant={"parameters.x": 2}, sweep="20260105-000000-ffff")
    lookup = baseline_lookup(tmp_path)
    found = lookup("base", "bench.ttft_ms_mean", "")
    assert (found.value, found.run_id, found.error) == (90.0, "20260102-000000-aaaa", "")
    assert lookup.used == [{"scenario": "base", "metric": "bench.ttft_ms_mean", "run_id": "20260102-000000-aaaa", "value": 90.0,
                            "pinned": False, "error": ""}]
    assert latest_passing(tmp_path, "base")[1] == 2  # the overridden and the sweep run do not count


def test_a_run_given_only_its_registry_ran_as_written(tmp_path):
    """Every scenario for a real cluster asks for --set registry=...: such a run is a baseline like any other."""
    fake_record(tmp_path, "base", "20260101-000000-aaaa", ttft=100)
    fake_record(tmp_path, "base", "20260102-000000-aaaa", ttft=90, overrides=["registry=123.dkr.ecr.us-east-2.amazonaws.com/efa"])
    fake_record(tmp_path, "base", "20260103-000000-aaaa", ttft=80, overrides=["registry=r.example/x", "parameters.rate=8"])
    found = baseline_lookup(tmp_path)("base", "bench.ttft_ms_mean", "")
    assert (found.value, found.run_id) == (90.0, "20260102-000000-aaaa")
    assert latest_passing(tmp_path, "base")[1] == 1


def test_with_baseline_gives_the_baseline_the_runs_registry_and_nothing_else(lab):
    lab.write("bench-base", bench_scenario(1.0))
    lab.write("bench-pd", bench_scenario(1.2, baseline="bench-base"))
    calls = []
    ensure_baselines(lab.scenario("bench-pd"), lab.library, lab.results,
                     lambda scenario, **options: calls.append((scenario.name, scenario.data.get("registry"), options["overrides"])),
                     overrides=("registry=r.example/efa", "parameters.rate=8"))
    assert calls == [("bench-base", "r.example/efa", ["registry=r.example/efa"])]


def test_baseline_pinned_to_a_run_id(tmp_path):
    fake_record(tmp_path, "base", "20260101-000000-aaaa", ttft=100)
    fake_record(tmp_path, "base", "20260102-000000-aaaa", ttft=90)
    fake_record(tmp_path, "other", "20260103-000000-aaaa", ttft=1)
    lookup = baseline_lookup(tmp_path)
    assert lookup("base", "bench.ttft_ms_mean", "20260101-000000-aaaa").value == 100.0
    wrong = lookup("base", "bench.ttft_ms_mean", "20260103-000000-aaaa")
    assert wrong.value is None and "it is a run of other" in wrong.error
    assert "not found" in lookup("base", "bench.ttft_ms_mean", "20990101-000000-aaaa").error


def test_baseline_errors_say_what_to_do(tmp_path):
    fake_record(tmp_path, "base", "20260101-000000-aaaa", overrides=["parameters.x=1"])
    lookup = baseline_lookup(tmp_path)
    error = lookup("base", "bench.ttft_ms_mean", "").error
    assert "no passing run of baseline scenario base" in error and "--with-baseline" in error and "1 passing run(s)" in error
    fake_record(tmp_path, "base", "20260102-000000-aaaa")
    assert "has no metric bench.nope" in lookup("base", "bench.nope", "").error
    assert lookup("base", "ttft_ms_mean", "").value == 100.0  # a bare metric name: the one workload that has it


def test_history_lists_runs_in_order_with_key_metrics(tmp_path):
    for i, run_id in enumerate(("20260103-000000-aaaa", "20260101-000000-aaaa", "20260102-000000-aaaa")):
        fake_record(tmp_path, "s", run_id, ttft=100 + i, status="FAIL" if i == 1 else "PASS")
    result = CliRunner().invoke(cli, ["history", "s", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["date", "run", "id", "verdict", "bench.ttft_ms_mean"]
    body = [line.split() for line in lines[2:5]]
    assert [row[2] for row in body] == ["20260101-000000-aaaa", "20260102-000000-aaaa", "20260103-000000-aaaa"]
    assert "bench.ttft_ms_mean" in lines[-1] and "no change point" in lines[-1]  # the trend, below the table
    assert [row[3] for row in body] == ["FAIL", "PASS", "PASS"]
    assert [row[4] for row in body] == ["101", "102", "100"]
    limited = CliRunner().invoke(cli, ["history", "s", "--results", str(tmp_path), "--limit", "1", "-o", "json"])
    assert [r["run_id"] for r in json.loads(limited.output)] == ["20260103-000000-aaaa"]
    empty = CliRunner().invoke(cli, ["history", "nothing", "--results", str(tmp_path)])
    assert empty.exit_code == 0 and "no runs of nothing" in empty.output


def test_with_baseline_runs_the_missing_baseline_first_then_judges_against_it(lab):
    lab.write("bench-base", bench_scenario(1.0))
    lab.write("bench-pd", bench_scenario(1.2, baseline="bench-base"))
    scenario = lab.scenario("bench-pd")
    assert baseline_scenarios(scenario) == ["bench-base"]
    assert missing_baselines(scenario, lab.results) == ["bench-base"]
    lines = []
    ran = ensure_baselines(scenario, lab.library, lab.results, run_scenario, progress=QuietProgress(), announce=lines.append)
    assert [r.scenario.name for r in ran] == ["bench-base"] and ran[0].verdict.status == "PASS"
    assert lines == [f"baseline bench-base has no passing run in {lab.results}: running it first"]
    assert ensure_baselines(scenario, lab.library, lab.results, run_scenario, progress=QuietProgress()) == []  # now there is one
    result = run_scenario(scenario, results_dir=lab.results, progress=QuietProgress())
    assert result.verdict.status == "PASS", result.verdict.summary
    used = read_json(result.record / "run.json")["baselines"]
    assert {u["run_id"] for u in used} == {ran[0].run_id}
    assert [r.threshold for r in result.verdict.results] == [3828.65 * 1.3, 26.43 * 1.3]


def test_without_a_baseline_run_the_check_errors_with_the_remedy(lab):
    lab.write("bench-base", bench_scenario(1.0))
    lab.write("bench-pd", bench_scenario(1.2, baseline="bench-base"))
    result = lab.run("bench-pd")
    assert result.verdict.status == "ERROR"
    assert "--with-baseline" in result.verdict.results[0].message


def test_slower_pd_fails_against_the_baseline(lab):
    lab.write("bench-base", bench_scenario(1.0))
    lab.write("bench-pd", bench_scenario(1.5, baseline="bench-base"))
    ensure_baselines(lab.scenario("bench-pd"), lab.library, lab.results, run_scenario, progress=QuietProgress())
    result = lab.run("bench-pd")
    assert result.verdict.status == "FAIL"


def test_history_lists_incomplete_runs_and_tolerates_corrupt_records(tmp_path):
    import json as _json

    from click.testing import CliRunner

    from runner.cli.main import main

    folder = tmp_path / "demo"
    for run_id, verdict in (("20261201-100000-aaaa", "[1, 2"), ("20261201-100001-bbbb", "[1, 2]"),
                            ("20261201-100002-cccc", _json.dumps({"status": "PASS", "results": "nope", "workloads": 3}))):
        (folder / run_id).mkdir(parents=True)
        (folder / run_id / "verdict.json").write_text(verdict)
        (folder / run_id / "run.json").write_text(_json.dumps({"variant": "x", "overrides": 5, "started": 7}))
    (folder / "20261201-100003-dddd.partial").mkdir()
    (folder / "20261201-100003-dddd.partial" / "runner.json").write_text(_json.dumps({"pid": 999999999, "start_time": "1"}))
    with CliRunner().isolation() as (out, err, _):
        code = main(["history", "demo", "--results", str(tmp_path)])
    text = out.getvalue().decode() + err.getvalue().decode()
    assert code == 0, text
    assert "internal error" not in text
    assert text.count("CORRUPT") == 3 and "20261201-100003-dddd" in text and "INCOMPLETE" in text

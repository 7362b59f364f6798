"""Sweeps: a real 4-variant Mooncake sweep with linked records, plus the planning and best-variant rules."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from runner.errors import ScenarioError
from runner.judge import Verdict, WorkloadMetrics
from runner.parse import Metric, ParseResult
from runner.progress import QuietProgress
from runner.record import new_run_id
from runner.sweep import parse_matrix_options, plan_sweep, run_sweep, variant_overrides

from .conftest import Lab, needs_mooncake, read_json


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("sweep"))
    lines = []
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, results_dir=lab.results, progress=QuietProgress(),
                       announce=lines.append)
    return lab, result, lines


@needs_mooncake
def test_sweep_table_has_every_variant_and_one_best(real_sweep):
    _, result, lines = real_sweep
    assert [v.status for v in result.variants] == ["PASS"] * 4
    table = result.table().splitlines()
    header, rows = table[0], [line for line in table[2:6]]
    assert header.split()[:4] == ["best", "#", "threads", "block_size"]
    assert len(rows) == 4 and sum(row.startswith("*") for row in rows) == 1
    best = result.variants[result.best]
    assert best.metrics["initiator.throughput_gbps"] == max(v.metrics["initiator.throughput_gbps"] for v in result.variants)
    assert f"best: variant {result.best + 1} ({best.label})" in result.table()
    assert lines[0] == "variant 1/4: threads=2,block_size=16384"
    assert re.match(r"variant 4/4: threads=4,block_size=65536 -> PASS, initiator.throughput_gbps [0-9.]+ GB/s", lines[-1])
    assert result.exit_code == 0


@needs_mooncake
def test_sweep_runs_are_linked_records(real_sweep):
    lab, result, _ = real_sweep
    sweep = read_json(result.record / "sweep.json")
    assert sweep["state"] == "complete" and sweep["sweep_id"] == result.sweep_id
    assert result.record.name == f"{result.sweep_id}.sweep" and result.record.parent == lab.results / "mooncake-tcp-loopback-sweep"
    assert sweep["best"]["run_id"] == result.variants[result.best].run_id
    expected = [{"parameters.threads": t, "parameters.block_size": b} for t in (2, 4) for b in (16384, 65536)]
    assert [v["variant"] for v in sweep["variants"]] == expected
    for entry in sweep["variants"]:
        record = result.record.parent / entry["record"]
        meta = read_json(record / "run.json")
        assert meta["sweep"] == result.sweep_id and meta["variant"] == entry["variant"]
        plan = (record / "rendered" / "process-plan.yaml").read_text()
        assert f"--threads={entry['variant']['parameters.threads']}" in plan
        assert f"--block_size={entry['variant']['parameters.block_size']}" in plan
        assert "matrix" not in (record / "scenario.yaml").read_text().replace("matrix: {}", "")
    assert (result.record / "report.html").exists() and "| * |" in (result.record / "summary.md").read_text()


@needs_mooncake
def test_history_shows_the_variants(real_sweep):
    from click.testing import CliRunner

    from runner.cli import cli

    lab, result, _ = real_sweep
    outcome = CliRunner().invoke(cli, ["history", "mooncake-tcp-loopback-sweep", "--results", str(lab.results)])
    assert outcome.exit_code == 0, outcome.output
    assert [line.split()[4] for line in outcome.output.splitlines()[2:]] == [v.label for v in result.variants]


def test_matrix_option_values_are_yaml_typed():
    assert parse_matrix_options(["parameters.threads=2,4", "env.NCCL_ALGO=Ring,Tree", "x=[[1,2],[3]]"]) == {
        "parameters.threads": [2, 4], "env.NCCL_ALGO": ["Ring", "Tree"], "x": [[1, 2], [3]]}
    with pytest.raises(ScenarioError, match="expected dotted.path=v1,v2"):
        parse_matrix_options(["threads"])
    assert variant_overrides({"parameters.threads": 4, "env.X": "a b"}) == ["parameters.threads=4", 'env.X="a b"']


def test_plan_adds_command_line_axes_and_validates_every_variant(lab):
    base, planned = plan_sweep("mooncake-tcp-loopback", lab.library, ["parameters.duration=1"], {"parameters.threads": [1, 2, 3]})
    assert [v for v, _, _ in planned] == [{"parameters.threads": n} for n in (1, 2, 3)]
    assert [s.parameters["threads"] for _, _, s in planned] == [1, 2, 3]
    assert all(s.parameters["duration"] == 1 and not s.matrix for _, _, s in planned)
    with pytest.raises(ScenarioError) as error:
        plan_sweep("mooncake-tcp-loopback", lab.library, (), {"timeouts.run": ["1m", "soon"]})
    assert "variant run=soon" in str(error.value)
    with pytest.raises(ScenarioError, match="has no matrix to sweep"):
        plan_sweep("mooncake-tcp-loopback", lab.library)


def fake_run_fn(values, statuses):
    """A stand-in for run_scenario: throughput from `values`, status from `statuses`, in call order."""
    calls = []

    def run(scenario, *, results_dir, progress, overrides, variant, parent, **options):
        i = len(calls)
        calls.append({"variant": variant, "parent": parent, "overrides": overrides})
        metric = Metric("throughput_gbps", values[i], "GB/s", "higher")
        metrics = {"initiator": WorkloadMetrics("initiator", "mooncake-bench", "-", ParseResult("mooncake-bench", "-", {"throughput_gbps": metric}))}
        record = results_dir / scenario.name / new_run_id()
        return SimpleNamespace(run_id=record.name, record=record, metrics=metrics, verdict=Verdict(scenario.name, statuses[i], (), ""))

    run.calls = calls
    return run


def test_best_is_the_best_passing_variant(lab):
    run_fn = fake_run_fn([1.0, 9.0, 3.0, 2.0], ["PASS", "FAIL", "PASS", "PASS"])
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, ["parameters.duration=1"], run_fn=run_fn,
                       results_dir=lab.results, announce=None)
    assert result.best == 2  # variant 2 is faster but failed a check
    assert result.exit_code == 1
    assert all(call["parent"] == result.sweep_id for call in run_fn.calls)
    assert run_fn.calls[0]["overrides"] == ["parameters.duration=1", "parameters.threads=2", "parameters.block_size=16384", "matrix={}"]


def test_an_interrupted_variant_stops_the_sweep_and_the_record_says_so(lab):
    run_fn = fake_run_fn([1.0, 2.0, 3.0, 4.0], ["PASS", "INTERRUPTED", "PASS", "PASS"])
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, run_fn=run_fn, results_dir=lab.results, announce=None)
    assert len(run_fn.calls) == 2 and result.state == "interrupted" and result.exit_code == 130
    sweep = read_json(result.record / "sweep.json")
    assert sweep["state"] == "interrupted"
    assert [v["status"] for v in sweep["variants"]] == ["PASS", "INTERRUPTED", "NOT RUN", "NOT RUN"]


def test_a_crash_midway_still_leaves_the_sweep_record(lab):
    def crashing(scenario, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep("mooncake-tcp-loopback-sweep", lab.library, run_fn=crashing, results_dir=lab.results, announce=None)
    [folder] = (lab.results / "mooncake-tcp-loopback-sweep").glob("*.sweep")
    assert read_json(folder / "sweep.json")["state"] == "interrupted"
    assert (folder / "summary.md").exists()

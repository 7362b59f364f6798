"""Sweeps: a real 4-variant Mooncake sweep with linked records, plus the planning and best-variant rules."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from runner.base.errors import ScenarioError
from runner.base.stats import median
from runner.execute.progress import QuietProgress
from runner.flows.sweep import (
    parse_matrix_options,
    plan_sweep,
    run_sweep,
    variant_overrides,
)
from runner.parse.logs import Metric, ParseResult
from runner.records.record import new_run_id
from runner.report.sweep import sweep_table
from runner.verdict.judge import Verdict, WorkloadMetrics

from .conftest import Lab, needs_mooncake, read_json


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("sweep"))
    lines = []
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, ["parameters.duration=1"], results_dir=lab.results,
                       progress=QuietProgress(), announce=lines.append)
    return lab, result, lines


BLOCKS = (16384, 65536, 262144, 1048576)
METRIC = "initiator.throughput_gbps"


@needs_mooncake
def test_sweep_table_ranks_variants_by_median_and_marks_a_best_only_when_distinguishable(real_sweep):
    _, result, lines = real_sweep
    assert [v.status for v in result.variants] == ["PASS"] * 4
    assert all(len(v.samples[METRIC]) == 3 for v in result.variants)  # the scenario's repeat: 3
    table = sweep_table(result).splitlines()
    header, rows = table[0], [line for line in table[2:6]]
    assert header.split()[:4] == ["best", "rank", "#", "block_size"]
    medians = {v.index: median(v.samples[METRIC]) for v in result.variants}
    top = max(medians, key=medians.get)
    if result.best is not None:
        assert result.best == top and sum(row.startswith("*") for row in rows) == 1
        runner_up = max((i for i in medians if i != top), key=medians.get)
        assert min(result.variants[top].samples[METRIC]) > max(result.variants[runner_up].samples[METRIC])
        assert f"best: variant {top + 1} ({result.variants[top].label})" in sweep_table(result)
    else:
        assert result.tied[0] == top and len(result.tied) >= 2 and "tied on initiator.throughput_gbps within noise" in sweep_table(result)
    assert lines[0] == "variant 1/4: block_size=16384"
    assert re.match(r"variant 4/4: block_size=1048576 -> PASS, initiator.throughput_gbps [0-9.]+ GB/s", lines[-1])
    assert result.exit_code == 0


@needs_mooncake
def test_sweep_runs_are_linked_records(real_sweep):
    lab, result, _ = real_sweep
    sweep = read_json(result.record / "sweep.json")
    assert sweep["state"] == "complete" and sweep["sweep_id"] == result.sweep_id
    assert result.record.name == f"{result.sweep_id}.sweep" and result.record.parent == lab.results / "mooncake-tcp-loopback-sweep"
    assert (sweep["best"] or {}).get("run_id") == (result.variants[result.best].run_id if result.best is not None else None)
    assert [v["variant"] for v in sweep["variants"]] == [{"parameters.block_size": b} for b in BLOCKS]
    for entry in sweep["variants"]:
        record = result.record.parent / entry["record"]
        meta = read_json(record / "run.json")
        assert meta["sweep"] == result.sweep_id and meta["variant"] == entry["variant"]
        plan = (record / "rendered" / "process-plan.yaml").read_text()
        assert f"--block_size={entry['variant']['parameters.block_size']}" in plan
        assert "matrix" not in (record / "scenario.yaml").read_text().replace("matrix: {}", "")
        assert len(entry["metrics"][METRIC]["samples"]) == 3
    assert (result.record / "report.html").exists() and "every sample per variant" in (result.record / "report.html").read_text()


@needs_mooncake
def test_history_shows_the_variants(real_sweep):
    from click.testing import CliRunner

    from runner.cli.main import cli

    lab, result, _ = real_sweep
    outcome = CliRunner().invoke(cli, ["history", "mooncake-tcp-loopback-sweep", "--results", str(lab.results)])
    assert outcome.exit_code == 0, outcome.output
    assert [line.split()[4] for line in outcome.output.splitlines()[2:2 + len(result.variants)]] == [v.label for v in result.variants]


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
    """A stand-in for run_scenario: throughput samples from `values`, status from `statuses`, in call order."""
    calls = []

    def run(scenario, *, results_dir, progress, overrides, variant, parent, **options):
        i = len(calls)
        calls.append({"variant": variant, "parent": parent, "overrides": overrides, "options": options})
        samples = values[i] if isinstance(values[i], tuple) else (values[i],)
        metric = Metric("throughput_gbps", median(samples), "GB/s", "higher", "performance", samples)
        metrics = {"initiator": WorkloadMetrics("initiator", "mooncake-bench", "-", ParseResult("mooncake-bench", "-", {"throughput_gbps": metric}))}
        record = results_dir / scenario.name / new_run_id()
        return SimpleNamespace(run_id=record.name, record=record, metrics=metrics, verdict=Verdict(scenario.name, statuses[i], (), ""))

    run.calls = calls
    return run


def test_best_is_the_distinguishable_best_passing_variant(lab):
    run_fn = fake_run_fn([(1.0, 1.1, 0.9), (9.0, 9.1, 8.9), (3.0, 3.1, 2.9), (2.0, 2.1, 1.9)], ["PASS", "FAIL", "PASS", "PASS"])
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, ["parameters.duration=1"], run_fn=run_fn,
                       results_dir=lab.results, announce=None, repeat=3)
    assert result.best == 2 and result.tied == ()  # variant 2 is faster but failed a check
    assert result.exit_code == 1
    assert all(call["parent"] == result.sweep_id and call["options"]["repeat"] == 3 for call in run_fn.calls)
    assert run_fn.calls[0]["overrides"] == ["parameters.duration=1", "parameters.block_size=16384", "matrix={}"]
    assert "distinguishable from the runner-up" in sweep_table(result)


def test_overlapping_samples_are_a_tie_and_no_best(lab):
    run_fn = fake_run_fn([(1.0, 1.1, 0.9), (3.0, 2.2, 3.6), (3.1, 2.0, 3.5), (2.9, 2.1, 3.4)], ["PASS"] * 4)
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, run_fn=run_fn, results_dir=lab.results, announce=None)
    assert result.best is None and result.tied == (2, 1, 3)
    table = sweep_table(result)
    assert "best: none — variants 3 (block_size=262144), 2 (block_size=65536), 4 (block_size=1048576) are tied" in table
    assert [line.split()[0] for line in table.splitlines()[2:6]] == ["4", "=", "=", "="]  # rank 4 first: nothing marked
    assert read_json(result.record / "sweep.json")["tied"] == [2, 1, 3]


def test_single_samples_never_make_a_best(lab):
    run_fn = fake_run_fn([1.0, 2.0, 3.0, 4.0], ["PASS"] * 4)
    result = run_sweep("mooncake-tcp-loopback-sweep", lab.library, run_fn=run_fn, results_dir=lab.results, announce=None)
    assert result.best is None and result.tied == (3, 2, 1, 0)
    assert "with 1 sample a variant cannot be told from noise" in sweep_table(result)


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

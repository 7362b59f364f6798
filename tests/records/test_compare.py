"""`scenario compare`: both values and the change per metric; a regression beyond the tolerance exits 1."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from runner.cli.main import cli
from runner.records.compare import change_of

from .conftest import needs_mooncake, read_json


def copy_record(record, results, run_id):
    target = results / record.parent.name / run_id
    shutil.copytree(record, target)
    return target


def scale_metric(record, workload, metric, factor, spread=()):
    """Scale a record's metric; with `spread`, give it samples around the value (a run with repeats)."""
    path = record / "metrics.json"
    document = read_json(path)
    entry = document["workloads"][workload]["metrics"][metric]
    entry["value"] *= factor
    if spread:
        entry["samples"] = [entry["value"] * (1 + d) for d in spread]
    path.write_text(json.dumps(document))


@pytest.fixture
def pair(mooncake_run, tmp_path):
    a = copy_record(mooncake_run.record, tmp_path, "20260101-000000-aaaa")
    b = copy_record(mooncake_run.record, tmp_path, "20260101-000001-bbbb")
    return tmp_path, a, b


@needs_mooncake
def test_an_unchanged_pair_passes(pair):
    results, a, b = pair
    outcome = CliRunner().invoke(cli, ["compare", a.name, b.name, "--results", str(results)])
    assert outcome.exit_code == 0, outcome.output
    assert "0 regressions beyond 5% and the noise" in outcome.output
    row = next(line for line in outcome.output.splitlines() if line.startswith("initiator.throughput_gbps"))
    assert "+0.0%" in row and "higher" in row and "same" in row


@needs_mooncake
def test_an_injected_throughput_drop_without_repeats_is_inconclusive(pair):
    results, a, b = pair
    scale_metric(b, "initiator", "throughput_gbps", 0.5)
    outcome = CliRunner().invoke(cli, ["compare", a.name, b.name, "--results", str(results)])
    assert outcome.exit_code == 0, outcome.output
    row = next(line for line in outcome.output.splitlines() if line.startswith("initiator.throughput_gbps"))
    assert "-50.0%" in row and "inconclusive" in row and "REGRESSION" not in row
    assert "0 regressions" in outcome.output and "--repeat 5 on both runs" in outcome.output


@needs_mooncake
def test_an_injected_throughput_drop_is_a_regression(pair):
    results, a, b = pair
    scale_metric(a, "initiator", "throughput_gbps", 1.0, spread=(-0.02, 0, 0.02))
    scale_metric(b, "initiator", "throughput_gbps", 0.5, spread=(-0.02, 0, 0.02))
    outcome = CliRunner().invoke(cli, ["compare", a.name, b.name, "--results", str(results)])
    assert outcome.exit_code == 1, outcome.output
    row = next(line for line in outcome.output.splitlines() if line.startswith("initiator.throughput_gbps"))
    assert "-50.0%" in row and "REGRESSION" in row and "apart beyond the spread" in row
    assert "1 regression beyond 5% and the noise: initiator.throughput_gbps" in outcome.output
    # by path too, and the other way round it is an improvement
    reverse = CliRunner().invoke(cli, ["compare", str(b), str(a), "-o", "json"])
    assert reverse.exit_code == 0, reverse.output
    document = json.loads(reverse.output)
    throughput = next(m for m in document["metrics"] if m["metric"] == "initiator.throughput_gbps")
    assert throughput["verdict"] == "improvement" and throughput["change_pct"] == pytest.approx(100.0)
    # a wide enough tolerance lets it through
    assert CliRunner().invoke(cli, ["compare", a.name, b.name, "--results", str(results), "--tolerance", "60"]).exit_code == 0


@needs_mooncake
def test_unknown_run_is_a_usage_error(pair):
    results, a, _ = pair
    outcome = CliRunner().invoke(cli, ["compare", a.name, "20990101-000000-0000", "--results", str(results)])
    assert outcome.exit_code == 2 and "no run record" in outcome.output


@pytest.mark.parametrize("a, b, verdict", [
    ({"value": 10, "better": "lower"}, {"value": 11, "better": "lower"}, "inconclusive"),  # one run a side: no noise model
    ({"value": 10, "better": "lower"}, {"value": 10.4, "better": "lower"}, "within tolerance"),
    ({"value": 10, "better": "lower"}, {"value": 5, "better": "lower"}, "inconclusive"),
    ({"value": 0, "better": "lower"}, {"value": 3, "better": "lower"}, "inconclusive"),
    ({"value": 10, "better": "lower", "samples": [10, 10.1, 9.9]}, {"value": 12, "better": "lower", "samples": [12, 12.1, 11.9]},
     "regression"),  # apart beyond each run's spread
    ({"value": 10, "better": ""}, {"value": 50, "better": ""}, "not judged"),
    ({"value": 10, "better": "higher"}, None, "missing"),  # a judged metric vanished: never green
    (None, {"value": 10, "better": "higher"}, "new"),
    ({"value": "tcp"}, {"value": "rdma"}, "changed"),
])
def test_change_verdicts(a, b, verdict):
    change = change_of("w.m", a, b, 5.0)
    assert change.verdict == verdict
    assert change.regression == (verdict in ("regression", "missing"))

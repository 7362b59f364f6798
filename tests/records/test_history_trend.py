"""`scenario history`: a trend per metric, and change points only where the runs really moved."""
from __future__ import annotations

import json
import random
import shutil

from click.testing import CliRunner

from runner.cli.main import cli
from runner.records.trend import change_points, sparkline

from .conftest import read_json

STEP = [1.00, 1.04, 0.97, 1.02, 0.99, 1.03, 0.98, 0.51, 0.49, 0.52, 0.50, 0.48, 0.53]


def test_a_step_is_one_change_point_at_the_step():
    (point,) = change_points([(v,) for v in STEP], "higher")
    assert point.index == 7 and point.direction == "worse" and point.change_pct < -40


def test_noise_alone_rarely_flags_a_change_point():
    rng = random.Random(11)
    flagged = sum(len(change_points([(rng.gauss(1.0, 0.15),) for _ in range(20)], "higher")) for _ in range(300))
    assert flagged / 300 < 0.15  # per series of 20 runs; bench/compare_noise_bench.py measures it on real runs


def test_a_shift_within_the_tolerance_is_no_change_point():
    assert change_points([(1.00 + 0.001 * i,) for i in range(5)] + [(1.03 + 0.001 * i,) for i in range(5)], "higher") == []


def test_sparkline_spans_the_range():
    assert sparkline([1, None, 3, 2]) == "▁ █▅"


def test_history_marks_the_change_point(lab, tmp_path):
    lab.write("steady", """
workloads:
  - name: bench
    command: [sh, -c, "echo rate 100"]
    parser: {name: regex, options: {patterns: [{regex: 'rate (?P<rate>[0-9.]+)', unit: GB/s, better: higher}]}}
checks:
  - metric: bench.rate
    op: ">"
    value: 0
""")
    first = lab.run("steady").record
    for i, value in enumerate(STEP):
        copy = first.parent / f"20270101-0000{i:02d}-abcd"
        shutil.copytree(first, copy)
        document = read_json(copy / "metrics.json")
        document["workloads"]["bench"]["metrics"]["rate"].update(value=value, samples=[value])
        (copy / "metrics.json").write_text(json.dumps(document))
    shutil.rmtree(first)
    outcome = CliRunner().invoke(cli, ["history", "steady", "--results", str(lab.results)])
    assert outcome.exit_code == 0, outcome.output
    marked = [line for line in outcome.output.splitlines() if line.rstrip().endswith("!")]
    assert len(marked) == 1 and "20270101-000007-abcd" in marked[0]
    assert "change point at run 20270101-000007-abcd: -49" in outcome.output and "worse" in outcome.output
    rows = json.loads(CliRunner().invoke(cli, ["history", "steady", "--results", str(lab.results), "-o", "json"]).output)
    assert [r["run_id"] for r in rows if r.get("change_points")] == ["20270101-000007-abcd"]

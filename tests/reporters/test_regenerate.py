"""`scenario report RUN`: the report files written again from the record's JSON files (also for a sweep)."""
from __future__ import annotations

import shutil

from click.testing import CliRunner

from runner.cli.main import cli
from runner.flows.sweep import write_sweep_record
from runner.records.sweeps import SweepResult, VariantRun

from .conftest import needs_matplotlib


@needs_matplotlib
def test_report_regenerates_a_run_record(mooncake_record, tmp_path):
    record = tmp_path / "results" / "mooncake-tcp-loopback" / mooncake_record.run_id
    shutil.copytree(mooncake_record.record, record)
    originals = {name: (record / name).read_text() for name in ("junit.xml", "summary.md")}
    for name in ("junit.xml", "summary.md", "report.html"):
        (record / name).unlink()
    outcome = CliRunner().invoke(cli, ["report", mooncake_record.run_id, "--results", str(tmp_path / "results")])
    assert outcome.exit_code == 0, outcome.output
    assert sorted(line.rsplit("/", 1)[1] for line in outcome.output.splitlines()) == ["junit.xml", "report.html", "summary.md"]
    assert {name: (record / name).read_text() for name in originals} == originals
    assert "Mooncake throughput" in (record / "report.html").read_text()


def test_report_of_a_missing_run_is_a_usage_error(tmp_path):
    outcome = CliRunner().invoke(cli, ["report", "20990101-000000-0000", "--results", str(tmp_path)])
    assert outcome.exit_code == 2 and "no run record" in outcome.output


@needs_matplotlib
def test_report_regenerates_a_sweep_record(tmp_path):
    folder = tmp_path / "s" / "20260101-000000-aaaa.sweep"
    folder.mkdir(parents=True)
    variants = tuple(VariantRun(i, {"parameters.threads": t}, f"2026010{i}-000000-aaaa", str(tmp_path / "s" / f"2026010{i}-000000-aaaa"),
                                "PASS", {"w.throughput_gbps": v}, {"w.throughput_gbps": "GB/s"}, {"w.throughput_gbps": "higher"})
                     for i, (t, v) in enumerate([(2, 1.0), (4, 3.0)]))
    result = SweepResult("20260101-000000-aaaa", "s", folder, {"parameters.threads": [2, 4]}, variants, ("w.throughput_gbps",),
                         "w.throughput_gbps", "higher", 1)
    write_sweep_record(result)
    outcome = CliRunner().invoke(cli, ["report", str(folder)])
    assert outcome.exit_code == 0, outcome.output
    summary = (folder / "summary.md").read_text()
    assert "| * | 1 | 2 | 4 | 3 GB/s | PASS | 20260101-000000-aaaa |" in summary  # best, rank, #, threads, metric
    assert "best: variant 2 (threads=4)" in summary
    assert "best in green" in (folder / "report.html").read_text() and "every sample per variant" in (folder / "report.html").read_text()
    by_id = CliRunner().invoke(cli, ["report", "20260101-000000-aaaa", "--results", str(tmp_path)])
    assert by_id.exit_code == 0 and "report.html" in by_id.output

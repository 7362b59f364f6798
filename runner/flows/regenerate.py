"""`scenario report RUN`: write a record's report files again from its metrics.json, verdict.json, run.json and
scenario.yaml. This is the caller of the reporters here, as runner.run is after a run: it reads the record and
builds the RunReport; the reporters read nothing."""
from __future__ import annotations

from pathlib import Path

import yaml

from runner.base.errors import RunnerError
from runner.flows.baseline import serving_baselines
from runner.records.history import load_metrics, load_verdict
from runner.records.record import atomic_write, read_json
from runner.records.sweeps import load_sweep
from runner.report.base import REPORTERS, RunReport
from runner.report.sweep import sweep_html, sweep_markdown


def load_run_report(record_dir: Path) -> RunReport:

    record_dir = Path(record_dir)
    verdict_doc = read_json(record_dir / "verdict.json")
    metrics_doc = read_json(record_dir / "metrics.json")
    if not isinstance(verdict_doc, dict) or not isinstance(metrics_doc, dict):
        raise RunnerError(f"{record_dir} has no readable verdict.json and metrics.json: not a finished run record")
    run = read_json(record_dir / "run.json")
    run = run if isinstance(run, dict) else {}
    scenario = _read_yaml(record_dir / "scenario.yaml")
    checks = scenario.get("checks") if isinstance(scenario.get("checks"), list) else []
    return RunReport(load_verdict(verdict_doc), load_metrics(metrics_doc), verdict_doc.get("run_id") or record_dir.name,
                     str(record_dir), str((scenario.get("metadata") or {}).get("description") or ""), run,
                     serving_baselines(checks, run.get("baselines") or [], record_dir.parent.parent))


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def regenerate_reports(record_dir: Path) -> list[Path]:
    record_dir = Path(record_dir)
    report = load_run_report(record_dir)
    written = []
    for reporter in REPORTERS.values():
        filename = getattr(reporter, "record_file", None)
        if filename:
            atomic_write(record_dir / filename, reporter(report))
            written.append(record_dir / filename)
    return written


def regenerate_sweep_reports(folder: Path) -> list[Path]:

    result = load_sweep(folder)
    written = []
    for filename, render in (("summary.md", sweep_markdown), ("report.html", sweep_html)):
        atomic_write(Path(folder) / filename, render(result))
        written.append(Path(folder) / filename)
    return written

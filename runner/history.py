"""Past runs in results/: listing them, and finding a baseline value for `baseline:` checks."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .judge import BaselineValue


@dataclass(frozen=True)
class PastRun:
    scenario: str
    run_id: str
    path: Path
    status: str
    started: str

    def metrics(self) -> dict[str, Any]:
        return _read_json(self.path / "metrics.json") or {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def past_runs(results_dir: Path, scenario: str) -> list[PastRun]:
    """Finished runs of a scenario, oldest first (run ids sort by time)."""
    folder = Path(results_dir) / scenario
    runs = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_dir() or path.name.endswith(".partial") or path.name.startswith("."):
            continue
        meta = _read_json(path / "run.json") or {}
        verdict = _read_json(path / "verdict.json") or {}
        runs.append(PastRun(scenario, path.name, path, verdict.get("status", meta.get("status", "?")), meta.get("started", "")))
    return runs


def find_run(results_dir: Path, run_ref: str) -> PastRun | None:
    """A run by id (searched across scenarios) or by path."""
    candidate = Path(run_ref)
    if (candidate / "run.json").exists():
        meta = _read_json(candidate / "run.json") or {}
        verdict = _read_json(candidate / "verdict.json") or {}
        return PastRun(meta.get("scenario", candidate.parent.name), candidate.name, candidate, verdict.get("status", "?"), meta.get("started", ""))
    for folder in Path(results_dir).glob(f"*/{run_ref}"):
        for run in past_runs(results_dir, folder.parent.name):
            if run.run_id == run_ref:
                return run
    return None


def metric_value(metrics: dict[str, Any], dotted: str) -> Any:
    workload, _, name = dotted.partition(".")
    entry = (metrics.get("workloads") or {}).get(workload) or {}
    metric = (entry.get("metrics") or {}).get(name)
    return metric.get("value") if isinstance(metric, dict) else None


def baseline_lookup(results_dir: Path):
    def lookup(scenario: str, metric: str, run_id: str) -> BaselineValue:
        if run_id:
            run = find_run(results_dir, run_id)
            if run is None:
                return BaselineValue(None, run_id, f"baseline run {run_id} not found under {results_dir}")
        else:
            passing = [r for r in past_runs(results_dir, scenario) if r.status == "PASS"]
            if not passing:
                return BaselineValue(None, "", f"no passing run of baseline scenario {scenario} in {results_dir}: "
                                               f"run `scenario run {scenario}` first, or use --with-baseline")
            run = passing[-1]
        value = metric_value(run.metrics(), metric)
        if value is None:
            return BaselineValue(None, run.run_id, f"baseline run {run.run_id} of {scenario} has no metric {metric}")
        return BaselineValue(float(value), run.run_id)

    return lookup

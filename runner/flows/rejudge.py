"""`scenario judge`: the parse and judge stages of a run, on logs collected elsewhere, without running anything.

The logs are laid out as in a run record: one folder per workload (`<dir>/<workload>/*.log`). Users
re-judge an old record after a threshold change, or judge the logs of a run made by hand.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from runner.base.errors import Problem, ScenarioError
from runner.execute.contract import RunOutput, RunState, WorkloadOutcome, WorkloadState
from runner.records.history import baseline_lookup
from runner.records.record import default_results_dir
from runner.scenario.model import Scenario
from runner.verdict.collect import collect_metrics
from runner.verdict.judge import Verdict, WorkloadMetrics, judge

_RANK = re.compile(r"rank-(\d+)")
_PRIMARY_WORDS = ("launcher", "leader")


@dataclass(frozen=True)
class Rejudged:
    verdict: Verdict
    metrics: Mapping[str, WorkloadMetrics]
    output: RunOutput


def logs_dir_of_record(record: Path) -> Path:
    """A record's logs live in <record>/logs; a folder of workload folders is taken as it is."""
    return record / "logs" if (record / "logs").is_dir() else record


def judge_logs(scenario: Scenario, logs_dir: Path, results_dir: Path | None = None) -> Rejudged:
    logs_dir = Path(logs_dir)
    if not logs_dir.is_dir():
        raise ScenarioError(Problem(f"--logs {logs_dir}: no such folder",
                                    hint="give a folder with one sub-folder of logs per workload, as a run record's logs/"))
    _refuse_foreign_folders(scenario, logs_dir)
    recorded = _recorded_outcomes(logs_dir)
    outcomes = {w.name: _outcome(scenario, w.name, w.ranks, logs_dir / w.name, recorded.get(w.name)) for w in scenario.workloads}
    output = RunOutput("logs", outcomes, RunState.COMPLETED, f"judged from {logs_dir}")
    metrics = collect_metrics(scenario, output)
    lookup = baseline_lookup(Path(results_dir or default_results_dir()))
    return Rejudged(judge(scenario, output, metrics, lookup), metrics, output)


def _refuse_foreign_folders(scenario: Scenario, logs_dir: Path) -> None:
    names = {w.name for w in scenario.workloads}
    folders = {p.name for p in logs_dir.iterdir() if p.is_dir()}
    if folders and not folders & names:
        raise ScenarioError(Problem(
            f"--logs {logs_dir} has no folder for any workload of {scenario.name} (found {', '.join(sorted(folders))})",
            hint=f"expected one folder per workload: {', '.join(sorted(names))}"))


def _recorded_outcomes(logs_dir: Path) -> Mapping[str, dict]:
    """A record's run.json says how each workload ended; judging a record keeps those states (a timeout stays one)."""
    run_json = logs_dir.parent / "run.json"
    if logs_dir.name != "logs" or not run_json.is_file():
        return {}
    try:
        return (json.loads(run_json.read_text()).get("facts") or {}).get("outcomes") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def _needs_logs(scenario: Scenario, name: str) -> bool:
    workload = scenario.workload(name)
    return bool(workload.parser) or any(check.workload == name for check in scenario.checks)


def _outcome(scenario: Scenario, name: str, ranks: int, folder: Path, recorded: dict | None) -> WorkloadOutcome:
    logs = primary_first(sorted(folder.glob("*.log"))) if folder.is_dir() else ()
    if recorded:
        return WorkloadOutcome(name, _state(recorded.get("state")), logs, recorded.get("exit_code"),
                               int(recorded.get("ranks") or ranks), message=recorded.get("message") or "")
    if logs:
        return WorkloadOutcome(name, WorkloadState.DONE, logs, 0, ranks)
    if _needs_logs(scenario, name):
        return WorkloadOutcome(name, WorkloadState.FAILED, (), None, ranks, message=f"no *.log under {folder}")
    return WorkloadOutcome(name, WorkloadState.SKIPPED, (), None, ranks, message="no logs given (nothing judged reads them)")


def _state(text) -> WorkloadState:
    try:
        return WorkloadState(text or "done")
    except ValueError:  # a record written by another version: its logs still count
        return WorkloadState.DONE


def primary_first(paths: list[Path]) -> tuple[Path, ...]:
    """The log parsers read first: the launcher's or leader's pod, else rank 0, else the first by name."""
    def key(path: Path):
        name = path.stem
        words = 0 if any(word in name for word in _PRIMARY_WORDS) else 1
        rank = _RANK.search(name)
        return words, int(rank.group(1)) if rank else 0, name
    return tuple(sorted(paths, key=key))

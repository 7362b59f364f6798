"""`scenario judge`: the parse and judge stages of a run, on logs collected elsewhere, without running anything.

The logs are laid out as in a run record, one folder per workload (`<dir>/<workload>/*.log`), or flat, one file per
workload as a user hands them over (`<dir>/<workload>.log`; a pool's pods as `<workload>-<i>.log`; a DisaggregatedSet
workload's roles as `<role>.log`). Users re-judge an old record after a threshold change, or judge the logs of a run
made by hand.
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

# judge has no --with-baseline: it can only ask for the baseline's own run
JUDGE_BASELINE_HINT = "run `scenario run {scenario}` first (or pin a run with `baseline: {{run: <id>}}`), then judge again"
from runner.records.record import default_results_dir
from runner.scenario.model import Scenario, Workload
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
        raise ScenarioError(Problem(f"--logs {logs_dir}: no such folder", hint=expected_layout(scenario)))
    files = workload_logs(scenario, logs_dir)
    recorded = _recorded_outcomes(logs_dir)
    outcomes = {w.name: _outcome(scenario, w.name, w.ranks, logs_dir / w.name, recorded.get(w.name), files.get(w.name, ()))
                for w in scenario.workloads}
    output = RunOutput("logs", outcomes, RunState.COMPLETED, f"judged from {logs_dir}")
    metrics = collect_metrics(scenario, output)
    lookup = baseline_lookup(Path(results_dir or default_results_dir()), JUDGE_BASELINE_HINT)
    return Rejudged(judge(scenario, output, metrics, lookup), metrics, output)


def workload_logs(scenario: Scenario, logs_dir: Path) -> dict[str, tuple[Path, ...]]:
    """Each workload's log files: its folder's `*.log` (a record's layout), else the flat files named after it."""
    names = {w.name for w in scenario.workloads}
    folders = {p.name for p in logs_dir.iterdir() if p.is_dir()}
    if folders & names:
        return {name: tuple(sorted((logs_dir / name).glob("*.log"))) for name in names if (logs_dir / name).is_dir()}
    flat = {w.name: _flat_files(w, logs_dir) for w in scenario.workloads}
    flat = {name: paths for name, paths in flat.items() if paths}
    if not flat:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in logs_dir.iterdir())[:12]
        raise ScenarioError(Problem(
            f"--logs {logs_dir} has no folder for any workload of {scenario.name} and no log named after one "
            f"(found {', '.join(found) or 'nothing'})", hint=expected_layout(scenario)))
    return flat


def _flat_files(workload: Workload, logs_dir: Path) -> tuple[Path, ...]:
    """`<workload>.log` and `<workload>-<pod>.log`; for a DisaggregatedSet workload also `<role>.log` per role."""
    paths = [logs_dir / f"{workload.name}.log", *sorted(logs_dir.glob(f"{workload.name}-*.log"))]
    if workload.kind == "disaggregated":
        paths += [logs_dir / f"{role}.log" for role in (workload.args.get("roles") or {})]
    return tuple(dict.fromkeys(p for p in paths if p.is_file()))


def expected_layout(scenario: Scenario) -> str:
    names = [w.name for w in scenario.workloads]
    roles = [role for w in scenario.workloads if w.kind == "disaggregated" for role in (w.args.get("roles") or {})]
    flat = ", ".join(f"{n}.log" for n in names + roles)
    return (f"give either one folder per workload holding its *.log files ({', '.join(f'{n}/' for n in names)}), as a run "
            f"record's logs/, or a flat folder of one file per workload ({flat}; a pool's pods as <workload>-<i>.log)")


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


def _outcome(scenario: Scenario, name: str, ranks: int, folder: Path, recorded: dict | None,
             files: tuple[Path, ...] = ()) -> WorkloadOutcome:
    logs = primary_first(list(files))
    if recorded:
        return WorkloadOutcome(name, _state(recorded.get("state")), logs, recorded.get("exit_code"),
                               int(recorded.get("ranks") or ranks), message=recorded.get("message") or "")
    if logs:
        return WorkloadOutcome(name, WorkloadState.DONE, logs, 0, ranks)
    if _needs_logs(scenario, name):
        return WorkloadOutcome(name, WorkloadState.FAILED, (), None, ranks, message=f"no *.log under {folder} nor {folder}.log")
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

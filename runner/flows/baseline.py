"""`scenario run NAME --with-baseline`: run the baseline scenarios a scenario's checks need, when they have no passing run;
and the baseline runs' metrics a report plots against.

A `baseline:` check resolves (runner.history.BaselineLookup) to its pinned `run:` id, else to the latest
passing run of the baseline scenario that ran as written (no --set overrides but the registry, not a sweep variant).
A baseline run by --with-baseline gets the registry the scenario's own run was given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from runner.flows.check import validate_scenario
from runner.records.history import WHERE_FROM_PATHS, find_run, latest_passing, override_path
from runner.records.record import default_results_dir
from runner.report.base import BaselineMetrics
from runner.scenario.model import Scenario
from runner.scenario.resolve import Library


def baseline_scenarios(scenario: Scenario) -> list[str]:
    """Baseline scenarios named by checks that are not pinned to a run id, in check order."""
    names: list[str] = []
    for check in scenario.checks:
        if check.baseline and not check.baseline.run and check.baseline.scenario not in names:
            names.append(check.baseline.scenario)
    return names


def missing_baselines(scenario: Scenario, results_dir: Path | None = None) -> list[str]:
    results_dir = Path(results_dir or default_results_dir())
    return [name for name in baseline_scenarios(scenario) if latest_passing(results_dir, name)[0] is None]


def ensure_baselines(scenario: Scenario, library: Library | None, results_dir: Path | None, run_fn: Callable[..., Any], *,
                     executor_name: str | None = None, announce: Callable[[str], None] | None = None,
                     overrides: Iterable[str] = (), _seen: frozenset[str] = frozenset(), **run_options: Any) -> list[Any]:
    """Run every baseline scenario of `scenario` that has no passing run yet (its own baselines first).

    run_fn is runner.run.run_scenario; run_options (timeout_s, progress, options, stop) go to it. The
    baseline runs on `executor_name` when it declares that executor, else on its default one. Returns
    the RunResults in the order they ran (empty when every baseline already has a passing run). Of `overrides` (the
    scenario's own run's --set), those that say where images come from (the registry) are given to the baselines too.
    """

    library = library or Library()
    results_dir = Path(results_dir or default_results_dir())
    where_from = [o for o in overrides if override_path(o) in WHERE_FROM_PATHS]
    results = []
    seen = _seen | {scenario.name}
    for name in missing_baselines(scenario, results_dir):
        if name in seen:
            continue
        baseline = validate_scenario(name, library, where_from)
        results += ensure_baselines(baseline, library, results_dir, run_fn, executor_name=executor_name, announce=announce,
                                    overrides=where_from, _seen=seen, **run_options)
        if latest_passing(results_dir, name)[0] is not None:  # a nested baseline run may have been this one
            continue
        if announce:
            announce(f"baseline {name} has no passing run in {results_dir}: running it first")
        executor = executor_name if executor_name in baseline.executors else None
        results.append(run_fn(baseline, executor_name=executor, results_dir=results_dir, library=library,
                              overrides=where_from, **run_options))
        seen = seen | {name}
    return results


def serving_baselines(checks: Iterable[Mapping[str, Any]], used: Iterable[Mapping[str, Any]], results_dir: Path | None
                      ) -> dict[str, BaselineMetrics]:
    """For each workload a `baseline:` check compares, the baseline run's metrics of the baseline workload, for the
    report's plots: the run the judge used (`used`, run.json "baselines"), else the check's pinned run, else the
    latest passing run of the baseline scenario. `checks` are the scenario's checks as written (plain mappings)."""

    found: dict[str, BaselineMetrics] = {}
    if results_dir is None:
        return found
    used = [entry for entry in used if entry.get("run_id")]
    for check in checks:
        base = check.get("baseline") if isinstance(check, Mapping) else None
        metric = str(check.get("metric", "")) if base else ""
        workload = metric.partition(".")[0]
        if not base or not workload or workload in found:
            continue
        base_metric = base.get("metric") or metric
        same = [entry for entry in used if entry.get("scenario") == base["scenario"]]
        run_id = next((e["run_id"] for e in same if e.get("metric") == base_metric), same[0]["run_id"] if same else base.get("run", ""))
        run = find_run(results_dir, run_id, base["scenario"]) if run_id else latest_passing(results_dir, base["scenario"])[0]
        if run is None:
            continue
        base_workload = base_metric.partition(".")[0] if "." in base_metric else workload
        entry = (run.metrics().get("workloads") or {}).get(base_workload) or {}
        if entry.get("metrics"):
            found[workload] = BaselineMetrics(f"{base['scenario']} {run.run_id}", entry["metrics"])
    return found

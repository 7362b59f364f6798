"""`scenario run` (one run, a sweep, a triage, baselines first) and `scenario cleanup`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runner.base.errors import (
    EXIT_INFRA,
    Location,
    Problem,
    RunnerError,
    ScenarioError,
)
from runner.cli.options import complete_scenarios, current_library, library_option, pick_executor
from runner.execute import get_executor
from runner.execute.kubernetes import operations as kube_operations
from runner.execute.local.nodes import cleanup_stale
from runner.execute.local.processes import end_marked
from runner.execute.progress import QuietProgress, TerminalProgress
from runner.flows.baseline import ensure_baselines
from runner.flows.check import validate_scenario
from runner.flows.run import StopFlag, run_scenario, stop_on_signals
from runner.flows.stale import recover_stale_runs
from runner.flows.sweep import parse_matrix_options, run_sweep
from runner.flows.triage.drive import run_triage
from runner.flows.triage.report import json_text, triage_table
from runner.flows.triage.settings import has_triage
from runner.records.record import default_results_dir
from runner.report import render_report, reporter_names
from runner.report.sweep import sweep_table
from runner.scenario.model import seconds


class ReporterChoice(click.Choice):
    """The registered reporters' names (`-o table`, `-o json`, ...)."""

    def __init__(self) -> None:
        super().__init__(reporter_names())


@click.command()
@library_option
@click.argument("name", shell_complete=complete_scenarios)
@click.option("--executor", "executor_name", help="Executor to run on (default: the scenario's first).")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value (YAML-typed), e.g. parameters.threads=8.")
@click.option("--timeout", "timeout", metavar="DURATION", help="Limit for the whole run, e.g. 10m (default: the scenario's).")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path), help="Where run records go (default: results/).")
@click.option("--output", "-o", type=ReporterChoice(), default="table", show_default=True,
              help="Report on stdout, by reporter name.")
@click.option("--no-progress", is_flag=True, help="No progress lines (also implied when stderr is not a terminal and CI is set).")
@click.option("--context", "kube_context", help="Kubernetes: kubeconfig context to use.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubernetes: kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")
@click.option("--namespace", "-n", help="Kubernetes: namespace (default: the scenario's platform.namespace).")
@click.option("--keep", is_flag=True, help="Kubernetes: leave every object for debugging (`scenario cleanup --run ID` later).")
@click.option("--dry-run", "dry_run", type=click.Choice(["client", "server"]),
              help="Kubernetes: client = render and validate only; server = submit with dryRun=All.")
@click.option("--fail-fast", "fail_fast", metavar="DURATION",
              help="Kubernetes: fail a workload whose pod is stuck (ImagePullBackOff, Unschedulable) this long (default 3m).")
@click.option("--matrix", "matrix", multiple=True, metavar="PATH=V1,V2",
              help="Sweep a value, e.g. parameters.threads=2,4; every combination (with the scenario's matrix:) is its own run.")
@click.option("--with-baseline", is_flag=True, help="First run the baseline scenarios that have no passing run yet.")
@click.option("--repeat", "repeat", type=click.IntRange(1, 100), metavar="N",
              help="Run N times in one record; checks judge the median of the samples (default: the scenario's `repeat`, else 1).")
@click.option("--triage", "triage_strategy", type=click.Choice(["per-node", "all-pairs", "adaptive-pairs", "bisection"]),
              help="Fleet triage: run the workload over node sets and name the bad nodes (default for a scenario with triage:).")
@click.option("--nodes", "triage_nodes", metavar="A,B,...", help="Triage: the fleet (default: triage.nodes, or discovered on Kubernetes).")
@click.option("--node-selector", "node_selector", metavar="SELECTOR", help="Triage on Kubernetes: label selector of the fleet's nodes.")
@click.option("--concurrency", type=click.IntRange(min=1), help="Triage: at most this many node sets at once.")
@click.option("--cordon", is_flag=True, help="Triage on Kubernetes: cordon the suspects (needs RBAC to patch nodes).")
def run(name: str, executor_name: str | None, overrides: tuple[str, ...], timeout: str | None, results_dir: Path | None,
        output: str, no_progress: bool, kube_context: str | None, kubeconfig: str | None, namespace: str | None, keep: bool,
        dry_run: str | None, fail_fast: str | None, matrix: tuple[str, ...], with_baseline: bool, repeat: int | None,
        triage_strategy: str | None, triage_nodes: str | None, node_selector: str | None, concurrency: int | None,
        cordon: bool) -> None:
    """Run a scenario and print its verdict. Exit 0 PASS, 1 FAIL, 2 invalid, 3 ERROR/TIMEOUT, 130 interrupted."""

    library = current_library()
    scenario = validate_scenario(name, library, overrides)
    timeout_s = _duration_option("--timeout", timeout)
    executor_name = pick_executor(scenario, executor_name)
    options = {"context": kube_context, "kubeconfig": kubeconfig, "namespace": namespace, "keep": keep, "dry_run": dry_run,
               "fail_fast_s": _duration_option("--fail-fast", fail_fast)}
    executor = get_executor(executor_name)
    if dry_run and dry_run not in getattr(executor, "dry_runs", ()):
        raise ScenarioError(Problem(f"--dry-run={dry_run}: the {executor_name} executor has no dry run", Location("--dry-run"),
                                    f"`scenario render {scenario.name}` shows what it would run without running it"))
    executor.check_environment(options)
    progress = _progress(no_progress)
    if with_baseline:
        for baseline in ensure_baselines(scenario, library, results_dir, run_scenario, executor_name=executor_name, overrides=overrides,
                                         timeout_s=timeout_s, progress=progress, options=options,
                                         announce=lambda text: click.echo(text, err=True)):
            click.echo(render_report("table", baseline.report), err=True)

    if triage_strategy or has_triage(scenario):
        cli_triage = {"strategy": triage_strategy, "concurrency": concurrency, "selector": node_selector,
                      "nodes": [n.strip() for n in triage_nodes.split(",") if n.strip()] if triage_nodes else None}
        return _run_triage(name, library, overrides, executor_name, cli_triage, results_dir, options, timeout_s, output, cordon)
    extra_matrix = parse_matrix_options(matrix)
    if scenario.matrix or extra_matrix:
        sweep = run_sweep(name, library, list(overrides), extra_matrix, run_scenario, progress, results_dir=results_dir,
                          executor_name=executor_name, timeout_s=timeout_s, options=options, repeat=repeat)
        click.echo(sweep_table(sweep))
        return sweep.exit_code
    result = run_scenario(scenario, executor_name=executor_name, results_dir=results_dir, timeout_s=timeout_s,
                          progress=progress, overrides=list(overrides), options=options, repeat=repeat, library=library)
    click.echo(render_report(output, result.report))
    return result.verdict.exit_code


def _run_triage(name, library, overrides, executor_name, cli_triage, results_dir, options, timeout_s, output, cordon) -> int:

    if cordon and executor_name != "kubernetes":
        raise ScenarioError(Problem("--cordon works only on the kubernetes executor", hint="drop --cordon, or add --executor kubernetes"))
    stop = StopFlag()
    with stop_on_signals(stop):
        result = run_triage(name, library, list(overrides), executor_name=executor_name, cli=cli_triage, results_dir=results_dir,
                            options=options, timeout_s=timeout_s, stop=stop, cordon=cordon)
    click.echo(json_text(result) if output == "json" else triage_table(result))
    return result.exit_code


def _duration_option(flag: str, value: str | None) -> float | None:

    if not value:
        return None
    try:
        return seconds(value)
    except ValueError as error:
        raise ScenarioError(Problem(f"{flag} {value!r} is not a duration", hint="for example 90s, 20m or 1h")) from error


def _progress(no_progress: bool):

    quiet = no_progress or (os.environ.get("CI") and not sys.stderr.isatty())
    return QuietProgress() if quiet else TerminalProgress()


@click.command()
@click.option("--run", "run_id", help="Delete the objects of this run id.")
@click.option("--all", "all_runs", is_flag=True, help="Delete the objects of every run made by scenario-runner.")
@click.option("--context", "kube_context", help="Kubernetes: kubeconfig context to use.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubernetes: kubeconfig file.")
@click.option("--namespace", "-n", help="Kubernetes: namespace to clean (default: every namespace).")
@click.option("--local", "local", is_flag=True,
              help="This machine: for runs whose runner died, end their processes, remove their emulated nodes and finalize their records as INCOMPLETE.")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path), help="With --local: where run records are.")
def cleanup(run_id: str | None, all_runs: bool, kube_context: str | None, kubeconfig: str | None, namespace: str | None,
            local: bool, results_dir: Path | None) -> None:
    """Delete Kubernetes objects left by runs (after --keep, or a killed runner), by label, and verify nothing is left.
    With --local: recover local runs whose runner was killed (orphan processes ended, stale records finalized)."""
    if local:
        _cleanup_local(results_dir, run_id)
        return
    if bool(run_id) == bool(all_runs):
        raise ScenarioError(Problem("say which objects to delete: --run ID, --all or --local", hint="`scenario cleanup --run 20261127-101500-ab12`"))

    options = {"context": kube_context, "kubeconfig": kubeconfig, "namespace": namespace}
    remaining = kube_operations.cleanup(options, run_id=run_id, all_runs=all_runs)
    if remaining:
        raise RunnerError("still present after cleanup:\n" + "\n".join(f"  {item}" for item in remaining),
                          hint="run `scenario cleanup` again; objects with finalizers can take a while to go")
    click.echo("nothing left")


def _cleanup_local(results_dir: Path | None, run_id: str | None) -> None:

    results_dir = Path(results_dir or default_results_dir())
    survivors = end_marked(run_id) if run_id else []
    report = []
    for record, left in recover_stale_runs(results_dir):
        report.append(f"INCOMPLETE  {record}" + (f" (still alive: {', '.join(map(str, left))})" if left else ""))
        survivors += left
    report += cleanup_stale()
    click.echo("\n".join(report) if report else "nothing left")
    if survivors:
        click.echo(f"processes still alive: {', '.join(map(str, survivors))}", err=True)
    if survivors or any(line.startswith("could not") for line in report):
        return EXIT_INFRA

"""`scenario rehearse`: a scenario run end to end on the local control plane with recorded real tool output."""
from __future__ import annotations

from pathlib import Path

import click

from runner.cli.options import complete_scenarios, current_library, library_option
from runner.cli.run import ReporterChoice, _duration_option, _progress
from runner.flows import rehearse as rehearse_
from runner.report import render_report


@click.command()
@library_option
@click.argument("name", shell_complete=complete_scenarios)
@click.option("--case", "case_name", metavar="CASE",
              help="Corpus case to print: its id (tool/version/case), folder name or failure name (default: the healthy one).")
@click.option("--list-cases", is_flag=True, help="List the corpus cases that apply to NAME and exit (no cluster needed).")
@click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="The tool-truth corpus (default: $SCENARIO_CORPUS, else tests/truth).")
@click.option("--cluster-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".cluster"), show_default=True,
              help="The local control plane's folder (state, kubeconfig, logs); started there when it is not up.")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              help=f"Where rehearsal records go (default: {rehearse_.DEFAULT_RESULTS}/, apart from real runs).")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value (YAML-typed), as for `scenario run`.")
@click.option("--timeout", "timeout", metavar="DURATION", help="Limit for the run, e.g. 10m (default: the scenario's).")
@click.option("--output", "-o", type=ReporterChoice(), default="table", show_default=True, help="Report on stdout, by reporter name.")
@click.option("--no-progress", is_flag=True, help="No progress lines.")
@click.option("--dry-run", "dry_run", type=click.Choice(["server"]), help="Submit every object with dryRun=All; nothing runs.")
@click.option("--no-baseline", is_flag=True, help="Do not rehearse the baselines of `baseline:` checks first.")
@click.option("--down", "stop_after", is_flag=True, help="Stop the control plane afterwards.")
def rehearse(name: str, case_name: str | None, list_cases: bool, corpus_dir: str | None, cluster_dir: Path, results_dir: Path | None,
             overrides: tuple[str, ...], timeout: str | None, output: str, no_progress: bool, dry_run: str | None,
             no_baseline: bool, stop_after: bool) -> int:
    """Rehearse a Kubernetes scenario on a local control plane, with no GPUs, and print its verdict.

    \b
    Real: kube-apiserver (admission, CRD schemas, RBAC), kube-scheduler, the Job, StatefulSet and garbage
    collection controllers, the MPI Operator and LeaderWorkerSet, all started on this machine (`make cluster`;
    built from Go modules on first use). Simulated: the nodes (kwok; shaped like p5, p5en and p6-b200) run no
    containers: each pod prints recorded real tool output from the corpus (tests/truth) and ends as that run did.

    \b
    The run is the normal Kubernetes executor's: preflight, apply, watch, logs, verdict, cleanup (verified: nothing
    labelled with the run id remains, of any kind). Records go to results-rehearsal/, never results/.
    The control plane stays up for the next rehearsal (`make cluster-down` stops it, or pass --down).

    \b
    Examples:
      scenario rehearse nccl-allreduce                      the healthy case: expect PASS
      scenario rehearse nccl-allreduce --list-cases         the cases that apply
      scenario rehearse nccl-allreduce --case efa-16rank-socket    a recorded fault: expect FAIL naming it

    Exit 0 PASS, 1 FAIL, 2 invalid (or no case in the corpus), 3 ERROR or something left in the cluster, 130 interrupted.
    """
    library = current_library()
    if list_cases:
        return _list_cases(name, library, corpus_dir, overrides)
    say = (lambda text: None) if no_progress else rehearse_.stderr_say
    cluster = rehearse_.ensure_cluster(cluster_dir, say)
    say(rehearse_.cluster_note(cluster))
    try:
        done = rehearse_.rehearse(name, library=library, case_name=case_name, corpus_dir=corpus_dir, results_dir=results_dir,
                                  cluster=cluster, overrides=overrides, timeout_s=_duration_option("--timeout", timeout),
                                  progress=_progress(no_progress), announce=rehearse_.stderr_say,
                                  options={"dry_run": dry_run}, with_baselines=not no_baseline and not dry_run)
    finally:
        if stop_after:
            rehearse_.stop_cluster(cluster, say)
    for rehearsal in done[:-1]:
        click.echo(render_report("table", rehearsal.result.report), err=True)
    last = done[-1]
    click.echo(render_report(output, last.result.report))
    click.echo(_footer(last), err=True)
    return last.exit_code


def _footer(rehearsal: rehearse_.Rehearsal) -> str:
    case = rehearsal.case
    what = f"failure {case.failure}" if rehearsal.kind == "failure" else "healthy"
    cleanup = ("LEFT IN THE CLUSTER: " + "; ".join(rehearsal.leftovers)) if rehearsal.leftovers else \
        f"nothing labelled with run {rehearsal.result.run_id} is left"
    return f"rehearsal: {rehearsal.scenario} with {case.id} ({what}) in {rehearsal.seconds:.1f}s; {cleanup}"


def _list_cases(name: str, library, corpus_dir: str | None, overrides: tuple[str, ...]) -> int:
    scenario = rehearse_.for_rehearsal(name, library, overrides)
    root = rehearse_.corpus_root(corpus_dir, library)
    found = rehearse_.applicable_cases(scenario, root)
    if not found:
        click.echo(f"no case in {root} applies to {scenario.name}")
        return 0
    width = max(len(c.id) for _, c in found)
    click.echo(f"{'case':<{width}}  kind     failure")
    for kind, case in found:
        click.echo(f"{case.id:<{width}}  {kind:<7}  {case.failure if kind == 'failure' else '-'}")
    return 0

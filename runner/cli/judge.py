"""`scenario judge NAME --logs DIR | --record RUN`: judge a scenario against logs collected elsewhere. Thin: the work is
in runner.rejudge (the run's own parse and judge stages)."""
from __future__ import annotations

from pathlib import Path

import click

from runner.base.errors import Problem, ScenarioError
from runner.cli.options import current_library, library_option
from runner.cli.run import ReporterChoice
from runner.flows.check import validate_scenario
from runner.flows.rejudge import judge_logs, logs_dir_of_record
from runner.records.history import find_run
from runner.records.record import default_results_dir
from runner.report import RunReport, render_report


@click.command("judge")
@click.argument("name")
@library_option
@click.option("--logs", "logs_dir", type=click.Path(path_type=Path),
              help="Folder of logs: one sub-folder of *.log per workload (as a record's logs/), or flat <workload>.log files "
                   "(a DisaggregatedSet's roles as <role>.log).")
@click.option("--record", "record", metavar="RUN", help="An existing run record (run id or path): judge its logs again.")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value (YAML-typed), e.g. a threshold parameter.")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where run records are, for --record and baselines (default: results/).")
@click.option("--output", "-o", type=ReporterChoice(), default="table", show_default=True, help="Report on stdout, by reporter name.")
def judge_command(name: str, logs_dir: Path | None, record: str | None, overrides: tuple[str, ...], results_dir: Path | None,
                  output: str) -> None:
    """Judge scenario NAME (as it is now) against logs, without running anything. Exit 0 PASS, 1 FAIL or FALLBACK (any
    check proven not to hold, even beside ERROR checks), 3 ERROR (nothing failed, something could not be judged)."""

    if bool(logs_dir) == bool(record):
        raise ScenarioError(Problem("say which logs to judge: --logs DIR or --record RUN",
                                    hint="`scenario judge sglang-1p1d --logs collected/` (prefill.log, decode.log, bench.log, or one folder per workload)"))
    results_dir = Path(results_dir or default_results_dir())
    if record:

        found = find_run(results_dir, record)
        if found is None:
            raise click.BadParameter(f"no run record {record!r} under {results_dir}", param_hint="--record")
        logs_dir = logs_dir_of_record(Path(found.path))
    scenario = validate_scenario(name, current_library(), list(overrides))
    judged = judge_logs(scenario, logs_dir, results_dir)
    click.echo(render_report(output, RunReport(judged.verdict, judged.metrics, record=str(logs_dir), description=scenario.description)))
    return judged.verdict.exit_code

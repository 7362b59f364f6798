"""The `scenario` command line. Thin: parse options, call the pipeline stages, map errors to exit codes in one place."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .cli_options import ReporterChoice, current_library, library_option
from .errors import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_PASS, Location, Problem, RunnerError, ScenarioError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _library():
    return current_library()


def _complete_scenarios(ctx, param, incomplete):
    return [name for name in _library().names() if name.startswith(incomplete)]


def _complete_parsers(ctx, param, incomplete):
    from .parse import parser_names

    return [name for name in parser_names() if name.startswith(incomplete)]


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="scenario-runner", prog_name="scenario")
@library_option
def cli() -> None:
    """Declarative scenarios that prove, layer by layer, that a GPU cluster is ready for disaggregated LLM inference.

    \b
    Typical use:
      scenario list                         what scenarios exist
      scenario validate                     check every scenario (schema, lints, templates)
      scenario run mooncake-tcp-loopback    run one and print its verdict

    The scenario library is --library DIR, else $SCENARIO_PATH, else ./scenarios.
    """


# --- scenario files --------------------------------------------------------------------------


@cli.command("list")
@library_option
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(output: str) -> None:
    """List the scenarios: name, layer, executor(s), description."""
    from tabulate import tabulate

    from .validate import validate_scenario

    library = _library()
    rows = []
    for name in library.names():
        try:
            scenario = validate_scenario(name, library)
            rows.append({"name": name, "layer": scenario.layer, "executors": ", ".join(scenario.executors),
                         "extends": scenario.extends, "description": scenario.description})
        except ScenarioError:
            rows.append({"name": name, "layer": "?", "executors": "?", "extends": "", "description": "(invalid: run `scenario validate`)"})
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(tabulate([[r["name"], r["layer"], r["executors"], r["description"]] for r in rows],
                        headers=["name", "layer", "executor(s)", "description"]))


@cli.command()
@library_option
@click.argument("paths", nargs=-1, type=click.Path(), shell_complete=_complete_scenarios)
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
@click.option("--no-render", is_flag=True, help="Skip rendering templates (faster; schema and lints only).")
def validate(paths: tuple[str, ...], quiet: bool, no_render: bool) -> None:
    """Validate scenarios (default: every file under scenarios/): schema, lints, commands and rendered objects.

    PATHS may be scenario files, directories or scenario names. Exit 2 when any is invalid.
    """
    from .check import validate_files

    library = _library()
    targets = _expand_targets(paths, library)
    ok, problems = validate_files(targets, library, render=not no_render)
    for target, scenario in ok:
        if not quiet:
            click.echo(f"ok       {target}")
    for target, file_problems in problems:
        click.echo(f"invalid  {target}", err=True)
        for problem in file_problems:
            click.echo(_indent(str(problem)), err=True)
    count = sum(len(p) for _, p in problems)
    summary = f"{len(ok)} valid, {len(problems)} invalid" + (f" ({count} problem{'s' if count != 1 else ''})" if count else "")
    click.echo(summary, err=bool(problems))
    if problems:
        sys.exit(EXIT_INVALID)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _expand_targets(paths: tuple[str, ...], library) -> list[str]:
    if not paths:
        duplicates = library.duplicates
        if duplicates:
            raise ScenarioError(duplicates)
        return [str(library.paths[name]) for name in library.names()]
    targets: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            targets += [str(p) for p in sorted(Path(path).rglob("*.yaml"))]
        else:
            targets.append(path)
    return targets


@cli.command()
@library_option
@click.argument("name", shell_complete=_complete_scenarios)
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value (YAML-typed), e.g. parameters.threads=8.")
@click.option("--output", "-o", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def show(name: str, overrides: tuple[str, ...], output: str) -> None:
    """Print the fully resolved scenario (after extends and --set)."""
    import yaml

    from .model import thaw
    from .validate import validate_scenario

    scenario = validate_scenario(name, _library(), overrides)
    data = thaw(scenario.data)
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        chain = " <- ".join(p.stem for p in scenario.files)
        click.echo(f"# resolved from: {chain}")
        click.echo(yaml.safe_dump(data, sort_keys=False, width=120), nl=False)


@cli.command()
@library_option
@click.argument("name", shell_complete=_complete_scenarios)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=False,
              help="Directory to write one file per object (default: print to stdout).")
@click.option("--executor", "executor_name", help="Render for this executor (default: the scenario's first).")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value before rendering.")
def render(name: str, out_dir: Path | None, executor_name: str | None, overrides: tuple[str, ...]) -> None:
    """Render a scenario: Kubernetes objects (one file each, stable names) or the local process plan."""
    import yaml

    from .executors import get_executor
    from .validate import validate_scenario

    scenario = validate_scenario(name, _library(), overrides)
    from .delta import expand_attempts, for_executor

    executor_name = _executor_name(scenario, executor_name)
    scenario = expand_attempts(for_executor(scenario, executor_name, overrides))
    executor = get_executor(executor_name)
    plan = executor.plan(scenario, out_dir)
    if out_dir is not None:
        for path in plan.files:
            click.echo(str(path))
        return
    click.echo(yaml.safe_dump_all(list(plan.documents), sort_keys=False, width=120), nl=False)


def _executor_name(scenario, asked: str | None) -> str:
    """The executor a command uses: the one asked for, which the scenario must declare, else its first."""
    from .delta import runs_on

    name = asked or scenario.default_executor
    if not runs_on(scenario, name):
        raise ScenarioError(Problem(f"scenario {scenario.name} does not run on {name!r}; it declares {', '.join(scenario.executors)}",
                                    scenario.sources.with_path(("executors",)), "pick one of those with --executor"))
    return name


@cli.command("schema")
def schema_command() -> None:
    """Print the scenario JSON Schema (point your editor's YAML language server at it)."""
    from .schemas import schema_text

    click.echo(schema_text(), nl=False)


# --- parsing and running ---------------------------------------------------------------------


@cli.command()
@click.argument("parser_name", metavar="PARSER", required=False, shell_complete=_complete_parsers)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Parser option (YAML-typed), e.g. min_bytes=268435456.")
@click.option("--list", "list_catalog", is_flag=True, help="List the metrics and options each parser declares (or PARSER's).")
def parse(parser_name: str | None, file: str | None, as_json: bool, options: tuple[str, ...], list_catalog: bool) -> None:
    """Print the metrics a parser reads from a log file ('-' for stdin); with --list, the parsers' metric catalog."""
    import yaml
    from tabulate import tabulate

    from .parse import parse_file, parse_lines

    if list_catalog:
        click.echo(_catalog_text(parser_name, as_json))
        return
    if not parser_name or not file:
        raise click.UsageError("give PARSER and FILE, or --list")
    parsed_options = {}
    for option in options:
        key, _, value = option.partition("=")
        parsed_options[key] = yaml.safe_load(value) if value else True
    if file == "-":
        result = parse_lines(parser_name, sys.stdin, "<stdin>", parsed_options)
    else:
        result = parse_file(parser_name, file, parsed_options)
    if as_json:
        click.echo(json.dumps({
            "parser": result.parser, "source": result.source,
            "metrics": {m.name: {"value": m.value, "unit": m.unit, "better": m.better, "kind": m.kind} for m in result.metrics.values()},
            "info": dict(result.info),
            "series": {s.name: {"columns": list(s.columns), "rows": [list(r) for r in s.rows]} for s in result.series.values()},
        }, indent=2, default=str))
        return
    click.echo(tabulate([[m.name, m.value, m.unit, m.better or "-", m.kind] for m in result.metrics.values()],
                        headers=["metric", "value", "unit", "better", "kind"]))
    for key, value in result.info.items():
        click.echo(f"# {key}: {value}")


def _catalog_text(parser_name: str | None, as_json: bool) -> str:
    from dataclasses import asdict

    from tabulate import tabulate

    from .catalog import catalog_rows
    from .parse import get_catalog, parser_names

    catalogs = [get_catalog(name) for name in ([parser_name] if parser_name else parser_names())]
    if as_json:
        return json.dumps([{"parser": c.parser, "description": c.description, "metrics": [asdict(m) for m in c.metrics],
                            "dynamic_metrics": c.dynamic_note, "options": [asdict(o) for o in c.options]} for c in catalogs], indent=2)
    blocks = []
    for catalog in catalogs:
        lines = [f"{catalog.parser}: {catalog.description}", ""]
        if catalog.metrics:
            lines.append(tabulate(catalog_rows(catalog), headers=["metric", "unit", "better", "kind", "type", "description"]))
        if catalog.dynamic_note:
            lines.append(f"metrics: {catalog.dynamic_note}")
        lines.append("options: " + ("; ".join(f"{o.name} ({o.type}{': ' + '|'.join(o.choices) if o.choices else ''}) {o.description}"
                                             for o in catalog.options) or "none"))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@cli.command()
@library_option
@click.argument("name", shell_complete=_complete_scenarios)
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
    from .executors import get_executor
    from .report import render_report
    from .run import run_scenario
    from .validate import validate_scenario

    from .baseline import ensure_baselines
    from .sweep import parse_matrix_options, run_sweep

    library = _library()
    scenario = validate_scenario(name, library, overrides)
    timeout_s = _duration_option("--timeout", timeout)
    executor_name = _executor_name(scenario, executor_name)
    options = {"context": kube_context, "kubeconfig": kubeconfig, "namespace": namespace, "keep": keep, "dry_run": dry_run,
               "fail_fast_s": _duration_option("--fail-fast", fail_fast)}
    executor = get_executor(executor_name)
    if dry_run and dry_run not in getattr(executor, "dry_runs", ()):
        raise ScenarioError(Problem(f"--dry-run={dry_run}: the {executor_name} executor has no dry run", Location("--dry-run"),
                                    f"`scenario render {scenario.name}` shows what it would run without running it"))
    executor.check_environment(options)
    progress = _progress(no_progress)
    if with_baseline:
        for baseline in ensure_baselines(scenario, library, results_dir, run_scenario, executor_name=executor_name, timeout_s=timeout_s,
                                         progress=progress, options=options, announce=lambda text: click.echo(text, err=True)):
            click.echo(render_report("table", baseline.report), err=True)
    from .triage.settings import has_triage

    if triage_strategy or has_triage(scenario):
        cli_triage = {"strategy": triage_strategy, "concurrency": concurrency, "selector": node_selector,
                      "nodes": [n.strip() for n in triage_nodes.split(",") if n.strip()] if triage_nodes else None}
        sys.exit(_run_triage(name, library, overrides, executor_name, cli_triage, results_dir, options, timeout_s, output, cordon))
    extra_matrix = parse_matrix_options(matrix)
    if scenario.matrix or extra_matrix:
        sweep = run_sweep(name, library, list(overrides), extra_matrix, run_scenario, progress, results_dir=results_dir,
                          executor_name=executor_name, timeout_s=timeout_s, options=options, repeat=repeat)
        click.echo(sweep.table())
        sys.exit(sweep.exit_code)
    result = run_scenario(scenario, executor_name=executor_name, results_dir=results_dir, timeout_s=timeout_s,
                          progress=progress, overrides=list(overrides), options=options, repeat=repeat)
    click.echo(render_report(output, result.report))
    sys.exit(result.verdict.exit_code)


def _run_triage(name, library, overrides, executor_name, cli_triage, results_dir, options, timeout_s, output, cordon) -> int:
    from .run import StopFlag, stop_on_signals
    from .triage.drive import run_triage
    from .triage.report import json_text, triage_table

    if cordon and executor_name != "kubernetes":
        raise ScenarioError(Problem("--cordon works only on the kubernetes executor", hint="drop --cordon, or add --executor kubernetes"))
    stop = StopFlag()
    with stop_on_signals(stop):
        result = run_triage(name, library, list(overrides), executor_name=executor_name, cli=cli_triage, results_dir=results_dir,
                            options=options, timeout_s=timeout_s, stop=stop, cordon=cordon)
    click.echo(json_text(result) if output == "json" else triage_table(result))
    return result.exit_code


def _duration_option(flag: str, value: str | None) -> float | None:
    from .model import seconds

    if not value:
        return None
    try:
        return seconds(value)
    except ValueError as error:
        raise ScenarioError(Problem(f"{flag} {value!r} is not a duration", hint="for example 90s, 20m or 1h")) from error


def _progress(no_progress: bool):
    from .progress import QuietProgress, TerminalProgress

    quiet = no_progress or (os.environ.get("CI") and not sys.stderr.isatty())
    return QuietProgress() if quiet else TerminalProgress()


@cli.command()
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
    from .executors import kubernetes as kube_executor

    options = {"context": kube_context, "kubeconfig": kubeconfig, "namespace": namespace}
    remaining = kube_executor.cleanup(options, run_id=run_id, all_runs=all_runs)
    if remaining:
        raise RunnerError("still present after cleanup:\n" + "\n".join(f"  {item}" for item in remaining),
                          hint="run `scenario cleanup` again; objects with finalizers can take a while to go")
    click.echo("nothing left")


def _cleanup_local(results_dir: Path | None, run_id: str | None) -> None:
    from .executors.nodes import cleanup_stale
    from .executors.processes import end_marked
    from .record import default_results_dir
    from .stale import recover_stale_runs

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
        sys.exit(3)


from .cli_records import register; register(cli)  # noqa: E402,E702  (history, compare, report)
from .cli_judge import register as register_judge; register_judge(cli)  # noqa: E402,E702  (judge logs)


# --- entry point -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit code of every outcome is decided here (the codes are in runner.errors)."""
    try:
        cli.main(args=argv, prog_name="scenario", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except click.ClickException as error:  # a bad option or argument: the invocation is invalid, nothing ran
        error.show()
        return EXIT_INVALID
    except RunnerError as error:
        click.echo(f"error: {error}" if not isinstance(error, ScenarioError) else str(error), err=True)
        return error.exit_code
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_PASS
    except Exception as error:  # a bug in the runner: say so plainly, no traceback unless asked
        if os.environ.get("SCENARIO_DEBUG"):
            raise
        click.echo(f"internal error: {type(error).__name__}: {error}\n(set SCENARIO_DEBUG=1 for the traceback and please report it)", err=True)
        return EXIT_INFRA
    return EXIT_PASS


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()

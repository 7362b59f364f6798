"""`scenario list | validate | show | render | schema | parse`: the scenario files and the parsers, nothing run."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
import yaml

from runner.base.budget import PARSE_BUDGET_S, time_budget
from runner.base.errors import (
    EXIT_INVALID,
    ScenarioError,
)
from runner.base.saferegex import bounded_lines
from runner.cli.options import complete_parsers, complete_scenarios, current_library, library_option, pick_executor
from runner.execute import get_executor
from runner.flows.check import for_executor, inspect, validate_files, validate_scenario
from runner.parse.catalog import catalog_rows
from runner.parse.logs import get_catalog, parse_file, parse_lines, parser_names
from runner.scenario.checks import check_name
from runner.scenario.model import thaw
from runner.scenario.overlay import expand_attempts
from runner.scenario.schemas import schema_text


@click.command("list")
@library_option
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(output: str) -> None:
    """List the scenarios: name, layer, executor(s), description."""
    from tabulate import tabulate  # only the commands that print a table: validate does not

    library = current_library()
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


@click.command()
@library_option
@click.argument("paths", nargs=-1, type=click.Path(), shell_complete=complete_scenarios)
@click.option("--quiet", "-q", is_flag=True, help="Print only problems.")
@click.option("--no-render", is_flag=True, help="Skip rendering templates (faster; schema and lints only).")
def validate(paths: tuple[str, ...], quiet: bool, no_render: bool) -> None:
    """Validate scenarios (default: every file under scenarios/): schema, lints, commands and rendered objects.

    PATHS may be scenario files, directories or scenario names. Exit 2 when any is invalid.
    """

    library = current_library()
    targets = _expand_targets(paths, library)
    ok, problems = validate_files(targets, library, render=not no_render)
    for target, scenario in ok:
        if not quiet:
            click.echo(f"ok       {target}")
        for warning in scenario.warnings:
            click.echo(_indent(f"warning: {warning}"))
    for target, file_problems in problems:
        click.echo(f"invalid  {target}", err=True)
        for problem in file_problems:
            click.echo(_indent(str(problem)), err=True)
    count = sum(len(p) for _, p in problems)
    summary = f"{len(ok)} valid, {len(problems)} invalid" + (f" ({count} problem{'s' if count != 1 else ''})" if count else "")
    click.echo(summary, err=bool(problems))
    if problems:
        return EXIT_INVALID


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


@click.command()
@library_option
@click.argument("name", shell_complete=complete_scenarios)
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value (YAML-typed), e.g. parameters.threads=8.")
@click.option("--output", "-o", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def show(name: str, overrides: tuple[str, ...], output: str) -> None:
    """Print the fully resolved scenario (after extends and --set), even an invalid one, then its problems.

    What the extends chain did to the parent's checks (removed, replaced, changed) and the warnings of
    `scenario validate` are printed as comments above it. Exit 2 when the scenario is invalid."""

    found = inspect(name, current_library(), overrides)
    if found.resolved is None:
        raise ScenarioError(list(found.problems))
    data = named_checks(thaw(found.resolved.data))
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(show_header(found.resolved), nl=False)
        click.echo(yaml.safe_dump(data, sort_keys=False, width=120), nl=False)
    if found.problems:
        click.echo(f"# invalid: {len(found.problems)} problem{'s' if len(found.problems) != 1 else ''}", err=True)
        for problem in found.problems:
            click.echo(_indent(str(problem)), err=True)
        return EXIT_INVALID


def named_checks(data: dict) -> dict:
    """Each check with its identity as `name` first: what a variant's `remove`/`replace` and JUnit call it."""
    if isinstance(data.get("checks"), list):
        data["checks"] = [{"name": check_name(c), **c} if isinstance(c, dict) else c for c in data["checks"]]
    return data


def show_header(resolved) -> str:
    """`# resolved from: child <- parent`, each check edit of the chain, each warning: comments above the YAML."""
    lines = [f"# resolved from: {' <- '.join(p.stem for p in resolved.files)}"]
    lines += [f"# check {edit}" for edit in resolved.edits]
    lines += [f"# warning: {warning.message} ({warning.location})" for warning in resolved.warnings]
    return "\n".join(lines) + "\n"


@click.command()
@library_option
@click.argument("name", shell_complete=complete_scenarios)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=False,
              help="Directory to write one file per object (default: print to stdout).")
@click.option("--executor", "executor_name", help="Render for this executor (default: the scenario's first).")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value before rendering.")
def render(name: str, out_dir: Path | None, executor_name: str | None, overrides: tuple[str, ...]) -> None:
    """Render a scenario: Kubernetes objects (one file each, stable names) or the local process plan."""

    scenario = validate_scenario(name, current_library(), overrides)

    executor_name = pick_executor(scenario, executor_name)
    scenario = expand_attempts(for_executor(scenario, executor_name, current_library(), overrides))
    executor = get_executor(executor_name)
    plan = executor.plan(scenario, out_dir)
    if out_dir is not None:
        for path in plan.files:
            click.echo(str(path))
        return
    click.echo(yaml.safe_dump_all(list(plan.documents), sort_keys=False, width=120), nl=False)


@click.command("schema")
def schema_command() -> None:
    """Print the scenario JSON Schema (point your editor's YAML language server at it)."""

    click.echo(schema_text(), nl=False)


@click.command()
@click.argument("parser_name", metavar="PARSER", required=False, shell_complete=complete_parsers)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Parser option (YAML-typed), e.g. min_bytes=268435456.")
@click.option("--list", "list_catalog", is_flag=True, help="List the metrics and options each parser declares (or PARSER's).")
def parse(parser_name: str | None, file: str | None, as_json: bool, options: tuple[str, ...], list_catalog: bool) -> None:
    """Print the metrics a parser reads from a log file ('-' for stdin); with --list, the parsers' metric catalog."""
    from tabulate import tabulate  # only the commands that print a table: validate does not

    if list_catalog:
        click.echo(_catalog_text(parser_name, as_json))
        return
    if not parser_name or not file:
        raise click.UsageError("give PARSER and FILE, or --list")
    parsed_options = {}
    for option in options:
        key, _, value = option.partition("=")
        parsed_options[key] = yaml.safe_load(value) if value else True
    with time_budget(PARSE_BUDGET_S, "scenario parse"):  # stdin can be endless (< /dev/zero)
        if file == "-":
            result = parse_lines(parser_name, bounded_lines(sys.stdin), "<stdin>", parsed_options)
        else:
            result = parse_file(parser_name, file, parsed_options)
    if as_json:
        click.echo(json.dumps({
            "parser": result.parser, "source": result.source,
            "metrics": {m.name: {"value": m.value, "unit": m.unit, "better": m.better, "kind": m.kind} for m in result.metrics.values()},
            "info": dict(result.info),
            "implausible": dict(result.implausible),
            "series": {s.name: {"columns": list(s.columns), "rows": [list(r) for r in s.rows]} for s in result.series.values()},
        }, indent=2, default=str))
        return
    click.echo(tabulate([[m.name, m.value, m.unit, m.better or "-", m.kind] for m in result.metrics.values()],
                        headers=["metric", "value", "unit", "better", "kind"]))
    for reason in result.implausible.values():
        click.echo(f"no measurement: {reason}")
    for key, value in result.info.items():
        click.echo(f"# {key}: {value}")


def _catalog_text(parser_name: str | None, as_json: bool) -> str:
    from tabulate import tabulate  # only the commands that print a table: validate does not

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

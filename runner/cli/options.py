"""Options and helpers shared by the command modules."""
from __future__ import annotations

import click

from runner.base.errors import Problem, ScenarioError
from runner.parse.logs import parser_names
from runner.scenario.overlay import runs_on
from runner.scenario.resolve import Library, scenarios_dir

_LIBRARY_KEY = "scenario-runner.library"


def _remember_library(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().meta[_LIBRARY_KEY] = value


library_option = click.option(
    "--library", metavar="DIR", type=click.Path(file_okay=False), expose_value=False, is_eager=True, callback=_remember_library,
    help="The scenario library (default: $SCENARIO_PATH, else ./scenarios).")


def current_library():
    """The Library named by --library (on the group or the command), else $SCENARIO_PATH, else ./scenarios."""

    ctx = click.get_current_context(silent=True)
    chosen = ctx.find_root().meta.get(_LIBRARY_KEY) if ctx is not None else None
    return Library(scenarios_dir(chosen))


def complete_scenarios(ctx, param, incomplete):
    return [name for name in current_library().names() if name.startswith(incomplete)]


def complete_parsers(ctx, param, incomplete):
    return [name for name in parser_names() if name.startswith(incomplete)]


def pick_executor(scenario, asked: str | None) -> str:
    """The executor a command uses: the one asked for, which the scenario must declare, else its first."""
    name = asked or scenario.default_executor
    if not runs_on(scenario, name):
        raise ScenarioError(Problem(f"scenario {scenario.name} does not run on {name!r}; it declares {', '.join(scenario.executors)}",
                                    scenario.sources.with_path(("executors",)), "pick one of those with --executor"))
    return name

"""Options shared by the command modules (cli.py, cli_records.py)."""
from __future__ import annotations

import click

_LIBRARY_KEY = "scenario-runner.library"


def _remember_library(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().meta[_LIBRARY_KEY] = value


library_option = click.option(
    "--library", metavar="DIR", type=click.Path(file_okay=False), expose_value=False, is_eager=True, callback=_remember_library,
    help="The scenario library (default: $SCENARIO_PATH, else ./scenarios).")


def current_library():
    """The Library named by --library (on the group or the command), else $SCENARIO_PATH, else ./scenarios."""
    from .resolve import Library, scenarios_dir

    ctx = click.get_current_context(silent=True)
    chosen = ctx.find_root().meta.get(_LIBRARY_KEY) if ctx is not None else None
    return Library(scenarios_dir(chosen))


class ReporterChoice(click.Choice):
    """The registered reporters' names, looked up when first needed (importing the reporters costs a little)."""

    def __init__(self) -> None:
        super().__init__([])

    @property
    def choices(self):
        from .report import reporter_names

        return reporter_names()

    @choices.setter
    def choices(self, value) -> None:
        pass

"""The `scenario` command line. Thin: parse options, call the pipeline stages, map errors to exit codes in one place.

Each command lives in the module that COMMANDS names and is imported only when it runs (pip's commands table):
`scenario validate` does not load the run pipeline, nor `scenario --help` anything but this."""
from __future__ import annotations

import gc
import importlib
import os
import sys

import click

from runner.base.errors import EXIT_INFRA, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_PASS, RunnerError, ScenarioError
from runner.cli.options import library_option

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
COMMANDS = {  # name -> module:attribute, in the order `scenario --help` lists them
    "list": "runner.cli.scenarios:list_command",
    "validate": "runner.cli.scenarios:validate",
    "show": "runner.cli.scenarios:show",
    "diff": "runner.cli.diff:diff_command",
    "render": "runner.cli.scenarios:render",
    "schema": "runner.cli.scenarios:schema_command",
    "parse": "runner.cli.scenarios:parse",
    "run": "runner.cli.run:run",
    "cleanup": "runner.cli.run:cleanup",
    "rehearse": "runner.cli.rehearse:rehearse",
    "judge": "runner.cli.judge:judge_command",
    "history": "runner.cli.records:history",
    "compare": "runner.cli.records:compare",
    "report": "runner.cli.records:report",
}


class CommandTable(click.Group):
    """A group whose commands are imported by name from COMMANDS when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        """A command returns its exit code (a verdict's, a comparison's); here it becomes the process's, also under
        click's own standalone mode (tests' CliRunner)."""
        code = super().invoke(ctx)
        if isinstance(code, int) and code != EXIT_PASS:
            ctx.exit(code)
        return code


@click.group(cls=CommandTable, context_settings=CONTEXT)
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


# --- entry point -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit code of every outcome is decided here (the codes are in runner.base.errors)."""
    try:
        code = cli.main(args=argv, prog_name="scenario", standalone_mode=False)
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
    return code if isinstance(code, int) else EXIT_PASS


def entry() -> None:
    code = main()
    # The process ends here. Python's shutdown would first run a full collection over every object the command
    # made (~75,000 after `scenario validate`, 14,000 of them cyclic garbage the raised threshold left): 20-60 ms
    # that free memory the OS takes back anyway. Frozen objects are not collected; the command's files are closed.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()

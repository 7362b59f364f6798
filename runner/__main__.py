"""`python -m runner` is the `scenario` command."""
from runner.cli.main import entry

entry()

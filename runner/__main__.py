"""`python -m runner` is the `scenario` command."""
from .cli import entry

entry()

"""The time budget of reading logs: parsing and judging a run count against the run's own time.

`with time_budget(seconds, what):` sets a deadline for the code inside it (a context variable, so callers deep
down need no extra argument); long loops over log lines call `spend(path)`, which raises BudgetSpent naming the
log once the deadline has passed. The run flow gives parsing and judging the time the run has left, and never
less than PARSE_BUDGET_MIN_S (a run that used all its time still has its logs read); `scenario parse` gets
PARSE_BUDGET_S. Every parser and log check is linear in its input, so only a huge log can spend the budget.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

PARSE_BUDGET_MIN_S = 10.0   # parsing and judging a run, at the least, whatever the run itself used
PARSE_BUDGET_S = 120.0      # `scenario parse` on one file


class BudgetSpent(RuntimeError):
    """The deadline of the work in progress has passed while reading `path`."""

    def __init__(self, path: object, seconds: float, what: str):
        self.path, self.seconds, self.what = str(path), seconds, what
        super().__init__(f"{what} stopped reading {path}: its time budget of {seconds:.0f} s is spent")


@dataclass(frozen=True)
class _Deadline:
    """When the current time budget runs out, and what it is for (named in the error)."""

    at: float
    seconds: float
    what: str


_CURRENT: ContextVar[_Deadline | None] = ContextVar("log_budget", default=None)


@contextmanager
def time_budget(seconds: float, what: str = "parsing and judging") -> Iterator[None]:
    token = _CURRENT.set(_Deadline(time.monotonic() + seconds, seconds, what))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def spend(path: object) -> None:
    """Raise BudgetSpent when the current deadline (if any) has passed."""
    deadline = _CURRENT.get()
    if deadline is not None and time.monotonic() > deadline.at:
        raise BudgetSpent(path, deadline.seconds, deadline.what)

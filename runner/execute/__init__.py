"""Pipeline stage "execute": executors, registered by name with `@executor("local")`; this package's import is
the one table that loads them. The contract between the stage and its executors is in contract.py; schedule.py is
the one run loop every executor drives. Optional dependencies (the kubernetes client) are imported only when an
executor runs."""
from __future__ import annotations

from runner.base.errors import Location, Problem, ScenarioError
from runner.execute.kubernetes import executor as _kubernetes  # noqa: F401  (importing registers it)
from runner.execute.local import executor as _local  # noqa: F401  (importing registers it; a run loads its session)
from runner.execute.registry import EXECUTORS


def executor_names() -> list[str]:
    return sorted(EXECUTORS)


def get_executor(name: str):
    if name not in EXECUTORS:
        raise ScenarioError(Problem(EXECUTORS.unknown_message(name), Location("--executor")))
    return EXECUTORS[name]()

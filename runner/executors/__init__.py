"""Executors, registered by name with `@executor("local")`. Importing the package registers them all;
optional dependencies (the kubernetes client) are imported only when an executor runs."""
from __future__ import annotations

from ..errors import Location, Problem, ScenarioError
from .base import EXECUTORS, executor  # noqa: F401  (executor: for executor modules written before base.py)


def _load() -> None:
    from . import kubernetes, local  # noqa: F401


def executor_names() -> list[str]:
    _load()
    return sorted(EXECUTORS)


def get_executor(name: str):
    _load()
    if name not in EXECUTORS:
        raise ScenarioError(Problem(EXECUTORS.unknown_message(name), Location("--executor")))
    return EXECUTORS[name]()

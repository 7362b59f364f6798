"""Executors, registered by name with `@executor("local")`. Importing the package registers them all;
optional dependencies (the kubernetes client) are imported only when an executor runs."""
from __future__ import annotations

from ..errors import RunnerError
from ..registry import Registry

EXECUTORS: Registry = Registry("executor")
executor = EXECUTORS.register


def _load() -> None:
    from . import kubernetes, local  # noqa: F401


def executor_names() -> list[str]:
    _load()
    return sorted(EXECUTORS)


def get_executor(name: str):
    _load()
    if name not in EXECUTORS:
        raise RunnerError(EXECUTORS.unknown_message(name))
    return EXECUTORS[name]()

"""The executor registry, apart from the package that loads the executors: executor modules import this,
so the package's __init__ imports them one way."""
from __future__ import annotations

from runner.base.registry import Registry

EXECUTORS: Registry = Registry("executor")
executor = EXECUTORS.register

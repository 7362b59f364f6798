"""The files the package ships, read with importlib.resources: the published scenario schema, the CRD schema
subsets rendered objects are checked against, and the Kubernetes templates.

Their source is the top-level schema/ and templates/; runner/data/schema and runner/data/templates are
symlinks to them, so a checkout, an editable install and an installed wheel read the same files."""
from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from runner.base.errors import RunnerError


def data_dir(name: str) -> Path:
    """runner/data/<name> as a directory on disk."""
    path = Path(str(files("runner") / "data" / name))
    if not path.is_dir():
        raise RunnerError(f"the installed scenario-runner package has no data/{name} ({path})",
                          hint="reinstall the package: `make setup` in a checkout, or pip install the wheel again")
    return path


def schema_dir() -> Path:
    return data_dir("schema")


def template_dir() -> Path:
    return data_dir("templates") / "kubernetes"


TEMPLATE_SUFFIX = ".yaml.j2"


def template_names() -> list[str]:
    """The Kubernetes templates a workload can name (`template:`); `_name.yaml.j2` files are partials."""
    directory = template_dir()
    try:
        stamp = directory.stat().st_mtime_ns  # changes when a template is added, removed or renamed
    except OSError:
        return []
    return list(_template_names(directory, stamp))


@lru_cache(maxsize=8)
def _template_names(directory: Path, stamp: int) -> tuple[str, ...]:
    return tuple(sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in directory.glob(f"*{TEMPLATE_SUFFIX}") if not p.name.startswith("_")))

"""The resolved scenario as immutable records, built once by the validate stage."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from runner.scenario.load import SourceMap

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_SCALE = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str | float | int | None, default: float | None = None) -> float | None:
    if duration is None:
        return default
    if isinstance(duration, (int, float)):
        return float(duration)
    match = _DURATION.match(duration.strip())
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    return float(match.group(1)) * _SCALE[match.group(2)]


_SCALARS = (str, int, float, type(None))


def freeze(value: Any) -> Any:
    """Deep read-only copy: dicts become mapping proxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again (for YAML/JSON output)."""
    if isinstance(value, _SCALARS):  # most values: answered before the (slower) abstract Mapping check
        return value
    if isinstance(value, (dict, MappingProxyType)) or isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Platform:
    """The instance type the scenario targets and what each node has (GPUs, EFA interfaces)."""

    instance_type: str = "local"
    gpus_per_node: int = 0
    efa_per_node: int = 0
    arch: str = "amd64"
    namespace: str = "scenario-runner"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple = ()
    hugepages_2mi: str = ""
    memory: str = ""
    shm_size: str = ""
    nodes: tuple[str, ...] = ()   # every pod pinned to these nodes (kubernetes.io/hostname)


@dataclass(frozen=True)
class Ready:
    """When a service counts as ready: a port that accepts connections, an HTTP 200, or a log line."""

    port: str = ""
    log: str = ""
    http_port: str = ""
    http_path: str = "/health"
    timeout_s: float | None = None


@dataclass(frozen=True)
class ParserRef:
    """The parser that reads a workload's log, its options, and the file it reads (default: the primary log)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""


@dataclass(frozen=True)
class Fallback:
    """The command a workload runs when its own program is not on PATH (the local executor only)."""

    command: tuple[str, ...] | str
    ranks: int | None = None


@dataclass(frozen=True)
class Workload:
    """One workload of a scenario: what it runs, as how many ranks, after what, and how it is read."""

    name: str
    kind: str = "job"
    template: str = ""
    role: str = ""
    description: str = ""
    image: str = ""
    command: tuple[str, ...] | str = ()
    shell: bool = False
    fallback: Fallback | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    args: Mapping[str, Any] = field(default_factory=dict)
    ranks: int = 1
    nodes: int = 1
    replicas: int = 1
    group_size: int = 1
    node: str = "cpu"
    resources: Mapping[str, Any] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ready: Ready | None = None
    after: tuple[str, ...] = ()
    parser: ParserRef | None = None
    timeout_s: float | None = None
    repeat: int = 1           # a job: attempts in a row within the run (runner.delta.expand_attempts)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    informational: str = ""  # why this workload has no check
    attempt_of: str = ""      # set on an attempt: the workload it repeats (the name checks and metrics use)

    @property
    def is_service(self) -> bool:
        return self.kind in ("service", "group", "disaggregated")


@dataclass(frozen=True)
class Baseline:
    """The scenario a check compares against, the metric taken from it, and the factor applied."""

    scenario: str
    metric: str = ""
    factor: float = 1.0
    run: str = ""


@dataclass(frozen=True)
class Check:
    """One check of the verdict: a metric against a threshold or baseline, or a log pattern."""

    name: str
    kind: str  # performance | correctness
    metric: str = ""  # "<workload>.<metric>"
    op: str = ""
    value: Any = None
    baseline: Baseline | None = None
    log: str = ""
    contains: str = ""
    regex: str = ""
    count: int | str = 1
    absent: bool = False
    description: str = ""
    skip: str = ""  # the reason this check is reported SKIP instead of judged (hardware the executor lacks)
    role: str = ""  # log checks: only the logs of this role's pods (a DisaggregatedSet role)
    statistic: str = "median"  # with repeats: what of the samples is judged
    fallback: str = ""  # what a failure of this check means the run fell back to (reported as FALLBACK)

    @property
    def workload(self) -> str:
        return self.log or self.metric.split(".", 1)[0]

    @property
    def metric_name(self) -> str:
        return self.metric.split(".", 1)[1] if "." in self.metric else ""


@dataclass(frozen=True)
class Scenario:
    """A resolved, validated scenario: what every later stage reads, with the source location of each value."""

    name: str
    layer: str
    description: str
    tags: tuple[str, ...]
    executors: tuple[str, ...]
    platform: Platform
    parameters: Mapping[str, Any]
    images: Mapping[str, str]
    registry: str
    env: Mapping[str, str]
    workloads: tuple[Workload, ...]
    checks: tuple[Check, ...]
    run_timeout_s: float | None
    ready_timeout_s: float | None
    cleanup_timeout_s: float
    matrix: Mapping[str, tuple]
    waivers: tuple[Mapping[str, str], ...]
    extends: str
    files: tuple[Path, ...]
    data: Mapping[str, Any]  # the resolved document, read-only, for `show` and the run record
    sources: SourceMap = field(compare=False, repr=False, default_factory=SourceMap)
    proves: str = ""
    repeat: int = 1
    check_edits: tuple = ()   # runner.scenario.checks.CheckEdit: what the extends chain removed, replaced or changed
    warnings: tuple = ()      # runner.base.errors.Problem: valid, but worth a reviewer's look (a weakened check)

    @property
    def default_executor(self) -> str:
        return self.executors[0]

    @property
    def path(self) -> Path:
        return self.files[0]

    def workload(self, name: str) -> Workload:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise KeyError(name)

    def image_ref(self, key: str) -> str:
        ref = self.images.get(key, key)
        return ref.replace("{{ registry }}", self.registry).replace("{{registry}}", self.registry)


def attempt_name(workload: str, attempt: int) -> str:
    """The name attempt `attempt` (from 1) of a repeated job runs under: its objects, processes and log folder."""
    return f"{workload}-r{attempt}"


def env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _command(value: Any) -> tuple[str, ...] | str:
    if isinstance(value, str):
        return value
    return tuple(str(v) for v in value or ())

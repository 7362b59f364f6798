"""What every reporter gets and shares: the run report (one frozen value, gathered before any reporter runs),
the registry reporters join by name, and the formatting of values, margins and verdict rows.

A reporter is `reporter(report: RunReport) -> str`. Reporters only format: they read no file and query no
history; the pipeline (runner.flows.run) or `scenario report` (runner.flows.regenerate) builds the RunReport."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from runner.base.registry import Registry
from runner.base.units import format_value
from runner.scenario.model import freeze
from runner.verdict.judge import CheckResult, Verdict, WorkloadMetrics


@dataclass(frozen=True)
class BaselineMetrics:
    """The baseline run a serving workload is compared with: a label ("<scenario> <run id>") and that run's
    metrics of the baseline workload, as metrics.json holds them ({name: {"value", "unit", ...}})."""

    label: str
    metrics: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class RunReport:
    """One run as reporters see it."""

    verdict: Verdict
    metrics: Mapping[str, WorkloadMetrics]
    run_id: str = ""
    record: str = ""                                         # the record folder (its final path)
    description: str = ""                                    # the scenario's metadata.description
    run: Mapping[str, Any] = field(default_factory=dict)     # run.json: executor, times, versions, facts, variant, sweep
    serving_baselines: Mapping[str, BaselineMetrics] = field(default_factory=dict)  # workload -> its baseline run

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", freeze(dict(self.run)))
        object.__setattr__(self, "serving_baselines", freeze(dict(self.serving_baselines)))


Reporter = Callable[[RunReport], str]
REPORTERS: Registry = Registry("reporter")
reporter = REPORTERS.register


def format_margin(result: CheckResult) -> str:
    if result.margin is None:
        return "-"
    sign = "+" if result.margin >= 0 else ""
    pct = f" ({sign}{result.margin_pct:.1f}%)" if result.margin_pct is not None else ""
    return f"{sign}{format_value(result.margin)}{pct}"


VERDICT_HEADERS = ["check", "measured", "threshold", "margin", "status", "note"]
STATUS_COLUMN = VERDICT_HEADERS.index("status")


def verdict_rows(verdict: Verdict) -> list[list[str]]:
    """One row per result under VERDICT_HEADERS; the check column is the check's name, whatever its status."""
    rows = []
    for result in verdict.results:
        threshold = f"{result.op} {format_value(result.threshold)}" if result.op else "-"
        rows.append([result.name, _measured(result), threshold,
                     format_margin(result), result.status, first_line(result.warning or result.message, limit=0)])
    return rows


def _measured(result: CheckResult) -> str:
    """The value, and with repeats which statistic it is, of how many samples, and their spread."""
    text = format_value(result.measured, result.unit)
    if len(result.samples) > 1:
        text += f" ({result.statistic} of {len(result.samples)}, spread {format_value(result.spread)})"
    return text


def first_line(text: str, limit: int = 100) -> str:
    """The first line, cut at `limit` characters (0: whole; the verdict table wraps its notes instead of cutting)."""
    line = (text or "").splitlines()[0] if text else ""
    return line if not limit or len(line) <= limit else line[: limit - 1] + "…"


def shown_path(path: str) -> str:
    """A path below the current folder as a relative path (what the user would type), others as they are."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative

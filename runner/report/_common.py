"""What the record reporters share: key metrics, the environment rows of run.json, times, clean text.

Reporters only format: these helpers pick from the RunReport, they decide nothing.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from runner.base.units import format_value
from runner.scenario.model import thaw
from runner.verdict.judge import CheckStatus, Verdict, WorkloadMetrics

STATUS_ICON = {CheckStatus.PASS: "✅", CheckStatus.FAIL: "❌", CheckStatus.FALLBACK: "🐢", CheckStatus.ERROR: "⛔", CheckStatus.TIMEOUT: "⏱️",
               CheckStatus.INTERRUPTED: "⏹️", CheckStatus.SKIP: "⏭️"}


def metric_checks(verdict: Verdict) -> list[tuple[str, str]]:
    """(workload, metric) of the metric checks, in check order: the run's key metrics."""
    keys: list[tuple[str, str]] = []
    for result in verdict.results:
        if result.kind != "infrastructure" and result.metric and not result.metric.startswith("log:"):
            if (result.workload, result.metric) not in keys:
                keys.append((result.workload, result.metric))
    return keys


def key_metrics(verdict: Verdict, metrics: Mapping[str, WorkloadMetrics]) -> list[tuple[str, str]]:
    """(`workload.metric`, formatted value) for the metrics the checks use; without checks, those with a direction."""
    keys = metric_checks(verdict)
    if not keys:
        keys = [(w, m.name) for w, entry in metrics.items() if entry.result for m in entry.result.metrics.values() if m.better]
    rows = []
    for workload, name in keys:
        entry = metrics.get(workload)
        metric = entry.result.metrics.get(name) if entry and entry.result else None
        rows.append((f"{workload}.{name}", format_value(metric.value, metric.unit) if metric else "missing"))
    return rows


def environment(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Labelled facts of run.json: versions, commit, executor, host/cluster/nodes, images, tools."""
    facts = run.get("facts") or {}
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            rows.append((label, value if isinstance(value, str) else json.dumps(thaw(value), sort_keys=True, default=str)))

    add("scenario runner", run.get("runner_version"))
    add("scenarios commit", run.get("scenarios_commit"))
    add("executor", run.get("executor"))
    for key, value in facts.items():
        if key in ("outcomes", "run_state", "run_message", "programs") or (key == "nodes" and isinstance(value, Mapping)):
            continue  # emulated nodes have a table of their own
        add(key.replace("_", " "), value)
    for key, value in (run.get("tool_versions") or {}).items():
        add(f"tool {key}", value)
    for key, value in (run.get("images") or {}).items():
        add(f"image {key}", value)
    for workload, program in (facts.get("programs") or {}).items():
        if isinstance(program, Mapping):
            add(f"program {workload}", " ".join(str(v) for v in (program.get("launcher"), program.get("program")) if v))
    add("overrides", " ".join(run.get("overrides") or []))
    add("variant", ", ".join(f"{k}={v}" for k, v in (run.get("variant") or {}).items()))
    add("sweep", run.get("sweep"))
    return rows


def when(run: Mapping[str, Any]) -> str:
    started = str(run.get("started") or "")
    text = started.replace("T", " ").replace("+00:00", " UTC")
    duration = run.get("duration_s")
    return f"{text} ({duration:.1f} s)" if isinstance(duration, (int, float)) and text else text


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: Any) -> str:
    """No terminal escapes or control characters (invalid in XML, noise in Markdown and HTML)."""
    return _CONTROL.sub("", "" if text is None else str(text))

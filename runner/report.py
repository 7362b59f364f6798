"""Pipeline stage "report": reporters only format; the verdict is decided before them.

Reporters are registered by name (`table`, `json`, ...) and turn a Verdict (plus the
metrics) into text. The run record writes several; the terminal shows one.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from tabulate import tabulate

from .judge import CheckResult, Verdict, WorkloadMetrics
from .record import VERDICT_FORMAT, to_jsonable
from .registry import Registry

REPORTERS: Registry = Registry("reporter")
reporter = REPORTERS.register
Reporter = Callable[[Verdict, Mapping[str, WorkloadMetrics], Mapping[str, Any]], str]


def format_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit and unit != "count" else text


def format_margin(result: CheckResult) -> str:
    if result.margin is None:
        return "-"
    sign = "+" if result.margin >= 0 else ""
    pct = f" ({sign}{result.margin_pct:.1f}%)" if result.margin_pct is not None else ""
    return f"{sign}{format_value(result.margin)}{pct}"


def verdict_rows(verdict: Verdict) -> list[list[str]]:
    rows = []
    for result in verdict.results:
        threshold = f"{result.op} {format_value(result.threshold)}" if result.op else "-"
        rows.append([result.workload, result.metric or result.name, format_value(result.measured, result.unit), threshold,
                     format_margin(result), result.status, _first_line(result.message)])
    return rows


def _first_line(text: str, limit: int = 100) -> str:
    line = (text or "").splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@reporter("table")
def table(verdict: Verdict, metrics: Mapping[str, WorkloadMetrics], meta: Mapping[str, Any]) -> str:
    headers = ["workload", "metric", "measured", "threshold", "margin", "status", "note"]
    body = tabulate(verdict_rows(verdict), headers=headers, tablefmt="simple") if verdict.results else "(no checks)"
    details = _details(verdict)
    record = f"\nrecord: {shown_path(meta['record'])}" if meta.get("record") else ""
    return f"{body}\n{details}{verdict.scenario}: {verdict.summary}{record}"


def shown_path(path: str) -> str:
    """A path below the current folder as a relative path (what the user would type), others as they are."""
    import os

    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _details(verdict: Verdict) -> str:
    lines = []
    for result in verdict.results:
        if result.status in ("ERROR", "TIMEOUT") and result.message and "\n" in result.message:
            lines.append(f"\n{result.workload} ({result.status}):\n" + "\n".join("  " + l for l in result.message.splitlines()))
    return ("\n".join(lines) + "\n\n") if lines else "\n"


def verdict_document(verdict: Verdict, meta: Mapping[str, Any]) -> dict:
    return {
        "format": VERDICT_FORMAT,
        "scenario": verdict.scenario,
        "run_id": meta.get("run_id", ""),
        "status": verdict.status,
        "exit_code": verdict.exit_code,
        "summary": verdict.summary,
        "workloads": dict(verdict.workloads),
        "results": [to_jsonable(r) for r in verdict.results],
    }


@reporter("json")
def json_report(verdict: Verdict, metrics: Mapping[str, WorkloadMetrics], meta: Mapping[str, Any]) -> str:
    return json.dumps(verdict_document(verdict, meta), indent=2, default=str)


def render_report(name: str, verdict: Verdict, metrics: Mapping[str, WorkloadMetrics], meta: Mapping[str, Any]) -> str:
    return REPORTERS[name](verdict, metrics, meta)


from . import reporters  # noqa: E402,F401  (junit.xml, summary.md, report.html register themselves)

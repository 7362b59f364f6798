"""The sweep record's summary.md and report.html: one row per variant, the best one marked, a bar per variant."""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from tabulate import tabulate

from .base import format_value
from . import plots
from .html_report import Plot, badge, figure_html, page, table as html_table
from .markdown import table as md_table

if TYPE_CHECKING:
    from ..sweep import SweepResult


def _axis_label(path: str) -> str:
    return path.split(".")[-1]


def sweep_rows(result: SweepResult) -> tuple[list[str], list[list[str]]]:
    headers = ["best", "#"] + [_axis_label(a) for a in result.axes] + list(result.key_metrics) + ["verdict", "run"]
    rows = []
    for run in result.variants:
        rows.append(["*" if run.index == result.best else "", str(run.index + 1)]
                    + [str(run.variant.get(a, "")) for a in result.axes]
                    + [format_value(run.metrics.get(k), run.units.get(k, "")) for k in result.key_metrics]
                    + [run.status, run.run_id or "-"])
    return headers, rows


def sweep_table(result: SweepResult) -> str:
    headers, rows = sweep_rows(result)
    lines = [tabulate(rows, headers=headers, tablefmt="simple"), ""]
    if result.best is not None:
        best = result.variants[result.best]
        value = format_value(best.metrics.get(result.best_metric), best.units.get(result.best_metric, ""))
        lines.append(f"best: variant {best.index + 1} ({best.label}): {result.best_metric} {value} ({result.better} is better)")
    elif result.best_metric:
        lines.append(f"best: none (no passing variant with a value of {result.best_metric}{'' if result.better else ' or no direction'})")
    counts: dict[str, int] = {}
    for run in result.variants:
        counts[run.status] = counts.get(run.status, 0) + 1
    lines.append(f"{result.scenario} sweep {result.sweep_id} ({result.state}): "
                 + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()))
    lines.append(f"sweep record: {result.record}")
    return "\n".join(lines)


def _rows(result) -> tuple[list[str], list[list[str]]]:
    return sweep_rows(result)


def _best_line(result) -> str:
    if result.best is None:
        return f"no best variant (no passing variant with a value of {result.best_metric or 'a performance check metric'})"
    best = result.variants[result.best]
    value = format_value(best.metrics.get(result.best_metric), best.units.get(result.best_metric, ""))
    return f"best: variant {best.index + 1} ({best.label}), {result.best_metric} {value} ({result.better} is better), run {best.run_id}"


def sweep_markdown(result) -> str:
    headers, rows = _rows(result)
    lines = [f"### Sweep of {result.scenario}: {len(result.variants)} variants ({result.state})", "",
             f"sweep `{result.sweep_id}` · " + ", ".join(f"`{axis}` in {list(values)}" for axis, values in result.axes.items()), ""]
    lines += md_table(headers, rows) + ["", _best_line(result)]
    return "\n".join(lines) + "\n"


def sweep_html(result) -> str:
    headers, rows = _rows(result)
    body = [f"<h1>Sweep of {escape(result.scenario)} {badge(_overall(result))}</h1>",
            f'<p class="sub">sweep <code>{escape(result.sweep_id)}</code> · {len(result.variants)} variants · {escape(result.state)}</p>',
            f'<p class="sub">{escape(_best_line(result))}</p>', "<h2>Variants</h2>",
            html_table(headers, rows, status_column=len(headers) - 2)]
    reason = plots.missing()
    body.append("<h2>Plots</h2>")
    if reason:
        body.append(f'<p class="note">No plots: {escape(reason)}.</p>')
    else:
        labels = [run.label or str(run.index + 1) for run in result.variants]
        for key in result.key_metrics:
            values = [run.metrics.get(key) for run in result.variants]
            if not any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                continue
            unit = next((run.units.get(key) for run in result.variants if run.units.get(key)), "")
            highlight = result.best if key == result.best_metric else None
            title = f"{key} per variant" + (" (best in green)" if highlight is not None else "")
            body.append(figure_html(Plot(title, plots.bars(title, labels, values, unit, highlight=highlight))))
    return page(f"sweep {result.scenario} {result.sweep_id}", body)


def _overall(result) -> str:
    if result.state == "interrupted":
        return "INTERRUPTED"
    statuses = {run.status for run in result.variants}
    for status in ("ERROR", "TIMEOUT", "FAIL"):
        if status in statuses:
            return status
    return "PASS" if statuses == {"PASS"} else "SKIP"

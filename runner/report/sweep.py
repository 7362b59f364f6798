"""The sweep record's summary.md and report.html: one row per variant, the best one marked, every sample plotted."""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from tabulate import tabulate

from runner.base.units import format_value
from runner.report import plots
from runner.report.html_report import Plot, badge, figure_html, page
from runner.report.html_report import table as html_table
from runner.report.markdown import table as md_table
from runner.verdict.judge import CheckStatus
from runner.verdict.ranking import best_line, numbers, ranked

if TYPE_CHECKING:
    from runner.records.sweeps import SweepResult


def _axis_label(path: str) -> str:
    return path.split(".")[-1]


def _mark(result: SweepResult, run) -> str:
    if run.index == result.best:
        return "*"
    return "=" if run.index in result.tied else ""


def _cell(run, key: str) -> str:
    """The median, and with repeats its samples' range."""
    samples = run.samples.get(key) or ()
    text = format_value(run.metrics.get(key), run.units.get(key, ""))
    if len(samples) > 1 and numbers(samples):
        text += f" [{format_value(min(samples))}..{format_value(max(samples))}]"
    return text


def sweep_rows(result: SweepResult) -> tuple[list[str], list[list[str]]]:
    order = {run.index: i + 1 for i, run in enumerate(ranked(result.variants, result.best_metric, result.better))} if result.best_metric else {}
    headers = ["best", "rank", "#"] + [_axis_label(a) for a in result.axes] + list(result.key_metrics) + ["verdict", "run"]
    rows = []
    for run in result.variants:
        rows.append([_mark(result, run), str(order.get(run.index, "-")), str(run.index + 1)]
                    + [str(run.variant.get(a, "")) for a in result.axes]
                    + [_cell(run, k) for k in result.key_metrics]
                    + [run.status, run.run_id or "-"])
    return headers, rows


def sweep_table(result: SweepResult) -> str:
    headers, rows = sweep_rows(result)
    lines = [tabulate(rows, headers=headers, tablefmt="simple"), "", best_line(result)]
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
    return best_line(result)


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
            samples = [_numeric_samples(run, key) for run in result.variants]
            if not any(samples):
                continue
            unit = next((run.units.get(key) for run in result.variants if run.units.get(key)), "")
            highlight = result.best if key == result.best_metric else None
            tied = result.tied if key == result.best_metric else ()
            title = f"{key}: every sample per variant" + (" (best in green)" if highlight is not None else "") + \
                (" (tied outlined)" if tied else "")
            body.append(figure_html(Plot(title, plots.strips(title, labels, samples, unit, highlight=highlight, tied=tied))))
    return page(f"sweep {result.scenario} {result.sweep_id}", body)


def _numeric_samples(run, key: str) -> list[float]:
    values = run.samples.get(key) or (run.metrics.get(key),)
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _overall(result) -> str:
    if result.state == "interrupted":
        return CheckStatus.INTERRUPTED
    statuses = {run.status for run in result.variants}
    for status in (CheckStatus.ERROR, CheckStatus.TIMEOUT, CheckStatus.FALLBACK, CheckStatus.FAIL):
        if status in statuses:
            return status
    return CheckStatus.PASS if statuses == {CheckStatus.PASS} else CheckStatus.SKIP

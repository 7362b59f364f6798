"""report.html: one self-contained page (inline CSS, plots as base64 PNG, no external URL) per run.

Plots where a picture beats a table: busbw against message size for every nccl-tests-parsed workload,
Mooncake throughput, TTFT/TPOT/ITL against the baseline run for serving, per-rank UCCL-EP bandwidth.
Then the verdict table in status colours, every metric, and the run's metadata.
"""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable, Mapping, Sequence

from runner.base.units import format_value
from runner.report import plots
from runner.report._common import clean_text, environment, key_metrics, when
from runner.report.base import STATUS_COLUMN, VERDICT_HEADERS, RunReport, reporter, verdict_rows
from runner.verdict.judge import CheckStatus, Verdict, WorkloadMetrics

SERVING_METRICS = (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms"), ("ITL", "itl_ms"))
STATUS_COLOURS = {CheckStatus.PASS: ("#e6f4ea", "#137333"), CheckStatus.FAIL: ("#fce8e6", "#c5221f"),
                  CheckStatus.FALLBACK: ("#fce8e6", "#c5221f"), CheckStatus.ERROR: ("#fde7d9", "#a50e0e"),
                  CheckStatus.TIMEOUT: ("#fef7e0", "#b06000"), CheckStatus.INTERRUPTED: ("#f1f3f4", "#5f6368"), CheckStatus.SKIP: ("#f1f3f4", "#5f6368")}
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#202124;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dadce0;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px} .sub{color:#5f6368;margin:2px 0}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;font-size:15px;vertical-align:middle}
table{border-collapse:collapse;font-size:13px;margin:6px 0} th,td{border:1px solid #dadce0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f8f9fa} td.num{text-align:right;font-variant-numeric:tabular-nums} td.status{font-weight:600}
img{max-width:100%;height:auto;border:1px solid #eee} .note{background:#fef7e0;border:1px solid #f9ab00;padding:8px 12px;border-radius:4px}
pre{background:#f8f9fa;padding:8px;overflow-x:auto;font-size:12px} details{margin:6px 0} code{font-size:12px}
"""


@dataclass(frozen=True)
class Plot:
    title: str
    png: bytes
    caption: str = ""


@reporter("html")
def html_report(report: RunReport) -> str:
    verdict, metrics = report.verdict, report.metrics
    run_id = report.run_id or report.run.get("run_id", "")
    body = [_header(report, run_id), _section("Verdict", _verdict_table(verdict))]
    body.append(_section("Plots", _plots_html(report)))
    key = key_metrics(verdict, metrics)
    if key:
        body.append(_section("Key metrics", table(["metric", "value"], key)))
    body.append(_section("All metrics", _all_metrics(metrics)))
    body.append(_section("Run", table(["", ""], _run_rows(report.run, run_id) + environment(report.run))))
    return page(f"{verdict.scenario} {verdict.status} {run_id}", body)


def page(title: str, body: Iterable[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def _header(report: RunReport, run_id: str) -> str:
    verdict, description, run = report.verdict, report.description, report.run
    lines = [f"<h1>{escape(verdict.scenario)} {badge(verdict.status)}</h1>",
             f'<p class="sub">{escape(clean_text(verdict.summary))}</p>',
             f'<p class="sub">run <code>{escape(run_id)}</code> · {escape(str(run.get("executor", "")))} · {escape(when(run))}</p>']
    if description:
        lines.append(f'<p class="sub">{escape(clean_text(description))}</p>')
    return "\n".join(lines)


def badge(status: str) -> str:
    background, colour = STATUS_COLOURS.get(status, ("#f1f3f4", "#202124"))
    return f'<span class="badge" style="background:{background};color:{colour}">{escape(status)}</span>'


def _section(title: str, content: str) -> str:
    return f"<h2>{escape(title)}</h2>\n{content}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], status_column: int | None = None) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    out = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = escape(clean_text(value))
            if i == status_column:
                background, colour = STATUS_COLOURS.get(str(value), ("#fff", "#202124"))
                cells.append(f'<td class="status" style="background:{background};color:{colour}">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _verdict_table(verdict: Verdict) -> str:
    if not verdict.results:
        return "<p>(no checks)</p>"
    return table(VERDICT_HEADERS, verdict_rows(verdict), status_column=STATUS_COLUMN) + _details(verdict)


def _details(verdict: Verdict) -> str:
    long = [r for r in verdict.results if r.message and "\n" in r.message]
    return "".join(f"<details><summary>{escape(r.workload)}: {escape(r.status)}</summary><pre>{escape(clean_text(r.message))}</pre></details>"
                   for r in long)


def _all_metrics(metrics: Mapping[str, WorkloadMetrics]) -> str:
    rows, errors = [], []
    for workload, entry in metrics.items():
        if entry.error:
            errors.append(f"<p><b>{escape(workload)}</b> ({escape(entry.parser)}): {escape(clean_text(entry.error))}</p>")
        if entry.result:
            rows += [(workload, m.name, format_value(m.value, m.unit), m.better) for m in entry.result.metrics.values()]
            rows += [(workload, f"info: {k}", v, "") for k, v in entry.result.info.items()]
    content = "".join(errors) + (table(["workload", "metric", "value", "better"], rows) if rows else "<p>(no metrics)</p>")
    return f"<details><summary>{len(rows)} values</summary>{content}</details>" if len(rows) > 12 else content


def _run_rows(run: Mapping[str, Any], run_id: str) -> list[tuple[str, str]]:
    rows = [("run id", run_id), ("status", run.get("status", "")), ("started", run.get("started", "")), ("ended", run.get("ended", "")),
            ("duration", f"{run['duration_s']} s" if "duration_s" in run else "")]
    facts = run.get("facts") or {}
    if facts.get("run_state"):
        rows.append(("run state", f"{facts['run_state']} {facts.get('run_message') or ''}".strip()))
    for name, outcome in (facts.get("outcomes") or {}).items():
        if isinstance(outcome, Mapping):
            duration = f", {outcome['duration_s']} s" if outcome.get("duration_s") is not None else ""
            rows.append((f"workload {name}", f"{outcome.get('state')} (exit {outcome.get('exit_code')}{duration}) {outcome.get('message') or ''}".strip()))
    for entry in run.get("baselines") or []:
        rows.append((f"baseline {entry.get('scenario')}.{entry.get('metric')}",
                     f"run {entry.get('run_id') or '-'}: {entry.get('value') if entry.get('value') is not None else entry.get('error')}"))
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


# --- plots -----------------------------------------------------------------------------------


def _plots_html(report: RunReport) -> str:
    reason = plots.missing()
    if reason:
        return f'<p class="note">No plots: {escape(reason)}. The numbers are in the tables below.</p>'
    figures: list[Plot] = []
    errors: list[str] = []
    for build in (_nccl_plot, _mooncake_plot, _serving_plot, _uccl_plot):
        try:
            figures += build(report)
        except Exception as error:  # a plot that cannot be drawn must not cost the report
            errors.append(f"{build.__name__.strip('_')}: {type(error).__name__}: {error}")
    html = [figure_html(f) for f in figures]
    html += [f'<p class="note">{escape(e)}</p>' for e in errors]
    return "\n".join(html) or "<p>(nothing to plot for these workloads)</p>"


def figure_html(plot: Plot) -> str:
    width, height = png_size(plot.png)
    data = base64.b64encode(plot.png).decode("ascii")
    caption = f'<p class="sub">{escape(plot.caption)}</p>' if plot.caption else ""
    return (f"<h3>{escape(plot.title)}</h3>\n<img alt=\"{escape(plot.title)}\" width=\"{width}\" height=\"{height}\" "
            f'src="data:image/png;base64,{data}">{caption}')


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def _by_parser(metrics: Mapping[str, WorkloadMetrics], parser: str) -> list[tuple[str, Any]]:
    return [(name, entry.result) for name, entry in metrics.items() if entry.parser == parser and entry.result]


def _thresholds(verdict: Verdict, workloads: Iterable[str], metric_prefix: str) -> list[tuple[str, float]]:
    names = set(workloads)
    out = []
    for r in verdict.results:
        if r.workload in names and r.metric.startswith(metric_prefix) and isinstance(r.threshold, (int, float)) and r.threshold > 0:
            label = f"{r.workload}.{r.metric} {r.op} {format_value(r.threshold)}"
            if label not in [l for l, _ in out]:
                out.append((label, float(r.threshold)))
    return out


def _nccl_plot(report: RunReport) -> list[Plot]:
    verdict, metrics = report.verdict, report.metrics
    curves = []
    for name, result in _by_parser(metrics, "nccl-tests"):
        series = result.series.get("rows")
        if not series or not series.rows:
            continue
        points = sorted(zip(series.column("size_bytes"), series.column("oop_busbw_gbps"), series.column("ip_busbw_gbps")), key=lambda point: point[0])
        sizes, out_of_place, in_place = (list(values) for values in zip(*points))
        curves.append((name, sizes, out_of_place, in_place))
    if not curves:
        return []
    thresholds = _thresholds(verdict, [c[0] for c in curves], "busbw")
    return [Plot("Bus bandwidth against message size", plots.busbw_vs_size(curves, thresholds),
                 "solid: out-of-place, dashed: in-place; one colour per workload")]


def _mooncake_plot(report: RunReport) -> list[Plot]:
    verdict, metrics = report.verdict, report.metrics
    entries = [(name, r.metrics["throughput_gbps"]) for name, r in _by_parser(metrics, "mooncake-bench") if "throughput_gbps" in r.metrics]
    if not entries:
        return []
    labels = [name for name, _ in entries]
    unit = entries[0][1].unit or "GB/s"
    png = plots.bars("Mooncake transfer throughput", labels, [m.value for _, m in entries], unit,
                     thresholds=_thresholds(verdict, labels, "throughput_gbps"))
    return [Plot("Mooncake throughput", png)]


def _serving_plot(report: RunReport) -> list[Plot]:
    metrics = report.metrics
    out = []
    for name, result in _by_parser(metrics, "sglang-bench-serving"):
        panels, series = [], [(f"this run ({name})", [])]
        baseline = report.serving_baselines.get(name)
        if baseline:
            series.append((f"baseline {baseline.label}", []))
        for label, stem in SERVING_METRICS:
            for statistic in ("mean", "p99"):
                metric = result.metrics.get(f"{stem}_{statistic}")
                base_value = (baseline.metrics.get(f"{stem}_{statistic}") or {}).get("value") if baseline else None
                if metric is None and base_value is None:
                    continue
                panels.append(f"{label} {statistic}")
                series[0][1].append(metric.value if metric else None)
                if baseline:
                    series[1][1].append(base_value)
        if not panels:
            continue
        title = f"{name}: latency against the baseline" if baseline else f"{name}: latency (no baseline run found)"
        caption = f"baseline: {baseline.label}" if baseline else "no check of this scenario names a baseline run with these metrics"
        out.append(Plot(title, plots.grouped_panels(title, panels, series, "ms"), caption))
    return out


def _uccl_plot(report: RunReport) -> list[Plot]:
    metrics = report.metrics
    out = []
    for name, result in _by_parser(metrics, "uccl-ep"):
        series = result.series.get("ranks")
        if not series or not series.rows:
            continue
        labels = [f"rank {rank}" for rank in series.column("rank")]
        for key in ("dispatch_combine_gbps", "dispatch_gbps", "combine_gbps"):
            values = series.column(key)
            if any(isinstance(v, (int, float)) for v in values):
                out.append(Plot(f"{name}: {key} per rank", plots.bars(f"{name}: {key} per rank", labels, values, "GB/s")))
    return out


html_report.record_file = "report.html"

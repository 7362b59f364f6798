"""PNG plots for report.html, drawn with matplotlib's Agg canvas (no display, no global pyplot state).

matplotlib is optional (`pip install 'scenario-runner[reports]'`): `missing()` says why plots cannot be
drawn, and report.html then shows a note instead.
"""
from __future__ import annotations

import io
import math
import os
import threading
from typing import Sequence

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
BEST = "#2ca02c"
PLAIN = "#1f77b4"
BASELINE = "#9e9e9e"


def missing() -> str:
    """Empty when plots can be drawn; otherwise the reason."""
    try:
        import matplotlib  # noqa: F401  (optional: [reports]; ~0.3 s, only when a report is drawn)
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError as error:
        return f"matplotlib is not installed ({error}): pip install 'scenario-runner[reports]' to get plots"
    return ""


def warm_up_in_background() -> None:
    """Import matplotlib (about 0.6 s) on a low-priority thread while the workloads run, not after them."""

    def load() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: this thread only
        except (AttributeError, OSError):
            pass
        missing()
        try:
            import matplotlib.figure  # noqa: F401  (warmed in a thread while the run goes on)
        except ImportError:
            pass

    threading.Thread(target=load, name="warm-up-plots", daemon=True).start()


def _figure(width: float = 8.0, height: float = 4.2, columns: int = 1):
    from matplotlib.backends.backend_agg import (
        FigureCanvasAgg,  # matplotlib costs ~0.3 s and is optional ([reports])
    )
    from matplotlib.figure import (
        Figure,  # matplotlib: optional, and only when a plot is drawn
    )

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, columns, i + 1) for i in range(columns)]
    for ax in axes:
        ax.grid(True, which="major", axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    return figure, axes


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def human_bytes(value: float) -> str:
    for suffix, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= scale:
            number = value / scale
            return f"{number:.0f}{suffix}" if number == int(number) else f"{number:.3g}{suffix}"
    return f"{value:.0f}"


def busbw_vs_size(curves: Sequence[tuple[str, Sequence[float], Sequence[float], Sequence[float]]],
                  thresholds: Sequence[tuple[str, float]] = ()) -> bytes:
    """Bus bandwidth against message size, log2 x axis: per curve (label, sizes, out-of-place, in-place)."""
    figure, (ax,) = _figure(8.5, 4.6)
    sizes_all = [s for _, sizes, _, _ in curves for s in sizes if s > 0]
    for i, (label, sizes, oop, ip) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        ax.plot(sizes, oop, marker="o", markersize=3, color=color, label=f"{label} out-of-place")
        ax.plot(sizes, ip, marker="x", markersize=3, linestyle="--", color=color, label=f"{label} in-place")
    for label, value in thresholds:
        ax.axhline(value, color="#d62728", linestyle=":", linewidth=1)
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=8, color="#d62728", va="bottom")
    ax.set_xscale("log", base=2)
    if sizes_all:
        low, high = int(math.floor(math.log2(min(sizes_all)))), int(math.ceil(math.log2(max(sizes_all))))
        step = max(1, math.ceil((high - low + 1) / 12))
        ticks = [2 ** e for e in range(low, high + 1, step)]
        ax.set_xticks(ticks, [human_bytes(t) for t in ticks])
        ax.minorticks_off()
    ax.set_xlabel("message size (bytes, log2)")
    ax.set_ylabel("bus bandwidth (GB/s)")
    ax.set_title("busbw against message size")
    ax.legend(fontsize=8, loc="best")
    return _png(figure)


def bars(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str, *, highlight: int | None = None,
         thresholds: Sequence[tuple[str, float]] = (), colors: Sequence[str] | None = None) -> bytes:
    """One bar per label (missing values are left out and named on the axis), the highlighted bar in green."""
    width = min(12.0, max(5.0, 1.1 * len(labels) + 2))
    figure, (ax,) = _figure(width, 4.2)
    positions = list(range(len(labels)))
    shown = [v if isinstance(v, (int, float)) else 0 for v in values]
    palette = list(colors) if colors else [BEST if i == highlight else PLAIN for i in positions]
    drawn = ax.bar(positions, shown, color=palette, width=0.6 if len(labels) > 2 else 0.4)
    for rect, value in zip(drawn, values):
        text = f"{value:.4g}" if isinstance(value, (int, float)) else "missing"
        ax.annotate(text, (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center", va="bottom", fontsize=8)
    for label, value in thresholds:
        ax.axhline(value, color="#d62728", linestyle=":", linewidth=1)
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=8, color="#d62728", va="bottom")
    return _labelled_columns(figure, ax, positions, labels, unit, title)


def _labelled_columns(figure, ax, positions, labels: Sequence[str], unit: str, title: str) -> bytes:
    """One column per label (slanted when there are many), the unit and the title: the finish of bars and strips."""
    ax.set_xticks(positions, labels, fontsize=8)
    if len(labels) > 3:
        for tick in ax.get_xticklabels():
            tick.set(rotation=20, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.75, len(labels) - 0.25)
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.margins(y=0.15)
    return _png(figure)


def grouped_panels(title: str, panels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], unit: str) -> bytes:
    """One small panel per metric (TTFT, TPOT, ITL: different scales), a bar per series in each."""
    figure, axes = _figure(max(6.0, 3.0 * len(panels)), 3.8, columns=len(panels))
    for p, (ax, panel) in enumerate(zip(axes, panels)):
        for s, (label, values) in enumerate(series):
            value = values[p]
            color = BASELINE if s and len(series) == 2 else COLORS[s % len(COLORS)]
            rect = ax.bar([s], [value if isinstance(value, (int, float)) else 0], color=color, label=label)[0]
            text = f"{value:.4g}" if isinstance(value, (int, float)) else "missing"
            ax.annotate(text, (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center", va="bottom", fontsize=8)
        ax.set_xticks([])
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel(unit)
        ax.margins(y=0.15)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=max(1, len(series)), fontsize=8)
    figure.suptitle(title)
    return _png(figure)


def strips(title: str, labels: Sequence[str], samples: Sequence[Sequence[float]], unit: str, *, highlight: int | None = None,
           tied: Sequence[int] = ()) -> bytes:
    """Every sample of every variant as a point over a box of its quartiles: the noise is on the page, not hidden
    in one bar. The best variant is green, variants tied with the top one are outlined."""
    width = min(12.0, max(5.0, 1.1 * len(labels) + 2))
    figure, (ax,) = _figure(width, 4.2)
    positions = list(range(len(labels)))
    drawn = [(i, [float(v) for v in values]) for i, values in enumerate(samples) if values]
    if drawn:
        ax.boxplot([values for _, values in drawn], positions=[i for i, _ in drawn], widths=0.5, showfliers=False,
                   medianprops={"color": "#333333"}, boxprops={"color": "#999999"}, whiskerprops={"color": "#999999"},
                   capprops={"color": "#999999"})
    for i, values in drawn:
        color = BEST if i == highlight else PLAIN
        offsets = [((k % 5) - 2) * 0.05 for k in range(len(values))]  # a fixed spread: the same record draws the same plot
        ax.scatter([i + o for o in offsets], values, s=22, color=color, zorder=3,
                   edgecolors="#d62728" if i in tied else "none", linewidths=1.2)
    for i, values in enumerate(samples):
        if not values:
            ax.annotate("missing", (i, 0), ha="center", va="bottom", fontsize=8, xycoords=("data", "axes fraction"))
    return _labelled_columns(figure, ax, positions, labels, unit, title)

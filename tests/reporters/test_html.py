"""report.html: self-contained, with the plots drawn (checked in the PNGs and in headless Chromium)."""
from __future__ import annotations

import re
import sys

import pytest

from runner.report.html_report import html_report

from .conftest import (
    embedded_pngs,
    needs_chromium,
    needs_matplotlib,
    png_size,
    rendered_image_sizes,
    report_of,
    screenshot_colours,
)


def assert_self_contained(html: str) -> None:
    assert "<style>" in html
    for attribute, value in re.findall(r'\b(src|href)="([^"]*)"', html):
        assert value.startswith("data:image/png;base64,"), (attribute, value[:80])
    assert "<link" not in html and "<script" not in html and "@import" not in html and "url(" not in html


@needs_matplotlib
def test_nccl_workloads_get_a_busbw_plot_and_the_page_is_self_contained(nccl_record):
    folder, verdict, metrics = nccl_record
    html = html_report(report_of(verdict, metrics, folder, "20260101-000000-aaaa"))
    assert_self_contained(html)
    assert "Bus bandwidth against message size" in html
    [png] = embedded_pngs(html)
    width, height = png_size(png)
    assert width > 400 and height > 200
    assert f'width="{width}" height="{height}"' in html
    assert html.count('class="status"') == 2 and "#e6f4ea" in html  # PASS cells in green
    assert "registry.example/nccl-tests:2.19.6" in html and "2.18.2" in html


@needs_matplotlib
def test_serving_plot_is_against_the_baseline_run(serving_run):
    result, baseline = serving_run
    html = (result.record / "report.html").read_text()
    assert_self_contained(html)
    assert "bench: latency against the baseline" in html
    assert f"baseline: bench-baseline {baseline.run_id}" in html
    assert len(embedded_pngs(html)) == 1


@needs_matplotlib
def test_mooncake_throughput_bar(mooncake_record):
    html = (mooncake_record.record / "report.html").read_text()
    assert_self_contained(html)
    assert "Mooncake throughput" in html and len(embedded_pngs(html)) == 1


def test_without_matplotlib_the_report_says_so(nccl_record, monkeypatch):
    folder, verdict, metrics = nccl_record
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    html = html_report(report_of(verdict, metrics, folder))
    assert "No plots: matplotlib is not installed" in html and "scenario-runner[reports]" in html
    assert embedded_pngs(html) == [] and "all-gather" in html


@needs_matplotlib
def test_a_plot_that_fails_leaves_a_note_not_a_broken_report(nccl_record, monkeypatch):
    from runner.report import plots

    folder, verdict, metrics = nccl_record
    monkeypatch.setattr(plots, "busbw_vs_size", lambda *a, **k: 1 / 0)
    html = html_report(report_of(verdict, metrics, folder))
    assert "nccl_plot: ZeroDivisionError" in html and "<h2>Verdict</h2>" in html


@needs_chromium
@needs_matplotlib
@pytest.mark.parametrize("which", ["collectives", "serving", "mooncake"])
def test_plots_render_in_headless_chromium(which, request, tmp_path):
    result = request.getfixturevalue({"collectives": "collectives_run", "serving": "serving_run", "mooncake": "mooncake_record"}[which])
    record = (result[0] if isinstance(result, tuple) else result).record
    report = record / "report.html"
    pngs = embedded_pngs(report.read_text())
    sizes = rendered_image_sizes(report, tmp_path)
    assert len(sizes) == len(pngs) >= 1
    assert [(w, h) for w, h, _ in sizes] == [png_size(p) for p in pngs]
    assert all(w > 300 and h > 200 and complete for w, h, complete in sizes)
    assert screenshot_colours(report, tmp_path) > 200  # text, coloured status cells, plot lines and antialiasing


@needs_matplotlib
def test_collectives_plot_has_one_line_pair_per_workload(collectives_run):
    html = (collectives_run.record / "report.html").read_text()
    assert "Bus bandwidth against message size" in html
    assert len(embedded_pngs(html)) == 1

"""summary.md: verdict line, the verdict table as Markdown, key metrics, environment; no links."""
from __future__ import annotations

import re

from runner.report.markdown import cell, markdown_report

from .conftest import every_status_verdict, report_of, write_record


def test_summary_has_the_verdict_line_and_table(nccl_record):
    folder, verdict, metrics = nccl_record
    text = markdown_report(report_of(verdict, metrics, folder, "20260101-000000-aaaa"))
    lines = text.splitlines()
    assert lines[0] == "### ✅ nccl-pair: PASS"
    assert "`PASS: 2 pass` · run `20260101-000000-aaaa` · kubernetes · 2026-01-01 00:00:00 UTC (61.5 s)" in text
    header = lines.index("| check | measured | threshold | margin | status | note |")
    assert lines[header + 1] == "|---|---|---|---|---|---|"
    rows = lines[header + 2: header + 4]
    assert [r.split(" | ")[0] for r in rows] == ["| all-reduce.busbw_gbps_max", "| all-gather.busbw_gbps_max"]
    assert all(r.count(" | ") == 5 for r in rows)
    assert "**Key metrics**" in text and "| all-gather.busbw_gbps_max | 351.5 GB/s |" in text
    assert "| tool nccl-tests | 2.18.2 |" in text and "| image nccl-tests | registry.example/nccl-tests:2.19.6 |" in text
    assert '| cluster | {"context": "eks-p5", "server_version": "v1.31"} |' in text


def test_cells_stay_in_their_column_and_nothing_is_a_link(tmp_path):
    verdict = every_status_verdict()
    record = write_record(tmp_path / "r", verdict, {"facts": {"api": "https://cluster.example:6443"}}, {})
    text = markdown_report(report_of(verdict, {}, record))
    table = [line for line in text.splitlines() if line.startswith(("| w.", "| v ran |", "| u.")) and "missing" not in line]
    assert len(table) == 5
    assert all(len(re.split(r"(?<!\\)\|", row)) == 8 for row in table)  # 6 cells: pipes inside are escaped
    assert "\x1b" not in text
    assert not re.search(r"(?<!`)https?://", text) and "](" not in text
    assert cell("a|b\nc") == "a\\|b c"

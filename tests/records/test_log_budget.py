"""Parsing and judging a run count against its time: when the budget is spent, the checks that still had a log to
read are ERRORs naming the log (the bound itself is tested in tests/base/test_log_budget_and_blocks.py)."""
from __future__ import annotations

from runner.base import budget
from runner.flows import run as run_flow

from .conftest import REPO

NCCL = REPO / "tests" / "fixtures" / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt"


def test_a_spent_budget_is_an_error_naming_the_log(lab, monkeypatch):
    def no_time(seconds: float, what: str = "parsing and judging"):
        assert seconds >= budget.PARSE_BUDGET_MIN_S  # what the run gives: its time left, at least the minimum
        return budget.time_budget(-1.0, what)

    monkeypatch.setattr(run_flow, "time_budget", no_time)
    lab.write("spent", f"""\
        workloads:
          - name: tool
            command: [cat, {NCCL}]
            parser: nccl-tests
        checks:
          - {{metric: tool.busbw_gbps_max, op: ">=", value: 1}}
          - {{log: tool, contains: "Avg bus bandwidth"}}
        """, layer="fabric")
    result = lab.run("spent")
    assert result.verdict.status == "ERROR"
    metric, log = result.verdict.results
    assert metric.status == log.status == "ERROR"
    assert "rank-0.log" in metric.message and "time budget" in metric.message
    assert "rank-0.log" in log.message and "time budget" in log.message

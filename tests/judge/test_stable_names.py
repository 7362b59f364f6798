"""A check's name, and its JUnit testcase name, are the same whether it passed, failed, errored, was skipped or the
run was a dry run: CI's test history must see one test per check, run after run."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from runner.execute.contract import RunOutput, RunState, WorkloadOutcome, WorkloadState
from runner.parse.logs import Metric, ParseResult
from runner.report.base import RunReport, verdict_rows
from runner.report.junit import junit_report
from runner.scenario.resolve import resolve_text
from runner.scenario.validate import build
from runner.verdict.judge import WorkloadMetrics, judge

SCENARIO = """\
apiVersion: scenarios/v1
kind: Scenario
metadata: {name: names}
workloads:
  - {name: w, kind: job, command: [tool], parser: nccl-tests}
checks:
  - {name: served, log: w, regex: 'served [0-9]+'}
  - {log: w, contains: "Test completed"}
  - {log: w, regex: "FAILED", absent: true}
  - {name: bandwidth, metric: w.busbw_gbps_max, op: ">=", value: 10}
  - {metric: w.wrong_total, op: "==", value: 0, kind: correctness}
"""
NAMES = ["served", "w log has 'Test completed'", "w log lacks 'FAILED'", "bandwidth", "w.wrong_total =="]


def scenario():
    return build(resolve_text(SCENARIO, "names.yaml"))


def run(tmp_path, state: str, text: str = "", message: str = "") -> tuple:
    log = tmp_path / f"{state}.log"
    log.write_text(text)
    outcome = WorkloadOutcome("w", state, (log,), ranks=1, message=message)
    run_state = RunState.COMPLETED if state in (WorkloadState.DONE, WorkloadState.SKIPPED) else RunState.ERROR
    return RunOutput("names", {"w": outcome}, run_state, message)


def metrics(busbw=None, wrong=0, error="") -> dict:
    if error:
        return {"w": WorkloadMetrics("w", "nccl-tests", "rank-0.log", error=error)}
    values = {"busbw_gbps_max": Metric("busbw_gbps_max", busbw, "GB/s"), "wrong_total": Metric("wrong_total", wrong, "")}
    return {"w": WorkloadMetrics("w", "nccl-tests", "rank-0.log", ParseResult("nccl-tests", "rank-0.log", values))}


@pytest.mark.parametrize("case", ["pass", "fail", "error", "skipped", "dry-run"])
def test_names_do_not_depend_on_the_outcome(tmp_path, case):
    healthy = "served 3\nTest completed\n"
    output, parsed = {
        "pass": lambda: (run(tmp_path, WorkloadState.DONE, healthy), metrics(busbw=20.0)),
        "fail": lambda: (run(tmp_path, WorkloadState.DONE, "FAILED\n"), metrics(busbw=1.0, wrong=3)),
        "error": lambda: (run(tmp_path, WorkloadState.FAILED, "", "rank 0 exited with code 2"), metrics(error="no result rows found")),
        "skipped": lambda: (run(tmp_path, WorkloadState.SKIPPED, "", "the workload did not run"), {}),
        "dry-run": lambda: (run(tmp_path, WorkloadState.SKIPPED, "", "dry run: not submitted"), {}),
    }[case]()
    verdict = judge(scenario(), output, parsed)
    checks = [r for r in verdict.results if r.kind != "infrastructure"]
    assert [r.name for r in checks] == NAMES
    statuses = {r.status for r in checks}
    assert statuses == {"pass": {"PASS"}, "fail": {"FAIL"}, "error": {"ERROR", "FAIL", "PASS"}, "skipped": {"SKIP"}, "dry-run": {"SKIP"}}[case]
    assert [row[0] for row in verdict_rows(verdict) if not row[0].endswith(" ran")] == NAMES
    cases = ET.fromstring(junit_report(RunReport(verdict, parsed)).split("\n", 1)[1]).iter("testcase")
    assert [c.get("name") for c in cases if c.get("name") not in ("run", "w ran")] == NAMES


def test_a_log_check_says_what_it_reads_whatever_its_status(tmp_path):
    passed = judge(scenario(), run(tmp_path, WorkloadState.DONE, "served 3\nTest completed\n"), metrics(busbw=20.0))
    skipped = judge(scenario(), run(tmp_path, WorkloadState.SKIPPED), {})
    assert [r.metric for r in passed.results] == [r.metric for r in skipped.results]
    assert passed.results[0].metric == "log: served [0-9]+"

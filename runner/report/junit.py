"""junit.xml: one testcase per check, so CI systems show the verdict as test results.

FAIL -> <failure>, ERROR/TIMEOUT/INTERRUPTED -> <error>, SKIP -> <skipped>; measured value, threshold
and margin are testcase properties. A run whose verdict is worse than any check explains (an executor
error before any check ran, a run timeout) gets one more testcase, so a broken run is never green.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Mapping

from runner.base.units import format_value
from runner.report._common import clean_text
from runner.report.base import RunReport, format_margin, reporter
from runner.verdict.judge import SEVERITY, CheckResult, CheckStatus, Verdict

FAILURE = {CheckStatus.FAIL: "failure", CheckStatus.FALLBACK: "failure", CheckStatus.ERROR: "error", CheckStatus.TIMEOUT: "error",
           CheckStatus.INTERRUPTED: "error", CheckStatus.SKIP: "skipped"}


@reporter("junit")
def junit_report(report: RunReport) -> str:
    verdict, run = report.verdict, report.run
    cases = [_case_fields(verdict.scenario, r) for r in verdict.results]
    worst = max((SEVERITY[r.status] for r in verdict.results), default=-1)
    if SEVERITY.get(verdict.status, 2) > worst or not cases:
        cases.append(_run_case(verdict))
    counts = {kind: sum(1 for c in cases if c["outcome"] == kind) for kind in ("failure", "error", "skipped")}
    duration = f"{float(run.get('duration_s') or 0):.3f}"
    suites = ET.Element("testsuites", name="scenario-runner", tests=str(len(cases)), failures=str(counts["failure"]),
                        errors=str(counts["error"]), skipped=str(counts["skipped"]), time=duration)
    suite = ET.SubElement(suites, "testsuite", name=verdict.scenario, tests=str(len(cases)), failures=str(counts["failure"]),
                          errors=str(counts["error"]), skipped=str(counts["skipped"]), time=duration,
                          timestamp=str(run.get("started", ""))[:19], hostname=str((run.get("facts") or {}).get("host", "")))
    _properties(suite, _suite_properties(verdict, report.run_id, run))
    for case in cases:
        _testcase(suite, case)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _case_fields(scenario: str, result: CheckResult) -> dict:
    properties = {"kind": result.kind, "status": result.status}
    if result.measured is not None:
        properties["measured"] = format_value(result.measured, result.unit)
    if result.op:
        properties["threshold"] = f"{result.op} {format_value(result.threshold)}"
    if result.margin is not None:
        properties["margin"] = format_margin(result)
    text = result.message or (f"measured {properties.get('measured', '-')}, needed {properties.get('threshold', '-')}")
    return {"classname": f"{scenario}.{result.workload}" if result.workload else scenario, "name": result.name,
            "outcome": FAILURE.get(result.status, ""), "status": result.status, "message": text, "properties": properties}


def _run_case(verdict: Verdict) -> dict:
    return {"classname": verdict.scenario, "name": "run", "outcome": FAILURE.get(verdict.status, ""), "status": verdict.status,
            "message": verdict.summary, "properties": {"status": verdict.status}}


def _suite_properties(verdict: Verdict, run_id: str, run: Mapping[str, Any]) -> dict:
    properties = {"run_id": run_id or run.get("run_id", ""), "status": verdict.status, "summary": verdict.summary,
                  "executor": run.get("executor", ""), "runner_version": run.get("runner_version", ""),
                  "scenarios_commit": run.get("scenarios_commit", ""), "started": run.get("started", ""), "ended": run.get("ended", "")}
    if run.get("overrides"):
        properties["overrides"] = " ".join(run["overrides"])
    for key, value in (run.get("variant") or {}).items():
        properties[f"variant {key}"] = value
    if run.get("sweep"):
        properties["sweep"] = run["sweep"]
    for key, value in (run.get("tool_versions") or {}).items():
        properties[f"tool {key}"] = value
    return {k: v for k, v in properties.items() if v not in (None, "")}


def _properties(parent: ET.Element, values: Mapping[str, Any]) -> None:
    element = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(element, "property", name=clean_text(name), value=clean_text(value))


def _testcase(suite: ET.Element, case: dict) -> None:
    element = ET.SubElement(suite, "testcase", classname=clean_text(case["classname"]), name=clean_text(case["name"]), time="0")
    _properties(element, case["properties"])
    if case["outcome"]:
        message = clean_text(case["message"])
        child = ET.SubElement(element, case["outcome"], message=message.splitlines()[0] if message else case["status"])
        if case["outcome"] != "skipped":
            child.set("type", case["status"])
            child.text = message


junit_report.record_file = "junit.xml"

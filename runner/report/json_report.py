"""The verdict as JSON (scenario-runner/verdict/v1): what verdict.json holds and `run -o json` prints."""
from __future__ import annotations

import json

from runner.records.record import VERDICT_FORMAT, to_jsonable
from runner.report.base import RunReport, reporter
from runner.verdict.judge import Verdict


def verdict_document(verdict: Verdict, run_id: str) -> dict:
    return {
        "format": VERDICT_FORMAT,
        "scenario": verdict.scenario,
        "run_id": run_id,
        "status": verdict.status,
        "exit_code": verdict.exit_code,
        "summary": verdict.summary,
        "workloads": dict(verdict.workloads),
        "results": [to_jsonable(r) for r in verdict.results],
    }


@reporter("json")
def json_report(report: RunReport) -> str:
    return json.dumps(verdict_document(report.verdict, report.run_id), indent=2, default=str)

"""The verdict as JSON (scenario-runner/verdict/v1): what verdict.json holds and `run -o json` prints."""
from __future__ import annotations

import json

from runner.records.record import verdict_document
from runner.report.base import RunReport, reporter


@reporter("json")
def json_report(report: RunReport) -> str:
    return json.dumps(verdict_document(report.verdict, report.run_id), indent=2, default=str)

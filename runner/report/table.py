"""The verdict table on the terminal: one row per check, long ERROR/TIMEOUT messages below, the record's path."""
from __future__ import annotations

from tabulate import tabulate

from runner.report.base import VERDICT_HEADERS, RunReport, reporter, shown_path, verdict_rows
from runner.verdict.judge import CheckStatus, Verdict


@reporter("table")
def table(report: RunReport) -> str:
    verdict = report.verdict
    body = tabulate(verdict_rows(verdict), headers=VERDICT_HEADERS, tablefmt="simple") if verdict.results else "(no checks)"
    record = f"\nrecord: {shown_path(report.record)}" if report.record else ""
    return f"{body}\n{_details(verdict)}{verdict.scenario}: {verdict.summary}{record}"


def _details(verdict: Verdict) -> str:
    lines = []
    for result in verdict.results:
        if result.status in (CheckStatus.ERROR, CheckStatus.TIMEOUT) and result.message and "\n" in result.message:
            lines.append(f"\n{result.workload} ({result.status}):\n" + "\n".join("  " + l for l in result.message.splitlines()))
    return ("\n".join(lines) + "\n\n") if lines else "\n"

"""The verdict table on the terminal: the causes first (each failed workload once, with its evidence and hints),
then one row per check with its whole note (wrapped, never cut), then the other long notes, the record's path."""
from __future__ import annotations

from tabulate import tabulate

from runner.report.base import VERDICT_HEADERS, RunReport, reporter, shown_path, verdict_rows
from runner.verdict.judge import CheckResult, CheckStatus, Verdict

NOTE_WIDTH = 60  # the note column wraps here: a long note takes more lines, none is cut
INFRASTRUCTURE = "infrastructure"


@reporter("table")
def table(report: RunReport) -> str:
    verdict = report.verdict
    body = "(no checks)"
    if verdict.results:
        widths = [None] * (len(VERDICT_HEADERS) - 1) + [NOTE_WIDTH]
        body = tabulate(verdict_rows(verdict), headers=VERDICT_HEADERS, tablefmt="simple", maxcolwidths=widths)
    record = f"\nrecord: {shown_path(report.record)}" if report.record else ""
    return f"{_causes(verdict)}{body}\n{_details(verdict)}{verdict.scenario}: {verdict.summary}{record}"


def _causes(verdict: Verdict) -> str:
    """Each workload that failed or timed out, once, before the table: why, the evidence its logs hold, the hints."""
    blocks = []
    for result in verdict.results:
        if result.kind == INFRASTRUCTURE and result.status != CheckStatus.PASS and result.message:
            first, *rest = result.message.splitlines()
            state = "timed out" if result.status == CheckStatus.TIMEOUT else "failed" if result.status == CheckStatus.ERROR \
                else result.status.lower()
            blocks.append(f"{result.workload} {state}: {first}" + "".join("\n  " + line for line in rest))
    return "\n\n".join(blocks) + "\n\n" if blocks else ""


def _details(verdict: Verdict) -> str:
    """Notes of more than one line, each distinct one once (the checks that share it named together)."""
    shared: dict[str, list[CheckResult]] = {}
    for result in verdict.results:
        if result.kind != INFRASTRUCTURE and result.message and "\n" in result.message and result.status != CheckStatus.PASS:
            shared.setdefault(result.message, []).append(result)
    lines = [f"\n{', '.join(r.name for r in results)} ({results[0].status}):\n" + "\n".join("  " + line for line in message.splitlines())
             for message, results in shared.items()]
    return ("\n".join(lines) + "\n\n") if lines else "\n"

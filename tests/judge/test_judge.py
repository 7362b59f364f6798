"""judge: one check at a time, statuses and the overall verdict."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.execute.contract import RunOutput, WorkloadOutcome, WorkloadState

DONE, FAILED, SKIPPED, TIMEOUT = WorkloadState.DONE, WorkloadState.FAILED, WorkloadState.SKIPPED, WorkloadState.TIMEOUT
from runner.parse.logs import Metric, ParseResult
from runner.scenario.model import Baseline, Check
from runner.verdict.judge import (
    ERROR,
    FAIL,
    PASS,
    SKIP,
    STATUS_TIMEOUT,
    BaselineValue,
    WorkloadMetrics,
    judge,
    judge_check,
    overall,
)


def metrics(**values) -> WorkloadMetrics:
    result = ParseResult("nccl-tests", "rank-0.log", {k: Metric(k, v, "GB/s") for k, v in values.items()})
    return WorkloadMetrics("w", "nccl-tests", "rank-0.log", result)


def outcome(state=DONE, logs=(), ranks=1, message="") -> WorkloadOutcome:
    return WorkloadOutcome("w", state, tuple(logs), ranks=ranks, message=message)


def check(**fields) -> Check:
    fields.setdefault("name", "c")
    fields.setdefault("kind", "performance")
    return Check(**fields)


@pytest.mark.parametrize("op,value,threshold,status", [
    (">=", 320.0, 320, PASS), (">=", 319.9, 320, FAIL), (">", 320.0, 320, FAIL), ("<=", 1.3, 1.3, PASS),
    ("<", 1.3, 1.3, FAIL), ("==", 0, 0, PASS), ("==", 1, 0, FAIL), ("!=", 1, 0, PASS),
])
def test_operators(op, value, threshold, status):
    result = judge_check(check(metric="w.busbw", op=op, value=threshold), outcome(), metrics(busbw=value))
    assert result.status == status


def test_margin_is_signed_headroom_in_unit_and_percent():
    above = judge_check(check(metric="w.busbw", op=">=", value=320), outcome(), metrics(busbw=476.91))
    assert above.margin == pytest.approx(156.91)
    assert above.margin_pct == pytest.approx(49.03, abs=0.01)
    below = judge_check(check(metric="w.ttft", op="<=", value=100), outcome(), metrics(ttft=130.0))
    assert below.margin == pytest.approx(-30.0) and below.status == FAIL
    assert "measured 130.0 GB/s, needed <= 100" in below.message


def test_missing_metric_fails_naming_parser_and_log():
    result = judge_check(check(metric="w.busbw_gbps_max", op=">=", value=1), outcome(), metrics(other=1.0))
    assert result.status == FAIL
    assert "'busbw_gbps_max' missing" in result.message
    assert "nccl-tests" in result.message and "rank-0.log" in result.message


def test_parse_error_is_error_not_fail():
    broken = WorkloadMetrics("w", "nccl-tests", "rank-0.log", error="the log ends before the footer: truncated run?")
    result = judge_check(check(metric="w.busbw", op=">=", value=1), outcome(), broken)
    assert result.status == ERROR and "truncated" in result.message


def test_timed_out_workload_gives_timeout():
    broken = WorkloadMetrics("w", "nccl-tests", "-", error="no log")
    result = judge_check(check(metric="w.busbw", op=">=", value=1), outcome(TIMEOUT, message="hit 20m"), broken)
    assert result.status == STATUS_TIMEOUT


def test_skipped_workload_skips_its_checks():
    result = judge_check(check(metric="w.busbw", op=">=", value=1), outcome(SKIPPED, message="first failed"), None)
    assert result.status == SKIP


def test_baseline_ratio_and_missing_baseline():
    baseline_check = check(metric="w.ttft", op="<=", baseline=Baseline("base", factor=1.3))
    lookup = lambda scenario, metric, run: BaselineValue(100.0, "run-1")
    ok = judge_check(baseline_check, outcome(), metrics(ttft=129.0), lookup)
    assert ok.status == PASS and ok.threshold == pytest.approx(130.0)
    missing = judge_check(baseline_check, outcome(), metrics(ttft=129.0),
                          lambda s, m, r: BaselineValue(None, "", "no passing run of baseline scenario base"))
    assert missing.status == ERROR and "no passing run" in missing.message


def write_logs(tmp_path: Path, *texts: str) -> list[Path]:
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"rank-{i}.log"
        path.write_text(text)
        paths.append(path)
    return paths


def test_log_evidence_counts_and_every_rank(tmp_path):
    logs = write_logs(tmp_path, "NET/OFI Selected provider is efa\n✓ All correctness tests passed!\n", "✓ All correctness tests passed!\n")
    assert judge_check(check(log="w", contains="Selected provider is efa"), outcome(logs=logs), None).status == PASS
    every = check(log="w", contains="All correctness tests passed", count="every-rank")
    assert judge_check(every, outcome(logs=logs, ranks=2), None).status == PASS
    short = judge_check(every, outcome(logs=logs, ranks=3), None)
    assert short.status == FAIL and "needed 3 (one per rank)" in short.message


def test_log_evidence_absent(tmp_path):
    logs = write_logs(tmp_path, "ok\nWARN falling back to TCP\n")
    result = judge_check(check(log="w", regex="falling back", absent=True), outcome(logs=logs), None)
    assert result.status == FAIL and "must not appear" in result.message


@pytest.mark.parametrize("absent", [True, False])
def test_an_unreadable_log_is_an_error_not_evidence(tmp_path, absent):
    [log] = write_logs(tmp_path, "WARN falling back to TCP\n")
    log.unlink()
    (tmp_path / "rank-0.log").mkdir()  # a folder where the log should be: open() fails
    result = judge_check(check(log="w", regex="falling back", absent=absent), outcome(logs=[log]), None)
    assert result.status == ERROR and "cannot read the log" in result.message and str(log) in result.message


def test_overall_severity_order():
    from runner.verdict.judge import CheckResult

    rows = lambda *statuses: [CheckResult("c", "performance", "w", s) for s in statuses]
    assert overall(rows(PASS, PASS), "completed") == PASS
    assert overall(rows(PASS, FAIL), "completed") == FAIL
    assert overall(rows(FAIL, ERROR), "completed") == ERROR
    assert overall(rows(ERROR, STATUS_TIMEOUT), "completed") == STATUS_TIMEOUT
    assert overall(rows(PASS), "timeout") == STATUS_TIMEOUT
    assert overall(rows(PASS), "interrupted") == "INTERRUPTED"
    assert overall([], "error") == ERROR


def test_failed_workload_adds_an_error_row_even_when_checks_pass(tmp_path):
    logs = write_logs(tmp_path, "Test completed\n")
    output = RunOutput("local", {"w": WorkloadOutcome("w", FAILED, tuple(logs), exit_code=7, message="rank 0 exited with code 7")}, "completed")

    class Fake:
        name = "s"
        checks = (check(log="w", contains="Test completed"),)

    verdict = judge(Fake(), output, {})
    assert verdict.status == ERROR and verdict.exit_code == 3
    assert [r.status for r in verdict.results] == [ERROR, PASS]


@pytest.mark.parametrize("state,run_state,expected", [
    (FAILED, "completed", FAIL),      # it exited non-zero after printing why: the line proves the fault
    (TIMEOUT, "completed", STATUS_TIMEOUT),  # killed at its limit: what it printed on the way out proves nothing
    (FAILED, "timeout", STATUS_TIMEOUT),
])
def test_a_crashed_workload_fails_on_the_failure_it_printed_and_on_nothing_it_lacks(tmp_path, state, run_state, expected):
    logs = write_logs(tmp_path, "E1128 transfer_engine_bench.cpp:355] Unable to get target segment ID, please recheck\n")
    output = RunOutput("local", {"w": WorkloadOutcome("w", state, tuple(logs), exit_code=1, message="rank 0 exited with code 1")},
                       run_state)

    class Fake:
        name = "s"
        checks = (check(name="no-failure", log="w", regex="Unable to get target segment ID", absent=True),
                  check(name="completed", log="w", contains="Test completed"))

    verdict = judge(Fake(), output, {})
    assert verdict.status == expected, verdict.summary
    assert [r.status for r in verdict.results][1:] == [FAIL, FAIL]  # both fail; only the printed line may decide


def test_every_rank_with_a_rank_group_counts_distinct_ranks_not_lines(tmp_path):
    line = "[1,0]<stdout>:node-0:200:200 [0] NCCL INFO NET/OFI Selected provider is efa, fabric is efa (found 32 nics)\n"
    logs = write_logs(tmp_path, line * 16)  # one rank printing 16 times does not stand in for 16 ranks
    every = check(log="w", regex=r"(?P<rank>[\w.-]+:\d+):\d+ \[\d+\] NCCL INFO NET/OFI Selected provider is efa", count="every-rank")
    result = judge_check(every, outcome(logs=logs, ranks=16), None)
    assert result.status == FAIL and result.measured == 1 and "distinct ranks" in result.message
    many = "".join(line.replace(":200:200", f":{200 + r}:{200 + r}") for r in range(16))
    (tmp_path / "m").mkdir()
    assert judge_check(every, outcome(logs=write_logs(tmp_path / "m", many), ranks=16), None).status == PASS


def test_role_reads_only_that_roles_pod_logs(tmp_path):
    paths = []
    for name, text in (("pd-abc12-prefill-0.log", "EfaTransport: Initialized EFA device rdmap16s0\n"),
                       ("pd-abc12-decode-0.log", "TcpTransport: listen on port 15911\n")):
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    efa = dict(log="w", regex="EfaTransport: Initialized EFA device")
    assert judge_check(check(**efa), outcome(logs=paths), None).status == PASS
    assert judge_check(check(**efa, role="decode"), outcome(logs=paths), None).status == FAIL
    assert judge_check(check(**efa, role="prefill"), outcome(logs=paths), None).status == PASS
    missing = judge_check(check(**efa, role="router"), outcome(logs=paths), None)
    assert missing.status == "ERROR" and "role 'router'" in missing.message


class _Scenario:
    def __init__(self, *checks):
        self.name, self.checks = "s", checks


def test_a_proven_failure_decides_the_verdict_beside_error_checks(tmp_path):
    """Issue 24: a PD run whose baseline record is missing (ERROR) and whose KV transfer failed (FAIL) is FAIL, exit 1."""
    logs = write_logs(tmp_path, "KVTransferError: Request 7 timed out after 300.0s\n")
    output = RunOutput("logs", {"w": WorkloadOutcome("w", DONE, tuple(logs))}, "completed")
    scenario = _Scenario(check(name="ttft", metric="w.ttft", op="<=", baseline=Baseline("base", factor=3.0)),
                         check(name="no-kv-errors", log="w", regex="KVTransferError", absent=True))
    verdict = judge(scenario, output, {"w": metrics(ttft=77.0)}, lambda *a: BaselineValue(None, error="no baseline run"))
    assert [r.status for r in verdict.results] == [ERROR, FAIL]
    assert verdict.status == FAIL and verdict.exit_code == 1


def test_a_crashed_workload_keeps_the_verdict_an_error(tmp_path):
    """What the other workloads lack may be the crash's consequence: nothing is proven, the infrastructure error leads."""
    logs = write_logs(tmp_path, "no decode batch\n")
    output = RunOutput("local", {"w": WorkloadOutcome("w", DONE, tuple(logs)),
                                 "router": WorkloadOutcome("router", FAILED, (), message="CrashLoopBackOff")}, "completed")
    verdict = judge(_Scenario(check(name="decode", log="w", contains="Decode batch")), output, {})
    assert FAIL in [r.status for r in verdict.results] and verdict.status == ERROR and verdict.exit_code == 3


def test_a_failed_fallback_check_is_a_fallback_named_in_the_summary(tmp_path):
    from runner.verdict.judge import FALLBACK

    logs = write_logs(tmp_path, "NCCL INFO Using network Socket\n")
    output = RunOutput("logs", {"w": WorkloadOutcome("w", DONE, tuple(logs))}, "completed")
    verdict = judge(_Scenario(check(name="no-socket", log="w", regex="Using network Socket", absent=True,
                                    fallback="NCCL's Socket transport (TCP) instead of EFA")), output, {})
    assert verdict.results[0].status == FALLBACK and verdict.status == FALLBACK and verdict.exit_code == 1
    assert "fell back to NCCL's Socket transport (TCP) instead of EFA" in verdict.summary
    assert verdict.results[0].message.startswith("fell back to NCCL's Socket transport")

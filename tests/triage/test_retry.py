"""A set that ends in ERROR: on Kubernetes it is run once more and the record says so; locally it is not retried
(the runner's own problem, scored as a bad set). The runs are stand-ins: only the driver's handling is under test."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from runner.base.errors import RunnerError
from runner.flows.triage.drive import run_triage
from runner.scenario.resolve import Library

REPO = Path(__file__).resolve().parents[2]


def flaky_runs(metric: str, workload: str, failures: int = 1):
    """run_fn: each set's first `failures` calls raise, then it passes with the value 1.0."""
    calls: list[tuple[str, ...]] = []

    def run_fn(scenario, **kwargs):
        nodes = tuple(kwargs["variant"]["triage.nodes"])
        calls.append(nodes)
        run_id = f"run-{len(calls)}"
        if calls.count(nodes) <= failures:
            raise RunnerError(f"the set {'+'.join(nodes)} lost its connection")
        value = SimpleNamespace(value=1.0, unit="GB/s")
        return SimpleNamespace(metrics={workload: SimpleNamespace(result=SimpleNamespace(metrics={metric: value}))},
                               verdict=SimpleNamespace(status="PASS", results=[]),
                               output=SimpleNamespace(message="", facts={"nodes": {"mode": "nodes"}}), run_id=run_id,
                               record=Path("/nonexistent") / run_id)

    run_fn.calls = calls
    return run_fn


def test_a_kubernetes_set_in_error_is_run_once_more_and_its_entry_says_so(tmp_path):
    run_fn = flaky_runs("busbw_gbps", "nccl")
    lines: list[str] = []
    result = run_triage("nccl-allreduce", Library(REPO / "scenarios"), ["registry=registry.example/efa-validation"],
                        executor_name="kubernetes", cli={"strategy": "all-pairs", "nodes": ["a", "b", "c", "d"]},
                        run_fn=run_fn, results_dir=tmp_path, announce=lines.append, left_behind=lambda *args: [])
    assert len(run_fn.calls) == 2 * len(result.results) == 12
    assert all(r.status == "PASS" for r in result.results) and result.suspects == []
    first = result.results[0]
    assert first.message.startswith("second try; the first (run -) was ERROR: the set a+d lost its connection"), first.message
    assert sum("ERROR (the set" in line and line.endswith("once more") for line in lines) == 6


def test_a_local_set_in_error_is_not_retried_and_counts_as_bad(tmp_path):
    run_fn = flaky_runs("busbw_gbps_avg", "all-reduce")
    result = run_triage("triage-loopback", Library(REPO / "scenarios"), ["parameters.nodes=4"],
                        cli={"strategy": "all-pairs"}, run_fn=run_fn, results_dir=tmp_path, announce=lambda line: None,
                        left_behind=lambda *args: [])
    assert len(run_fn.calls) == len(result.results) == 6  # every set once: the first call of each raised
    assert all(r.status == "ERROR" and "lost its connection" in r.message for r in result.results)
    assert result.exit_code == 3  # no set ran: an infrastructure problem, no suspect

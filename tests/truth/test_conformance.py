"""The whole library against the tool-truth corpus: every log check passes on the healthy output of its tools, and
every known failure mode that applies to a scenario makes at least one of its checks fail. Cases come from the
library and the corpus: a new scenario or a new case folder adds tests without new code."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from runner.flows.check import validate_scenario
from runner.flows.rejudge import judge_logs
from runner.scenario.resolve import Library
from runner.verdict.judge import FAIL, FALLBACK, PASS, PROVEN, SKIP, BaselineValue, judge

from .corpus import ROOT, cases, failure_cases, healthy_cases, materialize

LIBRARY = Library()
SCENARIOS = {name: validate_scenario(name, LIBRARY) for name in LIBRARY.names()}


HEALTHY = [(name, case) for name, s in SCENARIOS.items() for case in healthy_cases(s)]
FAILURES = [(name, case) for name, s in SCENARIOS.items() for case in failure_cases(s)]


def _judge(name, case, tmp_path: Path):
    """The verdict of the scenario on the case (made with the case's `set:` overrides, as the recorded run was), its
    `baseline:` checks taken against the healthy corpus of their baseline scenario (what a cluster's latest passing
    baseline run would hold)."""
    scenario = validate_scenario(name, LIBRARY, case.overrides) if case.overrides else SCENARIOS[name]
    rejudged = judge_logs(scenario, materialize(scenario, case, tmp_path / "logs"), tmp_path / "results")
    return judge(scenario, rejudged.output, rejudged.metrics, _corpus_baselines(tmp_path / "baselines"))


def _corpus_baselines(tmp_path: Path):
    def lookup(scenario_name: str, metric: str, run: str) -> BaselineValue:
        baseline = SCENARIOS[scenario_name]
        case = healthy_cases(baseline)[0]
        rejudged = judge_logs(baseline, materialize(baseline, case, tmp_path / scenario_name), tmp_path / "results")
        workload, name = metric.split(".", 1)
        parsed = rejudged.metrics[workload].result
        found = parsed.metrics.get(name) if parsed else None
        return BaselineValue(found.value if found else None, run_id=f"corpus {case.id}")
    return lookup


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_has_healthy_corpus(name):
    scenario = SCENARIOS[name]
    assert healthy_cases(scenario), f"no case under {ROOT} is healthy_for the tags of {name}: {scenario.tags}"


def test_a_case_is_judged_with_the_overrides_it_was_recorded_with(tmp_path):
    """The 4-GPU record of nccl-allreduce-local passes as run (`set: parameters.gpus=4`), and fails its ranks check
    against the scenario's default of 8 GPUs: the overrides reach the judge, and the check counts ranks."""
    case = next(c for c in cases() if c.id.endswith("nccl-4xh200"))
    assert "parameters.gpus=4" in case.overrides
    assert _judge("nccl-allreduce-local", case, tmp_path / "as-run").status == PASS
    as_written = replace(case, overrides=())
    results = {r.name: r for r in _judge("nccl-allreduce-local", as_written, tmp_path / "default").results}
    assert results["ranks"].status == FAIL and results["busbw"].status == PASS


@pytest.mark.parametrize("name,case", HEALTHY, ids=[f"{n}@{c.id}" for n, c in HEALTHY])
def test_every_check_passes_on_healthy_output(name, case, tmp_path):
    """Log checks, metric thresholds and baseline ratios alike: a healthy cluster passes the whole scenario (a check
    the scenario itself marks `skip:` stays SKIP)."""
    verdict = _judge(name, case, tmp_path)
    skipped = {c.name for c in SCENARIOS[name].checks if c.skip}
    failing = [f"{r.name}: {r.status} {r.message}" for r in verdict.results
               if r.status != PASS and not (r.status == SKIP and r.name in skipped)]
    assert not failing, f"{name} on {case.id}:\n" + "\n".join(failing)
    assert verdict.status == PASS


@pytest.mark.parametrize("name,case", FAILURES, ids=[f"{n}@{c.id}" for n, c in FAILURES])
def test_known_failure_mode_fails_a_check(name, case, tmp_path):
    verdict = _judge(name, case, tmp_path)
    failed = [r.name for r in verdict.results if r.status in PROVEN]
    assert failed, f"{name} passes every check on failure {case.failure!r} ({case.id}): " + \
        "; ".join(f"{r.name}={r.status}" for r in verdict.results)


def test_every_failure_mode_applies_somewhere():
    applied = {case.id for _, case in FAILURES}
    unused = [c.id for c in cases() if c.failure and c.id not in applied]
    assert not unused, f"failure cases no scenario reads: {unused}"


def test_every_case_folder_has_provenance():
    folders = {p.parent for p in ROOT.glob("*/*/*/*") if p.is_file()}
    missing = [str(f.relative_to(ROOT)) for f in folders if not (f / "README.md").is_file()]
    assert not missing, f"fixture folders without a README.md naming their source: {missing}"
    for folder in folders:
        text = (folder / "README.md").read_text()
        assert "Provenance" in text and ("real run" in text.lower() or "derived" in text), folder


def test_one_decode_replica_without_efa_fails_kv_over_efa_itself(tmp_path):
    """sglang-1p2d: the healthy replica's EFA lines must not vouch for the other one (count: every-pod)."""
    case = next(c for c in cases() if c.id.endswith("pd-one-decode-tcp"))
    verdict = _judge("sglang-1p2d", case, tmp_path)
    result = next(r for r in verdict.results if r.name == "kv-over-efa")
    assert result.status == FAIL and "1 of 2 pods printed no line" in result.message and "decode-1.log" in result.message
    healthy = next(c for c in cases() if c.id.endswith("pd-healthy"))
    assert next(r for r in _judge("sglang-1p2d", healthy, tmp_path / "h").results if r.name == "kv-over-efa").status == PASS


FALLBACKS = {  # case -> the fallback its scenarios must report (status FALLBACK, named in the summary)
    "nccl-tests/v2.19.6/efa-16rank-socket": "Socket transport",
    "nccl-tests/v2.19.6/efa-16rank-no-gdrdma": "without GPUDirect RDMA",
    "mooncake/v0.3.10.post2/tcp-http-metadata": "TCP transport instead of EFA",
    "mooncake/v0.3.10.post2/efa-vram-dram-used": "host DRAM instead of GPU memory",
    "sglang/0.5.10.post1/pd-decode-tcp": "TCP transport instead of EFA",
}


@pytest.mark.parametrize("name,case", [(n, c) for n, c in FAILURES if c.id in FALLBACKS],
                         ids=[f"{n}@{c.id}" for n, c in FAILURES if c.id in FALLBACKS])
def test_a_run_that_fell_back_is_a_fallback(name, case, tmp_path):
    verdict = _judge(name, case, tmp_path)
    assert verdict.status == FALLBACK and verdict.exit_code == 1, verdict.summary
    assert FALLBACKS[case.id] in verdict.summary, verdict.summary


PARTIAL = {"nccl-tests/v2.19.6/efa-16rank-16-nics": "efa-devices", "mooncake/v0.3.10.post2/efa-dram-16-devices": "efa-devices-target",
           "nccl-tests/v2.19.6/nvlink-8rank": "hosts"}


@pytest.mark.parametrize("name,case", [(n, c) for n, c in FAILURES if c.id in PARTIAL],
                         ids=[f"{n}@{c.id}" for n, c in FAILURES if c.id in PARTIAL])
def test_a_partial_bring_up_fails_its_evidence(name, case, tmp_path):
    """Too few EFA devices, or one node passed off as two (its NVLink bandwidth alone clears the bar)."""
    results = {r.name: r for r in _judge(name, case, tmp_path).results}
    assert results[PARTIAL[case.id]].status == "FAIL", results[PARTIAL[case.id]]



def test_the_initiator_that_found_no_target_fails_naming_it(tmp_path):
    """`Unable to get target segment ID` (transfer_engine_bench.cpp:355) is a failure line Mooncake's scenarios forbid."""
    missing = next(c for c in cases() if c.id.endswith("target-missing"))
    verdict = _judge("mooncake-efa-dram", missing, tmp_path / "missing")
    no_failure = next(r for r in verdict.results if r.name == "no-failure")
    assert verdict.status == FAIL and no_failure.status == FAIL and "Unable to get target segment ID" in no_failure.message

"""The whole library against the tool-truth corpus: every log check passes on the healthy output of its tools, and
every known failure mode that applies to a scenario makes at least one of its checks fail. Cases come from the
library and the corpus: a new scenario or a new case folder adds tests without new code."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.flows.check import validate_scenario
from runner.flows.rejudge import judge_logs
from runner.scenario.resolve import Library
from runner.verdict.judge import FAIL, PASS

from .corpus import ROOT, cases, failure_cases, healthy_cases, materialize

LIBRARY = Library()
SCENARIOS = {name: validate_scenario(name, LIBRARY) for name in LIBRARY.names()}


def _log_checks(scenario):
    return [c for c in scenario.checks if c.log]


HEALTHY = [(name, case) for name, s in SCENARIOS.items() for case in healthy_cases(s)]
FAILURES = [(name, case) for name, s in SCENARIOS.items() for case in failure_cases(s)]


def _judge(name, case, tmp_path: Path):
    scenario = SCENARIOS[name]
    return judge_logs(scenario, materialize(scenario, case, tmp_path / "logs"), tmp_path / "results").verdict


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_with_log_checks_has_healthy_corpus(name):
    scenario = SCENARIOS[name]
    if _log_checks(scenario):
        assert healthy_cases(scenario), f"{name} has log checks but no case under {ROOT} is healthy_for its tags {scenario.tags}"


@pytest.mark.parametrize("name,case", HEALTHY, ids=[f"{n}@{c.id}" for n, c in HEALTHY])
def test_log_checks_pass_on_healthy_output(name, case, tmp_path):
    verdict = _judge(name, case, tmp_path)
    checks = {c.name for c in _log_checks(SCENARIOS[name])}
    failing = [f"{r.name}: {r.status} {r.message}" for r in verdict.results if r.name in checks and r.status != PASS]
    assert not failing, f"{name} on {case.id}:\n" + "\n".join(failing)


@pytest.mark.parametrize("name,case", FAILURES, ids=[f"{n}@{c.id}" for n, c in FAILURES])
def test_known_failure_mode_fails_a_check(name, case, tmp_path):
    verdict = _judge(name, case, tmp_path)
    failed = [r.name for r in verdict.results if r.status == FAIL]
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

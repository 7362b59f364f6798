"""The strategies and the scoring against a simulated fleet: a set is slow when it holds a bad node."""
from __future__ import annotations

import itertools
import math

import pytest

from runner.flows.triage.scoring import SetResult, find_suspects, judge_sets, outcomes
from runner.flows.triage.strategies import STRATEGIES, plan_next, round_robin


def fleet(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


def simulate(strategy: str, nodes: list[str], bad: set[str], set_size: int = 2, fail: bool = False,
             good_value: float = 100.0, noise=lambda nodes: 1.0):
    """Run a strategy to the end with a fake measurement; returns (rounds, findings)."""
    results: list[SetResult] = []
    history = []
    while True:
        sets = plan_next(strategy, nodes, history, set_size)
        if not sets:
            break
        assert len(history) < 200, "the strategy does not end"
        used = [n for s in sets for n in s]
        assert len(used) == len(set(used)), f"round {len(history) + 1} sets overlap: {sets}"
        for s in sets:
            slow = any(n in bad for n in s)
            value = good_value * (0.25 if slow else 1.0) * noise(s)
            status = "FAIL" if fail and slow else "PASS"
            results.append(SetResult(len(history) + 1, s, status, value, failed_checks=("busbw",) if status == "FAIL" else ()))
        judged = judge_sets(results)
        history.append(outcomes(judged[-len(sets):]))
    return len(history), find_suspects(judge_sets(results), nodes), results


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 16])
def test_round_robin_meets_every_pair_once_in_disjoint_rounds(n):
    rounds = round_robin(fleet(n))
    pairs = [frozenset(p) for r in rounds for p in r]
    assert len(pairs) == len(set(pairs)) == n * (n - 1) // 2
    assert len(rounds) == (n - 1 if n % 2 == 0 else n)
    for r in rounds:
        members = [x for p in r for x in p]
        assert len(members) == len(set(members))


def test_64_nodes_all_pairs_is_2016_pairs_in_63_rounds():
    rounds = round_robin(fleet(64))
    assert len(rounds) == 63 and sum(len(r) for r in rounds) == 2016


@pytest.mark.parametrize("strategy", ["all-pairs", "adaptive-pairs", "bisection"])
@pytest.mark.parametrize("k", range(6))
def test_six_nodes_every_degraded_node_is_named_alone(strategy, k):
    nodes = fleet(6)
    _, findings, _ = simulate(strategy, nodes, {nodes[k]})
    assert findings.suspect_names == [nodes[k]]
    assert not findings.unexplained


@pytest.mark.parametrize("strategy", ["per-node", "all-pairs", "adaptive-pairs", "bisection"])
def test_healthy_fleet_has_no_suspect(strategy):
    size = 1 if strategy == "per-node" else 2
    rounds, findings, _ = simulate(strategy, fleet(6), set(), set_size=size)
    assert findings.suspect_names == [] and not findings.unexplained


def test_per_node_names_the_slow_node_in_one_round():
    nodes = fleet(8)
    rounds, findings, _ = simulate("per-node", nodes, {"node-5"}, set_size=1)
    assert rounds == 1 and findings.suspect_names == ["node-5"]


@pytest.mark.parametrize("k", [0, 1, 31, 62, 63])
def test_64_nodes_adaptive_in_3_rounds_bisection_in_7(k):
    nodes = fleet(64)
    rounds, findings, _ = simulate("adaptive-pairs", nodes, {nodes[k]})
    assert findings.suspect_names == [nodes[k]] and rounds <= 3
    rounds, findings, _ = simulate("bisection", nodes, {nodes[k]})
    assert findings.suspect_names == [nodes[k]] and rounds <= 7
    assert rounds <= math.ceil(math.log2(64)) + 1


@pytest.mark.parametrize("n", [5, 7, 9, 13])
def test_odd_fleets(n):
    nodes = fleet(n)
    for strategy in ("all-pairs", "adaptive-pairs", "bisection"):
        for k in range(n):
            _, findings, _ = simulate(strategy, nodes, {nodes[k]})
            assert findings.suspect_names == [nodes[k]], (strategy, k)


def test_failing_checks_count_as_bad_and_are_the_evidence():
    nodes = fleet(6)
    _, findings, _ = simulate("all-pairs", nodes, {"node-2"}, fail=True)
    suspect, = findings.suspects
    assert suspect.node == "node-2" and suspect.bad_sets == suspect.sets == 5
    assert all("FAIL: busbw" in j.why for j in suspect.evidence)
    assert suspect.fine_without == suspect.without == 10


def test_two_bad_nodes_are_both_named_by_all_pairs_and_adaptive():
    nodes = fleet(16)
    for strategy in ("all-pairs", "adaptive-pairs"):
        _, findings, _ = simulate(strategy, nodes, {"node-3", "node-11"})
        assert sorted(findings.suspect_names) == ["node-11", "node-3"], strategy


def test_adjacent_bad_nodes_in_one_adaptive_pair_are_both_confirmed():
    nodes = fleet(8)
    rounds, findings, _ = simulate("adaptive-pairs", nodes, {"node-0", "node-1"})
    assert sorted(findings.suspect_names) == ["node-0", "node-1"] and rounds == 2


def test_one_noisy_pair_is_unexplained_not_a_suspect():
    nodes = fleet(6)
    noisy = lambda s: 0.5 if set(s) == {"node-1", "node-4"} else 1.0
    _, findings, _ = simulate("all-pairs", nodes, set(), noise=noisy)
    assert findings.suspect_names == []
    assert [j.nodes for j in findings.unexplained] == [("node-1", "node-4")]


def test_small_noise_does_not_make_suspects():
    nodes = fleet(6)
    wobble = {frozenset(p): 0.85 + 0.3 * ((i * 7919) % 11) / 10 for i, p in enumerate(itertools.combinations(nodes, 2))}
    for strategy in ("all-pairs", "adaptive-pairs", "bisection"):
        _, findings, _ = simulate(strategy, nodes, set(), noise=lambda s: wobble.get(frozenset(s), 1.0))
        assert findings.suspect_names == [], strategy


def test_whole_fleet_bad_names_nobody():
    nodes = fleet(6)
    _, findings, _ = simulate("adaptive-pairs", nodes, set(nodes), fail=True)
    assert findings.suspect_names == [] and findings.unexplained


def test_lower_is_better_metric():
    results = [SetResult(1, ("a", "b"), "PASS", 10.0), SetResult(1, ("c", "d"), "PASS", 10.0), SetResult(1, ("e", "f"), "PASS", 40.0)]
    judged = judge_sets(results, better="lower")
    assert [j.bad for j in judged] == [False, False, True]


def test_registry_names():
    assert sorted(STRATEGIES) == ["adaptive-pairs", "all-pairs", "bisection", "per-node"]

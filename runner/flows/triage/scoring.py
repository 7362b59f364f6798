"""Scoring: which sets were bad, and which nodes explain them.

Each set's metric is taken relative to a fleet median (see reference_values); a set is bad when its
run did not pass or its metric is below `slow` times that median (lower-is-better: above median / slow).

A node is a suspect when most of the sets that include it are bad and the bad sets are explained
without the other nodes: suspects are taken greedily, the node with the largest share of bad sets
first; the sets it is in are then explained, and the rest are looked at again. Bad sets no suspect
explains are reported as unexplained (a fleet-wide problem, or noise), never pinned on a node; so are
all bad sets when no set was good or when half the fleet or more would be named: that is not a bad node.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from runner.flows.triage.strategies import DEFAULT_SLOW, NodeSet, Outcome
from runner.verdict.judge import CheckStatus

PASS = CheckStatus.PASS
MIN_GROUP = 3


@dataclass(frozen=True)
class SetResult:
    """One node set's run, as the driver saw it."""
    round: int
    nodes: NodeSet
    status: str                       # the run's verdict: PASS | FAIL | ERROR | TIMEOUT | INTERRUPTED
    value: float | None = None        # the triage metric
    unit: str = ""
    failed_checks: tuple[str, ...] = ()
    run_id: str = ""
    record: str = ""
    message: str = ""


@dataclass(frozen=True)
class JudgedSet:
    result: SetResult
    median: float | None
    relative: float | None            # >1 better than the median, <1 worse (whatever the metric's direction)
    bad: bool
    why: str = ""

    @property
    def nodes(self) -> NodeSet:
        return self.result.nodes


@dataclass(frozen=True)
class Suspect:
    node: str
    bad_sets: int
    sets: int
    evidence: tuple[JudgedSet, ...]    # the sets that include the node
    fine_without: int                  # sets without any suspect that were fine
    without: int                       # sets without any suspect

    @property
    def share(self) -> float:
        return self.bad_sets / self.sets if self.sets else 0.0


@dataclass(frozen=True)
class NodeScore:
    node: str
    sets: int
    bad_sets: int
    relative: float | None            # median relative metric of the node's sets


@dataclass(frozen=True)
class Findings:
    judged: tuple[JudgedSet, ...]
    suspects: tuple[Suspect, ...]
    unexplained: tuple[JudgedSet, ...]
    scores: tuple[NodeScore, ...] = field(default_factory=tuple)

    @property
    def suspect_names(self) -> list[str]:
        return [s.node for s in self.suspects]


def judge_sets(results: Sequence[SetResult], better: str = "higher", slow: float = DEFAULT_SLOW) -> list[JudgedSet]:
    references = reference_values(results, better)
    return [_judge_one(r, references.get(len(r.nodes)), better, slow) for r in results]


def reference_values(results: Sequence[SetResult], better: str = "higher") -> dict[int, float]:
    """Per set size, the median of that size's sets or of all sets, whichever is the healthier: bad sets only ever
    drag a median towards bad, and a bisection tests as many bad sets as good ones. A size with fewer than three
    sets (a bisection's odd half) takes the median of all."""
    values: dict[int, list[float]] = {}
    for r in results:
        if isinstance(r.value, (int, float)):
            values.setdefault(len(r.nodes), []).append(float(r.value))
    if not values:
        return {}
    pooled = statistics.median([v for group in values.values() for v in group])
    healthier = min if better == "lower" else max
    return {size: healthier(statistics.median(v), pooled) if len(v) >= MIN_GROUP else pooled for size, v in values.items()}


def _judge_one(result: SetResult, median: float | None, better: str, slow: float) -> JudgedSet:
    relative = _relative(result.value, median, better)
    if result.status != PASS:
        checks = f": {', '.join(result.failed_checks)}" if result.failed_checks else ""
        return JudgedSet(result, median, relative, True, f"{result.status}{checks}" + (f" ({result.message})" if result.message else ""))
    if relative is None:
        return JudgedSet(result, median, None, True, "no value of the triage metric")
    if relative < slow:
        return JudgedSet(result, median, relative, True, f"slow: {relative:.2f} x the median of {len(result.nodes)}-node sets")
    return JudgedSet(result, median, relative, False)


def _relative(value: float | None, median: float | None, better: str) -> float | None:
    if not isinstance(value, (int, float)) or median is None:
        return None
    if better == "lower":
        return median / value if value > 0 else None
    return value / median if median > 0 else (1.0 if value == median else None)


def outcomes(judged: Sequence[JudgedSet]) -> tuple[Outcome, ...]:
    return tuple(Outcome(j.nodes, j.bad) for j in judged)


def find_suspects(judged: Sequence[JudgedSet], fleet: Sequence[str]) -> Findings:
    remaining = list(judged)
    chosen: list[str] = []
    while any(j.bad for j in remaining):
        candidate = _worst_node(remaining, fleet)
        if candidate is None:
            break
        chosen.append(candidate)
        remaining = [j for j in remaining if candidate not in j.nodes]
    if not any(not j.bad for j in judged) or len(chosen) * 2 >= len(fleet):
        chosen = []
    without = [j for j in judged if not any(n in j.nodes for n in chosen)]
    fine_without = sum(1 for j in without if not j.bad)
    suspects = tuple(_suspect(node, judged, fine_without, len(without)) for node in chosen)
    unexplained = tuple(j for j in without if j.bad)
    return Findings(tuple(judged), suspects, unexplained, tuple(node_scores(judged, fleet)))


def _worst_node(judged: Sequence[JudgedSet], fleet: Sequence[str]) -> str | None:
    """The node with the largest share of bad sets (then the most bad sets), when that share is a majority."""
    best, best_key = None, None
    for node in fleet:
        mine = [j for j in judged if node in j.nodes]
        bad = sum(1 for j in mine if j.bad)
        if not bad or bad * 2 <= len(mine):
            continue
        key = (bad / len(mine), bad)
        if best_key is None or key > best_key:
            best, best_key = node, key
    return best


def _suspect(node: str, judged: Sequence[JudgedSet], fine_without: int, without: int) -> Suspect:
    mine = tuple(j for j in judged if node in j.nodes)
    return Suspect(node, sum(1 for j in mine if j.bad), len(mine), mine, fine_without, without)


def node_scores(judged: Sequence[JudgedSet], fleet: Sequence[str]) -> list[NodeScore]:
    scores = []
    for node in fleet:
        mine = [j for j in judged if node in j.nodes]
        relatives = [j.relative for j in mine if j.relative is not None]
        scores.append(NodeScore(node, len(mine), sum(1 for j in mine if j.bad),
                                statistics.median(relatives) if relatives else None))
    return scores


def pair_matrix(judged: Sequence[JudgedSet], fleet: Sequence[str]) -> Mapping[tuple[str, str], JudgedSet]:
    """(a, b) -> the pair's judged set, both ways round; a single-node set sits on the diagonal."""
    cells: dict[tuple[str, str], JudgedSet] = {}
    for j in judged:
        if len(j.nodes) == 2:
            a, b = j.nodes
            cells[(a, b)] = cells[(b, a)] = j
        elif len(j.nodes) == 1:
            cells[(j.nodes[0], j.nodes[0])] = j
    return cells

"""Triage strategies: which node sets to test next, given what the rounds so far showed.

A strategy is a pure function `plan(fleet, history, set_size) -> next round` registered by name.
`history` is every finished round, each a tuple of Outcome (the set's nodes and whether it was
bad); an empty next round means the strategy is done. Sets within a round are disjoint, so they
can run at the same time; a concurrency limit is the driver's business, not the strategy's.

    per-node        one round of single-node sets (intranode tests)
    all-pairs       every pair once, round-robin: N nodes take N-1 rounds (N even; N rounds when odd)
    adaptive-pairs  one round of disjoint pairs, then every member of a bad pair is re-paired with a
                    cleared node until it is confirmed (bad again beside a good node) or cleared
    bisection       halves of the fleet, then halves of each bad half, down to sets of `set_size`,
                    whose members are then each tried beside cleared nodes: about log2 N rounds
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from runner.base.registry import Registry

DEFAULT_SLOW = 0.75  # a set below this fraction of the fleet's median is slow (triage.slow)

NodeSet = tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """One set of nodes of a triage round, and whether its run was slow or failed."""

    nodes: NodeSet
    bad: bool


Round = tuple[Outcome, ...]
Planner = Callable[[Sequence[str], Sequence[Round], int], list[NodeSet]]

STRATEGIES: Registry = Registry("triage strategy")
strategy = STRATEGIES.register


def plan_next(name: str, fleet: Sequence[str], history: Sequence[Round], set_size: int = 2) -> list[NodeSet]:
    return STRATEGIES[name](tuple(fleet), tuple(history), set_size)


# --- per node, all pairs ------------------------------------------------------------------------


@strategy("per-node")
def per_node(fleet: Sequence[str], history: Sequence[Round], set_size: int = 1) -> list[NodeSet]:
    return [] if history else [(node,) for node in fleet]


def round_robin(fleet: Sequence[str]) -> list[list[NodeSet]]:
    """The circle method: node 0 stays, the others rotate; every pair meets exactly once.
    With an odd count one node sits out each round (a bye)."""
    nodes: list[str | None] = list(fleet) + ([None] if len(fleet) % 2 else [])
    count = len(nodes)
    rounds = []
    for _ in range(count - 1):
        pairs = [(nodes[i], nodes[count - 1 - i]) for i in range(count // 2)]
        rounds.append([tuple(sorted(p, key=fleet.index)) for p in pairs if None not in p])
        nodes = [nodes[0], nodes[-1], *nodes[1:-1]]
    return rounds


@strategy("all-pairs")
def all_pairs(fleet: Sequence[str], history: Sequence[Round], set_size: int = 2) -> list[NodeSet]:
    rounds = round_robin(fleet)
    return rounds[len(history)] if len(history) < len(rounds) else []


# --- what the history says about each node ----------------------------------------------------


def cleared_nodes(history: Sequence[Round]) -> set[str]:
    """Nodes that took part in a good set: whatever is wrong, it is not them alone."""
    return {node for round_ in history for outcome in round_ if not outcome.bad for node in outcome.nodes}


def confirmed_nodes(history: Sequence[Round]) -> set[str]:
    """Nodes in a bad set whose every other member is cleared: the set is bad because of them."""
    cleared = cleared_nodes(history)
    confirmed = set()
    for round_ in history:
        for outcome in round_:
            if not outcome.bad:
                continue
            unexplained = [n for n in outcome.nodes if n not in cleared]
            if len(unexplained) == 1:
                confirmed.add(unexplained[0])
    return confirmed


def tested_nodes(history: Sequence[Round]) -> set[str]:
    return {node for round_ in history for outcome in round_ for node in outcome.nodes}


def _beside_cleared(suspects: Sequence[str], cleared: Sequence[str], set_size: int) -> list[NodeSet]:
    """Each suspect in a set with `set_size - 1` cleared nodes, as many as the cleared nodes allow (disjoint)."""
    helpers = list(cleared)
    sets = []
    for suspect in suspects:
        if len(helpers) < set_size - 1:
            break
        partners, helpers = helpers[: set_size - 1], helpers[set_size - 1:]
        sets.append((suspect, *partners))
    return sets


# --- adaptive pairs ----------------------------------------------------------------------------


@strategy("adaptive-pairs")
def adaptive_pairs(fleet: Sequence[str], history: Sequence[Round], set_size: int = 2) -> list[NodeSet]:
    if not history:
        return [tuple(fleet[i:i + set_size]) for i in range(0, len(fleet) - set_size + 1, set_size)]
    cleared, confirmed = cleared_nodes(history), confirmed_nodes(history)
    unresolved = [n for n in fleet if n not in cleared and n not in confirmed]
    if not unresolved or len(history) >= len(fleet):
        return []
    if cleared:
        return _beside_cleared(unresolved, [n for n in fleet if n in cleared], set_size)
    return _untried_sets(unresolved, history, set_size)


def _untried_sets(nodes: Sequence[str], history: Sequence[Round], set_size: int) -> list[NodeSet]:
    """No node is cleared yet (every set so far was bad): disjoint pairs never tested together.
    Larger sets are not re-drawn: a fleet where every large set fails has no single bad node to find."""
    if set_size != 2:
        return []
    tried = {frozenset(o.nodes) for round_ in history for o in round_}
    free, sets = list(nodes), []
    while free:
        first = free.pop(0)
        partner = next((other for other in free if frozenset((first, other)) not in tried), None)
        if partner is not None:
            free.remove(partner)
            sets.append((first, partner))
    return sets


# --- bisection ---------------------------------------------------------------------------------


def halves(nodes: NodeSet) -> list[NodeSet]:
    middle = (len(nodes) + 1) // 2
    return [nodes[:middle], nodes[middle:]]


@strategy("bisection")
def bisection(fleet: Sequence[str], history: Sequence[Round], set_size: int = 2) -> list[NodeSet]:
    """Halve the fleet, then every bad set, while both halves can still hold a test of `set_size` nodes;
    a bad set too small to halve has each of its unresolved members tried beside cleared nodes."""
    fleet = tuple(fleet)
    if not history:
        return halves(fleet) if len(fleet) >= 2 * set_size else [fleet]
    cleared, confirmed = cleared_nodes(history), confirmed_nodes(history)
    to_split, to_resolve = [], []
    for outcome in history[-1]:
        if not outcome.bad:
            continue
        if len(outcome.nodes) >= 2 * set_size:
            to_split += halves(outcome.nodes)
        else:
            to_resolve += [n for n in outcome.nodes if n not in cleared and n not in confirmed]
    if set_size == 1:
        to_resolve = []  # a bad single node is already confirmed
    helpers = [n for n in fleet if n in cleared and not any(n in s for s in to_split)]
    return to_split + _beside_cleared(to_resolve, helpers, set_size)


def max_rounds(name: str, fleet_size: int) -> int:
    """An upper bound the driver enforces, so a strategy bug cannot loop forever."""
    return {"per-node": 1, "all-pairs": fleet_size}.get(name, 2 * fleet_size + 2)

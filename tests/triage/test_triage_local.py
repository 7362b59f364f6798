"""triage-loopback on emulated nodes: real traffic (the collectives probe on gloo under mpirun) across links that tc
rate-limits, one node's link at a quarter of the others'. One degraded node per strategy, and a healthy fleet."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.executors import nodes

REPO = Path(__file__).resolve().parents[2]
SCENARIO = str(Path(sys.executable).parent / "scenario")
pytestmark = pytest.mark.skipif(nodes.unavailable_reason() != "", reason=f"emulated nodes unavailable: {nodes.unavailable_reason()}")


def triage(tmp_path: Path, strategy: str, degraded: int) -> tuple[int, dict, str]:
    done = subprocess.run([SCENARIO, "run", "triage-loopback", "--set", f"parameters.degraded={degraded}", "--triage", strategy,
                           "-o", "json", "--results", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=600)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}, done.stderr


@pytest.mark.parametrize("strategy, degraded", [("per-node", 1), ("all-pairs", 4), ("adaptive-pairs", 0), ("bisection", 5)])
def test_the_throttled_node_is_named_alone(tmp_path, strategy, degraded):
    code, document, stderr = triage(tmp_path, strategy, degraded)
    sets = [(s["nodes"], s["value"], s["why"]) for s in document.get("sets", [])]
    assert document.get("suspects") == [f"node-{degraded}"], (stderr[-2000:], sets)
    assert code == 1 and document["fleet"] == [f"node-{i}" for i in range(6)]
    assert document["cordon"] == []  # emulated nodes: nothing to cordon
    slow = [s for s in document["evidence"][f"node-{degraded}"]["sets_with_it"] if s["bad"]]
    measured = [s["relative"] for s in slow if s["relative"] is not None]
    assert measured and all(r < 0.5 for r in measured)  # a quarter of the rate, measured


def test_a_healthy_fleet_names_nobody(tmp_path):
    code, document, stderr = triage(tmp_path, "adaptive-pairs", -1)
    assert document.get("suspects") == [] and document["unexplained"] == [], stderr[-2000:]
    assert code == 0

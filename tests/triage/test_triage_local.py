"""triage-loopback on emulated nodes: real traffic (the collectives probe on gloo under mpirun) across links that tc
rate-limits, one node's link at a quarter of the others'. One degraded node per strategy, and a healthy fleet
(bench/triage_local_matrix.py runs every K of every strategy); every round is checked for what its sets left behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from runner.execute.local import nodes

REPO = Path(__file__).resolve().parents[2]
SCENARIO = str(Path(sys.executable).parent / "scenario")
pytestmark = pytest.mark.skipif(nodes.unavailable_reason() != "", reason=f"emulated nodes unavailable: {nodes.unavailable_reason()}")


def triage(tmp_path: Path, strategy: str, degraded: int) -> tuple[int, dict, str]:
    done = subprocess.run([SCENARIO, "run", "triage-loopback", "--set", f"parameters.degraded={degraded}", "--triage", strategy,
                           "-o", "json", "--results", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=600)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}, done.stderr


def set_ids(document: dict) -> list[str]:
    return [s["run_id"] for s in document.get("sets", []) if s["run_id"]]


@pytest.mark.parametrize("strategy, degraded", [("per-node", 1), ("all-pairs", 4), ("adaptive-pairs", 0), ("bisection", 5)])
def test_the_throttled_node_is_named_alone(tmp_path, strategy, degraded):
    code, document, stderr = triage(tmp_path, strategy, degraded)
    sets = [(s["nodes"], s["status"], s["value"], s["why"], s["message"]) for s in document.get("sets", [])]
    assert document.get("suspects") == [f"node-{degraded}"], (stderr[-2000:], sets)
    assert code == 1 and document["fleet"] == [f"node-{i}" for i in range(6)]
    assert document["cordon"] == []  # emulated nodes: nothing to cordon
    assert all(s["status"] == "PASS" for s in document["sets"]), sets  # concurrent sets run on their nodes, no retry
    slow = [s for s in document["evidence"][f"node-{degraded}"]["sets_with_it"] if s["bad"]]
    measured = [s["relative"] for s in slow if s["relative"] is not None]
    assert measured and all(r < 0.5 for r in measured)  # a quarter of the rate, measured
    assert all(r["left_behind"] == [] for r in document["rounds"]) and nodes.left_behind({}, "", set_ids(document)) == []


def test_a_healthy_fleet_names_nobody(tmp_path):
    code, document, stderr = triage(tmp_path, "adaptive-pairs", -1)
    assert document.get("suspects") == [] and document["unexplained"] == [], stderr[-2000:]
    assert code == 0
    assert all(s["status"] == "PASS" for s in document["sets"]) and len(document["sets"]) == 3
    # sets side by side keep their Open MPI session directories apart (their pods share hostnames and /tmp)
    for entry in document["sets"]:
        command = next(tmp_path.glob(f"triage-loopback/{entry['run_id']}/logs/all-reduce/mpirun.cmd")).read_text()
        assert f"--mca orte_tmpdir_base {nodes.MARKER_DIR}/{nodes.run_tag(entry['run_id'])}/ompi " in command


# --- every round is checked for what its sets left behind -------------------------------------------------------


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_left_behind_names_a_runs_namespaces_marker_and_processes_until_they_are_gone():
    from runner.execute.local import processes

    run_id = f"test-left-{uuid.uuid4().hex[:8]}"
    fabric = nodes.Fabric.create(run_id, {"node-0": nodes.LinkSettings(), "node-1": nodes.LinkSettings()})
    sleeper = None
    try:
        left = nodes.left_behind({}, "", [run_id])
        expected = {f"namespace {ns} (run {run_id})" for ns in [fabric.hub, *(n.netns for n in fabric.nodes.values())]}
        assert expected <= set(left), left
        assert any(line.startswith("marker ") for line in left) and any(line.startswith("hosts file ") for line in left)
        sleeper = subprocess.Popen(fabric.launcher("node-1") + ["sleep", "60"], env={**os.environ, processes.RUN_MARKER: run_id})
        wait_for(lambda: any("in namespace of run" in line for line in nodes.left_behind({}, "", [run_id])))
        assert f"process {sleeper.pid} of run {run_id}" in nodes.left_behind({}, "", [run_id])
        assert fabric.teardown() == []
        sleeper.wait(timeout=10)
        assert nodes.left_behind({}, "", [run_id]) == []
        assert nodes.left_behind({}, "", ["another-run"]) == []
    finally:
        if sleeper and sleeper.poll() is None:
            sleeper.kill()
        fabric.teardown()


def test_a_round_that_leaves_namespaces_behind_stops_the_triage_as_an_infrastructure_error(tmp_path, monkeypatch):
    from runner.base.errors import EXIT_INFRA
    from runner.execute.local.emulated import EmulatedNodes
    from runner.flows.triage.drive import run_triage
    from runner.scenario.resolve import Library

    kept: list = []
    monkeypatch.setattr(EmulatedNodes, "teardown", lambda self: kept.append(self.fabric) or [])  # a teardown that forgets
    lines: list[str] = []
    try:
        result = run_triage("triage-loopback", Library(REPO / "scenarios"),
                            ["parameters.nodes=4", "parameters.max_bytes=1M", "parameters.iters=1"],
                            cli={"strategy": "adaptive-pairs"}, results_dir=tmp_path, announce=lines.append)
    finally:
        for fabric in kept:
            nodes.Fabric.teardown(fabric)
    assert len(kept) == 2 and len(result.rounds) == 1, lines  # the round's two sets, then the triage stops
    left = result.rounds[0].left_behind
    assert {f"namespace {fabric.hub} (run {fabric.run_id})" for fabric in kept} <= set(left)
    assert result.exit_code == EXIT_INFRA
    assert any("LEFT BEHIND: namespace sr-" in line for line in lines), lines
    document = json.loads((result.record / "triage.json").read_text())
    assert document["rounds"][0]["left_behind"] == list(left)
    assert nodes.left_behind({}, "", [fabric.run_id for fabric in kept]) == []

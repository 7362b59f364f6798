"""The two local scenarios run for real (Mooncake over TCP, the collectives probe on gloo) and PASS, read from the run record."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = Path(sys.executable).parent / "scenario"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCENARIO), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CI": "true"})


def only_record(results: Path, scenario: str) -> Path:
    records = [p for p in (results / scenario).iterdir() if p.is_dir()]
    assert len(records) == 1, records
    return records[0]


def test_mooncake_tcp_loopback_passes_with_real_throughput(tmp_path):
    completed = run_cli("run", "mooncake-tcp-loopback", "--results", str(tmp_path), "--no-progress")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    record = only_record(tmp_path, "mooncake-tcp-loopback")
    verdict = json.loads((record / "verdict.json").read_text())
    metrics = json.loads((record / "metrics.json").read_text())
    assert verdict["status"] == "PASS"
    initiator = metrics["workloads"]["initiator"]["metrics"]
    assert initiator["throughput_gbps"]["value"] > 0
    assert initiator["batch_count"]["value"] > 0
    target = metrics["workloads"]["target"]["metrics"]
    assert target["rpc_address"]["value"].startswith("127.0.0.1:")
    # The initiator found the target through the address read from the target's log.
    command = (record / "logs" / "initiator" / "rank-0.cmd").read_text()
    assert f"--segment_id={target['rpc_address']['value']}" in command


def test_collectives_loopback_passes_with_real_bandwidth(tmp_path):
    pytest.importorskip("torch", reason="the collectives probe needs torch (make setup installs torch==2.13.0)")
    completed = run_cli("run", "collectives-loopback", "--results", str(tmp_path), "--no-progress")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    record = only_record(tmp_path, "collectives-loopback")
    verdict = json.loads((record / "verdict.json").read_text())
    assert verdict["status"] == "PASS"
    metrics = json.loads((record / "metrics.json").read_text())
    for workload in ("all-reduce", "all-gather", "all-to-all"):
        entry = metrics["workloads"][workload]
        assert entry["metrics"]["busbw_gbps_max"]["value"] > 0
        assert entry["metrics"]["ranks"]["value"] == 2
        assert len(entry["series"]["rows"]["rows"]) == entry["metrics"]["sizes"]["value"] > 5

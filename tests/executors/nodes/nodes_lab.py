"""Helpers: a temporary scenario library for runs on emulated nodes, run in-process or through the CLI (root only)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.execute.local import nodes
from runner.execute.progress import QuietProgress
from runner.flows.check import validate_scenario
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library
from tests.processes import processes_with  # noqa: F401 - re-exported for the tests

SCENARIO_BIN = Path(sys.executable).parent / "scenario"
HEADER = "apiVersion: scenarios/v1\nkind: Scenario\nmetadata: {{name: {name}, layer: kv-transfer}}\nexecutors: [local]\n"
needs_nodes = pytest.mark.skipif(nodes.unavailable_reason() != "", reason=f"emulated nodes unavailable: {nodes.unavailable_reason()}")

# Two Mooncake engines on two emulated nodes: target on node-0, initiator on node-1, P2P handshake (no metadata server).
MOONCAKE_PAIR = """\
parameters: {{duration: {duration}, block_size: 1048576, batch_size: 4, threads: 2}}  # 1 MiB blocks: 64 KiB ones cost Mooncake more than a 100 Mbit link
workloads:
  - name: target
    kind: service
    command: [transfer_engine_bench, --mode=target, --protocol=tcp, --metadata_server=P2PHANDSHAKE,
              "--local_server_name=$(POD_IP)", --buffer_size=134217728, "--duration={{{{ params.duration + 60 }}}}"]
    ready: {{log: 'listening on (?P<rpc_address>[^\\s]+:[0-9]+)', timeout: 60s}}
  - name: initiator
    kind: job
    after: [target]
    command: [transfer_engine_bench, --mode=initiator, --protocol=tcp, --metadata_server=P2PHANDSHAKE,
              "--local_server_name=$(POD_IP)", "--segment_id={{{{ ready.target.rpc_address }}}}", --operation=write,
              "--threads={{{{ params.threads }}}}", "--block_size={{{{ params.block_size }}}}", "--batch_size={{{{ params.batch_size }}}}",
              --buffer_size=134217728, "--duration={{{{ params.duration }}}}", --report_unit=GB, {marker}]
    timeout: 2m
    parser: mooncake-bench
checks:
  - {{metric: initiator.batch_count, op: ">", value: 0}}
local:
  nodes:
    placement: {{target: node-0, initiator: node-1}}
{links}
timeouts: {{run: 3m}}
"""


class Lab:
    def __init__(self, root: Path):
        self.scenarios = root / "scenarios"
        self.results = root / "results"
        self.scenarios.mkdir()

    def write(self, name: str, body: str) -> Path:
        path = self.scenarios / f"{name}.yaml"
        path.write_text(HEADER.format(name=name) + textwrap.dedent(body))
        return path

    def mooncake_pair(self, name: str, duration: int = 4, links: str = "", marker: str = "--v=0") -> Path:
        return self.write(name, MOONCAKE_PAIR.format(duration=duration, links=textwrap.indent(links, "    ") if links else "",
                                                     marker=marker))

    def run(self, name: str, overrides: list[str] | None = None, **kwargs):
        scenario = validate_scenario(name, Library(self.scenarios), overrides or [])
        return run_scenario(scenario, results_dir=self.results, progress=QuietProgress(), overrides=overrides, **kwargs)

    def env(self) -> dict[str, str]:
        return {**os.environ, "SCENARIO_DIR": str(self.scenarios), "CI": "true"}

    def cli(self, *args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCENARIO_BIN), *args], capture_output=True, text=True, env=kwargs.pop("env", self.env()),
                              timeout=timeout, **kwargs)

    @staticmethod
    def run_json(record: Path) -> dict:
        return json.loads((record / "run.json").read_text())


def ip_netns() -> list[str]:
    return [line.split()[0] for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines() if line]

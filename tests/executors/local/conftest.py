"""Helpers: write small scenarios into a temporary library and run them in-process or through the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.execute.progress import QuietProgress
from runner.flows.check import validate_scenario
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library
from tests.processes import processes_with  # noqa: F401 - re-exported for the tests

REPO = Path(__file__).resolve().parents[3]
SCENARIO = [sys.executable, "-m", "runner"]  # the `scenario` command, runner imported as the tests import it
SCENARIO_BIN = Path(sys.executable).parent / "scenario"

HEADER = """\
apiVersion: scenarios/v1
kind: Scenario
metadata:
  name: {name}
  layer: fabric
executors: [local]
"""


class Lab:
    def __init__(self, root: Path):
        self.root = root
        self.scenarios = root / "scenarios"
        self.results = root / "results"
        self.scenarios.mkdir()

    def write(self, name: str, body: str) -> Path:
        path = self.scenarios / f"{name}.yaml"
        path.write_text(HEADER.format(name=name) + textwrap.dedent(body))
        return path

    def run(self, name: str, **kwargs):
        scenario = validate_scenario(name, Library(self.scenarios))
        return run_scenario(scenario, results_dir=self.results, progress=QuietProgress(), **kwargs)

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        env = {**os.environ, "SCENARIO_PATH": str(self.scenarios), "CI": "true"}
        return subprocess.run([*SCENARIO, *args], capture_output=True, text=True, env=env, timeout=120, **kwargs)

    scenario_bin = SCENARIO_BIN

    @staticmethod
    def processes_with(marker: str) -> list[int]:
        return processes_with(marker)

    def verdict(self, record: Path) -> dict:
        return json.loads((record / "verdict.json").read_text())


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)

"""Run records made for real (local executor) in temporary results folders, and small scenarios in a temporary library."""
from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from runner.execute.progress import QuietProgress
from runner.flows.check import validate_scenario
from runner.flows.run import run_scenario
from runner.scenario.resolve import Library

REPO = Path(__file__).resolve().parents[2]
HAS_MOONCAKE = (Path(sys.executable).parent / "transfer_engine_bench").exists() or shutil.which("transfer_engine_bench") is not None
needs_mooncake = pytest.mark.skipif(not HAS_MOONCAKE, reason="transfer_engine_bench is not installed (make setup installs it)")

HEADER = """\
apiVersion: scenarios/v1
kind: Scenario
metadata:
  name: {name}
  layer: {layer}
executors: [local]
"""


class Lab:
    """A scenario library (the repo's local scenarios plus files a test writes) and a results folder."""

    def __init__(self, root: Path):
        self.scenarios = root / "scenarios"
        self.results = root / "results"
        shutil.copytree(REPO / "scenarios" / "local", self.scenarios / "local")
        self.library = Library(self.scenarios)

    def write(self, name: str, body: str, layer: str = "serving") -> Path:
        path = self.scenarios / f"{name}.yaml"
        path.write_text(HEADER.format(name=name, layer=layer) + textwrap.dedent(body))
        self.library = Library(self.scenarios)
        return path

    def scenario(self, name: str, overrides=()):
        return validate_scenario(name, self.library, list(overrides))

    def run(self, name: str, overrides=(), **kwargs):
        return run_scenario(self.scenario(name, overrides), results_dir=self.results, progress=QuietProgress(),
                            overrides=list(overrides), **kwargs)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


@pytest.fixture(scope="session")
def mooncake_run(tmp_path_factory):
    """One real run of mooncake-tcp-loopback (about 5 s), shared; tests copy it before changing anything."""
    if not HAS_MOONCAKE:
        pytest.skip("transfer_engine_bench is not installed (make setup installs it)")
    lab = Lab(tmp_path_factory.mktemp("mooncake"))
    result = lab.run("mooncake-tcp-loopback", overrides=["parameters.duration=2"])
    assert result.verdict.status == "PASS", result.verdict.summary
    return result


FAKE_BENCH = Path(__file__).resolve().parent / "fake_bench_serving.py"


def bench_scenario(scale: float = 1.0, baseline: str = "", factor: float = 1.3, run: str = "") -> str:
    """A small 'serving' scenario whose workload prints bench_serving's result block with latencies times `scale`;
    with `baseline`, TTFT and TPOT are judged against that scenario's run times `factor`."""
    pinned = f", run: {run}" if run else ""
    if baseline:
        checks = "".join(f"  - {{metric: bench.{m}, op: '<=', baseline: {{scenario: {baseline}, factor: {factor}{pinned}}}}}\n"
                         for m in ("ttft_ms_mean", "tpot_ms_mean"))
    else:
        checks = "  - {metric: bench.ttft_ms_mean, op: '<=', value: 100000}\n"
    return f"""\
workloads:
  - name: bench
    command: [python, {FAKE_BENCH}, "{scale}"]
    parser: sglang-bench-serving
checks:
{checks}"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runner.scenario.resolve import Library

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "broken"
SCENARIOS = REPO / "scenarios"
# the `scenario` command of the interpreter running the tests, with runner imported the way the tests import it
SCENARIO = [sys.executable, "-m", "runner"]

_HEAD = """\
apiVersion: scenarios/v1
kind: Scenario
metadata:
  name: {name}
executors: [{executor}]
"""


def scenario_text(name: str = "demo", body: str = "", executor: str = "local") -> str:
    """A minimal scenario header (5 lines) followed by `body`."""
    return _HEAD.format(name=name, executor=executor) + body


JOB = """\
workloads:
  - name: bench
    kind: job
    command: [echo, hi]
"""

JUDGED = """\
checks:
  - log: bench
    contains: hi
"""


@pytest.fixture
def make_library(tmp_path):
    """make_library({"name": text, ...}) writes the files into a fresh directory and returns its Library."""

    def make(files: dict[str, str]) -> Library:
        for name, text in files.items():
            path = tmp_path / f"{name}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return Library(tmp_path)

    return make

"""Small traps: a typo in a --set path is blamed on the --set; `make scenario`'s real exit code is not lost."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.base.errors import ScenarioError
from runner.flows.check import validate_scenario
from runner.scenario.resolve import Library

from .conftest import REPO, SCENARIOS


@pytest.mark.parametrize("override, path", [
    ("parmeters.threads=4", "$.parmeters"),                               # a new top-level key
    ("workloads.initiator.comand=x", "$.workloads[1].comand"),            # a new key in an existing mapping
    ("local.nodes.cuont=4", "$.local.nodes.cuont"),
])
def test_a_typo_in_a_set_path_is_blamed_on_the_set(override, path):
    with pytest.raises(ScenarioError) as error:
        validate_scenario("mooncake-tcp-loopback", Library(SCENARIOS), [override])
    [problem] = error.value.problems
    assert problem.location.file == f"--set {override}" and problem.location.path == path
    assert "unknown key" in problem.message and problem.hint.startswith("did you mean")


FAILING = """\
apiVersion: scenarios/v1
kind: Scenario
metadata: {name: breaks}
executors: [local]
workloads:
  - {name: tool, kind: job, command: [python, -c, "import sys; sys.exit(4)"]}
checks:
  - {log: tool, contains: done}
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_scenario_keeps_the_runners_exit_code(tmp_path):
    venv = Path(sys.prefix)
    if not (venv / ".installed").is_file():
        pytest.skip(f"{venv} is not a `make setup` virtual environment")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "breaks.yaml").write_text(FAILING)
    args = [f"VENV={venv}", "S=breaks", f"ARGS=--library {tmp_path / 'lib'} --results {tmp_path / 'results'} --no-progress"]
    wrapped = subprocess.run([str(REPO / "make-scenario"), *args], capture_output=True, text=True, timeout=120)
    assert wrapped.returncode == 3, wrapped.stdout + wrapped.stderr  # an infrastructure error: the workload failed
    assert "scenario run breaks exited 3" in wrapped.stderr
    plain = subprocess.run(["make", "-C", str(REPO), "--no-print-directory", "scenario", *args], capture_output=True, text=True)
    assert plain.returncode == 2 and "exited 3" in plain.stderr  # make's own code, with the runner's printed


@pytest.mark.parametrize("override, name, field, value", [
    ("checks[initiator.batch_count >].value=5", "initiator.batch_count >", "value", 5),        # dots and spaces in brackets
    ("checks[initiator log has 'Test completed'].count=2", "initiator log has 'Test completed'", "count", 2),
    ("checks.throughput.op=>=", "throughput", "op", ">="),                                     # a named check as before
])
def test_set_reaches_a_check_by_its_identity(override, name, field, value):
    scenario = validate_scenario("mooncake-tcp-loopback", Library(SCENARIOS), [override])
    assert getattr(next(c for c in scenario.checks if c.name == name), field) == value


@pytest.mark.parametrize("override, message", [
    ("checks[nope].value=1", "no check named 'nope'"),
    ("checks[x.value=1", "'[' without ']'"),
])
def test_set_on_a_check_that_is_not_there(override, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_scenario("mooncake-tcp-loopback", Library(SCENARIOS), [override])

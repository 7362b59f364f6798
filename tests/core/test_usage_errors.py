"""The run-time and command-line cases of issue 11's list: each is exit 2 with the flag or file it is about, or the right status."""
from __future__ import annotations

import pytest

from .conftest import JOB, scenario_text
from .test_cli import invoke


@pytest.mark.parametrize("args, where, message", [
    (["run", "mooncake-tcp-loopback", "--set", "parameters.thread=8"], "--set", "did you mean 'threads'?"),
    (["show", "mooncake-tcp-loopback", "--set", "parameters.nope=1"], "--set", "the scenario has no parameter 'nope'"),
    (["run", "mooncake-tcp-loopback", "--executor", "k8s"], "--executor", "does not run on 'k8s'"),
    (["run", "mooncake-tcp-loopback", "--executor", "kubernetes"], "--executor", "does not run on 'kubernetes'"),
    (["run", "mooncake-tcp-loopback", "--dry-run", "client"], "--dry-run", "the local executor has no dry run"),
    (["run", "mooncake-tcp-loopback", "--repeat", "0"], "--repeat", "0 is not in the range"),
])
def test_usage_errors_exit_2_and_name_the_flag(args, where, message):
    code, out, err = invoke(args)
    assert code == 2, (out, err)
    assert where in err and message in err and "Traceback" not in err


def test_run_refuses_an_ambiguous_scenario_name(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.yaml").write_text(scenario_text("same", JOB + "checks:\n  - log: bench\n    contains: hi\n"))
    code, _, err = invoke(["run", "same", "--results", str(tmp_path / "results")], env={"SCENARIO_DIR": str(tmp_path)})
    assert code == 2 and "scenario name 'same' is ambiguous" in err
    assert not (tmp_path / "results").exists()  # nothing ran

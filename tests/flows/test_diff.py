"""`scenario diff`: only the real differences after resolution, thresholds with their values and sources, and a
scenario against itself at an earlier git revision."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from runner.flows.diff import diff_scenarios
from runner.scenario.resolve import Library
from tests.core.conftest import SCENARIO, SCENARIOS


def paths(result) -> list[tuple[str, str]]:
    return [(c.section, c.path) for c in result.changes]


def test_sglang_1p2d_against_1p1d_shows_only_the_real_differences():
    result = diff_scenarios("sglang-1p1d", "sglang-1p2d", Library(SCENARIOS))
    assert paths(result) == [("settings", "metadata.description"), ("settings", "metadata.proves"), ("settings", "local.refuse"),
                             ("workloads", "decode.replicas"), ("workloads", "router.command")]
    assert [(c.before, c.after) for c in result.changes if c.path == "decode.replicas"] == [(1, 2)]
    assert result.b.chain == ("sglang-1p2d", "sglang-1p1d") and not result.problems


def test_a_threshold_that_follows_a_parameter_shows_its_values_and_source():
    result = diff_scenarios("sglang-1p1d", "sglang-1p1d", Library(SCENARIOS), ("parameters.num_prompts=256",))
    completed = next(c for c in result.changes if c.path == "'completed'.value")
    assert completed.before.endswith("= 128") and completed.after.endswith("= 256")
    assert completed.source.startswith("Every request of the benchmark succeeded")
    assert ("settings", "parameters.num_prompts") in paths(result)


def test_checks_compare_by_identity_added_removed_changed(tmp_path):
    head = "apiVersion: scenarios/v1\nkind: Scenario\nmetadata: {{name: {n}}}\nexecutors: [local]\n" \
           "workloads:\n  - {{name: w, command: [echo, hi], parser: nccl-tests}}\nchecks:\n"
    (tmp_path / "a.yaml").write_text(head.format(n="a") + '  - {metric: w.busbw_gbps_max, op: ">=", value: 1, description: "a floor"}\n'
                                                          '  - {log: w, contains: hi}\n')
    (tmp_path / "b.yaml").write_text(head.format(n="b") + '  - {metric: w.busbw_gbps_max, op: ">=", value: 2, description: "a floor (measured)"}\n'
                                                          '  - {metric: w.wrong_total, op: "==", value: 0, kind: correctness}\n')
    library = Library(tmp_path)
    result = diff_scenarios("a", "b", library)
    kinds = {(c.path, c.kind) for c in result.changes}
    assert ("'w.busbw_gbps_max >='.value", "changed") in kinds
    assert ('"w log has \'hi\'"', "removed") in kinds
    assert ("'w.wrong_total =='", "added") in kinds
    value = next(c for c in result.changes if c.path.endswith(".value"))
    assert (value.before, value.after, value.source) == (1, 2, "a floor (measured)")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_scenario_at_an_earlier_revision(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scenarios").mkdir(parents=True)
    shutil.copy(SCENARIOS / "local" / "collectives-loopback.yaml", repo / "scenarios")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    path = repo / "scenarios" / "collectives-loopback.yaml"
    path.write_text(path.read_text().replace("iters: 5", "iters: 7"))
    subprocess.run(git + ["commit", "-qam", "two"], check=True)
    path.write_text(path.read_text().replace("warmup: 2", "warmup: 3"))  # uncommitted: the working tree side has it
    done = subprocess.run(SCENARIO + ["diff", "--library", str(repo / "scenarios"), "collectives-loopback@HEAD~1",
                                      "collectives-loopback", "-o", "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    changes = {c["path"]: (c["before"], c["after"]) for c in json.loads(done.stdout)["changes"]}
    assert changes == {"parameters.iters": (5, 7), "parameters.warmup": (2, 3)}
    missing = subprocess.run(SCENARIO + ["diff", "--library", str(repo / "scenarios"), "collectives-loopback@v9",
                                         "collectives-loopback"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no git revision 'v9'" in missing.stderr and "Traceback" not in missing.stderr


def test_exit_code_flag_and_text_output():
    same = subprocess.run(SCENARIO + ["diff", "sglang-1p1d", "sglang-1p1d", "--exit-code"], capture_output=True, text=True)
    assert same.returncode == 0 and "no differences after resolution" in same.stdout
    differ = subprocess.run(SCENARIO + ["diff", "sglang-1p1d", "sglang-1p2d", "--exit-code"], capture_output=True, text=True)
    assert differ.returncode == 1 and "decode.replicas: 1 -> 2" in differ.stdout and "5 differences" in differ.stdout

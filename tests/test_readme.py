"""The README's sample run is what `scenario run mooncake-tcp-loopback` prints today: same lines, same words,
same columns; only the numbers (run id, times, throughput, ports) may differ."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_COMMAND = "$ scenario run mooncake-tcp-loopback"


def readme_sample() -> list[str]:
    text = (REPO / "README.md").read_text()
    match = re.search(r"```\n" + re.escape(SAMPLE_COMMAND) + r"\n(.*?)```", text, re.DOTALL)
    assert match, f"the README has no sample block starting with {SAMPLE_COMMAND!r}"
    return match.group(1).splitlines()


def shape(line: str) -> str:
    """The line without its numbers and column padding."""
    line = re.sub(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b", "RUN", line)
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    line = re.sub(r"-{2,}", "--", line)
    return " ".join(line.split())


def test_the_readme_sample_run_is_current(tmp_path):
    if shutil.which("transfer_engine_bench", path=str(Path(sys.executable).parent)) is None and not shutil.which("transfer_engine_bench"):
        pytest.skip("transfer_engine_bench is not installed (make setup installs it)")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SCENARIO_RESULTS", "SCENARIO_DIR")}
    env.update({"SCENARIO_PATH": str(REPO / "scenarios"), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": str(REPO)})  # this checkout's runner, whichever one the interpreter has installed
    result = subprocess.run([sys.executable, "-m", "runner", "run", "mooncake-tcp-loopback"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert result.returncode == 0, result.stdout
    assert [shape(line) for line in result.stdout.splitlines()] == [shape(line) for line in readme_sample()], result.stdout


def test_shape_keeps_words_and_drops_numbers():
    assert shape("initiator   throughput_gbps  0.57 GB/s   >= 0.01  +0.56 (+5600.0%)  PASS") == \
        shape("initiator throughput_gbps 0.2 GB/s >= 0.01 +0.19 (+1900.0%) PASS") == "initiator throughput_gbps N GB/s >= N +N (+N%) PASS"
    assert shape("record: results/x/20261127-052748-c95a") == "record: results/x/RUN"
    assert shape("[0:03] initiator: done") != shape("[0:03] initiator: running")


def test_the_library_table_names_every_scenario():
    from runner.scenario.resolve import Library

    table = (REPO / "README.md").read_text().split("## The scenario library", 1)[1].split("`scenario list`", 1)[0]
    named = set(re.findall(r"`([a-z0-9-]+)`", table))
    variants = {n for n in Library(REPO / "scenarios").names() if n.startswith("mooncake-tcp-loopback-")}  # "(+ variants)"
    assert set(Library(REPO / "scenarios").names()) - variants - named == set()


def test_the_cli_reference_lists_every_command():
    from runner.cli.main import COMMANDS

    reference = (REPO / "README.md").read_text().split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    assert [name for name in COMMANDS if f"`scenario {name}" not in reference] == []


def test_the_variant_example_validates_and_edits_what_it_says(tmp_path):
    """The checks block of the README's variant example, on mooncake-tcp-loopback: each line does what its comment says."""
    import yaml

    from runner.flows.check import validate_scenario
    from runner.scenario.resolve import Library

    text = (REPO / "README.md").read_text()
    block = re.search(r"```yaml\n(parameters:\n  min_throughput_gbps.*?)```", text, re.DOTALL).group(1)
    shutil.copy(REPO / "scenarios" / "local" / "mooncake-tcp-loopback.yaml", tmp_path)
    variant = {"apiVersion": "scenarios/v1", "kind": "Scenario", "metadata": {"name": "example"},
               "extends": "mooncake-tcp-loopback", **yaml.safe_load(block)}
    (tmp_path / "example.yaml").write_text(yaml.safe_dump(variant, sort_keys=False))
    scenario = validate_scenario("example", Library(tmp_path))
    assert [(e.action, e.name) for e in scenario.check_edits] == [("changed", "initiator log has 'Test completed'"),
        ("replaced", "initiator.batch_count >"), ("removed", "initiator log lacks 'FAILED|Check failed'")]
    assert "initiator.throughput_gbps <=" in [c.name for c in scenario.checks]
    assert next(c for c in scenario.checks if c.name == "throughput").value == 0.1
    assert [w.code for w in scenario.warnings] == ["variant-weakens-check"]  # the removed absent-check is correctness

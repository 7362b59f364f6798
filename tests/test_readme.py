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

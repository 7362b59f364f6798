"""`python -m runner.cluster` as a shell sees it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_status_into_a_pipe_whose_reader_left_ends_quietly(tmp_path):
    """`python -m runner.cluster status | head -1`: a closed pipe is not an error worth a traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "runner.cluster", "status", "--dir", str(tmp_path)], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60, cwd=REPO)
    finally:
        os.close(write)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr

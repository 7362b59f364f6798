"""The `lab` fixture of the emulated-node tests (helpers in nodes_lab.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from nodes_lab import Lab


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)

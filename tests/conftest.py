"""For every test: processes the tests start (the `scenario` command, probes) import runner from this checkout, the
one under test, even where the virtual environment's editable install points at another (a git worktree)."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])

"""For every test: processes the tests start (the `scenario` command, probes) import runner from this checkout, the
one under test, even where the virtual environment's editable install points at another (a git worktree)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(scope="session")
def control_plane():
    """The real local control plane (tests/control_plane.py): started once per session, stopped if it was started here."""
    from tests import control_plane as plane  # the kubernetes client loads only for the tests that ask for a cluster

    cluster = plane.start()
    yield cluster
    if cluster.started:
        plane.rehearse.stop_cluster(cluster, print)

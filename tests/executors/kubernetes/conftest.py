"""Fixtures: no cluster configuration from the environment. The cluster itself is the real local control plane
(`control_plane`, tests/control_plane.py)."""
from __future__ import annotations

import pytest


@pytest.fixture
def no_cluster_env(monkeypatch, tmp_path):
    """No KUBECONFIG, an empty HOME, not in a pod."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

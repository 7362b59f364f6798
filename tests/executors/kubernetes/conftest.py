"""Fixtures: a fake cluster (tests/fakekube) with two p5.48xlarge GPU nodes and two system nodes, and no real cluster config."""
from __future__ import annotations

import pytest
from kube_support import Cluster, standard_nodes

from tests.fakekube import FakeKube


@pytest.fixture
def no_cluster_env(monkeypatch, tmp_path):
    """No KUBECONFIG, an empty HOME, not in a pod."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def cluster(tmp_path, no_cluster_env):
    kube = FakeKube(nodes=standard_nodes())
    with kube:
        yield Cluster(kube, tmp_path)
        assert kube.server_errors == []



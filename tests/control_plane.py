"""The local control plane for the tests (runner/cluster): started once per test session, or the one already up.

The cluster of $SCENARIO_CLUSTER_DIR (default .cluster, as `make cluster` writes it) is used when it is up; otherwise
it is built when needed (cluster/build.sh, cached; Go required) and started there, and stopped when the session ends.
Tests skip, saying why, only when it cannot be had: Go is missing and the binaries are not built, or another control
plane holds the MPI Operator's hard-coded port.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from runner.cluster import control
from runner.flows import rehearse

REPO = Path(__file__).resolve().parents[1]


def cluster_dir() -> Path:
    return Path(os.environ.get("SCENARIO_CLUSTER_DIR", REPO / ".cluster")).resolve()


def start() -> rehearse.Cluster:
    """The running control plane, or a new one (pytest.skip when it cannot be had)."""
    directory = cluster_dir()
    if control.is_up(directory):
        return rehearse.Cluster(directory, directory / "kubeconfig", False, 0.0)
    built = _built()
    if built is None and shutil.which("go") is None:
        pytest.skip("the local control plane is not built and Go is not installed to build it (cluster/build.sh)")
    if control._port_in_use(control.MPI_HEALTH_PORT):
        pytest.skip(f"port {control.MPI_HEALTH_PORT} is taken by another control plane on this machine (the MPI Operator "
                    f"hard-codes it): point SCENARIO_CLUSTER_DIR at the running one")
    return rehearse.ensure_cluster(directory, print, str(built) if built else None)


def _built() -> Path | None:
    try:
        binaries = control.find_bin(None)
    except Exception:  # noqa: BLE001 - no bash or no build script: nothing is built
        return None
    return None if control.missing_binaries(binaries) else binaries


def token_kubeconfig(cluster: rehearse.Cluster, token: str, out: Path) -> Path:
    """A kubeconfig for the same server that authenticates with a bearer token (a ServiceAccount's)."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    admin["users"] = [{"name": "token", "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = "token"
    out.write_text(yaml.safe_dump(admin))
    return out


def delete_namespace(kubeconfig: Path, namespace: str) -> None:
    """A test's own namespace away (and everything in it); one already gone is fine."""
    from runner.execute.kubernetes.client import KubeApiError, connect  # the kubernetes client: cluster tests only

    client = connect({"kubeconfig": str(kubeconfig)})
    try:
        client.delete(f"/api/v1/namespaces/{namespace}")
    except KubeApiError as error:
        if not error.not_found:
            raise
    finally:
        client.close()


def annotate_launcher(plan, annotations: dict):
    """A decorated plan (runner.flows.rehearse.decorate: its bodies are the plan's own copies) with `annotations` added
    to its MPIJob launcher's pod template."""
    for obj in plan.objects:
        if obj.kind == "MPIJob":
            meta = obj.body["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["metadata"]
            meta["annotations"].update(annotations)
    return plan

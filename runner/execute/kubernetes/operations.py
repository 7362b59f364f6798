"""What the runner asks of a cluster outside a run: cleanup by label (`scenario cleanup`), and for triage the fleet,
the objects a round left, and cordons. Each call opens a client and closes it."""
from __future__ import annotations

from typing import Any, Mapping

from runner.base.errors import ExecutionError
from runner.execute.kubernetes import cleanup as cleanup_
from runner.execute.kubernetes import fleet
from runner.execute.kubernetes.client import connect


def cleanup(options: Mapping[str, Any], run_id: str | None = None, all_runs: bool = False) -> list[str]:
    """Delete what runs left behind (by label; namespaces stay) and verify; returns what is still there.

    options: context, kubeconfig, namespace (None: every namespace), timeout_s (default 120).
    """

    if bool(run_id) == bool(all_runs):
        raise ExecutionError("say which objects to delete: a run id or all runs")
    selector = cleanup_.run_selector(run_id) if run_id else cleanup_.all_runs_selector()
    client = connect(options)
    try:
        return cleanup_.delete_by_label(client, selector, options.get("namespace") or None,
                                        timeout_s=float(options.get("timeout_s") or cleanup_.DEFAULT_TIMEOUT_S))
    finally:
        client.close()



def _with_client(options: Mapping[str, Any], use):

    client = connect(options)
    try:
        return use(client)
    finally:
        client.close()



def discover_nodes(options: Mapping[str, Any], selector: str):
    """The fleet: nodes matching the label selector that are neither cordoned nor NotReady (runner.execute.kubernetes.fleet.Fleet)."""

    return _with_client(options, lambda client: fleet.discover(client, selector))



def cordon_nodes(options: Mapping[str, Any], nodes) -> list[str]:

    return _with_client(options, lambda client: fleet.cordon(client, nodes))



def left_behind(options: Mapping[str, Any], namespace: str, run_ids) -> list[str]:
    """What the given runs left in the namespace (cleanup is verified by each run; this checks a whole round at once)."""

    return _with_client(options, lambda client: fleet.left_behind(client, namespace, list(run_ids)))

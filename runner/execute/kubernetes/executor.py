"""The Kubernetes executor: apply rendered objects with the official client, wait, stream logs, diagnose, clean up.

Thin on purpose: the work is in runner/execute/kubernetes/ (one module per concern). The CLI calls
`KubernetesExecutor.check_environment(options)` before it creates a run record, and
`cleanup(options, run_id=..., all_runs=...)` for `scenario cleanup`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from runner.base.errors import ExecutionError
from runner.execute.contract import Plan, RunContext, RunOutput
from runner.execute.kubernetes import cleanup as cleanup_
from runner.execute.kubernetes import fleet
from runner.execute.kubernetes.client import KubeApiError, connect
from runner.execute.registry import executor
from runner.execute.schedule import run_with
from runner.render.kubernetes import namespace_for, render_kubernetes, with_namespace, write_objects
from runner.scenario.model import Scenario

CHECK_TIMEOUT_S = 10.0


@executor("kubernetes")
class KubernetesExecutor:
    name = "kubernetes"
    dry_runs = ("client", "server")

    def plan(self, scenario: Scenario, out_dir: Path | None = None, *, run_id: str = "render",
             options: Mapping[str, Any] | None = None) -> Plan:
        objects = render_kubernetes(with_namespace(scenario, namespace_for(scenario, options or {})), run_id)
        files = tuple(write_objects(objects, out_dir)) if out_dir is not None else ()
        return Plan(self.name, tuple(o.body for o in objects), files, tuple(objects))

    @staticmethod
    def check_environment(options: Mapping[str, Any]) -> None:
        """Stop before a run record exists when no cluster is configured or it cannot be reached (not for --dry-run=client)."""
        if options.get("dry_run") == "client":
            return

        client = connect(options)
        try:
            client.ping(CHECK_TIMEOUT_S)
        except KubeApiError as error:
            raise ExecutionError(f"{error.message} ({client.source.describe()})", hint=error.hint) from error
        finally:
            client.close()

    @staticmethod
    def check_scenario(scenario: Scenario) -> None:
        """The cluster's nodes, not this machine, run the commands: what they lack shows in the preflight and diagnosis."""

    def run(self, context: RunContext) -> RunOutput:
        from runner.execute.kubernetes.session import TICK_S, Session  # a run's machinery: not loaded to validate or plan

        session = Session(context)
        dry_run = context.options.get("dry_run")
        if dry_run:
            return session.dry_run(dry_run)
        return run_with(context, session, TICK_S)


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


# --- for triage (a strategy above runs: it asks the cluster only for the fleet and for leftovers) ---------


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

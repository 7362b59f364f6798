"""The Kubernetes executor: apply rendered objects with the official client, wait, stream logs, diagnose, clean up.

Thin on purpose: the work is in runner/execute/kubernetes/ (one module per concern). The CLI calls
`KubernetesExecutor.check_environment(options)` before it creates a run record, and
runner.execute.kubernetes.operations for `scenario cleanup` and triage.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from runner.base.errors import ExecutionError
from runner.execute.plan import Plan
from runner.execute.registry import executor
from runner.render.kubernetes import namespace_for, render_kubernetes, with_namespace, write_objects
from runner.scenario.model import Scenario

if TYPE_CHECKING:
    from runner.execute.contract import RunContext, RunOutput

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
        from runner.execute.kubernetes.client import KubeApiError, connect  # the cluster's client: not loaded to validate or plan

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
        from runner.execute.schedule import run_with  # the run loop: not loaded to validate or plan

        session = Session(context)
        dry_run = context.options.get("dry_run")
        if dry_run:
            return session.dry_run(dry_run)
        return run_with(context, session, TICK_S)

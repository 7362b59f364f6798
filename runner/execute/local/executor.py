"""The local executor, the embedded default: workloads run as supervised processes on this machine.

This module registers it and plans (the process plan a reviewer reads: commands, environment, ports, start order);
runner.execute.local.session runs the plan, and is loaded only when a run starts. The run loop (order, readiness,
deadlines) is runner.execute.schedule's.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from runner.base.errors import ExecutionError
from runner.execute.local.commands import argv0_of, command_variables_for, resolve_program, tool_path
from runner.execute.local.needs import refusals
from runner.execute.local.placement import nodes_config, place
from runner.execute.plan import Plan, ready_text, start_order
from runner.execute.registry import executor
from runner.scenario.model import Scenario, Workload
from runner.scenario.templating import placeholder_ready, render_command, render_env

if TYPE_CHECKING:
    from runner.execute.contract import RunContext, RunOutput


@executor("local")
class LocalExecutor:
    """Supervised processes on this machine."""

    name = "local"

    # --- plan -------------------------------------------------------------------------------

    @staticmethod
    def check_environment(options: Mapping[str, Any]) -> None:
        """Nothing to connect to: the local executor runs wherever the runner runs."""

    def check_scenario(self, scenario: Scenario) -> None:
        """Refuse, before anything starts, a run whose commands need what this machine lacks (a GPU for NCCL): one
        message naming the need and its own hint, instead of the same failure on every rank."""
        plan = self.plan(scenario).documents[0]
        missing = refusals(plan, lambda argv0: resolve_program(argv0, tool_path()) is not None)
        if not missing:
            return
        workloads = {need.name: [w for w, n in missing if n is need] for _, need in missing}
        needs = {need.name: need for _, need in missing}
        text = "; ".join(f"{needs[name].message} (workload{'s' if len(ws) > 1 else ''} {', '.join(ws)})" for name, ws in workloads.items())
        raise ExecutionError(f"{scenario.name} cannot run on this machine: {text}",
                             hint="; ".join(dict.fromkeys(need.hint for need in needs.values())))

    def plan(self, scenario: Scenario, out_dir: Path | None = None, *, run_id: str = "render",
             options: Mapping[str, Any] | None = None) -> Plan:
        """The process plan a reviewer reads: commands, environment, ports, start order (placeholders for run-time values)."""
        ports = {w.name: {p: f"<free port {w.name}.{p}>" for p in w.ports} for w in scenario.workloads}
        ready = {name: {k: f"<from {name}'s log: {k}>" for k in groups} for name, groups in placeholder_ready(scenario).items()}
        config = nodes_config(scenario)
        placement = place(scenario, config, start_order(scenario)) if config and config.mode == "nodes" else None
        hosts = None
        if placement:
            ports = {w.name: dict(w.ports) for w in scenario.workloads}
            hosts = {w.name: placement.service_host(w.name) for w in scenario.workloads}
        steps = []
        for workload in start_order(scenario):
            index = scenario.workloads.index(workload)
            variables = command_variables_for(scenario, workload, ports, ready, hosts)
            command = render_command(scenario, workload, index, variables)
            steps.append({
                "workload": workload.name,
                "kind": workload.kind,
                "type": "service (runs until the run ends)" if workload.is_service else "job (runs to completion)",
                "after": list(workload.after),
                "ranks": workload.ranks,
                "launcher": self._launcher_text(workload, placement),
                **({"nodes": [{"pod": p.hostname, "node": p.node, "ranks": list(p.ranks)} for p in placement.pods_of(workload.name)]}
                   if placement else {}),
                "command": command if isinstance(command, str) else list(command),
                "shell": workload.shell,
                "fallback": None if not workload.fallback else {
                    "when": f"{argv0_of(command)} is not on PATH",
                    "command": list(render_command(scenario, replace(workload, command=workload.fallback.command), index, variables,
                                                   path=("fallback", "command"))),
                    "ranks": workload.fallback.ranks or workload.ranks},
                "env": render_env(scenario, workload, index, variables),
                "rank_env": self._rank_env_names(workload),
                "ports": dict(ports[workload.name]),
                "ready": ready_text(workload) if workload.ready else None,
                "timeout": workload.timeout_s,
                "log": f"logs/{workload.name}/rank-<r>.log",
                "parser": workload.parser.name if workload.parser else None,
            })
        plan = {"executor": "local", "scenario": scenario.name, "start_order": [s["workload"] for s in steps], "steps": steps}
        if placement:
            plan["nodes"] = {name: {"link": link.describe(), "workloads": placement.workloads_on(name)}
                             for name, link in placement.nodes.items()}
        if out_dir is None:
            return Plan("local", (plan,))

        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "process-plan.yaml"
        path.write_text(yaml.safe_dump(plan, sort_keys=False, width=120))
        return Plan("local", (plan,), (path,))

    @staticmethod
    def _rank_env_names(workload: Workload) -> list[str]:
        names = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]
        if workload.kind == "group":
            names += ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]
        return names

    @staticmethod
    def _launcher_text(workload: Workload, placement) -> str:
        if not placement:
            return "mpirun on localhost when found, else one process per rank" if workload.kind == "mpi" else "one process per rank"
        if workload.kind == "mpi":
            return "mpirun in the hub namespace, ranks on the worker nodes through an rsh agent that enters each node's namespace"
        return "one process per rank inside its pod's node namespace"

    # --- run --------------------------------------------------------------------------------

    def run(self, context: RunContext) -> RunOutput:
        from runner.execute.local.session import POLL_S, LocalBackend  # processes, namespaces, sockets: not loaded to validate or plan
        from runner.execute.schedule import run_with  # the run loop: not loaded to validate or plan

        return run_with(context, LocalBackend(context), POLL_S)

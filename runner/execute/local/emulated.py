"""The local executor's placement layer: where each process of a run starts, and how it is reached.

Two layers with one interface. `Loopback` is the classic local mode (every process on this
machine's loopback, free ports). `EmulatedNodes` places pods on emulated nodes (nodes.py) the way
the Kubernetes templates place them (placement.py): processes start inside their node's network
namespace under their pod's hostname, workloads keep the ports the scenario declares and are reached
by the names the templates give them, MPI ranks are launched across nodes by mpirun through an rsh
agent that enters the namespaces, readiness probes run from the hub, and a node whose link goes down
fails the workloads on it with a diagnostic naming the node.

`layer_for(scenario, run_id)` picks one: emulated nodes when the scenario has `local.nodes` (and
the machine can make them), loopback otherwise, with a one-line notice on fallback.
"""
from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from runner.execute.local.nodes import (
    Fabric,
    NodesError,
    NodesUnavailable,
    cleanup_stale,
    http_get_ok,
    unavailable_reason,
)
from runner.execute.local.placement import Placement, nodes_config, place
from runner.render.kubernetes import object_name
from runner.scenario.model import Scenario, Workload

LOOPBACK = "127.0.0.1"
MPI_MASTER_PORT = 29500  # the MPIJob launcher's default MASTER_PORT
_KUBE_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand_kube_vars(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of command arguments: `$(NAME)` becomes the container variable NAME when it is defined,
    `$$` is a literal `$`, anything else (`$(getent hosts x)`, an undefined name) stays as written."""
    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _KUBE_VAR.sub(replace, text) if "$" in text else text


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class Loopback:
    """Every workload on this machine's loopback with free ports: local-only scenarios, and the fallback."""

    mode = "loopback"

    def __init__(self, scenario: Scenario, notice: str = ""):
        self.scenario = scenario
        self.notice = notice
        self.ports = {w.name: {p: free_port() for p in w.ports} for w in scenario.workloads}

    def hosts(self) -> dict[str, str]:
        return {w.name: LOOPBACK for w in self.scenario.workloads}

    def pod_ip(self, workload: str, rank: int = 0) -> str:
        return LOOPBACK

    def master_addr(self, workload: str) -> str:
        return LOOPBACK

    def wrap(self, workload: str, rank: int, argv: list[str]) -> list[str]:
        return argv

    def mpirun_placement(self, workload: Workload) -> list[str]:
        return ["--host", f"localhost:{workload.ranks}"]

    def port_open(self, workload: str, port: int) -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return True
        except OSError:
            return False

    def http_ok(self, workload: str, port: int, path: str) -> bool:
        return http_get_ok(LOOPBACK, port, path)

    def tick(self) -> dict[str, str]:
        return {}

    def describe(self) -> dict:
        return {"mode": "loopback", "notice": self.notice} if self.notice else {"mode": "loopback"}

    def teardown(self) -> list[str]:
        return []


@dataclass
class EmulatedNodes:
    """Pods on emulated nodes (one network namespace each), placed as the Kubernetes templates place them."""

    scenario: Scenario
    placement: Placement
    fabric: Fabric
    ports: dict[str, dict[str, int]] = field(default_factory=dict)
    setup_s: float = 0.0
    failed_nodes: dict[str, str] = field(default_factory=dict)

    mode = "nodes"
    notice = ""

    @classmethod
    def create(cls, scenario: Scenario, run_id: str, placement: Placement) -> "EmulatedNodes":

        started = time.monotonic()
        fabric = Fabric.create(run_id, placement.nodes, hosts=placement.hosts())
        layer = cls(scenario, placement, fabric, ports=_node_ports(scenario, placement))
        layer.setup_s = time.monotonic() - started
        return layer

    # --- names and addresses ----------------------------------------------------------------

    def hosts(self) -> dict[str, str]:
        """`{{ workloads.X.host }}`: the Service name the Kubernetes templates give X."""
        namespace = self.placement.namespace
        return {w.name: f"{object_name(self.scenario, w.name)}.{namespace}.svc" for w in self.scenario.workloads}

    def pod_ip(self, workload: str, rank: int = 0) -> str:
        return self.fabric.address(self.placement.pod_of_rank(workload, rank).node)

    def master_addr(self, workload: str) -> str:
        return self.placement.pods_of(workload)[0].hostname

    # --- starting ---------------------------------------------------------------------------

    def wrap(self, workload: str, rank: int, argv: list[str]) -> list[str]:
        pod = self.placement.pod_of_rank(workload, rank)
        return self.fabric.launcher(pod.node, pod.hostname) + argv

    def wrap_launcher(self, argv: list[str]) -> list[str]:
        """mpirun itself runs in the hub (the MPIJob launcher pod's place): it reaches every node, and is on none."""
        return self.fabric.launcher(None) + argv

    def mpirun_placement(self, workload: Workload) -> list[str]:
        """Hostfile of the worker pods (`<host> slots=<n>`, the MPIJob launcher's shape) and the namespace-entering rsh agent."""
        pods = self.placement.pods_of(workload.name)
        hostfile = self.fabric.state_dir / f"hostfile-{workload.name}"
        hostfile.write_text("".join(f"{pod.hostname} slots={len(pod.ranks)}\n" for pod in pods if pod.ranks))
        agent = self.fabric.rsh_agent({pod.hostname: pod.node for pod in self.placement.pods})
        subnet = self.fabric.describe()["subnet"]
        # The nodes share this machine's /tmp, and every run's pods have the same hostnames: Open MPI's session
        # directories (/tmp/ompi.<host>.<uid>/jf.<job family>, the daemons' PMIx rendezvous files) would be shared by
        # runs side by side, each removing the top one when it ends. The run's own folder keeps them apart (and
        # goes with the teardown).
        sessions = self.fabric.state_dir / "ompi"
        sessions.mkdir(exist_ok=True)
        return ["--hostfile", str(hostfile), "--mca", "orte_tmpdir_base", str(sessions),
                "--mca", "plm_rsh_agent", str(agent), "--mca", "plm_rsh_no_tree_spawn", "1",
                "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include", subnet,
                "--mca", "pml", "ob1"]

    # --- watching ---------------------------------------------------------------------------

    def port_open(self, workload: str, port: int) -> bool:
        return self.fabric.port_open(self.placement.pods_of(workload)[0].node, port)

    def http_ok(self, workload: str, port: int, path: str) -> bool:
        return self.fabric.http_ok(self.placement.pods_of(workload)[0].node, port, path)

    def tick(self) -> dict[str, str]:
        """Apply timed link faults; returns {workload: why} for running workloads on a node whose link is down now."""
        self.fabric.apply_timed_faults()
        down = self.fabric.links_down()
        failed: dict[str, str] = {}
        for node, why in down.items():
            self.failed_nodes.setdefault(node, why)
            for workload in self.placement.workloads_on(node):
                failed.setdefault(workload, f"emulated node {node} lost its link ({why}); {workload} runs on {node}")
        return failed

    # --- record -----------------------------------------------------------------------------

    def describe(self) -> dict:
        fabric = self.fabric.describe()
        placed = self.placement.describe()
        for name, node in fabric["nodes"].items():
            node["workloads"] = placed["nodes"][name]["workloads"]
            if name in self.failed_nodes:
                node["failed"] = self.failed_nodes[name]
        return {**fabric, "workloads": placed["workloads"], "setup_s": round(self.setup_s, 4)}

    def teardown(self) -> list[str]:
        return self.fabric.teardown()


def _node_ports(scenario: Scenario, placement: Placement) -> dict[str, dict[str, int]]:
    """The ports the scenario declares (every pod has a node, so nothing clashes), except where pinned pods share a
    node and declare the same number: the later one moves up to the next number free on that node."""
    used: dict[str, set[int]] = {}
    ports: dict[str, dict[str, int]] = {}
    for workload in scenario.workloads:
        nodes = {pod.node for pod in placement.pods_of(workload.name)}
        ports[workload.name] = {}
        for name, number in workload.ports.items():
            while any(number in used.get(node, set()) for node in nodes):
                number += 1
            for node in nodes:
                used.setdefault(node, set()).add(number)
            ports[workload.name][name] = number
    return ports


def layer_for(scenario: Scenario, run_id: str, order: list[Workload] | None = None):
    """Emulated nodes when the scenario asks for them and this machine can make them; loopback otherwise."""
    config = nodes_config(scenario)
    if config is None or config.mode == "loopback":
        return Loopback(scenario)
    reason = unavailable_reason()
    if reason:
        return Loopback(scenario, notice=f"emulated nodes unavailable ({reason}): running every workload on loopback")
    placement = place(scenario, config, order)
    cleanup_stale()
    try:
        return EmulatedNodes.create(scenario, run_id, placement)
    except NodesUnavailable as error:
        return Loopback(scenario, notice=f"emulated nodes unavailable ({error}): running every workload on loopback")
    except NodesError as error:
        return Loopback(scenario, notice=f"emulated nodes could not be created ({error}): running every workload on loopback")


__all__ = ["EmulatedNodes", "Loopback", "expand_kube_vars", "layer_for", "Path", "Any"]

"""Which emulated node each pod of a scenario lands on, the way the Kubernetes templates place them.

The templates' rules, mirrored: an `mpi` workload is `nodes` worker pods (ranks spread by slot,
as mpirun -N does), a `group` is `replicas` LeaderWorkerSet groups of `groupSize` pods, `job` and
`service` are one pod (a Deployment's `replicas`). A pod that takes a whole node (all its EFA
interfaces or all its GPUs: the templates' podAntiAffinity) never shares a node with another such
pod. Locally every pod gets a node of its own unless `local.nodes.placement` pins it; a pin that
breaks the anti-affinity is an error. Pods get the DNS names the templates give them
(`<name>.<namespace>.svc` for a Service, `<job>-worker-<i>.<job>.<namespace>.svc` for MPI
workers, `<lws>-<g>.<lws>.<namespace>.svc` for LWS leaders) as hosts entries on every node.

Settings come from the scenario's `local.nodes` block (and `--set local.nodes...`):

    local:
      nodes:
        count: 4                      # nodes to create (at least what the pods need)
        names: [node-0, node-1]       # default node-<i>
        link: {rateMbit: 1000}        # every node's link
        links: {node-1: {rateMbit: 200, downAfter: 5s}}
        placement: {target: node-0, initiator: [node-1]}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from runner.base.errors import ExecutionError
from runner.render.kubernetes import dns_name, object_name, resources_for
from runner.scenario.model import Scenario, Workload, attempt_name, seconds, thaw

MODES = ("nodes", "loopback")
MAX_NODES = 240


@dataclass(frozen=True)
class LinkSettings:
    """The link of one emulated node: a rate limit, and whether (or after how long) it is down."""

    rate_mbit: float | None = None    # tbf rate limit on the node's link, both directions
    down: bool = False                # link down from the start
    down_after_s: float | None = None  # link taken down this long after the nodes came up

    def describe(self) -> str:
        parts = []
        if self.rate_mbit:
            parts.append(f"rate {self.rate_mbit:g} Mbit/s")
        if self.down:
            parts.append("down")
        if self.down_after_s is not None:
            parts.append(f"down after {self.down_after_s:g}s")
        return ", ".join(parts) or "unlimited"

    def to_dict(self) -> dict:
        return {"rate_mbit": self.rate_mbit, "down": self.down, "down_after_s": self.down_after_s}


def node_names(count: int, names: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(names[i] if i < len(names) else f"node-{i}" for i in range(count))


@dataclass(frozen=True)
class Pod:
    """One pod of a workload as the templates would make it, and the emulated node it lands on."""

    workload: str
    index: int
    hostname: str                 # the pod's own hostname (its UTS name locally)
    names: tuple[str, ...]        # DNS names that resolve to it
    node: str
    ranks: tuple[int, ...]
    exclusive: bool


@dataclass(frozen=True)
class NodesConfig:
    """The scenario's `local.nodes` block, read: how many nodes, their names, links and pinned placements."""

    mode: str = "nodes"
    count: int = 0
    names: tuple[str, ...] = ()
    link: LinkSettings = LinkSettings()
    links: Mapping[str, LinkSettings] = field(default_factory=dict)
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Placement:
    """Every pod of a scenario on its emulated node, with the links of those nodes."""

    nodes: Mapping[str, LinkSettings]   # node name -> link settings, in node order
    pods: tuple[Pod, ...]
    namespace: str

    def pods_of(self, workload: str) -> list[Pod]:
        return [pod for pod in self.pods if pod.workload == workload]

    def pod_of_rank(self, workload: str, rank: int) -> Pod:
        for pod in self.pods_of(workload):
            if rank in pod.ranks:
                return pod
        return self.pods_of(workload)[0]

    def service_host(self, workload: str) -> str:
        return f"{object_name(None, workload)}.{self.namespace}.svc"  # type: ignore[arg-type]

    def hosts(self) -> dict[str, str]:
        """Every DNS name -> node; a Service name goes to its first pod (a headless Service lists them all)."""
        entries: dict[str, str] = {}
        for pod in self.pods:
            for name in pod.names:
                entries.setdefault(name, pod.node)
        return entries

    def workloads_on(self, node: str) -> list[str]:
        return list(dict.fromkeys(pod.workload for pod in self.pods if pod.node == node))

    def describe(self) -> dict:
        return {"workloads": {w: [{"pod": p.hostname, "node": p.node, "ranks": list(p.ranks)} for p in self.pods_of(w)]
                              for w in dict.fromkeys(p.workload for p in self.pods)},
                "nodes": {n: {"link": s.to_dict(), "link_text": s.describe(), "workloads": self.workloads_on(n)}
                          for n, s in self.nodes.items()}}


def local_block(scenario: Scenario) -> Mapping[str, Any]:
    block = scenario.data.get("local") if scenario.data else None
    return block if isinstance(block, Mapping) else {}


def nodes_config(scenario: Scenario) -> NodesConfig | None:
    """The scenario's `local.nodes` settings, or None when it asks for no emulated nodes (loopback, as before)."""
    raw = local_block(scenario).get("nodes")
    if raw is None:
        return None
    raw = thaw(raw)
    if raw.get("mode", "nodes") == "loopback":
        return NodesConfig(mode="loopback")
    return NodesConfig(
        mode="nodes", count=int(raw.get("count") or 0), names=tuple(str(n) for n in raw.get("names") or ()),
        link=_link(raw.get("link") or {}, "local.nodes.link"),
        links={str(k): _link(v or {}, f"local.nodes.links.{k}") for k, v in (raw.get("links") or {}).items()},
        placement={str(k): (v,) if isinstance(v, str) else tuple(str(n) for n in v) for k, v in (raw.get("placement") or {}).items()})


def _link(raw: Mapping[str, Any], where: str) -> LinkSettings:
    try:
        down_after = seconds(raw.get("downAfter")) if raw.get("downAfter") is not None else None
    except ValueError:
        raise ExecutionError(f"{where}.downAfter: {raw.get('downAfter')!r} is not a duration (for example 5s)") from None
    rate = raw.get("rateMbit")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
        raise ExecutionError(f"{where}.rateMbit: {rate!r} is not a positive number of Mbit/s")
    return LinkSettings(rate_mbit=float(rate) if rate else None, down=bool(raw.get("down", False)), down_after_s=down_after)


def is_exclusive(scenario: Scenario, workload: Workload) -> bool:
    """The templates' whole-node rule (_pod.yaml.j2): all of a node's EFA interfaces, or all of its GPUs."""
    resources = resources_for(scenario, workload)
    gpus_per_node = scenario.platform.gpus_per_node
    return workload.node == "gpu" and (resources["efa"] > 0 or (resources["gpus"] > 0 and resources["gpus"] >= max(gpus_per_node, 1)))


def pod_shapes(scenario: Scenario, workload: Workload, namespace: str) -> list[tuple[str, tuple[str, ...], tuple[int, ...]]]:
    """(hostname, DNS names, ranks) of each pod the workload's template makes."""
    name = object_name(scenario, workload.name)
    service = (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")
    ranks = list(range(workload.ranks))
    if workload.kind == "mpi":
        count = max(workload.nodes, 1)
        slots = -(-len(ranks) // count) or 1
        pods = []
        for i in range(count):
            host = f"{name}-worker-{i}"
            pods.append((host, (host, f"{host}.{name}.{namespace}.svc", f"{host}.{name}.{namespace}.svc.cluster.local")
                         + (service if i == 0 else ()), tuple(r for r in ranks if r // slots == i)))
        return pods
    if workload.kind == "group":
        pods = []
        hosts = [(g, w) for g in range(max(workload.replicas, 1)) for w in range(max(workload.group_size, 1))]
        for i, (group, worker) in enumerate(hosts):
            host = f"{name}-{group}" if worker == 0 else f"{name}-{group}-{worker}"
            names = (host, f"{host}.{name}.{namespace}.svc") + (service if i == 0 else ())
            pods.append((host, names, tuple(r for r in ranks if r * len(hosts) // max(len(ranks), 1) == i)))
        return pods
    count = max(workload.replicas, 1) if workload.kind == "service" else 1
    return [(f"{name}-{i}", (f"{name}-{i}",) + (service if i == 0 else ()),
             tuple(r for r in ranks if r * count // max(len(ranks), 1) == i)) for i in range(count)]


def _later_attempt(workload: Workload) -> bool:
    return bool(workload.attempt_of) and workload.name != attempt_name(workload.attempt_of, 1)


def place(scenario: Scenario, config: NodesConfig, order: list[Workload] | None = None) -> Placement:
    """Every pod on a node: pinned pods where `placement` says, the others each on the next free node."""
    namespace = dns_name(scenario.platform.namespace or "local")
    order = order or list(scenario.workloads)
    known = {w.name for w in scenario.workloads}
    for workload in config.placement:
        if workload not in known:
            raise ExecutionError(f"local.nodes.placement names workload {workload!r}, which the scenario does not have "
                                 f"(it has {', '.join(sorted(known))})")
    shapes = [(w, pod_shapes(scenario, w, namespace)) for w in order]
    pinned = {n for pins in config.placement.values() for n in pins}
    needed = sum(len(pods) for w, pods in shapes if w.name not in config.placement and not _later_attempt(w)) + len(pinned)
    count = max(config.count, len(config.names), needed)
    if count > MAX_NODES:
        raise ExecutionError(f"the scenario needs {count} emulated nodes; at most {MAX_NODES}")
    names = node_names(count, config.names)
    unknown = sorted(pinned - set(names))
    if unknown:
        raise ExecutionError(f"local.nodes.placement pins pods to {', '.join(unknown)}, which are not among the nodes "
                             f"({', '.join(names)}); add them to local.nodes.names or raise local.nodes.count")
    unknown_links = sorted(set(config.links) - set(names))
    if unknown_links:
        raise ExecutionError(f"local.nodes.links sets {', '.join(unknown_links)}, which are not among the nodes ({', '.join(names)})")
    free = [n for n in names if n not in pinned]
    pods: list[Pod] = []
    exclusive_on: dict[str, str] = {}
    attempt_nodes: dict[str, list[str]] = {}  # a repeated job's attempts run one after another on the first one's nodes
    for workload, shape in shapes:
        base = workload.attempt_of or workload.name
        pins = attempt_nodes.get(base) or config.placement.get(base, ())
        exclusive = is_exclusive(scenario, workload) and not _later_attempt(workload)
        for i, (hostname, dns, ranks) in enumerate(shape):
            node = pins[i] if i < len(pins) else (free.pop(0) if free else None)
            if node is None:
                raise ExecutionError(f"no emulated node left for pod {hostname} of {workload.name}")
            if exclusive:
                if node in exclusive_on:
                    raise ExecutionError(
                        f"pods {exclusive_on[node]} and {hostname} both take a whole node (the templates' podAntiAffinity) "
                        f"but local.nodes.placement puts both on {node}")
                exclusive_on[node] = hostname
            pods.append(Pod(workload.name, i, hostname, dns, node, ranks, exclusive))
        if workload.attempt_of:
            attempt_nodes.setdefault(base, [p.node for p in pods if p.workload == workload.name])
    links = {n: config.links.get(n, config.link) for n in names}
    return Placement(links, tuple(pods), namespace)

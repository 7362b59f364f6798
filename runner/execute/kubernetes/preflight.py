"""Checks before anything is created: the CRDs are served, the nodes can hold the topology, the runner may do its job.

Every failure says what is wrong and how to fix it; any failure stops the run (state error)
before a single object exists. Checks the runner cannot make (no permission to list nodes)
become warnings in the run record instead.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping

from runner.base.errors import ExecutionError
from runner.execute.kubernetes.apply import Prepared
from runner.execute.kubernetes.client import KubeApiError, KubeClient
from runner.execute.kubernetes.kinds import EVENT, NAMESPACE, NODE, POD, SSAR, Kind
from runner.scenario.model import Scenario

INSTANCE_LABEL = "node.kubernetes.io/instance-type"
CHECKED_RESOURCES = ("nvidia.com/gpu", "vpc.amazonaws.com/efa", "hugepages-2Mi")
RBAC_HINT = "grant it with the Role in templates/rbac/ (see docs/kubernetes.md), or ask the cluster admin"


@dataclass(frozen=True)
class Finding:
    check: str  # crd | namespace | permission | capacity
    message: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.message}" + (f"\n    fix: {self.fix}" if self.fix else "")


@dataclass
class Preflight:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    namespace_exists: bool = True
    nodes: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def error(self) -> ExecutionError:
        lines = [f"preflight failed ({len(self.findings)} problem{'s' if len(self.findings) > 1 else ''}); nothing was created:"]
        lines += [f"  - {f}" for f in self.findings]
        return ExecutionError("\n".join(lines))


def run(client: KubeClient, scenario: Scenario, objects: list[Prepared], namespace: str) -> Preflight:
    result = Preflight()
    result.findings += check_crds(client, {o.kind for o in objects if o.kind.custom})
    result.namespace_exists = namespace_exists(client, namespace, result)
    result.findings += check_permissions(client, objects, namespace, result.namespace_exists)
    check_capacity(client, scenario, objects, result)
    return result


# --- CRDs ---------------------------------------------------------------------------------------------


def check_crds(client: KubeClient, kinds: Iterable[Kind]) -> list[Finding]:
    """Discovery says whether each custom kind is served (needs no RBAC beyond being authenticated)."""
    findings = []
    for kind in sorted(kinds, key=lambda k: k.resource):
        document = client.remember(("discovery", kind.api_version), lambda: client.api_resources(kind.api_version))
        served = document is not None and any(r.get("name") == kind.plural for r in document.get("resources") or [])
        if not served:
            findings.append(Finding("crd", f"{kind.kind} ({kind.resource}/{kind.version}) is not installed in this cluster",
                                    kind.install))
    return findings


# --- namespace ----------------------------------------------------------------------------------------


def namespace_exists(client: KubeClient, namespace: str, result: Preflight) -> bool:
    try:
        client.get_json(NAMESPACE.path(name=namespace))
        return True
    except KubeApiError as error:
        if error.not_found:
            return False
        if error.forbidden:
            result.warnings.append(f"cannot read namespace {namespace} (forbidden); assuming it exists")
            return True
        raise


# --- permissions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    verb: str
    kind: Kind
    namespace: str = ""
    subresource: str = ""

    def __str__(self) -> str:
        resource = self.kind.resource + (f"/{self.subresource}" if self.subresource else "")
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {resource}{where}"


def needed_access(objects: Iterable[Prepared], namespace: str, namespace_exists: bool) -> list[Access]:
    """Every verb/resource the run uses: apply (create+patch), get/list/watch, delete; pods, logs, events."""
    needed: list[Access] = []
    kinds = []
    for obj in objects:
        if obj.kind is NAMESPACE or obj.kind in kinds:
            continue
        kinds.append(obj.kind)
    for kind in kinds:
        needed += [Access(verb, kind, namespace) for verb in ("create", "patch", "get", "list", "watch", "delete")]
    needed += [Access(verb, POD, namespace) for verb in ("get", "list", "watch")]
    needed += [Access("get", POD, namespace, "log"), Access("list", EVENT, namespace)]
    if not namespace_exists:
        needed += [Access("create", NAMESPACE), Access("patch", NAMESPACE)]
    return needed


def check_permissions(client: KubeClient, objects: list[Prepared], namespace: str, exists: bool) -> list[Finding]:
    needed = needed_access(objects, namespace, exists)

    def review() -> list[bool]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(lambda access: _allowed(client, access), needed))

    answers = client.remember(("access", tuple(needed)), review)  # a triage's sets ask the same: once per triage
    denied = [access for access, allowed in zip(needed, answers) if not allowed]
    if not denied:
        return []
    return [Finding("permission", f"the runner may not {access}", RBAC_HINT) for access in denied]


def _allowed(client: KubeClient, access: Access) -> bool:
    attributes = {"verb": access.verb, "group": access.kind.group, "resource": access.kind.plural}
    if access.namespace:
        attributes["namespace"] = access.namespace
    if access.subresource:
        attributes["subresource"] = access.subresource
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": attributes}}
    answer = client.create(SSAR.path(), review)
    return bool((answer.get("status") or {}).get("allowed"))


# --- capacity -----------------------------------------------------------------------------------------


def pod_templates(body: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """(pod count, pod spec) of every pod an object will create."""
    kind, spec = body.get("kind"), body.get("spec") or {}
    if kind == "Pod":
        return [(1, spec)]
    if kind == "Job":
        return [(int(spec.get("parallelism", 1) or 1), (spec.get("template") or {}).get("spec") or {})]
    if kind in ("Deployment", "StatefulSet"):
        return [(int(spec.get("replicas", 1)), (spec.get("template") or {}).get("spec") or {})]
    if kind == "MPIJob":
        out = []
        for role in ("Launcher", "Worker"):
            replica = (spec.get("mpiReplicaSpecs") or {}).get(role) or {}
            default = 1 if role == "Launcher" else 0
            out.append((int(replica.get("replicas", default)), (replica.get("template") or {}).get("spec") or {}))
        return out
    if kind == "LeaderWorkerSet":
        return _lws_pods(int(spec.get("replicas", 1)), spec.get("leaderWorkerTemplate") or {})
    if kind == "DisaggregatedSet":
        out = []
        for role in spec.get("roles") or []:
            role_spec = role.get("spec") or {}
            out += _lws_pods(int(role_spec.get("replicas", 1)), role_spec.get("leaderWorkerTemplate") or {})
        return out
    return []


def _lws_pods(replicas: int, template: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    size = int(template.get("size", 1))
    worker = (template.get("workerTemplate") or {}).get("spec") or {}
    leader = (template.get("leaderTemplate") or {}).get("spec") or worker
    return [(replicas, leader), (replicas * (size - 1), worker)]


def pod_requests(spec: Mapping[str, Any]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        values = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name in CHECKED_RESOURCES:
            if name in values:
                total[name] = total.get(name, Decimal(0)) + quantity(values[name])
    return {k: v for k, v in total.items() if v > 0}


_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
_SCALE = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


def quantity(value: Any) -> Decimal:
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return Decimal(0)
    return Decimal(match.group(1)) * Decimal(_SCALE[match.group(2) or ""])


def show(name: str, value: Decimal) -> str:
    if name.startswith("hugepages") and value:
        return f"{int(value / 2**20)}Mi"
    return str(int(value)) if value == value.to_integral_value() else str(value)


def check_capacity(client: KubeClient, scenario: Scenario, objects: list[Prepared], result: Preflight) -> None:
    """Nodes of the instance type exist with enough allocatable GPU/EFA/hugepages for every pod of the run at once,
    and every pod's nodeSelector (platform.nodeSelector included) matches some node."""
    instance = scenario.platform.instance_type
    demands: list[Demand] = []
    for obj in objects:
        for count, spec in pod_templates(obj.body):
            requests = pod_requests(spec)
            selector = {str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()}
            if requests or INSTANCE_LABEL in selector:
                demands += [Demand(obj.workload or obj.name, requests, selector)] * count
    try:
        listing = client.list(NODE.path())
    except KubeApiError as error:
        if not error.forbidden:
            raise
        result.warnings.append("cannot list nodes (forbidden): node capacity was not checked")
        return
    result.nodes = listing["items"]
    if not demands or instance in ("", "local"):
        return
    nodes = [n for n in result.nodes if _labels(n).get(INSTANCE_LABEL) == instance]
    if not nodes:
        types: dict[str, int] = {}
        for n in result.nodes:
            t = _labels(n).get(INSTANCE_LABEL, "?")
            types[t] = types.get(t, 0) + 1
        found = ", ".join(f"{t} x{c}" for t, c in sorted(types.items())) or "no nodes at all"
        result.findings.append(Finding("capacity", f"no node of instance type {instance} ({INSTANCE_LABEL}={instance}); found: {found}",
                                       f"scale up the {instance} node group (the run needs {len(demands)} pods on it)"))
        return
    unmatched = _unmatched_selectors(demands, result.nodes)
    if unmatched:
        result.findings.append(unmatched)
        return
    usable = [n for n in nodes if _usable(n)]
    unplaced = _pack(demands, usable)
    if not unplaced:
        return
    result.findings.append(_capacity_finding(instance, demands, nodes, usable, unplaced))


@dataclass(frozen=True)
class Demand:
    """One pod of the run as the capacity check sees it: its workload, what it requests, and the nodes it selects."""

    workload: str
    requests: dict[str, Decimal]
    selector: dict[str, str] = field(default_factory=dict)

    def fits_on(self, node: Mapping[str, Any]) -> bool:
        labels = _labels(node)
        return all(labels.get(key) == value for key, value in self.selector.items())


def _labels(node: Mapping[str, Any]) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def _unmatched_selectors(demands: list[Demand], nodes: list[Mapping[str, Any]]) -> Finding | None:
    """The first workload whose pods select labels no node has together (the scheduler would leave them Pending)."""
    for demand in demands:
        if any(demand.fits_on(n) for n in nodes):
            continue
        missing = [f"{k}={v}" for k, v in demand.selector.items() if not any(_labels(n).get(k) == v for n in nodes)]
        wanted = ", ".join(f"{k}={v}" for k, v in demand.selector.items())
        why = f"no node has {', '.join(missing)}" if missing else "no node has all of them together"
        return Finding("capacity", f"no node matches the nodeSelector of workload {demand.workload} ({wanted}): {why}",
                       "label the nodes that should run it (kubectl label node NAME KEY=VALUE), or change platform.nodeSelector")
    return None


def _usable(node: Mapping[str, Any]) -> bool:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return ready and not spec.get("unschedulable")


def _pack(demands: list[Demand], nodes: list[Mapping[str, Any]]) -> list[Demand]:
    """First-fit decreasing of the pods onto the allocatable of the nodes each selects; returns the pods that fit nowhere."""
    free = [{r: quantity(((n.get("status") or {}).get("allocatable") or {}).get(r, 0)) for r in CHECKED_RESOURCES} for n in nodes]
    unplaced = []
    for demand in sorted(demands, key=lambda d: [-d.requests.get(r, 0) for r in CHECKED_RESOURCES]):
        for node, capacity in zip(nodes, free):
            if demand.fits_on(node) and all(capacity.get(r, 0) >= q for r, q in demand.requests.items()):
                for r, q in demand.requests.items():
                    capacity[r] -= q
                break
        else:
            unplaced.append(demand)
    return unplaced


def _capacity_finding(instance: str, demands, nodes, usable, unplaced) -> Finding:
    groups: dict[tuple[str, tuple], int] = {}
    for demand in demands:
        if demand.requests:
            key = (demand.workload, tuple(sorted(demand.requests.items())))
            groups[key] = groups.get(key, 0) + 1
    need = "; ".join(f"{w}: {n} pod{'s' if n > 1 else ''} x {{{', '.join(f'{r} {show(r, q)}' for r, q in req)}}}"
                     for (w, req), n in groups.items())
    have = "; ".join(f"{(n.get('metadata') or {}).get('name')}: "
                     + ", ".join(f"{r} {show(r, _allocatable(n, r))}" for r in CHECKED_RESOURCES)
                     + ("" if _usable(n) else " (not ready or cordoned)") for n in nodes)
    fixes = []
    for resource in _short(demands, usable):
        none_have = all(_allocatable(n, resource) == 0 for n in usable)
        if resource == "vpc.amazonaws.com/efa":
            fixes.append("vpc.amazonaws.com/efa: " + ("no node advertises EFA: is the EFA device plugin DaemonSet "
                                                      "(aws-efa-k8s-device-plugin) running on them?" if none_have
                                                      else "check platform.efaPerNode against the instance type "
                                                           "(p5.48xlarge 32, p5en.48xlarge 16, p6-b200.48xlarge 8)"))
        elif resource == "nvidia.com/gpu":
            fixes.append("nvidia.com/gpu: " + ("no node advertises GPUs: install the NVIDIA device plugin / GPU Operator "
                                               "(with CDI, as efa-validation did)" if none_have
                                               else "not enough GPUs: scale up the node group or lower nodes/replicas"))
        elif resource == "hugepages-2Mi":
            fixes.append("hugepages-2Mi: the nodes have fewer free 2 MiB huge pages than requested (platform.hugepages2Mi)")
    if len(usable) < len(nodes):
        fixes.append(f"{len(nodes) - len(usable)} of the {instance} nodes are not ready or cordoned")
    return Finding("capacity", f"the {instance} nodes cannot hold the run: {len(unplaced)} of {len(demands)} pods fit nowhere "
                               f"(needs {need}; allocatable {have})", "; ".join(fixes) or "scale up the node group")


def _allocatable(node: Mapping[str, Any], resource: str) -> Decimal:
    return quantity(((node.get("status") or {}).get("allocatable") or {}).get(resource, 0))


def _short(demands, nodes) -> list[str]:
    """Resources the nodes lack: more asked in total than they have, or one pod asking more than any node has."""
    short = []
    for resource in CHECKED_RESOURCES:
        asked = [demand.requests.get(resource, Decimal(0)) for demand in demands]
        have = [_allocatable(n, resource) for n in nodes]
        if sum(asked) > sum(have) or max(asked, default=0) > max(have, default=0):
            short.append(resource)
    return short

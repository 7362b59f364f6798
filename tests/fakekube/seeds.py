"""What a test seeds: nodes shaped like EKS GPU nodes, and CustomResourceDefinitions.

    node("gpu-0", instance_type="p5.48xlarge", taints=[GPU_TAINT])
    node("system-0", instance_type="m7g.xlarge")          # arm64, no GPUs
    crd("mpijobs.kubeflow.org")                           # schema from schema/crds/ when present
    crd_from_file(path)    # an upstream manifest, e.g. tests/templates/helpers.pinned_crd_files()
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema" / "crds"

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}

# instance type -> (arch, cpu, memory, GPUs, EFA interfaces, 2 MiB hugepages)
INSTANCE_TYPES = {
    "p5.48xlarge": ("amd64", "192", "2047Gi", 8, 32, "10256Mi"),
    "p5en.48xlarge": ("amd64", "192", "2047Gi", 8, 16, "10256Mi"),
    "p6-b200.48xlarge": ("amd64", "192", "2047Gi", 8, 8, "10256Mi"),
    "p4d.24xlarge": ("amd64", "96", "1152Gi", 8, 4, "10256Mi"),
    "g6e.48xlarge": ("amd64", "192", "1536Gi", 8, 4, "0"),
    "m7i.4xlarge": ("amd64", "16", "64Gi", 0, 0, "0"),
    "m7g.xlarge": ("arm64", "4", "16Gi", 0, 0, "0"),
    "m7g.4xlarge": ("arm64", "16", "64Gi", 0, 0, "0"),
}

_node_numbers = iter(range(10, 10_000))


def node(name: str, instance_type: str = "p5.48xlarge", *, arch: str | None = None, gpus: int | None = None,
         efa: int | None = None, hugepages_2mi: str | None = None, cpu: str | None = None,
         memory: str | None = None, labels: dict | None = None, taints: list[dict] | None = None,
         allocatable: dict | None = None, ready: bool = True, unschedulable: bool = False,
         zone: str = "us-east-2a") -> dict:
    """A Node object; capacities come from INSTANCE_TYPES unless given."""
    base = INSTANCE_TYPES.get(instance_type, ("amd64", "8", "32Gi", 0, 0, "0"))
    arch = arch or base[0]
    gpus = base[3] if gpus is None else gpus
    efa = base[4] if efa is None else efa
    resources = {"cpu": cpu or base[1], "memory": memory or base[2], "pods": "110",
                 "ephemeral-storage": "1000Gi", "hugepages-1Gi": "0",
                 "hugepages-2Mi": hugepages_2mi or base[5]}
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    if efa:
        resources["vpc.amazonaws.com/efa"] = str(efa)
    resources.update({k: str(v) for k, v in (allocatable or {}).items()})
    number = next(_node_numbers)
    all_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
                  "beta.kubernetes.io/arch": arch, "node.kubernetes.io/instance-type": instance_type,
                  "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": zone[:-1]}
    all_labels.update(labels or {})
    taints = list(taints or [])
    if not ready:
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    spec: dict = {"providerID": f"aws:///{zone}/i-0{number:016x}"}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    ready_condition = {"type": "Ready", "status": "True" if ready else "False",
                       "reason": "KubeletReady" if ready else "KubeletNotReady",
                       "message": "kubelet is posting ready status" if ready else "container runtime is down",
                       "lastHeartbeatTime": None, "lastTransitionTime": None}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": all_labels},
            "spec": spec,
            "status": {"capacity": dict(resources), "allocatable": dict(resources),
                       "conditions": [ready_condition],
                       "addresses": [{"type": "InternalIP", "address": f"10.0.{number // 250}.{number % 250}"},
                                     {"type": "Hostname", "address": name}],
                       "nodeInfo": {"architecture": arch, "operatingSystem": "linux",
                                    "kubeletVersion": "v1.31.0-eks", "containerRuntimeVersion": "containerd://2.2.1",
                                    "kernelVersion": "6.1.0", "osImage": "Amazon Linux 2023", "machineID": "",
                                    "systemUUID": "", "bootID": "", "kubeProxyVersion": ""}}}


# -- CustomResourceDefinitions ---------------------------------------------------------------------------

STANDARD_CRDS = {
    "mpijobs.kubeflow.org": ("kubeflow.org", "v2beta1", "MPIJob", "mpijobs", "mpijob", (), ("status",)),
    "leaderworkersets.leaderworkerset.x-k8s.io": ("leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet",
                                                  "leaderworkersets", "leaderworkerset", ("lws",),
                                                  ("status", "scale")),
    "disaggregatedsets.disaggregatedset.x-k8s.io": ("disaggregatedset.x-k8s.io", "v1", "DisaggregatedSet",
                                                    "disaggregatedsets", "disaggregatedset", (), ("status",)),
}


def crd(name: str, schema: dict | None = None) -> dict:
    """One of STANDARD_CRDS; its schema comes from schema/crds/<group>_<version>_<Kind>.json when present."""
    group, version, kind, plural, singular, short, subresources = STANDARD_CRDS[name]
    if schema is None:
        path = SCHEMA_DIR / f"{group}_{version}_{kind}.json"
        if path.exists():
            schema = json.loads(path.read_text())
            schema.pop("x-source", None)
        else:
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    sub = {}
    if "status" in subresources:
        sub["status"] = {}
    if "scale" in subresources:
        sub["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.hpaPodSelector"}
    names = {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": singular}
    if short:
        names["shortNames"] = list(short)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "names": names, "scope": "Namespaced",
                     "versions": [{"name": version, "served": True, "storage": True, "subresources": sub,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def crd_from_file(path: str | Path) -> list[dict]:
    """The CustomResourceDefinitions in a YAML manifest (e.g. an upstream release file)."""
    docs = yaml.safe_load_all(Path(path).read_text())
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]

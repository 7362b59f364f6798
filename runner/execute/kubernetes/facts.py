"""Facts for the run record: cluster version, the nodes that matter, the images the run used (and what they resolved to)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from runner.execute.kubernetes.preflight import CHECKED_RESOURCES, INSTANCE_LABEL

MAX_NODES = 32


def cluster_version(version: Mapping[str, Any]) -> dict:
    return {k: version.get(k) for k in ("gitVersion", "platform", "major", "minor") if version.get(k)}


def node_facts(nodes: Iterable[Mapping[str, Any]], instance_type: str) -> list[dict]:
    """The nodes of the scenario's instance type (all nodes when none match), capped at MAX_NODES."""
    nodes = list(nodes)
    chosen = [n for n in nodes if ((n.get("metadata") or {}).get("labels") or {}).get(INSTANCE_LABEL) == instance_type] or nodes
    facts = []
    for node in chosen[:MAX_NODES]:
        meta, status = node.get("metadata") or {}, node.get("status") or {}
        info, allocatable = status.get("nodeInfo") or {}, status.get("allocatable") or {}
        facts.append({
            "name": meta.get("name"),
            "instance_type": (meta.get("labels") or {}).get(INSTANCE_LABEL),
            "arch": info.get("architecture") or (meta.get("labels") or {}).get("kubernetes.io/arch"),
            "kubelet": info.get("kubeletVersion"),
            "container_runtime": info.get("containerRuntimeVersion"),
            "kernel": info.get("kernelVersion"),
            "os_image": info.get("osImage"),
            "allocatable": {r: allocatable[r] for r in CHECKED_RESOURCES if r in allocatable},
        })
    return facts


def images(bodies: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every container image reference in the applied objects, in order of appearance."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key in ("containers", "initContainers"):
                for container in node.get(key) or []:
                    image = container.get("image") if isinstance(container, Mapping) else None
                    if image and image not in found:
                        found.append(image)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for body in bodies:
        walk(body)
    return found


def resolved_images(pods: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """image reference -> imageID (digest) the kubelet reported."""
    resolved: dict[str, str] = {}
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("image") and status.get("imageID"):
                resolved[status["image"]] = status["imageID"]
    return resolved

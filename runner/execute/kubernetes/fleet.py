"""The fleet for triage: the nodes a label selector picks, minus cordoned and NotReady ones; cordoning suspects.

One list request for discovery; one server-side apply per cordoned node (what `kubectl cordon` changes:
spec.unschedulable). Listing what a round left behind is one list per kind, with a set-based selector
over the round's run ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from runner.execute.kubernetes.client import KubeClient
from runner.execute.kubernetes.kinds import CLEANUP_ORDER, NODE, POD, Kind
from runner.render.labels import LABEL_PREFIX


@dataclass(frozen=True)
class Fleet:
    nodes: tuple[str, ...]                  # usable, in name order
    left_out: Mapping[str, str]             # node -> why (cordoned, NotReady)
    selector: str


def discover(client: KubeClient, selector: str) -> Fleet:
    listing = client.list(NODE.path(), label_selector=selector)
    usable, left_out = [], {}
    for node in listing["items"]:
        name = (node.get("metadata") or {}).get("name", "")
        why = unusable_reason(node)
        if why:
            left_out[name] = why
        else:
            usable.append(name)
    return Fleet(tuple(sorted(usable)), dict(sorted(left_out.items())), selector)


def unusable_reason(node: Mapping[str, Any]) -> str:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    if spec.get("unschedulable"):
        return "cordoned"
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if not ready or ready.get("status") != "True":
        return f"NotReady ({(ready or {}).get('reason') or 'no Ready condition'})"
    return ""


def cordon(client: KubeClient, nodes: Iterable[str]) -> list[str]:
    """Mark each node unschedulable, as `kubectl cordon` does; returns the nodes cordoned."""
    done = []
    for name in nodes:
        client.apply(NODE.path(name=name), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                            "spec": {"unschedulable": True}})
        done.append(name)
    return done


def left_behind(client: KubeClient, namespace: str, run_ids: Sequence[str], kinds: Iterable[Kind] = CLEANUP_ORDER) -> list[str]:
    """Objects of these runs still present (one list per kind for the whole round)."""
    if not run_ids:
        return []
    selector = f"{LABEL_PREFIX}/run-id in ({','.join(sorted(run_ids))})"
    remaining = []
    for kind in [k for k in CLEANUP_ORDER if k in set(kinds) | {POD}]:
        try:
            items = client.list(kind.path(namespace) if kind.namespaced else kind.path(), label_selector=selector)["items"]
        except Exception as error:  # a kind the cluster does not serve cannot hold leftovers
            if getattr(error, "not_found", False):
                continue
            raise
        remaining += [f"{kind.kind}/{(o.get('metadata') or {}).get('name')}" for o in items]
    return remaining

"""Objects onto the cluster: run labels on every object and pod template, dependency order, server-side apply.

Order: the namespace, then configuration (ServiceAccount/Role/ConfigMap/Secret), then Services,
all before any workload; each workload's own objects (MPIJob, LeaderWorkerSet, Job, ...) are
applied only when its `after` dependencies are ready (services) or done (jobs), by the session.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from runner.execute.kubernetes.client import KubeApiError, KubeClient
from runner.execute.kubernetes.kinds import NAMESPACE, Kind, kind_of
from runner.render.kubernetes import KIND_ORDER, RenderedObject
from runner.render.labels import run_labels
from runner.scenario.model import Scenario, thaw


@dataclass(frozen=True)
class Prepared:
    """A rendered object ready to send: its kind, namespace and labelled body."""

    source: RenderedObject
    kind: Kind
    namespace: str
    body: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def workload(self) -> str:
        return self.source.workload

    @property
    def ref(self) -> str:
        where = f" in {self.namespace}" if self.kind.namespaced else ""
        return f"{self.kind.kind}/{self.name}{where}"

    @property
    def is_support(self) -> bool:
        """Namespace, configuration and Services: applied before every workload."""
        return self.kind.kind in KIND_ORDER

    def path(self, with_name: bool = True) -> str:
        return self.kind.path(self.namespace if self.kind.namespaced else None, self.name if with_name else None)


def prepare(objects: Iterable[RenderedObject], scenario: Scenario, run_id: str, namespace: str) -> list[Prepared]:
    """Bodies with the run labels on the object and on every pod template (added where a template forgot them)."""
    prepared = []
    for obj in objects:
        kind = kind_of(obj.body)
        body = copy.deepcopy(thaw(obj.body))
        labels = run_labels(scenario, run_id, obj.workload)
        meta = body.setdefault("metadata", {})
        if kind is not NAMESPACE:
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
            _label_pod_templates(body.get("spec"), labels)
        if kind.namespaced:
            meta["namespace"] = namespace
        prepared.append(Prepared(obj, kind, namespace, body))
    return prepared


def _label_pod_templates(node: Any, labels: Mapping[str, str]) -> None:
    """Every nested pod template (anything with spec.containers) gets the labels, so its pods are found by run id."""
    if isinstance(node, list):
        for item in node:
            _label_pod_templates(item, labels)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        if isinstance(value, dict) and isinstance(value.get("spec"), dict) and "containers" in value["spec"]:
            meta = value.setdefault("metadata", {}) or {}
            value["metadata"] = meta
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
        _label_pod_templates(value, labels)


def apply(client: KubeClient, obj: Prepared) -> dict:
    return client.apply(obj.path(), obj.body)


@dataclass(frozen=True)
class DryRunResult:
    ref: str
    accepted: bool
    message: str = ""


def dry_run_server(client: KubeClient, objects: list[Prepared], namespace_exists: bool) -> list[DryRunResult]:
    """Submit every object with dryRun=All: the cluster's admission, CRD schemas and webhooks check it; nothing is stored.

    Namespaced objects of a namespace that does not exist yet are checked in `default` instead
    (the server refuses them otherwise), and the result says so.
    """
    results = []
    for obj in objects:
        target, note = obj, ""
        if obj.kind.namespaced and not namespace_exists:
            body = copy.deepcopy(dict(obj.body))
            body["metadata"]["namespace"] = "default"
            target = Prepared(obj.source, obj.kind, "default", body)
            note = f" (checked in namespace default: {obj.namespace} does not exist yet)"
        try:
            client.apply(target.path(), target.body, dry_run=True)
            results.append(DryRunResult(obj.ref, True, "accepted" + note))
        except KubeApiError as error:
            if error.not_found and obj.kind.custom:
                message = f"{obj.kind.resource} is not served by this cluster; install it: {obj.kind.install}"
            else:
                message = _server_message(error)
            results.append(DryRunResult(obj.ref, False, message + note))
    return results


def _server_message(error: KubeApiError) -> str:
    message = error.message.split(": ", 1)[1] if ": " in error.message else error.message
    causes = [f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in error.causes if isinstance(c, dict)]
    if causes and not any(c in message for c in causes):
        message += " (" + "; ".join(causes) + ")"
    return message

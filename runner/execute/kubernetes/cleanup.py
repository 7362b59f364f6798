"""Delete a run's objects by label, then verify that nothing is left; the namespace itself stays.

Owners go first with propagationPolicy=Foreground (an MPIJob is gone only once its launcher
Job, workers, Service and ConfigMap are gone); leaf objects with Background. Then every kind
is listed by label again and watched until empty or the cleanup deadline passes: whatever is
still there is named, loudly.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

from runner.execute.kubernetes.client import KubeApiError, KubeClient
from runner.execute.kubernetes.kinds import CHILDREN, CLEANUP_ORDER, POD, WORKLOAD_KINDS, Kind
from runner.execute.kubernetes.wait import wait_until_empty
from runner.render.labels import LABEL_PREFIX, RUNNER_LABEL

DEFAULT_TIMEOUT_S = 120.0


def run_selector(run_id: str) -> str:
    return f"{LABEL_PREFIX}/run-id={run_id}"


def all_runs_selector() -> str:
    return f"{RUNNER_LABEL}=scenario-runner,{LABEL_PREFIX}/run-id"


def delete_by_label(client: KubeClient, selector: str, namespace: str | None, kinds: Iterable[Kind] = CLEANUP_ORDER,
                    timeout_s: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """Delete every object of `kinds` (pods always) matching selector; returns what is still there at the deadline.
    What controllers made of them (kinds.CHILDREN) is waited on too, where the caller may list it."""
    deadline = time.monotonic() + timeout_s
    kinds = set(kinds)
    children = {child for kind in kinds for child in CHILDREN.get(kind, ())} - kinds
    kinds = [k for k in CLEANUP_ORDER if k in kinds | {POD}]
    served: list[Kind] = []
    errors: list[str] = []
    for kind in kinds:
        try:
            _delete_kind(client, kind, selector, namespace)
            served.append(kind)
        except KubeApiError as error:
            if error.not_found:  # the kind is not served (CRD not installed): nothing of it can exist
                continue
            errors.append(f"could not delete {kind.resource}: {error.message}")
            served.append(kind)
    remaining: list[str] = []
    for kind in served:
        try:
            left = wait_until_empty(client, kind, namespace, selector, deadline)
        except KubeApiError as error:
            remaining.append(f"{kind.resource}: cannot verify ({error.message})")
            continue
        remaining += [_describe(kind, obj) for obj in left]
    for kind in children:
        try:
            left = wait_until_empty(client, kind, namespace, selector, deadline)
        except KubeApiError as error:
            if error.forbidden or error.not_found:  # not ours to list, or not served: the owner's deletion covers it
                continue
            remaining.append(f"{kind.resource}: cannot verify ({error.message})")
            continue
        remaining += [_describe(kind, obj) for obj in left]
    return errors + remaining


def _delete_kind(client: KubeClient, kind: Kind, selector: str, namespace: str | None) -> None:
    propagation = "Foreground" if kind in WORKLOAD_KINDS else "Background"
    if namespace or not kind.namespaced:
        namespaces = [namespace]
    else:  # every namespace holding such objects: deletecollection is per namespace
        listing = client.list(kind.path(), label_selector=selector)
        namespaces = sorted({(o.get("metadata") or {}).get("namespace", "") for o in listing["items"]})
    for ns in namespaces:
        try:
            client.delete_collection(kind.path(ns), selector, propagation=propagation)
        except KubeApiError as error:
            if error.status not in (403, 405):
                raise
            # deletecollection refused (RBAC grants only `delete`, or the resource lacks the verb): one by one
            for obj in client.list(kind.path(ns), label_selector=selector)["items"]:
                try:
                    client.delete(kind.path(ns, obj["metadata"]["name"]), propagation=propagation)
                except KubeApiError as inner:
                    if not inner.not_found:
                        raise


def _describe(kind: Kind, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    text = f"{kind.kind}/{meta.get('name')}" + (f" in {meta['namespace']}" if meta.get("namespace") else "")
    notes = []
    if meta.get("deletionTimestamp"):
        notes.append(f"deleting since {meta['deletionTimestamp']}")
    if meta.get("finalizers"):
        notes.append("finalizers " + ", ".join(meta["finalizers"]))
    return text + (f" ({'; '.join(notes)})" if notes else "")


def labelled_anywhere(client: KubeClient, selector: str) -> list[str]:
    """Every object of every served kind that can be listed (built-in and custom) matching the selector, in any
    namespace: what a run left whatever made it (controllers' children included). One list call per kind."""
    found: list[str] = []
    for group_version in _group_versions(client):
        resources = client.api_resources(group_version) or {}
        for resource in resources.get("resources") or []:
            if "/" in resource.get("name", "") or "list" not in (resource.get("verbs") or []):
                continue  # a subresource, or a kind that cannot be listed
            path = ("/api/" if "/" not in group_version else "/apis/") + f"{group_version}/{resource['name']}"
            try:
                items = client.list(path, label_selector=selector)["items"]
            except KubeApiError as error:
                found.append(f"{resource['kind']}: cannot list ({error.message})")
                continue
            kind = Kind(resource["kind"], group_version.rpartition("/")[0], group_version.rpartition("/")[2],
                        resource["name"], namespaced=bool(resource.get("namespaced")))
            found += [_describe(kind, item) for item in items]
    return found


def _group_versions(client: KubeClient) -> list[str]:
    """v1 and the preferred version of every API group."""
    groups = client.get_json("/apis").get("groups") or []
    return ["v1"] + [g["preferredVersion"]["groupVersion"] for g in groups if g.get("preferredVersion")]

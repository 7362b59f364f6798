"""Waiting without sleep-polling: list+watch caches, and what each workload kind's status means.

A Cache lists the run's objects of one kind (by the run-id label), then watches from the list's
resourceVersion with `timeoutSeconds`; when the server ends the watch it watches again from the
last resourceVersion seen (bookmarks keep it fresh), and when the server answers 410 Gone
(resourceVersion too old) it lists again. Every change wakes the session; nothing asks the
API server "are we there yet?".
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from runner.execute.contract import Vocabulary
from runner.execute.kubernetes.client import KubeApiError, KubeClient
from runner.execute.kubernetes.kinds import (
    DEPLOYMENT,
    DSET,
    JOB,
    LWS,
    MPIJOB,
    STATEFULSET,
    Kind,
)

WATCH_TIMEOUT_S = 60
RETRIES = 4


class ObjectPhase(Vocabulary):
    """What a workload's objects say, as the session reads their status."""

    WAITING = "waiting"    # created, not ready / not finished yet
    RUNNING = "running"    # a job whose pods run
    READY = "ready"        # a service that serves (dependents may start)
    DONE = "done"          # a job that completed
    FAILED = "failed"      # the controller gave up (Job Failed, MPIJob Failed, Deployment past its progress deadline)


WAITING, RUNNING, READY, DONE, FAILED = ObjectPhase


class Cache:
    """The objects of one kind in one namespace with a label selector, kept current by list+watch in a thread."""

    def __init__(self, client: KubeClient, kind: Kind, namespace: str | None, selector: str,
                 changed: Callable[[], None], watch_timeout_s: int = WATCH_TIMEOUT_S):
        self.client, self.kind, self.namespace, self.selector = client, kind, namespace, selector
        self.changed = changed
        self.watch_timeout_s = watch_timeout_s
        self.synced = threading.Event()
        self.error: KubeApiError | None = None
        self.events = 0
        self.relists = 0
        self.version = ""  # the last resourceVersion seen: the next watch starts there ('' lists first)
        self._objects: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind.plural}", daemon=True)

    def start(self) -> "Cache":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        self._thread.join(timeout=5)

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._objects.values())

    def get(self, name: str, namespace: str | None = None) -> dict | None:
        with self._lock:
            return self._objects.get((namespace or self.namespace or "", name))

    # --- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if not self.version:
                    self._list()
                self._watch()
                failures = 0
            except KubeApiError as error:
                if self._stop.is_set():
                    return
                if error.gone:
                    self.version = ""
                    continue
                failures += 1
                if failures > RETRIES or error.status in (401, 403, 404):
                    self.error = error
                    self.changed()
                    return
                self._stop.wait(min(2 ** failures * 0.25, 5.0))

    def _list(self) -> None:
        listing = self.client.list(self.kind.path(self.namespace), label_selector=self.selector)
        with self._lock:
            self._objects = {_key(o): o for o in listing["items"]}
        self.version = listing["resourceVersion"]
        self.relists += 1
        self.synced.set()
        self.changed()

    def _watch(self) -> None:
        """Follow one watch until the server ends it. `version` follows every event received, so that a watch that
        breaks is resumed after its last event (as client-go's reflector does), not replayed from the list: a replay
        would show the session older states of objects it has already seen."""
        stream = self.client.watch(self.kind.path(self.namespace), resource_version=self.version,
                                   label_selector=self.selector, timeout_s=self.watch_timeout_s)
        self._stream = stream
        try:
            for event in stream.events():
                if self._stop.is_set():
                    break
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        self.version = ""
                        return
                    raise KubeApiError(f"watch of {self.kind.resource} failed: {obj.get('message', obj)}",
                                       status=obj.get("code", 0), reason=obj.get("reason", ""))
                self.version = (obj.get("metadata") or {}).get("resourceVersion") or self.version
                if kind == "BOOKMARK":
                    continue
                self.events += 1
                with self._lock:
                    if kind == "DELETED":
                        self._objects.pop(_key(obj), None)
                    else:
                        self._objects[_key(obj)] = obj
                self.changed()
        finally:
            self._stream = None
            stream.close()


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def wait_until_empty(client: KubeClient, kind: Kind, namespace: str | None, selector: str, deadline: float) -> list[dict]:
    """Watch until no object of `kind` matches the selector, or the deadline passes; returns what is left."""
    listing = client.list(kind.path(namespace), label_selector=selector)
    left = {_key(o): o for o in listing["items"]}
    version = listing["resourceVersion"]
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            stream = client.watch(kind.path(namespace), resource_version=version, label_selector=selector,
                                  timeout_s=max(1, min(int(remaining) + 1, WATCH_TIMEOUT_S)))
        except KubeApiError as error:
            if not error.gone:
                raise
            return wait_until_empty(client, kind, namespace, selector, deadline)
        try:
            for event in stream.events():
                kind_, obj = event.get("type"), event.get("object") or {}
                if kind_ == "ERROR":
                    if obj.get("code") == 410:
                        return wait_until_empty(client, kind, namespace, selector, deadline)
                    raise KubeApiError(f"watch of {kind.resource} failed: {obj.get('message', obj)}", status=obj.get("code", 0))
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind_ == "DELETED":
                    left.pop(_key(obj), None)
                elif kind_ in ("ADDED", "MODIFIED"):
                    left[_key(obj)] = obj
                if not left or time.monotonic() > deadline:
                    break
        finally:
            stream.close()
    return list(left.values())


# --- what a workload object's status means ----------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    phase: ObjectPhase
    message: str = ""


def condition(obj: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def is_true(obj: Mapping[str, Any] | None, kind: str) -> bool:
    found = condition(obj, kind)
    return bool(found) and found.get("status") == "True"


def _why(obj: Mapping[str, Any], kind: str) -> str:
    found = condition(obj, kind) or {}
    name = f"{obj.get('kind', '')}/{(obj.get('metadata') or {}).get('name', '')}"
    reason = found.get("reason", "")
    text = found.get("message", "")
    return f"{name} {kind}" + (f" ({reason})" if reason else "") + (f": {text}" if text else "")


def object_status(kind: Kind, obj: Mapping[str, Any] | None) -> Status:
    """Phase of one workload object from its status, named like kubectl's `wait --for=condition=...`."""
    if obj is None:
        return Status(WAITING, "not created yet")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind is MPIJOB:
        if is_true(obj, "Failed"):
            return Status(FAILED, _why(obj, "Failed"))
        if is_true(obj, "Succeeded"):
            return Status(DONE)
        if is_true(obj, "Running"):
            return Status(RUNNING, "Running")
        return Status(WAITING, "Created" if is_true(obj, "Created") else "")
    if kind is JOB:
        if is_true(obj, "Failed"):
            return Status(FAILED, _why(obj, "Failed"))
        if is_true(obj, "Complete"):
            return Status(DONE)
        return Status(RUNNING if status.get("active") else WAITING)
    if kind is DEPLOYMENT:
        progressing = condition(obj, "Progressing") or {}
        if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
            return Status(FAILED, _why(obj, "Progressing"))
        wanted = spec.get("replicas", 1)
        current = status.get("observedGeneration", 0) >= (obj.get("metadata") or {}).get("generation", 0)
        if current and is_true(obj, "Available") and status.get("availableReplicas", 0) >= wanted:
            return Status(READY)
        return Status(WAITING, f"{status.get('availableReplicas', 0)}/{wanted} available")
    if kind is LWS:
        wanted = spec.get("replicas", 1)
        if status.get("readyReplicas", 0) >= wanted and (is_true(obj, "Available") or wanted == 0):
            return Status(READY)
        return Status(WAITING, f"{status.get('readyReplicas', 0)}/{wanted} groups ready")
    if kind is DSET:
        if is_true(obj, "Available"):
            return Status(READY)
        roles = ", ".join(f"{r.get('name')} {r.get('readyReplicas', 0)}/{r.get('replicas', 0)}"
                          for r in status.get("roleStatuses") or [])
        return Status(WAITING, roles)
    if kind is STATEFULSET:
        wanted = spec.get("replicas", 1)
        return Status(READY) if status.get("readyReplicas", 0) >= wanted else Status(WAITING)
    return Status(READY)


DSET_ROLE_LABEL = "disaggregatedset.x-k8s.io/role"  # set on every pod of a role (lws v0.9.0 GenerateLabels)


def disaggregated_status(obj: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]]) -> Status:
    """A DisaggregatedSet's phase. LWS v0.9.0's controller writes no status at all (the type declares roleStatuses
    and an Available condition; pkg/controllers/disaggregatedset sets neither), so without a status the set is ready
    when every role has as many Ready pods, none terminating, as its replicas x group size."""
    if obj is None or (obj.get("status") or {}).get("conditions"):
        return object_status(DSET, obj)
    ready: dict[str, int] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        role = (meta.get("labels") or {}).get(DSET_ROLE_LABEL)
        if role and not meta.get("deletionTimestamp") and is_true(pod, "Ready"):
            ready[role] = ready.get(role, 0) + 1
    counts = []
    for role in (obj.get("spec") or {}).get("roles") or []:
        spec = role.get("spec") or {}
        wanted = spec.get("replicas", 1) * (spec.get("leaderWorkerTemplate") or {}).get("size", 1)
        counts.append((role.get("name"), ready.get(role.get("name"), 0), wanted))
    if counts and all(have >= wanted for _, have, wanted in counts):
        return Status(READY)
    return Status(WAITING, ", ".join(f"{name} {have}/{wanted} pods ready" for name, have, wanted in counts))


def combined(statuses: Iterable[Status]) -> Status:
    """One phase for a workload made of several objects: failed if any failed, done/ready when all are."""
    statuses = list(statuses)
    if not statuses:
        return Status(READY)
    failed = [s for s in statuses if s.phase == FAILED]
    if failed:
        return failed[0]
    if all(s.phase == DONE for s in statuses):
        return Status(DONE)
    if all(s.phase in (DONE, READY) for s in statuses):
        return Status(READY)
    if any(s.phase in (RUNNING, READY, DONE) for s in statuses):
        return Status(RUNNING, "; ".join(s.message for s in statuses if s.message))
    return Status(WAITING, "; ".join(s.message for s in statuses if s.message))

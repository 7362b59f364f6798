"""The object store: objects by resource, a global resourceVersion counter and the watch history.

Stored objects are never mutated in place: every write stores a fresh dict, so
`peek` and watch events can hand out the stored dict itself (read-only) and
`get` hands out a deep copy for callers that modify it.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from typing import NamedTuple

from .errors import ApiError


def clone(obj):
    """A deep copy of JSON-like data (dicts, lists, scalars); several times faster than copy.deepcopy."""
    if isinstance(obj, dict):
        return {k: clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clone(v) for v in obj]
    return obj


class WatchEvent(NamedTuple):
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: str  # resource key, e.g. "pods", "jobs.batch"
    namespace: str
    obj: dict
    old: dict | None  # the previous version (MODIFIED/DELETED), for selector transitions


class Subscription:
    """Events of one resource (and namespace) after a resourceVersion, for one watch request."""

    def __init__(self, store: "Store", key: str, namespace: str | None):
        self.store, self.key, self.namespace = store, key, namespace
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    def wants(self, event: WatchEvent) -> bool:
        return event.key == self.key and (self.namespace is None or event.namespace == self.namespace)

    def push(self, event: WatchEvent) -> None:
        self._queue.put(event)

    def next(self, timeout: float) -> WatchEvent | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.store.unsubscribe(self)


class Store:
    def __init__(self, history_limit: int = 200_000, first_revision: int = 1000):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.revision = first_revision
        self._objects: dict[str, dict[tuple[str, str], dict]] = {}
        self._key_revision: dict[str, int] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history_limit)
        self._subscriptions: list[Subscription] = []
        self._compacted = 0  # watches from before this revision get 410 Expired
        self.watch_epoch = 0  # bumped to end every open watch stream

    # -- reads ------------------------------------------------------------------------------------

    def peek(self, key: str, namespace: str, name: str) -> dict | None:
        """The stored object itself: do not modify it."""
        with self.lock:
            return self._objects.get(key, {}).get((namespace or "", name))

    def get(self, key: str, namespace: str, name: str) -> dict | None:
        obj = self.peek(key, namespace, name)
        return clone(obj) if obj is not None else None

    def items(self, key: str, namespace: str | None = None) -> list[dict]:
        """Stored objects of a resource (read-only), in etcd key order (namespace, name)."""
        with self.lock:
            bucket = self._objects.get(key, {})
            return [bucket[k] for k in sorted(bucket) if namespace is None or k[0] == namespace]

    def all_items(self, skip: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
        with self.lock:
            return [(key, obj) for key in sorted(self._objects) if key not in skip
                    for _, obj in sorted(self._objects[key].items())]

    def key_revision(self, key: str) -> int:
        with self.lock:
            return self._key_revision.get(key, 0)

    # -- writes -----------------------------------------------------------------------------------

    def put(self, key: str, obj: dict) -> dict:
        """Store obj (taking ownership of the dict) with the next resourceVersion; ADDED or MODIFIED."""
        meta = obj["metadata"]
        slot = (meta.get("namespace") or "", meta["name"])
        with self.lock:
            bucket = self._objects.setdefault(key, {})
            old = bucket.get(slot)
            self.revision += 1
            meta["resourceVersion"] = str(self.revision)
            bucket[slot] = obj
            self._record(WatchEvent(self.revision, "MODIFIED" if old else "ADDED", key, slot[0], obj, old))
            return obj

    def remove(self, key: str, namespace: str, name: str) -> dict | None:
        with self.lock:
            old = self._objects.get(key, {}).pop((namespace or "", name), None)
            if old is None:
                return None
            self.revision += 1
            gone = dict(old, metadata=dict(old["metadata"], resourceVersion=str(self.revision)))
            self._record(WatchEvent(self.revision, "DELETED", key, namespace or "", gone, old))
            return gone

    def _record(self, event: WatchEvent) -> None:
        self._history.append(event)
        self._key_revision[event.key] = event.rv
        for sub in self._subscriptions:
            if sub.wants(event):
                sub.push(event)
        self.changed.notify_all()

    # -- watch ------------------------------------------------------------------------------------

    def subscribe(self, key: str, namespace: str | None, since: int | None) -> tuple[Subscription, list[dict]]:
        """A subscription for events after `since`; with since=None, also the current objects.

        Returns (subscription, initial objects). Raises 410 Expired when `since` is older
        than the retained history, like the real server's "too old resource version".
        """
        with self.lock:
            sub = Subscription(self, key, namespace)
            initial: list[dict] = []
            if since is None:
                initial = self.items(key, namespace)
            else:
                oldest = self._history[0].rv if self._history else self.revision + 1
                if since < self._compacted or (since < oldest - 1 and since < self.revision):
                    raise ApiError.gone(f"too old resource version: {since} ({oldest - 1})")
                newer = []  # from the newest back: a watch starts from a recent list, the history holds a whole triage
                for event in reversed(self._history):
                    if event.rv <= since:
                        break
                    if sub.wants(event):
                        newer.append(event)
                for event in reversed(newer):
                    sub.push(event)
            self._subscriptions.append(sub)
            return sub, initial

    def compact(self) -> None:
        """Forget the watch history, like etcd compaction: older resourceVersions now get 410 Expired."""
        with self.lock:
            self._history.clear()
            self._compacted = self.revision

    def unsubscribe(self, sub: Subscription) -> None:
        with self.lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

    def wait_for_change(self, since: int, timeout: float) -> int:
        with self.changed:
            if self.revision == since:
                self.changed.wait(timeout)
            return self.revision

    def poke(self) -> None:
        """Wake whoever waits for a change (used when simulated time moves on)."""
        with self.changed:
            self.changed.notify_all()

"""Container logs into the run directory while the pods run: `logs/<workload>/<pod>.log`.

One follower thread per container instance streams `pods/<pod>/log?follow=true` and appends to
the file as lines arrive, each through the run's redactor (no secret reaches the record, even for
a moment), so a crash (of the pod or of the runner) still leaves what was printed.
A restarted container gets a new follower that appends after a marker line.

A stream may outlive its container: kwok (the simulated kubelet of the local control plane) never ends a follow
stream, even after the pod is gone. So the end of a run does not wait on streams ending: once the run's pods are
deleted (and that deletion verified), a stream that has brought nothing for QUIET_S is complete and is closed.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from runner.execute.kubernetes.client import KubeApiError, KubeClient, Stream
from runner.execute.kubernetes.kinds import POD

QUIET_S = 1.0  # after the pods are gone: a stream silent this long has delivered everything (kwok never ends one)

def log_path(log_dir: Path, pod: str, container: str, first_container: bool) -> Path:
    return log_dir / (f"{pod}.log" if first_container else f"{pod}.{container}.log")


class Follower:
    """Follows one container instance (pod, container, containerID) until its stream ends or close() is called."""

    def __init__(self, client: KubeClient, namespace: str, pod: str, container: str, path: Path, marker: str = "",
                 redact: Callable[[bytes], bytes] = bytes):
        self.client, self.namespace, self.pod, self.container, self.path = client, namespace, pod, container, path
        self.marker = marker
        self.redact = redact
        self.error = ""
        self.bytes = 0
        self.last_data = time.monotonic()  # when the stream last brought bytes (or opened)
        self._stream: Stream | None = None
        self._closed = threading.Event()
        self.opened = threading.Event()  # the stream is open (or failed to open)
        self._thread = threading.Thread(target=self._run, name=f"log-{pod}", daemon=True)

    def start(self) -> "Follower":
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            stream = self.client.log_stream(POD.path(self.namespace, self.pod, "log"), self.container, follow=True)
        except KubeApiError as error:
            self.error = error.message
            self.opened.set()
            return
        self._stream = stream
        self.last_data = time.monotonic()
        self.opened.set()
        if self._closed.is_set():
            stream.close()
        try:
            with self.path.open("ab", buffering=0) as handle:
                if self.marker:
                    handle.write(self.marker.encode() + b"\n")
                for line in stream.lines():
                    handle.write(self.redact(line))
                    self.bytes += len(line)
                    self.last_data = time.monotonic()
        except KubeApiError as error:
            self.error = error.message
        except OSError as error:
            self.error = f"cannot write {self.path}: {error}"
        finally:
            stream.close()

    def close(self) -> None:
        self._closed.set()
        if self._stream is not None:
            self._stream.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class LogCollector:
    """Starts followers for every started container of the pods it is shown; knows which file holds which pod's log."""

    def __init__(self, client: KubeClient, namespace: str, redact: Callable[[bytes], bytes] = bytes):
        self.client, self.namespace, self.redact = client, namespace, redact
        self.followers: dict[tuple[str, str], Follower] = {}
        self.instances: dict[tuple[str, str], str] = {}  # (pod, container) -> containerID being followed
        self.files: dict[str, Path] = {}  # pod -> its (first container's) log file

    def update(self, pod: Mapping[str, Any], log_dir: Path) -> None:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        name = meta.get("name", "")
        containers = [c.get("name", "") for c in spec.get("containers") or []]
        states = {s.get("name"): s for s in status.get("containerStatuses") or []}
        for index, container in enumerate(containers):
            state = (states.get(container) or {}).get("state") or {}
            if not ("running" in state or "terminated" in state):
                continue
            instance = (states.get(container) or {}).get("containerID") or f"restart-{(states.get(container) or {}).get('restartCount', 0)}"
            key = (name, container)
            if self.instances.get(key) == instance:
                continue
            previous = self.followers.get(key)
            if previous is not None and not previous.done:
                continue  # still draining the last instance; the next pod update starts the new one
            path = log_path(log_dir, name, container, index == 0)
            if index == 0:
                self.files[name] = path
            restarts = (states.get(container) or {}).get("restartCount", 0)
            marker = f"----- scenario-runner: container {container} restarted ({restarts} restarts) -----" if previous else ""
            self.instances[key] = instance
            self.followers[key] = Follower(self.client, self.namespace, name, container, path, marker, self.redact).start()

    def wait_opened(self, timeout_s: float = 5.0) -> list[str]:
        """Before pods are deleted: let every follower open its stream, so the log so far is not lost.

        Returns the containers whose stream did not open in time (their logs are incomplete or missing)."""

        deadline = time.monotonic() + timeout_s
        late = []
        for follower in self.followers.values():
            if not follower.opened.wait(max(0.0, deadline - time.monotonic())):
                late.append(f"{follower.pod}/{follower.container}: the log stream did not open within {timeout_s:g}s")
        return late

    def finish(self, timeout_s: float = 10.0, pods_gone: bool = False) -> None:
        """Let streams of ended containers drain, then close what still runs (pods kept with --keep).

        pods_gone: the run's pods are deleted and verified gone, so every container has ended: a stream quiet for
        QUIET_S is closed without waiting for the server to end it (a real kubelet does; kwok never does)."""

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            running = [f for f in self.followers.values() if not f.done]
            if not running:
                break
            for follower in running:
                if pods_gone and follower.opened.is_set() and time.monotonic() - follower.last_data >= QUIET_S:
                    follower.close()
            time.sleep(0.05)
        for follower in self.followers.values():
            if not follower.done:
                follower.close()
        for follower in self.followers.values():
            follower.join(2.0)

    def errors(self) -> list[str]:
        return [f"log of {f.pod}/{f.container}: {f.error}" for f in self.followers.values() if f.error]

"""The log binder: feeds the sim.scenario-runner.io/log-file[.<container>] annotations of pods to kwok.

`python -m runner.cluster binder --dir D` (started by `up`): watches pods in every namespace; for each new pod that
names a log file it writes the CRI-format copy and the kwok Logs object (logs.feed_log), once per pod UID.
"""
from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client, config, watch

from .logs import ANNOTATION_LOG_FED, ANNOTATION_LOG_FILE, feed_log


def files_of(pod) -> dict[str, str]:
    """container -> plain-text file named by the pod's annotations."""
    ann = pod.metadata.annotations or {}
    out = {}
    for c in pod.spec.containers or []:
        f = ann.get(f"{ANNOTATION_LOG_FILE}.{c.name}") or ann.get(ANNOTATION_LOG_FILE)
        if f:
            out[c.name] = f
    return out


def feed_pod(api, d: Path, pod) -> list[str]:
    fed = []
    for container, f in files_of(pod).items():
        try:
            text = Path(f).read_text(errors="replace")
        except OSError as e:
            text = f"[scenario-runner log binder] cannot read {f}: {e}\n"
        feed_log(api, pod.metadata.namespace, pod.metadata.name, container, text, cluster_dir=d)
        fed.append(f"{pod.metadata.namespace}/{pod.metadata.name}/{container} <- {f}")
    _mark_fed(api, pod)
    return fed


def _mark_fed(api, pod) -> None:
    """The log-fed annotation: the pod's stage (sr-pod-ready) waits for it, so its output is there when it runs."""
    try:
        client.CoreV1Api(api).patch_namespaced_pod(pod.metadata.name, pod.metadata.namespace,
                                                   {"metadata": {"annotations": {ANNOTATION_LOG_FED: "true"}}})
    except client.ApiException as e:
        if e.status != 404:  # a pod deleted meanwhile needs nothing
            raise


def run(d: Path) -> int:
    d = d.resolve()
    api = config.new_client_from_config(config_file=str(d / "run" / "admin.kubeconfig"))
    core = client.CoreV1Api(api)
    done: set[str] = set()
    ready = d / "run" / "log-binder.ready"
    while True:
        try:
            pods = core.list_pod_for_all_namespaces()
            rv = pods.metadata.resource_version
            for p in pods.items:
                if p.metadata.uid not in done and files_of(p):
                    for line in feed_pod(api, d, p):
                        print("fed", line, flush=True)
                    done.add(p.metadata.uid)
            ready.touch()
            for ev in watch.Watch().stream(core.list_pod_for_all_namespaces, resource_version=rv,
                                           timeout_seconds=300, allow_watch_bookmarks=True):
                p = ev["object"]
                if ev["type"] == "DELETED":
                    done.discard(p.metadata.uid)
                elif ev["type"] in ("ADDED", "MODIFIED") and p.metadata.uid not in done and files_of(p):
                    for line in feed_pod(api, d, p):
                        print("fed", line, flush=True)
                    done.add(p.metadata.uid)
        except Exception as e:  # a dropped watch or 410 Gone: list again
            print(f"watch ended ({type(e).__name__}: {e}); listing again", flush=True)
            time.sleep(0.5)

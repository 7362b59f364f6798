"""Pod logs for kwok: CRI-format files and the kwok `Logs` objects that point each pod's containers at them."""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

PREFIX = "sim.scenario-runner.io/"
ANNOTATION_OUTCOME = PREFIX + "outcome"
ANNOTATION_EXIT_CODE = PREFIX + "exit-code"
ANNOTATION_RUN_FOR = PREFIX + "run-for"
ANNOTATION_REASON = PREFIX + "reason"
ANNOTATION_MESSAGE = PREFIX + "message"
ANNOTATION_READY = PREFIX + "ready"
ANNOTATION_LOG_FILE = PREFIX + "log-file"
# set by the log binder once it has fed a pod's log-file annotations (so it does it once per pod)
ANNOTATION_LOG_FED = PREFIX + "log-fed"

KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"


def cri_lines(text: str, stream: str = "stdout", when: _dt.datetime | None = None) -> str:
    """`text` in the CRI log format kwok reads: `<RFC3339Nano> <stream> F <line>` per line."""
    stamp = (when or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "".join(f"{stamp} {stream} F {line}\n" for line in lines)


def _safe(part: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", part) or part in (".", ".."):
        raise ValueError(f"not a Kubernetes name: {part!r}")
    return part


def log_path(cluster_dir: Path, namespace: str, pod: str, container: str) -> Path:
    return Path(cluster_dir).resolve() / "podlogs" / _safe(namespace) / _safe(pod) / f"{_safe(container)}.log"


def _api(kubeconfig):
    from kubernetes import client, config  # lazy: the kubernetes client takes a second to import; status and down never need it
    if isinstance(kubeconfig, client.ApiClient):
        return kubeconfig
    return config.new_client_from_config(config_file=str(kubeconfig))


def set_pod_log(api, namespace: str, pod: str, container: str, path: Path, follow: bool = False,
                previous: Path | None = None) -> None:
    """Create or update the kwok Logs object `namespace/pod` so that `container` reads `path`.

    kwok v0.8.0 ignores `follow` on the pods/log path: a follow=true request streams until the client closes it,
    even after the pod ended (a real kubelet ends the stream when the container exits).
    """
    from kubernetes import client  # lazy: the kubernetes client takes a second to import; status and down never need it
    objs = client.CustomObjectsApi(api)
    entry = {"containers": [container], "logsFile": str(path), "follow": follow}
    if previous is not None:
        entry["previousLogsFile"] = str(previous)
    for _ in range(5):
        try:
            cur = objs.get_namespaced_custom_object(KWOK_GROUP, KWOK_VERSION, namespace, "logs", pod)
        except client.ApiException as e:
            if e.status != 404:
                raise
            body = {"apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}", "kind": "Logs",
                    "metadata": {"name": pod, "namespace": namespace}, "spec": {"logs": [entry]}}
            try:
                objs.create_namespaced_custom_object(KWOK_GROUP, KWOK_VERSION, namespace, "logs", body)
                return
            except client.ApiException as e2:
                if e2.status == 409:
                    continue
                raise
        logs = [x for x in (cur.get("spec") or {}).get("logs") or [] if container not in (x.get("containers") or [])]
        cur.setdefault("spec", {})["logs"] = logs + [entry]
        try:
            objs.replace_namespaced_custom_object(KWOK_GROUP, KWOK_VERSION, namespace, "logs", pod, cur)
            return
        except client.ApiException as e:
            if e.status != 409:
                raise
    raise RuntimeError(f"could not update kwok Logs {namespace}/{pod}: kept conflicting")


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def feed_log(kubeconfig, namespace: str, pod: str, container: str, text: str, *,
             stream: str = "stdout", follow: bool = False, previous: str | None = None,
             cluster_dir: str | os.PathLike | None = None) -> Path:
    """Make `text` what `container` of `namespace/pod` printed, as read through pods/log.

    kubeconfig: the cluster's kubeconfig path (the log file goes to `<its directory>/podlogs/...` unless
    `cluster_dir` is given) or a kubernetes.client.ApiClient (then `cluster_dir` is required).
    The pod may not exist yet (the Logs object is keyed by the pod's name). Calling it again replaces the text.
    `previous`: what `read_namespaced_pod_log(..., previous=True)` returns (a restarted container's last run).
    Returns the CRI-format file written.
    """
    if cluster_dir is None:
        if not isinstance(kubeconfig, (str, os.PathLike)):
            raise ValueError("cluster_dir is required when kubeconfig is an ApiClient")
        cluster_dir = Path(kubeconfig).resolve().parent
    path = log_path(Path(cluster_dir), namespace, pod, container)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, cri_lines(text, stream))
    prev = None
    if previous is not None:
        prev = path.with_suffix(".previous.log")
        _write(prev, cri_lines(previous, stream))
    api = _api(kubeconfig)
    try:
        set_pod_log(api, namespace, pod, container, path, follow, prev)
    finally:
        if api is not kubeconfig:
            api.close()
    return path

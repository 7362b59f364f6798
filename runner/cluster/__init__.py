"""A real local Kubernetes control plane with simulated nodes (issue 25).

Real: etcd, kube-apiserver (RBAC, default admission plugins), kube-controller-manager, kube-scheduler, the MPI
Operator and LeaderWorkerSet (its webhooks served on 127.0.0.1), all built from Go modules by cluster/build.sh at
the versions in cluster/versions.env. Simulated: kwok plays the kubelet of every node (no containers, devices or
network); a pod's phase, exit code and log come from its annotations and from files written here.

Command line (everything listens on 127.0.0.1; each component logs to <dir>/logs/<component>.log):

    python -m runner.cluster up [--dir .cluster] [--bin DIR] [--nodes p5.48xlarge=4,p5en.48xlarge=2,p6-b200.48xlarge=2]
    python -m runner.cluster status [--dir .cluster]
    python -m runner.cluster down [--dir .cluster]

`up` writes <dir>/kubeconfig (admin, system:masters) and <dir>/state.json; it is a no-op when the cluster is up, and
cleans a stale state (processes gone) first. `make cluster` builds (cached) and runs `up`.

Pod outcome (annotations on the pod, i.e. on the pod template of a Job, MPIJob replica or LWS template):

    sim.scenario-runner.io/outcome    "Succeeded" | "Failed" | "Running". Absent: a pod owned by a Job succeeds,
                                      any other pod (MPI worker, LWS leader/worker, StatefulSet) keeps running.
                                      What a kubelet reports when a container cannot run: "ImagePullBackOff" (the
                                      pod stays Pending), "CrashLoopBackOff" (Running; after run-for restarted and not ready).
    sim.scenario-runner.io/exit-code  exit code of each container when outcome is "Failed" or "CrashLoopBackOff" (default "1").
    sim.scenario-runner.io/reason     terminated reason when outcome is "Failed" (default "Error"; "OOMKilled", "StartError").
    sim.scenario-runner.io/message    terminated message when outcome is "Failed" (a StartError's "exec format error").
    sim.scenario-runner.io/ready      "false": the pod runs, its readiness probe never passes.
    sim.scenario-runner.io/run-for    time from Running to the end, a Go duration such as "20s" (default 1s).
    sim.scenario-runner.io/log-file   absolute path of a plain-text file: what every container of the pod "printed".
    sim.scenario-runner.io/log-file.<container>   the same for one container (wins over log-file).

Pod logs take the real path: client -> kube-apiserver pods/log -> kwok's kubelet port -> a CRI-format file, chosen per
pod by a kwok `Logs` object (kwok.x-k8s.io/v1alpha1, named like the pod). Two ways to feed them:

    from runner.cluster import feed_log
    feed_log(kubeconfig, namespace, pod, container, text)   # before or after the pod exists; returns the file path

or put the log-file annotation on the pod (template): the log binder `up` starts (a small process of this package,
<dir>/logs/log-binder.log) converts the file and creates the Logs object when the pod appears, so pods with generated
names (a Job's pods) get their output too. Feed the text before the pod ends; readers see the file as it is when they
read it. tail_lines, since, timestamps, limit_bytes and previous (feed_log(..., previous=TEXT)) work as on a kubelet;
follow does not: kwok (v0.8.0) streams until the client hangs up, even after the pod ended, so read without follow
(or with a timeout).
"""
from __future__ import annotations

from .logs import (
    ANNOTATION_EXIT_CODE,
    ANNOTATION_LOG_FILE,
    ANNOTATION_MESSAGE,
    ANNOTATION_OUTCOME,
    ANNOTATION_READY,
    ANNOTATION_REASON,
    ANNOTATION_RUN_FOR,
    feed_log,
)

__all__ = ["feed_log", "ANNOTATION_OUTCOME", "ANNOTATION_EXIT_CODE", "ANNOTATION_REASON", "ANNOTATION_MESSAGE",
           "ANNOTATION_READY", "ANNOTATION_RUN_FOR", "ANNOTATION_LOG_FILE"]

"""Scripted controllers: they turn workload objects into pods the way the real controllers do.

* Job (batch/v1): pods `<job>-<5 chars>` with job-name/controller-uid labels,
  backoffLimit (restartPolicy Never: failed pods; OnFailure: restarts),
  activeDeadlineSeconds, ttlSecondsAfterFinished, conditions
  SuccessCriteriaMet+Complete / FailureTarget+Failed, status counts.
* MPIJob (kubeflow.org/v2beta1, like mpi-operator v2): Service `<name>`,
  ConfigMap `<name>-config` (hostfile, discover_hosts.sh), Secret `<name>-ssh`,
  worker pods `<name>-worker-<i>` and a launcher **Job** `<name>-launcher`
  (so the launcher pod is `<name>-launcher-<5 chars>`); conditions
  Created/Running/Succeeded/Failed with mpi-operator's reasons and messages.
* LeaderWorkerSet: headless Service `<name>`, leader pods `<name>-<g>` and
  workers `<name>-<g>-<w>` with the LWS labels, annotations and LWS_* env;
  RecreateGroupOnPodRestart; status readyReplicas + Available/Progressing.
  (No StatefulSets: leaders are owned by the LWS, workers by their leader.)
* DisaggregatedSet: one LeaderWorkerSet `<name>-<revision>-<role>` per role plus
  a headless Service `<name>-<revision>-<role>-prv`; no status, as LWS v0.9.0 writes none.
* Deployment: pods `<name>-<template hash>-<5 chars>` (owned by the Deployment,
  no ReplicaSet object), readyReplicas/availableReplicas, conditions.
* Garbage collection of dependents whose owners are gone (after `gc_delay`),
  foreground deletion, and namespace termination.
"""
from __future__ import annotations

import hashlib
import json
import traceback

from .api import Api, Ctx, timestamp
from .errors import ApiError
from .store import clone

TERMINAL = ("Succeeded", "Failed")


# -- helpers -------------------------------------------------------------------------------------------

def owner_ref(owner: dict, block: bool = True) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


def controller_uid(obj: dict) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "Pending")


def deleting(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def set_condition(status: dict, kind: str, value: str, reason: str, message: str, now: str,
                  extra: dict | None = None) -> bool:
    """Set one condition; lastTransitionTime moves only when the status flips. True if it changed."""
    conditions = status.setdefault("conditions", [])
    current = next((c for c in conditions if c["type"] == kind), None)
    if current and current["status"] == value and current.get("reason") == reason:
        return False
    condition = {"type": kind, "status": value, "reason": reason, "message": message,
                 "lastTransitionTime": current["lastTransitionTime"] if current and current["status"] == value
                 else now}
    condition.update(extra or {})
    if current:
        conditions[conditions.index(current)] = condition
    else:
        conditions.append(condition)
    return True


def condition_true(obj: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def short_hash(data, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


class Controller:
    name = "controller"
    resource = ""

    def __init__(self, api: Api, on_error=print):
        self.api, self.clock, self.on_error = api, api.clock, on_error

    @property
    def rt(self):
        return self.api.rt(self.resource)

    def reconcile_all(self, now: float) -> None:
        try:
            rt = self.rt
        except ApiError:  # the CRD is not installed
            return
        for obj in self.api.store.items(rt.key):
            if not deleting(obj):
                try:
                    self.reconcile(obj, now)
                except Exception:  # a fake-side bug: report it, keep reconciling the others
                    self.on_error(traceback.format_exc())

    def reconcile(self, obj: dict, now: float) -> None:
        raise NotImplementedError

    def owned_pods(self, owner: dict) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return [p for p in self.api.store.items("pods", owner["metadata"]["namespace"]) if controller_uid(p) == uid]

    def create(self, resource: str, namespace: str, body: dict, owner: dict) -> dict | None:
        """Create a dependent like the real controller; a rejected one becomes a Warning event."""
        try:
            return self.api.create(self.api.rt(resource), namespace, body, Ctx(manager=self.name))
        except ApiError as e:
            if e.code == 409:
                return None
            what = body["metadata"].get("name") or body["metadata"].get("generateName", "")
            self.api.record_event(owner, "Warning", "FailedCreate", f"Error creating: {e.message}", self.name)
            self.failed_create(owner, what, e)
            return None

    def failed_create(self, owner: dict, what: str, error: ApiError) -> None:
        pass

    def delete(self, resource: str, obj: dict, policy: str = "Background") -> None:
        try:
            self.api.delete(self.api.rt(resource), obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                            {"propagationPolicy": policy}, Ctx(manager=self.name))
        except ApiError:
            pass

    def write_status(self, obj: dict, status: dict) -> None:
        if status != obj.get("status"):
            self.api.mutate(self.rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                            lambda o: o.__setitem__("status", status), self.name)

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.api.record_event(obj, type_, reason, message, self.name)


def pod_from_template(template: dict, name: str | None, generate_name: str | None, namespace: str,
                      owner: dict, labels: dict | None = None, annotations: dict | None = None) -> dict:
    template = clone(template or {})
    meta = template.get("metadata") or {}
    pod_meta = {"namespace": namespace, "labels": {**(meta.get("labels") or {}), **(labels or {})},
                "ownerReferences": [owner_ref(owner)]}
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name
    if meta.get("annotations") or annotations:
        pod_meta["annotations"] = {**(meta.get("annotations") or {}), **(annotations or {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}


def add_env(spec: dict, env: list[dict], init: bool = False) -> None:
    for kind in ("containers", "initContainers") if init else ("containers",):
        for c in spec.get(kind) or []:
            c["env"] = (c.get("env") or []) + clone(env)


# -- Job -------------------------------------------------------------------------------------------------

class JobController(Controller):
    name = "job-controller"
    resource = "jobs.batch"

    def __init__(self, api: Api, on_error=print):
        super().__init__(api, on_error)
        self.counted: dict[str, dict[str, str]] = {}  # job uid -> pod uid -> terminal phase
        self.not_before: dict[str, float] = {}  # job uid -> no new pod before (failure back-off)
        self.started: dict[str, float] = {}  # job uid -> monotonic start (activeDeadlineSeconds)
        self.finished: dict[str, float] = {}  # job uid -> monotonic finish (ttlSecondsAfterFinished)

    def reconcile(self, job: dict, now: float) -> None:
        uid, spec = job["metadata"]["uid"], job.get("spec") or {}
        status = clone(job.get("status") or {})
        if condition_true(job, "Complete") or condition_true(job, "Failed"):
            return self._ttl(job, now)
        if spec.get("suspend"):
            return
        stamp = timestamp()
        status.setdefault("startTime", stamp)
        self.started.setdefault(uid, now)
        pods = self.owned_pods(job)
        counted = self.counted.setdefault(uid, {})
        for pod in pods:
            if phase(pod) in TERMINAL and pod["metadata"]["uid"] not in counted:
                counted[pod["metadata"]["uid"]] = phase(pod)
                if phase(pod) == "Failed":
                    failures = sum(1 for p in counted.values() if p == "Failed")
                    self.not_before[uid] = self.clock.after(min(10 * 2 ** (failures - 1), 360))
        active = [p for p in pods if phase(p) not in TERMINAL and not deleting(p)]
        succeeded = sum(1 for p in counted.values() if p == "Succeeded")
        failed = sum(1 for p in counted.values() if p == "Failed")
        backoff_limit = spec.get("backoffLimit", 6)
        restarts = sum(c.get("restartCount", 0) for p in active
                       for c in (p.get("status") or {}).get("containerStatuses") or [])
        policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
        failure = None
        if failed > backoff_limit or (policy == "OnFailure" and (restarts > 0 if backoff_limit == 0
                                                                    else restarts >= backoff_limit)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif spec.get("activeDeadlineSeconds") is not None and \
                now - self.started[uid] >= spec["activeDeadlineSeconds"] * self.clock.scale:
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        completions = spec.get("completions", 1)
        if failure:
            for pod in active:
                self.delete("pods", pod)
            failed += len(active)
            active = []
            set_condition(status, "FailureTarget", "True", *failure, stamp)
            set_condition(status, "Failed", "True", *failure, stamp)
            self.event(job, "Warning", failure[0], failure[1])
            self.finished[uid] = now
        elif succeeded >= completions:
            for pod in active:
                self.delete("pods", pod)
            active = []
            set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
                          "Reached expected number of completions", stamp)
            set_condition(status, "Complete", "True", "CompletionsReached", "Reached expected number of completions",
                          stamp)
            status["completionTime"] = stamp
            self.event(job, "Normal", "Completed", "Job completed")
            self.finished[uid] = now
        else:
            wanted = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
            if wanted > 0 and now >= self.not_before.get(uid, 0):
                for _ in range(wanted):
                    pod = self._new_pod(job)
                    if pod:
                        active.append(pod)
                        self.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        self._counts(status, active, succeeded, failed)
        self.write_status(job, status)

    def _new_pod(self, job: dict) -> dict | None:
        spec = job["spec"]
        body = pod_from_template(spec.get("template"), None, job["metadata"]["name"] + "-",
                                 job["metadata"]["namespace"], job,
                                 annotations={"batch.kubernetes.io/job-tracking": ""})
        return self.create("pods", job["metadata"]["namespace"], body, job)

    @staticmethod
    def _counts(status: dict, active: list[dict], succeeded: int, failed: int) -> None:
        for name, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[name] = value
            else:
                status.pop(name, None)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}

    def _ttl(self, job: dict, now: float) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        uid = job["metadata"]["uid"]
        if ttl is None:
            return
        finished = self.finished.setdefault(uid, now)
        if now - finished >= ttl * self.clock.scale:
            self.delete("jobs.batch", job, "Background")


# -- MPIJob --------------------------------------------------------------------------------------------

MPI_LABELS = ("training.kubeflow.org/operator-name", "training.kubeflow.org/job-name", "training.kubeflow.org/job-role")


def mpi_labels(name: str, role: str) -> dict:
    return {MPI_LABELS[0]: "mpi-operator", MPI_LABELS[1]: name, MPI_LABELS[2]: role}


class MPIJobController(Controller):
    name = "mpi-job-controller"
    resource = "mpijobs.kubeflow.org"

    def reconcile(self, mpijob: dict, now: float) -> None:
        meta, spec = mpijob["metadata"], mpijob.get("spec") or {}
        name, ns = meta["name"], meta["namespace"]
        status = clone(mpijob.get("status") or {})
        stamp = timestamp()
        if not status.get("conditions"):
            message = f"MPIJob {ns}/{name} is created."
            set_condition(status, "Created", "True", "MPIJobCreated", message, stamp, {"lastUpdateTime": stamp})
            self.event(mpijob, "Normal", "MPIJobCreated", message)
        run_policy = spec.get("runPolicy") or {}
        if condition_true({"status": status}, "Succeeded") or condition_true({"status": status}, "Failed"):
            if status.get("completionTime") and self._clean_pods(mpijob, run_policy.get("cleanPodPolicy", "None")):
                status.setdefault("replicaStatuses", {})["Worker"] = {}
            return self.write_status(mpijob, status)
        status.setdefault("startTime", stamp)
        launcher = self.api.store.peek("jobs.batch", ns, name + "-launcher")
        done = launcher is not None and (condition_true(launcher, "Complete") or condition_true(launcher, "Failed"))
        workers = []
        if not done:
            self._ensure_service(mpijob)
            self._ensure_config(mpijob)
            self._ensure_secret(mpijob)
            workers = self._ensure_workers(mpijob)
            policy = spec.get("launcherCreationPolicy", "AtStartup")
            if launcher is None and (policy == "AtStartup" or all(is_ready(w) for w in workers)):
                launcher = self.create("jobs.batch", ns, self._launcher_job(mpijob), mpijob)
        else:
            workers = [p for p in self.owned_pods(mpijob)
                       if (p["metadata"].get("labels") or {}).get(MPI_LABELS[2]) == "worker"]
        self._update_status(mpijob, status, launcher, workers, stamp)
        self.write_status(mpijob, status)

    def _update_status(self, mpijob, status, launcher, workers, stamp):
        ns, name = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"]
        replica = status.setdefault("replicaStatuses", {})
        running_launchers = 0
        if launcher is not None:
            launcher_pods = [p for p in self.api.store.items("pods", ns)
                             if controller_uid(p) == launcher["metadata"]["uid"]]
            running_launchers = sum(1 for p in launcher_pods if phase(p) == "Running")
            counts = {"active": running_launchers}
            if (launcher.get("status") or {}).get("failed"):
                counts["failed"] = launcher["status"]["failed"]
            if condition_true(launcher, "Complete"):
                counts = {"succeeded": 1, **({"failed": counts["failed"]} if "failed" in counts else {})}
                message = f"MPIJob {ns}/{name} successfully completed."
                status["completionTime"] = (launcher.get("status") or {}).get("completionTime", stamp)
                if set_condition(status, "Succeeded", "True", "MPIJobSucceeded", message, stamp,
                                 {"lastUpdateTime": stamp}):
                    self._running_false(status, stamp)
                    self.event(mpijob, "Normal", "MPIJobSucceeded", message)
            elif condition_true(launcher, "Failed"):
                self._failed(mpijob, status, launcher, launcher_pods, stamp)
            replica["Launcher"] = counts
        worker_counts = {}
        for w in workers:
            key = {"Running": "active", "Succeeded": "succeeded", "Failed": "failed"}.get(phase(w))
            if key:
                worker_counts[key] = worker_counts.get(key, 0) + 1
        replica["Worker"] = worker_counts
        evicted = [w for w in workers if (w.get("status") or {}).get("reason") == "Evicted"]
        if evicted:
            message = f"{len(evicted)}/{len(workers)} workers are evicted"
            if set_condition(status, "Failed", "True", "MPIJobEvicted", message, stamp, {"lastUpdateTime": stamp}):
                self.event(mpijob, "Warning", "MPIJobEvicted", message)
                status.setdefault("completionTime", stamp)
        finished = condition_true({"status": status}, "Succeeded") or condition_true({"status": status}, "Failed")
        all_running = sum(1 for w in workers if phase(w) == "Running") == len(workers)
        if not finished and launcher is not None and running_launchers >= 1 and all_running:
            message = f"MPIJob {ns}/{name} is running."
            if set_condition(status, "Running", "True", "MPIJobRunning", message, stamp, {"lastUpdateTime": stamp}):
                self.event(mpijob, "Normal", "MPIJobRunning", f"MPIJob {ns}/{name} is running")

    @staticmethod
    def _running_false(status, stamp):
        for c in status.get("conditions", []):
            if c["type"] == "Running" and c["status"] == "True":
                c.update(status="False", lastTransitionTime=stamp)

    def _failed(self, mpijob, status, launcher, launcher_pods, stamp):
        ns, name = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"]
        cond = next(c for c in launcher["status"]["conditions"] if c["type"] == "Failed")
        reason = cond.get("reason") or "MPIJobFailed"
        message = cond.get("message") or f"MPIJob {ns}/{name} has failed"
        if reason == "BackoffLimitExceeded":
            failed_pods = sorted((p for p in launcher_pods if phase(p) == "Failed"),
                                 key=lambda p: p["metadata"]["creationTimestamp"])
            if failed_pods:
                last = failed_pods[-1].get("status") or {}
                reason += "/" + last.get("reason", "")
                message += ": " + last.get("message", "")
        status.setdefault("completionTime", stamp)
        if set_condition(status, "Failed", "True", reason, message[:1024], stamp, {"lastUpdateTime": stamp}):
            self._running_false(status, stamp)
            self.event(mpijob, "Warning", reason, message[:1024])

    def _clean_pods(self, mpijob, policy) -> bool:
        if policy not in ("All", "Running"):
            return False
        for pod in self.owned_pods(mpijob):
            if policy == "Running" and phase(pod) not in ("Running", "Pending"):
                continue
            if not deleting(pod):
                self.delete("pods", pod)
        return True

    def _ensure_service(self, mpijob):
        ns, name = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"]
        if self.api.store.peek("services", ns, name) is None:
            self.create("services", ns, {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": name},
                             "ownerReferences": [owner_ref(mpijob)]},
                "spec": {"clusterIP": "None", "selector": {MPI_LABELS[0]: "mpi-operator", MPI_LABELS[1]: name}}},
                mpijob)

    def _ensure_config(self, mpijob):
        ns, name, spec = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"], mpijob["spec"]
        slots = spec.get("slotsPerWorker", 1)
        replicas = ((spec.get("mpiReplicaSpecs") or {}).get("Worker") or {}).get("replicas", 0)
        impl = spec.get("mpiImplementation", "OpenMPI")
        hosts = ([f"{name}-launcher"] if spec.get("runLauncherAsWorker") else []) + \
            [f"{name}-worker-{i}" for i in range(replicas)]
        if impl == "OpenMPI":
            hostfile = "".join(f"{h}.{name}.{ns}.svc slots={slots}\n" for h in hosts)
        else:
            hostfile = "".join(f"{h}.{name}.{ns}.svc:{slots}\n" for h in hosts)
        running = sorted(p["metadata"]["name"] for p in self.owned_pods(mpijob)
                         if (p["metadata"].get("labels") or {}).get(MPI_LABELS[2]) == "worker"
                         and phase(p) == "Running")
        discover = "#!/bin/sh\n" + "".join(f"echo {p}.{name}.{ns}.svc\n" for p in running)
        data = {"hostfile": hostfile, "discover_hosts.sh": discover}
        current = self.api.store.peek("configmaps", ns, name + "-config")
        if current is None:
            self.create("configmaps", ns, {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name + "-config", "namespace": ns, "labels": {"app": name},
                             "ownerReferences": [owner_ref(mpijob)]}, "data": data}, mpijob)
        elif current.get("data") != data:
            self.api.mutate(self.api.rt("configmaps"), ns, name + "-config",
                            lambda cm: cm.__setitem__("data", data), self.name, subresource="")

    def _ensure_secret(self, mpijob):
        ns, name = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"]
        if self.api.store.peek("secrets", ns, name + "-ssh") is None:
            fake_key = "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCmZha2UKLS0tLS1FTkQgRUMgUFJJVkFURSBLRVktLS0tLQo="
            self.create("secrets", ns, {
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
                "metadata": {"name": name + "-ssh", "namespace": ns, "labels": {"app": name},
                             "ownerReferences": [owner_ref(mpijob)]},
                "data": {"ssh-privatekey": fake_key, "ssh-publickey": "ZWNkc2Etc2hhMi1uaXN0cDUyMSBmYWtlCg=="}},
                mpijob)

    def _ssh_volume(self, mpijob, spec):
        mount_path = mpijob["spec"].get("sshAuthMountPath", "/root/.ssh")
        volume = {"name": "ssh-auth", "secret": {"secretName": mpijob["metadata"]["name"] + "-ssh", "items": [
            {"key": "ssh-privatekey", "path": "id_rsa"}, {"key": "ssh-publickey", "path": "id_rsa.pub"},
            {"key": "ssh-publickey", "path": "authorized_keys"}]}}
        if mount_path == "/root/.ssh":
            volume["secret"]["defaultMode"] = 0o600
        spec["volumes"] = (spec.get("volumes") or []) + [volume]
        main = spec["containers"][0]
        main["volumeMounts"] = (main.get("volumeMounts") or []) + [{"name": "ssh-auth", "mountPath": mount_path}]

    def _ensure_workers(self, mpijob):
        ns, name = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"]
        worker_spec = (mpijob["spec"].get("mpiReplicaSpecs") or {}).get("Worker")
        if not worker_spec:
            return []
        workers = []
        for i in range(worker_spec.get("replicas", 0)):
            pod_name = f"{name}-worker-{i}"
            existing = self.api.store.peek("pods", ns, pod_name)
            if existing is not None:
                workers.append(existing)
                continue
            template = clone(worker_spec.get("template") or {})
            spec = template.setdefault("spec", {})
            if not spec.get("containers"):
                continue
            spec["hostname"], spec["subdomain"] = pod_name, name
            dns = spec.setdefault("dnsConfig", {})
            dns["searches"] = (dns.get("searches") or []) + [f"{name}.{ns}.svc.cluster.local"]
            policy = worker_spec.get("restartPolicy", "Never")
            spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
            main = spec["containers"][0]
            if not main.get("command") and not main.get("args"):
                main["command"] = ["/usr/sbin/sshd", "-De"]
            add_env(spec, [{"name": "K_MPI_JOB_ROLE", "value": "worker"}])
            self._ssh_volume(mpijob, spec)
            labels = {**mpi_labels(name, "worker"), "training.kubeflow.org/replica-index": str(i)}
            pod = self.create("pods", ns, pod_from_template(template, pod_name, None, ns, mpijob, labels), mpijob)
            if pod:
                workers.append(pod)
        return workers

    def _launcher_job(self, mpijob):
        ns, name, spec = mpijob["metadata"]["namespace"], mpijob["metadata"]["name"], mpijob["spec"]
        launcher_spec = (spec.get("mpiReplicaSpecs") or {}).get("Launcher") or {}
        template = clone(launcher_spec.get("template") or {})
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), **mpi_labels(name, "launcher")}
        pod_spec = template.setdefault("spec", {})
        pod_spec["hostname"], pod_spec["subdomain"] = name + "-launcher", name
        slots = str(spec.get("slotsPerWorker", 1))
        env = [{"name": "K_MPI_JOB_ROLE", "value": "launcher"}]
        impl = spec.get("mpiImplementation", "OpenMPI")
        if impl == "OpenMPI":
            env += [{"name": "OMPI_MCA_orte_keep_fqdn_hostnames", "value": "true"},
                    {"name": "OMPI_MCA_orte_default_hostfile", "value": "/etc/mpi/hostfile"},
                    {"name": "OMPI_MCA_plm_rsh_args", "value": "-o ConnectionAttempts=10"},
                    {"name": "OMPI_MCA_orte_set_default_slots", "value": slots}]
        elif impl == "Intel":
            env += [{"name": "I_MPI_HYDRA_HOST_FILE", "value": "/etc/mpi/hostfile"},
                    {"name": "I_MPI_HYDRA_BOOTSTRAP_EXEC_EXTRA_ARGS", "value": "-o ConnectionAttempts=10"},
                    {"name": "I_MPI_PERHOST", "value": slots}]
        else:
            env += [{"name": "HYDRA_HOST_FILE", "value": "/etc/mpi/hostfile"},
                    {"name": "HYDRA_LAUNCH_EXTRA_ARGS", "value": "-o ConnectionAttempts=10"}]
        if not spec.get("runLauncherAsWorker"):
            env += [{"name": "NVIDIA_VISIBLE_DEVICES"}, {"name": "NVIDIA_DRIVER_CAPABILITIES"}]
        if pod_spec.get("containers"):
            pod_spec["containers"][0]["env"] = (pod_spec["containers"][0].get("env") or []) + env
            self._ssh_volume(mpijob, pod_spec)
            pod_spec["volumes"].append({"name": "mpi-job-config", "configMap": {"name": name + "-config", "items": [
                {"key": "hostfile", "path": "hostfile", "mode": 0o444},
                {"key": "discover_hosts.sh", "path": "discover_hosts.sh", "mode": 0o555}]}})
            main = pod_spec["containers"][0]
            main["volumeMounts"].append({"name": "mpi-job-config", "mountPath": "/etc/mpi"})
        if pod_spec.get("restartPolicy"):
            self.event(mpijob, "Warning", "SetPodTemplateRestartPolicy",
                       "Restart policy in pod template overridden by restart policy in replica spec")
        policy = launcher_spec.get("restartPolicy", "OnFailure")
        pod_spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        run_policy = spec.get("runPolicy") or {}
        job_spec = {"template": template}
        for field in ("ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit"):
            if run_policy.get(field) is not None:
                job_spec[field] = run_policy[field]
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name + "-launcher", "namespace": ns, "labels": {"app": name},
                             "ownerReferences": [owner_ref(mpijob)]}, "spec": job_spec}

    def failed_create(self, owner, what, error):
        if "worker" in what:
            self.event(owner, "Warning", "MPIJobFailed", f"worker pod created failed: {error.message}")
        elif "launcher" in what:
            self.event(owner, "Warning", "MPIJobFailed", f"launcher pod created failed: {error.message}")


# -- LeaderWorkerSet ------------------------------------------------------------------------------------

LWS = "leaderworkerset.sigs.k8s.io"


class LeaderWorkerSetController(Controller):
    name = "lws-controller"
    resource = "leaderworkersets.leaderworkerset.x-k8s.io"

    def reconcile(self, lws: dict, now: float) -> None:
        meta, spec = lws["metadata"], lws.get("spec") or {}
        name = meta["name"]
        template = spec.get("leaderWorkerTemplate") or {}
        replicas, size = spec.get("replicas", 1), template.get("size", 1)
        self._ensure_service(lws)
        revision = short_hash(template)
        groups_ready = 0
        for g in range(replicas):
            pods = self._group(lws, g, template, size, revision)
            if len(pods) == size and all(is_ready(p) for p in pods):
                groups_ready += 1
        for pod in self.owned_pods(lws):  # scale down
            index = int((pod["metadata"].get("labels") or {}).get(f"{LWS}/group-index", "0"))
            if index >= replicas and not deleting(pod):
                self.delete("pods", pod)
        status = clone(lws.get("status") or {})
        stamp = timestamp()
        status.update(replicas=replicas, readyReplicas=groups_ready, updatedReplicas=replicas,
                      hpaPodSelector=f"{LWS}/name={name},{LWS}/worker-index=0")
        if groups_ready == replicas:
            set_condition(status, "Available", "True", "AllGroupsReady", "All replicas are ready", stamp)
            set_condition(status, "Progressing", "False", "GroupsProgressing", "Replicas are progressing", stamp)
        else:
            set_condition(status, "Progressing", "True", "GroupsProgressing", "Replicas are progressing", stamp)
            set_condition(status, "Available", "False", "AllGroupsReady", "All replicas are ready", stamp)
        self.write_status(lws, status)

    def _ensure_service(self, lws):
        ns, name = lws["metadata"]["namespace"], lws["metadata"]["name"]
        if self.api.store.peek("services", ns, name) is None:
            self.create("services", ns, {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "ownerReferences": [owner_ref(lws)]},
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": {f"{LWS}/name": name}}},
                lws)

    def _group(self, lws, g, template, size, revision) -> list[dict]:
        ns, name = lws["metadata"]["namespace"], lws["metadata"]["name"]
        spec = lws.get("spec") or {}
        leader_name = f"{name}-{g}"
        leader = self.api.store.peek("pods", ns, leader_name)
        if leader is not None and deleting(leader):
            return []
        workers = [self.api.store.peek("pods", ns, f"{leader_name}-{w}") for w in range(1, size)]
        restart_policy = template.get("restartPolicy", "RecreateGroupOnPodRestart")
        group = [p for p in [leader, *workers] if p is not None]
        if restart_policy in ("RecreateGroupOnPodRestart", "Default") and leader is not None and any(
                phase(p) == "Failed" or any(c.get("restartCount", 0) for c in
                                            (p.get("status") or {}).get("containerStatuses") or [])
                for p in group):
            for p in group:
                self.delete("pods", p)
            return []
        if leader is None:
            leader = self._create_pod(lws, g, 0, template.get("leaderTemplate") or template.get("workerTemplate"),
                                      size, revision, lws)
            if leader is None:
                return []
        if spec.get("startupPolicy") == "LeaderReady" and not is_ready(leader):
            return [leader]
        for w in range(1, size):
            if workers[w - 1] is None:
                workers[w - 1] = self._create_pod(lws, g, w, template.get("workerTemplate"), size, revision, leader)
        return [p for p in [leader, *workers] if p is not None]

    def _create_pod(self, lws, g, w, template, size, revision, owner) -> dict | None:
        ns, name = lws["metadata"]["namespace"], lws["metadata"]["name"]
        pod_name = f"{name}-{g}" if w == 0 else f"{name}-{g}-{w}"
        group_key = hashlib.sha1(f"{ns}/{name}-{g}".encode()).hexdigest()
        labels = {f"{LWS}/name": name, f"{LWS}/group-index": str(g), f"{LWS}/worker-index": str(w),
                  f"{LWS}/group-key": group_key, f"{LWS}/template-revision-hash": revision}
        annotations = {f"{LWS}/size": str(size)}
        if w:
            annotations[f"{LWS}/leader-name"] = f"{name}-{g}"
        body = pod_from_template(template, pod_name, None, ns, owner, labels, annotations)
        pod_spec = body["spec"]
        pod_spec["hostname"], pod_spec["subdomain"] = pod_name, name
        add_env(pod_spec, [{"name": "LWS_LEADER_ADDRESS", "value": f"{name}-{g}.{name}.{ns}"},
                           {"name": "LWS_GROUP_SIZE", "value": str(size)},
                           {"name": "LWS_WORKER_INDEX", "value": str(w)}], init=True)
        return self.create("pods", ns, body, lws)


# -- DisaggregatedSet ---------------------------------------------------------------------------------

DS = "disaggregatedset.x-k8s.io"


class DisaggregatedSetController(Controller):
    name = "disaggregatedset-controller"
    resource = "disaggregatedsets.disaggregatedset.x-k8s.io"

    def reconcile(self, ds: dict, now: float) -> None:
        meta = ds["metadata"]
        name, ns = meta["name"], meta["namespace"]
        roles = (ds.get("spec") or {}).get("roles") or []
        revision = short_hash(roles, 8)
        try:
            lws_rt = self.api.rt(LeaderWorkerSetController.resource)
        except ApiError:
            return
        wanted = set()
        for role in roles:
            lws_name = f"{name}-{revision}-{role['name']}"
            wanted.add(lws_name)
            labels = {f"{DS}/name": name, f"{DS}/role": role["name"], f"{DS}/revision": revision}
            lws = self.api.store.peek(lws_rt.key, ns, lws_name)
            if lws is None:
                lws = self.create(lws_rt.key, ns, self._lws(ds, role, lws_name, labels), ds)
            self._ensure_service(ds, role["name"], revision, labels)
        for lws in self.api.store.items(lws_rt.key, ns):  # a new revision replaces the old LWSs
            if controller_uid(lws) == meta["uid"] and lws["metadata"]["name"] not in wanted and not deleting(lws):
                self.delete(lws_rt.key, lws)
        # LWS v0.9.0's controller writes no DisaggregatedSet status (neither roleStatuses nor conditions): nor does this.

    @staticmethod
    def _role_replicas(role):
        return (role.get("spec") or {}).get("replicas", 1)

    def _lws(self, ds, role, lws_name, labels):
        spec = clone(role.get("spec") or {})
        template = spec.setdefault("leaderWorkerTemplate", {})
        for key in ("leaderTemplate", "workerTemplate"):
            if template.get(key):
                meta = template[key].setdefault("metadata", {})
                meta["labels"] = {**(meta.get("labels") or {}), **labels}
        role_meta = role.get("metadata") or {}
        meta = {"name": lws_name, "namespace": ds["metadata"]["namespace"],
                "labels": {**(role_meta.get("labels") or {}), **labels}, "ownerReferences": [owner_ref(ds)]}
        if role_meta.get("annotations"):
            meta["annotations"] = dict(role_meta["annotations"])
        return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": meta,
                "spec": spec}

    def _ensure_service(self, ds, role, revision, labels):
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        svc = f"{name}-{revision}-{role}-prv"
        if self.api.store.peek("services", ns, svc) is None:
            self.create("services", ns, {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": svc, "namespace": ns, "labels": dict(labels), "ownerReferences": [owner_ref(ds)]},
                "spec": {"clusterIP": "None", "selector": dict(labels)}}, ds)


# -- Deployment ------------------------------------------------------------------------------------

class DeploymentController(Controller):
    name = "deployment-controller"
    resource = "deployments.apps"

    def __init__(self, api: Api, on_error=print):
        super().__init__(api, on_error)
        self.progress: dict[str, tuple[float, int]] = {}  # uid -> (last progress time, available)

    def reconcile(self, dep: dict, now: float) -> None:
        meta, spec = dep["metadata"], dep.get("spec") or {}
        name, ns, uid = meta["name"], meta["namespace"], meta["uid"]
        template_hash = short_hash(spec.get("template"))
        replicas = spec.get("replicas", 1)
        pods = [p for p in self.owned_pods(dep) if not deleting(p)]
        current = []
        for pod in pods:
            if (pod["metadata"].get("labels") or {}).get("pod-template-hash") != template_hash:
                self.delete("pods", pod)
            elif phase(pod) in TERMINAL:
                self.delete("pods", pod)
            else:
                current.append(pod)
        for pod in current[replicas:]:
            self.delete("pods", pod)
        current = current[:replicas]
        for _ in range(replicas - len(current)):
            body = pod_from_template(spec.get("template"), None, f"{name}-{template_hash}-", ns, dep,
                                     {"pod-template-hash": template_hash})
            pod = self.create("pods", ns, body, dep)
            if pod:
                current.append(pod)
        ready = sum(1 for p in current if is_ready(p))
        status = clone(dep.get("status") or {})
        status["observedGeneration"] = meta.get("generation", 1)
        for field, value in (("replicas", len(current)), ("updatedReplicas", len(current)),
                             ("readyReplicas", ready), ("availableReplicas", ready),
                             ("unavailableReplicas", max(replicas - ready, 0))):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        stamp = timestamp()
        last, seen = self.progress.get(uid, (now, -1))
        if ready != seen:
            last = now
        self.progress[uid] = (last, ready)
        extra = {"lastUpdateTime": stamp}
        rs_name = f"{name}-{template_hash}"
        if ready >= replicas:
            set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.", stamp, extra)
            set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.', stamp, extra)
        else:
            set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.", stamp, extra)
            deadline = spec.get("progressDeadlineSeconds", 600) * self.clock.scale
            if now - last > deadline:
                set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                              f'ReplicaSet "{rs_name}" has timed out progressing.', stamp, extra)
            else:
                set_condition(status, "Progressing", "True", "ReplicaSetUpdated",
                              f'ReplicaSet "{rs_name}" is progressing.', stamp, extra)
        self.write_status(dep, status)


# -- garbage collection and namespaces ---------------------------------------------------------------------

class GarbageCollector:
    def __init__(self, api: Api, delay: float):
        self.api, self.delay = api, delay  # delay in simulated seconds
        self.orphaned_since: dict[str, float] = {}

    def step(self, now: float) -> None:
        # Events have no owners (the API server expires them by TTL instead); a long triage leaves tens of
        # thousands, which this step, run every tick, need not walk.
        items = self.api.store.all_items(skip=("events",))
        by_uid = {obj["metadata"].get("uid"): (key, obj) for key, obj in items}
        dependents: dict[str, list] = {}
        for key, obj in items:
            refs = obj["metadata"].get("ownerReferences") or []
            for ref in refs:
                dependents.setdefault(ref.get("uid"), []).append((key, obj))
            uid = obj["metadata"].get("uid")
            if refs and not any(ref.get("uid") in by_uid for ref in refs) and not deleting(obj):
                since = self.orphaned_since.setdefault(uid, now)
                if now - since >= self.delay * self.api.clock.scale:
                    self._delete(key, obj)
                    self.orphaned_since.pop(uid, None)
        for key, obj in items:  # foreground deletion: owners wait for their dependents
            finalizers = obj["metadata"].get("finalizers") or []
            if deleting(obj) and "foregroundDeletion" in finalizers:
                waiting = dependents.get(obj["metadata"]["uid"], [])
                for dep_key, dep in waiting:  # dependents of a foreground deletion go in the foreground too
                    if not deleting(dep):
                        self._delete(dep_key, dep, "Background" if dep_key == "pods" else "Foreground")
                if not waiting:
                    rt = self.api.rt(key)
                    self.api.mutate(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                                    lambda o: o["metadata"].__setitem__(
                                        "finalizers", [f for f in finalizers if f != "foregroundDeletion"]),
                                    "garbage-collector", subresource="")

    def _delete(self, key: str, obj: dict, policy: str = "Background") -> None:
        try:
            self.api.delete(self.api.rt(key), obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                            {"propagationPolicy": policy}, Ctx(manager="garbage-collector"))
        except ApiError:
            pass


class NamespaceController:
    def __init__(self, api: Api):
        self.api = api

    def step(self, now: float) -> None:
        for ns in self.api.store.items("namespaces"):
            if not deleting(ns):
                continue
            name = ns["metadata"]["name"]
            remaining = [(key, obj) for key, obj in self.api.store.all_items()
                         if obj["metadata"].get("namespace") == name]
            for key, obj in remaining:
                if not deleting(obj):
                    try:
                        self.api.delete(self.api.rt(key), name, obj["metadata"]["name"],
                                        {"propagationPolicy": "Background"}, Ctx(manager="namespace-controller"))
                    except ApiError:
                        pass
            if not remaining:
                self.api.remove_now(self.api.rt("namespaces"), "", name)


ALL_CONTROLLERS = (JobController, MPIJobController, LeaderWorkerSetController, DisaggregatedSetController,
                   DeploymentController)

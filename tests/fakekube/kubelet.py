"""The scheduler and the kubelet: they move each pod along its Behavior's timeline.

The scheduler checks seeded nodes like kube-scheduler's filters do (unschedulable
nodes, untolerated taints, nodeSelector/node affinity, allocatable resources
minus the requests of pods already bound) and reports failures in its words:
`0/4 nodes are available: 2 Insufficient vpc.amazonaws.com/efa, 2 node(s) had
untolerated taint {nvidia.com/gpu: true}. preemption: ...`. With no nodes
seeded every pod lands on `fake-node`.

The kubelet writes pod status (phase, conditions, containerStatuses with
waiting/running/terminated states, restartCount), records the Events real
kubelets record, keeps per-container logs that grow line by line while a
container runs, and finishes graceful deletions.
"""
from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from . import admission
from .api import Api, micro_timestamp, timestamp
from .behaviors import AUTO, Behavior, PodOrigin, PodPlacement, Scripts
from .selection import LabelSelector, Requirement

DEFAULT_JOB_RUN = 3.0  # simulated seconds a job-like pod runs by default
MAX_BACKOFF = 300.0
RUN_LABEL = "scenario-runner.dev/run-id"
_ip_counter = itertools.count(2)


# -- scheduling -------------------------------------------------------------------------------------

def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _affinity_matches(spec: dict, labels: dict) -> bool:
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!", "Gt": ">", "Lt": "<"}
    for term in terms:
        reqs = tuple(Requirement(e["key"], ops[e["operator"]], tuple(e.get("values") or ()))
                     for e in term.get("matchExpressions") or [])
        if LabelSelector(reqs).matches(labels):
            return True
    return False


def pod_requests(spec: dict) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        for name, q in ((c.get("resources") or {}).get("requests") or {}).items():
            total[name] = total.get(name, Decimal(0)) + admission.parse_quantity(q)
    for c in spec.get("initContainers") or []:
        for name, q in ((c.get("resources") or {}).get("requests") or {}).items():
            total[name] = max(total.get(name, Decimal(0)), admission.parse_quantity(q))
    return total


def schedule(pod: dict, nodes: list[dict], bound: list[dict], prefer_arch: str | None = None):
    """(node name, None) or (None, the scheduler's FailedScheduling message)."""
    spec = pod.get("spec") or {}
    requests = pod_requests(spec)
    reasons: dict[str, int] = {}
    fitting = []
    for node in nodes:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        node_reasons = []
        if (node.get("spec") or {}).get("unschedulable"):
            node_reasons.append("node(s) were unschedulable")
        else:
            untolerated = [t for t in (node.get("spec") or {}).get("taints") or []
                           if t.get("effect") in ("NoSchedule", "NoExecute")
                           and not _tolerates(spec.get("tolerations"), t)]
            if untolerated:
                t = untolerated[0]
                node_reasons.append(f"node(s) had untolerated taint {{{t['key']}: {t.get('value', '')}}}")
            elif not _affinity_matches(spec, labels):
                node_reasons.append("node(s) didn't match Pod's node affinity/selector")
            else:
                allocatable = (node.get("status") or {}).get("allocatable") or {}
                used: dict[str, Decimal] = {}
                for other in bound:
                    if (other.get("spec") or {}).get("nodeName") == name:
                        for res, q in pod_requests(other["spec"]).items():
                            used[res] = used.get(res, Decimal(0)) + q
                for res, q in sorted(requests.items()):
                    if q <= 0:
                        continue
                    have = admission.parse_quantity(allocatable[res]) if res in allocatable else Decimal(0)
                    if used.get(res, Decimal(0)) + q > have:
                        node_reasons.append(f"Insufficient {res}")
        if node_reasons:
            for r in node_reasons:
                reasons[r] = reasons.get(r, 0) + 1
        else:
            fitting.append(node)
    if fitting:
        def rank(node):
            arch = (node["metadata"].get("labels") or {}).get("kubernetes.io/arch")
            load = sum(1 for p in bound if (p.get("spec") or {}).get("nodeName") == node["metadata"]["name"])
            return (0 if prefer_arch and arch == prefer_arch else 1, load, node["metadata"]["name"])
        return sorted(fitting, key=rank)[0]["metadata"]["name"], None
    total = len(nodes)
    summary = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return None, (f"0/{total} nodes are available: {summary}. preemption: 0/{total} nodes are available: "
                  f"{total} Preemption is not helpful for scheduling.")


# -- the kubelet ----------------------------------------------------------------------------------------

@dataclass
class ContainerRun:
    """One start of one container: its log lines (due time, wall time, text) and its end."""
    started_wall: str
    lines: list[tuple[float, float, str]] = field(default_factory=list)
    ended_at: float | None = None  # monotonic time it ends (or ended)
    started_at: float = 0.0        # monotonic time it started

    def emitted(self, now: float) -> list[tuple[float, str]]:
        return [(wall, text) for due, wall, text in self.lines if due <= now]

    def finished(self, now: float) -> bool:
        return self.ended_at is not None and self.ended_at <= now


@dataclass
class PodRuntime:
    uid: str
    namespace: str
    name: str
    behavior: Behavior
    origin: PodOrigin
    containers: list[str]
    images: dict[str, str]
    restart_policy: str
    job_like: bool
    stage: str = "scheduling"
    due: float = 0.0
    node: str | None = None
    restarts: int = 0
    pull_failures: int = 0
    pull_state: str = ""
    ready: bool = False
    phase: str = "Pending"
    conditions: dict[str, dict] = field(default_factory=dict)
    states: dict[str, dict] = field(default_factory=dict)
    last_states: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, list[ContainerRun]] = field(default_factory=dict)
    ready_at: float | None = None
    end_at: float | None = None
    start_wall: str | None = None
    pod_ip: str | None = None
    host_ip: str | None = None
    deleting_since: float | None = None


class Kubelet:
    def __init__(self, api: Api, scripts: Scripts, on_error=print):
        self.api, self.scripts, self.clock = api, scripts, api.clock
        self.on_error = on_error
        self.pods_rt = api.rt("pods")
        self.runtimes: dict[str, PodRuntime] = {}
        self.lock = threading.RLock()
        # (namespace, pod, container, run) of the latest container starts, for "what did the client ask while it ran"
        self.started: deque[tuple[str, str, str, ContainerRun]] = deque(maxlen=20_000)

    # -- the loop step ------------------------------------------------------------------------------

    def step(self, now: float) -> float | None:
        """Advance every pod that is due; returns the next due time."""
        pods = self.api.store.items("pods")
        live = {p["metadata"]["uid"]: p for p in pods}
        with self.lock:
            for uid in list(self.runtimes):
                if uid not in live:
                    self._forget(self.runtimes.pop(uid), now)
            for uid, pod in live.items():
                if uid not in self.runtimes:
                    self.runtimes[uid] = self._new_runtime(pod, now)
            next_due = None
            for uid, rt in list(self.runtimes.items()):
                pod = live[uid]
                if pod["metadata"].get("deletionTimestamp") and rt.stage != "deleting":
                    self._start_deleting(rt, pod, now)
                try:
                    for _ in range(8):  # several transitions may be due at once
                        if rt.due is None or rt.due > now:
                            break
                        self._advance(rt, now)
                except Exception:  # a fake-side bug: report it, keep the other pods going
                    self.on_error(traceback.format_exc())
                    rt.due = None
                if rt.due is not None:
                    next_due = rt.due if next_due is None else min(next_due, rt.due)
            return next_due

    def _forget(self, rt: PodRuntime, now: float) -> None:
        for runs in rt.runs.values():
            if runs and runs[-1].ended_at is None:
                runs[-1].ended_at = now

    def _new_runtime(self, pod: dict, now: float) -> PodRuntime:
        origin = self._origin(pod)
        behavior = self.scripts.behavior_for(origin)
        spec = pod.get("spec") or {}
        containers = [c["name"] for c in spec.get("containers") or []]
        policy = spec.get("restartPolicy", "Always")
        job_like = origin.job_like or (len(origin.chain) == 1 and policy != "Always")
        rt = PodRuntime(uid=pod["metadata"]["uid"], namespace=pod["metadata"]["namespace"],
                        name=pod["metadata"]["name"], behavior=behavior, origin=origin, containers=containers,
                        images={c["name"]: c.get("image", "") for c in spec.get("containers") or []},
                        restart_policy=policy, job_like=job_like, runs={c: [] for c in containers})
        rt.due = self.clock.after(behavior.schedule_after)
        if spec.get("nodeName"):  # bound by the client: skip the scheduler
            rt.node = spec["nodeName"]
            rt.due = now
            rt.stage = "bound"
        return rt

    def _origin(self, pod: dict) -> PodOrigin:
        chain, obj = [], pod
        kind = "Pod"
        for _ in range(6):
            chain.append((kind, obj["metadata"]["name"]))
            refs = obj["metadata"].get("ownerReferences") or []
            ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
            if not ref:
                break
            owner_rt = self.api.registry.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
            if owner_rt is None:
                chain.append((ref.get("kind", ""), ref.get("name", "")))
                break
            owner = self.api.store.peek(owner_rt.key, obj["metadata"].get("namespace", ""), ref["name"])
            if owner is None:
                chain.append((ref.get("kind", ""), ref.get("name", "")))
                break
            kind, obj = ref["kind"], owner
        labels = pod["metadata"].get("labels") or {}
        roles = set()
        if role := labels.get("training.kubeflow.org/job-role"):
            roles.add(role)
        if "leaderworkerset.sigs.k8s.io/worker-index" in labels:
            roles.add("leader" if labels["leaderworkerset.sigs.k8s.io/worker-index"] == "0" else "worker")
        if role := labels.get("disaggregatedset.x-k8s.io/role"):
            roles.add(role)
        return PodOrigin(tuple(chain), frozenset(roles), pod["metadata"]["namespace"], dict(labels))

    # -- transitions ------------------------------------------------------------------------------------

    def _advance(self, rt: PodRuntime, now: float) -> None:
        handler = getattr(self, f"_on_{rt.stage.replace('-', '_')}")
        handler(rt, now)

    def _on_scheduling(self, rt: PodRuntime, now: float) -> None:
        pod = self._pod(rt)
        if pod is None:
            rt.due = None
            return
        b = rt.behavior
        nodes = self.api.store.items("nodes")
        wants_arm = bool(b.exec_format_error)
        if b.unschedulable:
            message = b.unschedulable if isinstance(b.unschedulable, str) else \
                (schedule(pod, nodes, [], None)[1] if nodes else
                 "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: "
                 "0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
            self._unschedulable(rt, pod, message, now)
            rt.due = self.clock.after(30)
            return
        if nodes:
            bound = [p for p in self.api.store.items("pods")
                     if (p.get("spec") or {}).get("nodeName")
                     and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
            node, message = schedule(pod, nodes, bound, "arm64" if wants_arm else None)
            if node is None:
                self._unschedulable(rt, pod, message or "", now)
                rt.due = self.clock.after(5)
                return
        else:
            node = "fake-arm64-node" if wants_arm else "fake-node"
        rt.node = node
        self.api.mutate(self.pods_rt, rt.namespace, rt.name, lambda p: p["spec"].__setitem__("nodeName", node),
                        "default-scheduler", subresource="")
        self._condition(rt, "PodScheduled", "True")
        self._event(rt, "Normal", "Scheduled", f"Successfully assigned {rt.namespace}/{rt.name} to {node}",
                    component="default-scheduler", on_node=False)
        rt.stage, rt.due = "bound", now

    def _unschedulable(self, rt: PodRuntime, pod: dict, message: str, now: float) -> None:
        rt.stage = "scheduling"
        self._condition(rt, "PodScheduled", "False", "Unschedulable", message)
        self._write_status(rt)
        self._event(rt, "Warning", "FailedScheduling", message, component="default-scheduler", on_node=False)

    def _on_bound(self, rt: PodRuntime, now: float) -> None:
        """Kubelet's first sync: Pending with ContainerCreating, then pull images."""
        rt.host_ip = self._node_ip(rt.node)
        rt.start_wall = timestamp()
        self._condition(rt, "PodScheduled", "True")
        self._condition(rt, "PodReadyToStartContainers", "False")
        self._condition(rt, "Initialized", "True")
        self._condition(rt, "Ready", "False", "ContainersNotReady",
                        f"containers with unready status: [{' '.join(rt.containers)}]")
        self._condition(rt, "ContainersReady", "False", "ContainersNotReady",
                        f"containers with unready status: [{' '.join(rt.containers)}]")
        for c in rt.containers:
            rt.states[c] = {"waiting": {"reason": "ContainerCreating"}}
        self._write_status(rt)
        for c in rt.containers:
            self._event(rt, "Normal", "Pulling", f'Pulling image "{rt.images[c]}"', container=c)
        rt.stage, rt.due = "pulling", self.clock.after(rt.behavior.pull_for)

    def _on_pulling(self, rt: PodRuntime, now: float) -> None:
        b = rt.behavior
        if missing := self._missing_volume(rt):
            self._event(rt, "Warning", "FailedMount", missing)
            rt.due = self.clock.after(2)
            return
        reason = b.waiting_reason
        if reason in ("ImagePullBackOff", "ErrImagePull"):
            return self._pull_failure(rt, now)
        if reason in ("ContainerCreating",) or (reason and reason not in ("CrashLoopBackOff",)):
            for c in rt.containers:
                waiting = {"reason": reason}
                if b.waiting_message:
                    waiting["message"] = b.waiting_message
                rt.states[c] = {"waiting": waiting}
            self._write_status(rt)
            if reason != "ContainerCreating":
                for c in rt.containers:
                    self._event(rt, "Warning", "Failed", f"Error: {b.waiting_message or reason}", container=c)
            rt.stage, rt.due = "stuck", None
            return
        for c in rt.containers:
            self._event(rt, "Normal", "Pulled", f'Successfully pulled image "{rt.images[c]}" in 1.2s (1.2s '
                                                f'including waiting). Image size: 1073741824 bytes.', container=c)
        self._start_containers(rt, now)

    def _missing_volume(self, rt: PodRuntime) -> str | None:
        pod = self._pod(rt)
        for volume in (pod or {}).get("spec", {}).get("volumes") or []:
            for kind, key, field_name in (("configMap", "configmaps", "name"), ("secret", "secrets", "secretName")):
                source = volume.get(kind)
                if isinstance(source, dict) and not source.get("optional"):
                    target = source.get(field_name)
                    if target and self.api.store.peek(key, rt.namespace, target) is None:
                        noun = "configmap" if kind == "configMap" else "secret"
                        return f'MountVolume.SetUp failed for volume "{volume["name"]}" : {noun} "{target}" not found'
        return None

    def _pull_failure(self, rt: PodRuntime, now: float) -> None:
        b = rt.behavior
        if rt.pull_state != "ErrImagePull":
            rt.pull_failures += 1
            rt.pull_state = "ErrImagePull"
            for c in rt.containers:
                image = rt.images[c]
                detail = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to '
                          f'resolve reference "{image}": {image}: not found')
                rt.states[c] = {"waiting": {"reason": "ErrImagePull", "message": detail}}
                self._event(rt, "Warning", "Failed", f'Failed to pull image "{image}": {detail}', container=c)
                self._event(rt, "Warning", "Failed", "Error: ErrImagePull", container=c)
            self._write_status(rt)
            rt.due = self.clock.after(1)
            return
        rt.pull_state = "ImagePullBackOff"
        for c in rt.containers:
            image = rt.images[c]
            message = b.waiting_message or f'Back-off pulling image "{image}"'
            rt.states[c] = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
            self._event(rt, "Normal", "BackOff", f'Back-off pulling image "{image}"', container=c)
            self._event(rt, "Warning", "Failed", "Error: ImagePullBackOff", container=c)
        self._write_status(rt)
        rt.due = self.clock.after(min(10 * 2 ** (rt.pull_failures - 1), MAX_BACKOFF))

    def _on_stuck(self, rt: PodRuntime, now: float) -> None:
        rt.due = None

    def _start_containers(self, rt: PodRuntime, now: float) -> None:
        b = rt.behavior
        first = not any(rt.runs.values())
        wall = micro_timestamp()
        if rt.pod_ip is None:
            n = next(_ip_counter)
            rt.pod_ip = f"10.244.{n // 250}.{n % 250 + 2}"
        wrong_arch = b.exec_format_error or (b.image_arch and self._node_arch(rt.node) not in (None, b.image_arch))
        for c in rt.containers:
            if not first:
                self._event(rt, "Normal", "Pulled", f'Container image "{rt.images[c]}" already present on machine',
                            container=c)
            self._event(rt, "Normal", "Created", f"Created container: {c}", container=c)
            self._event(rt, "Normal", "Started", f"Started container {c}", container=c)
            rt.states[c] = {"running": {"startedAt": timestamp()}}
            run = ContainerRun(started_wall=wall, started_at=now)
            rt.runs[c].append(run)
            self.started.append((rt.namespace, rt.name, c, run))
            if wrong_arch:
                run.lines = [(now, time.time(), f"exec {self._binary(rt, c)}: exec format error\n")]
            else:
                run.lines = self._schedule_lines(b.log_text(c, self._placement(rt)), now, rt)
        rt.phase = "Running"
        self._condition(rt, "PodReadyToStartContainers", "True")
        if wrong_arch:
            self._write_status(rt)
            rt.end_at = now
            rt.stage, rt.due = "running", now
            return
        run_for = self._run_for(rt)
        rt.end_at = None if run_for is None else self.clock.after(run_for)
        rt.ready_at = None if b.never_ready else self.clock.after(b.ready_after)
        for c in rt.containers:
            rt.runs[c][-1].ended_at = rt.end_at
        self._write_status(rt)
        rt.stage = "running"
        rt.due = min(t for t in (rt.ready_at, rt.end_at, now + 3600) if t is not None)

    def _run_for(self, rt: PodRuntime) -> float | None:
        b = rt.behavior
        if b.hang:
            return None
        if b.run_for == AUTO:
            return DEFAULT_JOB_RUN if rt.job_like else None
        if b.run_for is None and b.waiting_reason == "CrashLoopBackOff":
            return 0.5
        return b.run_for

    def _schedule_lines(self, text: str, now: float, rt: PodRuntime) -> list[tuple[float, float, str]]:
        lines = text.splitlines(keepends=True)
        if not lines:
            return []
        if lines[-1] and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        b = rt.behavior
        run_for = self._run_for(rt)
        if b.log_every is not None:
            step = b.log_every * self.clock.scale
        elif run_for:
            step = run_for * 0.8 * self.clock.scale / len(lines)
        else:
            step = 0.02 * self.clock.scale
        wall = time.time()
        return [(now + i * step, wall + i * step, line) for i, line in enumerate(lines)]

    def _placement(self, rt: PodRuntime) -> PodPlacement:
        run_id = rt.origin.labels.get(RUN_LABEL)
        nodes = {rt.node} if rt.node else set()
        if run_id:
            for pod in self.api.store.items("pods", rt.namespace):
                if (pod["metadata"].get("labels") or {}).get(RUN_LABEL) == run_id and (pod.get("spec") or {}).get("nodeName"):
                    nodes.add(pod["spec"]["nodeName"])
        return PodPlacement(rt.node, frozenset(nodes))

    def _binary(self, rt: PodRuntime, container: str) -> str:
        b = rt.behavior
        if isinstance(b.exec_format_error, str):
            return b.exec_format_error
        pod = self._pod(rt) or {}
        for c in pod.get("spec", {}).get("containers") or []:
            if c["name"] == container and c.get("command"):
                command = c["command"][0]
                return command if command.startswith("/") else f"/usr/bin/{command}"
        return "/usr/bin/bash"

    def _on_running(self, rt: PodRuntime, now: float) -> None:
        if rt.ready_at is not None and rt.ready_at <= now and not rt.ready:
            rt.ready = True
            self._condition(rt, "Ready", "True")
            self._condition(rt, "ContainersReady", "True")
            self._write_status(rt)
        if rt.end_at is not None and rt.end_at <= now:
            self._terminate(rt, now)
            return
        rt.due = min(t for t in (rt.ready_at if not rt.ready else None, rt.end_at, now + 3600) if t is not None)

    def _terminate(self, rt: PodRuntime, now: float) -> None:
        b = rt.behavior
        wrong_arch = b.exec_format_error or (b.image_arch and self._node_arch(rt.node) not in (None, b.image_arch))
        recovered = b.succeed_after_restarts is not None and rt.restarts >= b.succeed_after_restarts
        if wrong_arch:
            exit_code, reason = 1, "Error"
        elif recovered:
            exit_code, reason = 0, "Completed"
        else:
            exit_code, reason = b.exit_code, b.termination_reason(b.exit_code)
        for c in rt.containers:
            started = (rt.states.get(c, {}).get("running") or {}).get("startedAt", timestamp())
            terminated = {"exitCode": exit_code, "reason": reason, "startedAt": started, "finishedAt": timestamp(),
                          "containerID": f"containerd://{rt.uid.replace('-', '')}{c}"}
            if wrong_arch:
                terminated["message"] = f"exec {self._binary(rt, c)}: exec format error"
            elif b.message and not recovered:
                terminated["message"] = b.message
            rt.states[c] = {"terminated": terminated}
            if rt.runs[c]:
                rt.runs[c][-1].ended_at = now
        if reason == "OOMKilled" and rt.node:
            self._node_event(rt, "Warning", "OOMKilling",
                             f"Memory cgroup out of memory: Killed process {1000 + rt.restarts} "
                             f"({rt.containers[0]}) total-vm:123456789kB, anon-rss:98765432kB, file-rss:0kB")
        rt.ready = False
        restart = rt.restart_policy == "Always" or (rt.restart_policy == "OnFailure" and exit_code != 0)
        if restart and not rt.deleting_since:
            return self._back_off(rt, now)
        rt.phase = "Succeeded" if exit_code == 0 else "Failed"
        why = "PodCompleted" if rt.phase == "Succeeded" else "PodFailed"
        self._condition(rt, "Ready", "False", why)
        self._condition(rt, "ContainersReady", "False", why)
        self._condition(rt, "PodReadyToStartContainers", "False")
        self._write_status(rt)
        rt.stage, rt.due = "done", None

    def _back_off(self, rt: PodRuntime, now: float) -> None:
        rt.restarts += 1
        delay = min(10 * 2 ** (rt.restarts - 1), MAX_BACKOFF)
        for c in rt.containers:
            rt.last_states[c] = rt.states[c]
            pod_ref = f"{rt.name}_{rt.namespace}({rt.uid})"
            rt.states[c] = {"waiting": {"reason": "CrashLoopBackOff",
                                        "message": f"back-off {int(delay)}s restarting failed container={c} "
                                                   f"pod={pod_ref}"}}
            self._event(rt, "Warning", "BackOff", f"Back-off restarting failed container {c} in pod {pod_ref}",
                        container=c)
        containers = " ".join(rt.containers)
        self._condition(rt, "Ready", "False", "ContainersNotReady", f"containers with unready status: [{containers}]")
        self._condition(rt, "ContainersReady", "False", "ContainersNotReady",
                        f"containers with unready status: [{containers}]")
        self._write_status(rt)
        rt.stage, rt.due = "backoff", self.clock.after(delay)

    def _on_backoff(self, rt: PodRuntime, now: float) -> None:
        self._start_containers(rt, now)

    def _on_done(self, rt: PodRuntime, now: float) -> None:
        rt.due = None

    # -- deletion ---------------------------------------------------------------------------------------

    def _start_deleting(self, rt: PodRuntime, pod: dict, now: float) -> None:
        rt.deleting_since = now
        if rt.stage in ("running", "backoff", "stuck", "pulling") and rt.node:
            for c in rt.containers:
                self._event(rt, "Normal", "Killing", f"Stopping container {c}", container=c)
        grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
        rt.stage = "deleting"
        rt.due = self.clock.after(min(rt.behavior.termination_delay, grace))

    def _on_deleting(self, rt: PodRuntime, now: float) -> None:
        self._forget(rt, now)
        self.api.remove_now(self.pods_rt, rt.namespace, rt.name)
        rt.due = None

    # -- status and events ------------------------------------------------------------------------------

    def _pod(self, rt: PodRuntime) -> dict | None:
        pod = self.api.store.peek("pods", rt.namespace, rt.name)
        return pod if pod is not None and pod["metadata"]["uid"] == rt.uid else None

    def _condition(self, rt: PodRuntime, kind: str, status: str, reason: str | None = None,
                   message: str | None = None) -> None:
        old = rt.conditions.get(kind)
        changed = old is None or old["status"] != status
        condition = {"type": kind, "status": status, "lastProbeTime": None,
                     "lastTransitionTime": timestamp() if changed else old["lastTransitionTime"]}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        rt.conditions[kind] = condition

    def _write_status(self, rt: PodRuntime) -> None:
        order = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
        statuses = []
        for c in rt.containers:
            state = rt.states.get(c) or {"waiting": {"reason": "ContainerCreating"}}
            entry = {"name": c, "image": rt.images[c], "imageID": "", "ready": rt.ready and "running" in state,
                     "restartCount": rt.restarts, "started": "running" in state, "state": state}
            if "waiting" not in state or rt.restarts:
                entry["imageID"] = f"{rt.images[c].split(':')[0]}@sha256:{'0' * 64}"
                entry["containerID"] = f"containerd://{rt.uid.replace('-', '')}{c}"
            if c in rt.last_states:
                entry["lastState"] = rt.last_states[c]
            statuses.append(entry)

        def change(pod):
            status = pod.setdefault("status", {})
            status["phase"] = rt.phase
            status["conditions"] = [rt.conditions[k] for k in order if k in rt.conditions]
            if rt.host_ip:
                status.update(hostIP=rt.host_ip, hostIPs=[{"ip": rt.host_ip}], startTime=rt.start_wall)
            if rt.pod_ip and rt.phase == "Running":
                status.update(podIP=rt.pod_ip, podIPs=[{"ip": rt.pod_ip}])
            if rt.states:
                status["containerStatuses"] = statuses
        self.api.mutate(self.pods_rt, rt.namespace, rt.name, change, "kubelet")

    def _event(self, rt: PodRuntime, type_: str, reason: str, message: str, container: str | None = None,
               component: str = "kubelet", on_node: bool = True) -> None:
        pod = self._pod(rt)
        if pod is None:
            return
        field_path = f"spec.containers{{{container}}}" if container else None
        self.api.record_event(pod, type_, reason, message, component,
                              host=rt.node if on_node else None, field_path=field_path)

    def _node_event(self, rt: PodRuntime, type_: str, reason: str, message: str) -> None:
        node = self.api.store.peek("nodes", "", rt.node)
        if node is None:
            node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": rt.node, "uid": rt.node}}
        self.api.record_event(dict(node, metadata=dict(node["metadata"], namespace="")), type_, reason, message,
                              "kernel-monitor", host=rt.node)

    def _node_ip(self, node_name: str | None) -> str:
        node = self.api.store.peek("nodes", "", node_name or "")
        for address in ((node or {}).get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return address["address"]
        return "10.0.0.10"

    def _node_arch(self, node_name: str | None) -> str | None:
        if node_name == "fake-arm64-node":
            return "arm64"
        node = self.api.store.peek("nodes", "", node_name or "")
        return ((node or {}).get("metadata", {}).get("labels") or {}).get("kubernetes.io/arch")

    # -- logs (for the HTTP handler) ------------------------------------------------------------------------

    def log_runs(self, uid: str, container: str) -> list[ContainerRun]:
        with self.lock:
            rt = self.runtimes.get(uid)
            return list(rt.runs.get(container, [])) if rt else []

    def waiting_reason(self, uid: str, container: str) -> str:
        with self.lock:
            rt = self.runtimes.get(uid)
            state = (rt.states.get(container) if rt else None) or {}
            return (state.get("waiting") or {}).get("reason", "ContainerCreating")

"""One Kubernetes run, as the scheduler's backend: preflight -> apply in dependency order -> watch -> collect -> clean up.

runner.schedule decides when each workload starts, when it is ready or done and when the run
ends, the same way as for the local executor. This module applies a workload's objects when
told to, reads what the watch caches say about them (phases, stuck pods, deleted objects),
follows pod logs into context.log_dir(workload), diagnoses failures, and at the end deletes the
run's objects by label and verifies the deletion (unless `keep`).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from runner.base.errors import ExecutionError, RunnerError
from runner.execute.contract import (
    Diagnosis,
    Observation,
    Phase,
    RunContext,
    RunOutput,
    RunState,
    StartFailed,
    WorkloadOutcome,
    WorkloadState,
)
from runner.execute.kubernetes import apply as apply_
from runner.execute.kubernetes import cleanup as cleanup_
from runner.execute.kubernetes import diagnose
from runner.execute.kubernetes import facts as facts_
from runner.execute.kubernetes import preflight as preflight_
from runner.execute.kubernetes.client import KubeApiError, KubeClient, connect
from runner.execute.kubernetes.kinds import DSET, NAMESPACE, POD, Kind
from runner.execute.kubernetes.logs import LogCollector
from runner.execute.kubernetes.wait import (
    Cache,
    ObjectPhase,
    Status,
    combined,
    disaggregated_status,
    object_status,
)
from runner.execute.plan import start_order
from runner.render.kubernetes import namespace_for, readable_yaml, render_kubernetes, with_namespace
from runner.render.labels import LABEL_PREFIX, dns_name
from runner.scenario.model import Workload

DEFAULT_FAIL_FAST_S = 180.0  # a pod stuck in ImagePullBackOff / Unschedulable / CrashLoopBackOff this long fails its workload
TICK_S = 0.25               # how often the loop wakes without a watch event (deadlines, SIGINT); no API call per tick
SYNC_TIMEOUT_S = 30.0       # the watch caches must have listed the run's objects by then
DEADLINE_REASONS = ("DeadlineExceeded",)
ROLE_RANK = {"launcher": 0, "leader": 1, "job": 2, "pod": 3, "worker": 4}


@dataclass
class Applied:
    """One workload's objects in the cluster, and what the watches last showed of them."""

    workload: Workload
    objects: list[apply_.Prepared]
    status: Status = Status(ObjectPhase.WAITING)
    pods: dict[str, dict] = field(default_factory=dict)    # last seen version of every pod of the workload
    current: set[str] = field(default_factory=set)          # the pods that exist now
    seen: set[str] = field(default_factory=set)             # workload objects seen at least once
    stuck_since: dict[tuple[str, str], float] = field(default_factory=dict)
    explained: bool = False                                 # the failure message already names the pod problem
    view: str = ""

    @property
    def name(self) -> str:
        return self.workload.name


class Session:
    """The Kubernetes backend of one run (runner.execute.contract.Backend), plus the dry runs that schedule nothing."""

    name = "kubernetes"

    def __init__(self, context: RunContext):
        self.context = context
        self.options = dict(context.options)
        self.namespace = namespace_for(context.scenario, self.options)
        self.scenario = with_namespace(context.scenario, self.namespace)
        self.run_id = context.run_id
        self.selector = cleanup_.run_selector(self.run_id)
        self.client: KubeClient | None = None
        self.caches: dict[str, Cache] = {}
        self.logs_: LogCollector | None = None
        self.applied: dict[str, Applied] = {}
        self.touched = False
        self.namespace_exists = True
        self.facts: dict[str, Any] = {"namespace": self.namespace}
        self.changed = threading.Event()
        self.fail_fast_s = float(self.options.get("fail_fast_s") or DEFAULT_FAIL_FAST_S)
        self.keep = bool(self.options.get("keep"))
        self._pods_gone = False  # set once the cleanup verified that none of the run's pods is left
        planned = context.plan.objects if context.plan is not None and context.plan.objects else None
        objects = planned or render_kubernetes(self.scenario, self.run_id)  # the run's plan was rendered once, by the flow
        self.prepared = apply_.prepare(objects, self.scenario, self.run_id, self.namespace)
        self.facts["images"] = facts_.images(o.body for o in self.prepared)
        self.facts["objects"] = [o.ref for o in self.prepared]
        self.manifests = self._write_manifests()

    # --- dry runs -------------------------------------------------------------------------------

    def _write_manifests(self) -> Path:
        out = self.context.run_dir / "manifests"
        out.mkdir(parents=True, exist_ok=True)
        for obj in self.prepared:
            (out / obj.source.filename).write_text(readable_yaml(obj.body))
        return out

    def dry_run(self, mode: str) -> RunOutput:
        if mode == "client":
            return self._dry_run_output(RunState.COMPLETED, f"dry run (client): {len(self.prepared)} objects rendered and validated "
                                                            f"into the record's {self.manifests.name}/; nothing was sent to a cluster")
        try:
            self.client = connect(self.options)
            self._record_cluster()
            return self._server_dry_run()
        except RunnerError as error:
            return self._dry_run_output(RunState.ERROR, str(error))
        finally:
            if self.client is not None:
                self.client.close()

    def _dry_run_output(self, state: RunState, message: str) -> RunOutput:
        outcomes = {w.name: WorkloadOutcome(w.name, WorkloadState.SKIPPED, ranks=w.ranks, message="dry run: not submitted")
                    for w in start_order(self.scenario)}
        return RunOutput(self.name, outcomes, state, message, self.facts)

    def _server_dry_run(self) -> RunOutput:
        exists = preflight_.namespace_exists(self.client, self.namespace, preflight_.Preflight())
        results = apply_.dry_run_server(self.client, self.prepared, exists)
        self.facts["dry_run"] = [{"object": r.ref, "accepted": r.accepted, "message": r.message} for r in results]
        lines = [f"{'ok  ' if r.accepted else 'FAIL'} {r.ref}: {r.message}" for r in results]
        (self.context.run_dir / "dry-run-server.txt").write_text("\n".join(lines) + "\n")
        rejected = [r for r in results if not r.accepted]
        summary = f"dry run (server, dryRun=All): {len(results) - len(rejected)}/{len(results)} objects accepted; nothing was created"
        if rejected:
            return self._dry_run_output(RunState.ERROR, summary + "\n" + "\n".join(f"  rejected {r.ref}: {r.message}" for r in rejected))
        return self._dry_run_output(RunState.COMPLETED, summary)

    # --- before the first workload ----------------------------------------------------------------

    def open(self) -> None:
        self.client = connect(self.options)
        self._record_cluster()
        self._preflight()
        self._apply_support()
        self._start_caches()

    def _record_cluster(self) -> None:
        self.facts["context"] = self.client.source.describe()
        self.facts["cluster"] = facts_.cluster_version(self.client.remember(("version",), self.client.version))

    def _preflight(self) -> None:
        result = preflight_.run(self.client, self.scenario, self.prepared, self.namespace)
        self.namespace_exists = result.namespace_exists
        self.facts["nodes"] = facts_.node_facts(result.nodes, self.scenario.platform.instance_type)
        if result.warnings:
            self.facts["preflight_warnings"] = list(result.warnings)
        if not result.ok:
            self.facts["preflight"] = [f.message for f in result.findings]
            raise result.error()

    def _apply_support(self) -> None:
        for obj in self.prepared:
            if not obj.is_support:
                continue
            if obj.kind is NAMESPACE and self.namespace_exists:
                continue  # never touch a namespace someone else made (it may hold other things)
            self.touched = True
            self._apply(obj)

    def _apply(self, obj: apply_.Prepared) -> None:
        try:
            apply_.apply(self.client, obj)
        except KubeApiError as error:
            if error.status == 0:
                raise
            raise StartFailed(f"the cluster refused {obj.ref}: {error.message}", hint=error.hint) from error

    def _start_caches(self) -> None:
        kinds: dict[str, Kind] = {POD.resource: POD}
        for obj in self.prepared:
            if not obj.is_support:
                kinds[obj.kind.resource] = obj.kind
        self.logs_ = LogCollector(self.client, self.namespace, self.context.redact_block)
        for resource, kind in kinds.items():
            self.caches[resource] = Cache(self.client, kind, self.namespace, self.selector, self.changed.set).start()
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        for cache in self.caches.values():
            if not cache.synced.wait(timeout=max(0.0, deadline - time.monotonic())):
                why = f": {cache.error.message}" if cache.error else ""
                raise ExecutionError(f"the watch on {cache.kind.resource} did not list the run's objects within "
                                     f"{SYNC_TIMEOUT_S:.0f}s{why}", hint="check the API server's health and the access review above")

    # --- one workload -----------------------------------------------------------------------------

    def start(self, workload: Workload, ready: Mapping[str, Mapping[str, str]]) -> Applied:
        applied = Applied(workload, [o for o in self.prepared if o.workload == workload.name and not o.is_support])
        self.applied[workload.name] = applied
        self.touched = True
        for obj in applied.objects:
            self._apply(obj)
        if applied.objects:
            self.context.progress.workload(workload.name, "applied", ", ".join(o.ref.split(" in ")[0] for o in applied.objects))
        return applied

    def observe(self, applied: Applied, now: float) -> Observation:
        if not applied.objects:  # e.g. a Service alone: nothing runs, nothing to wait for
            if applied.workload.is_service:
                applied.status = Status(ObjectPhase.READY)
                return Observation(Phase.RUNNING)
            return Observation(Phase.SUCCEEDED, "nothing to run: the template rendered no workload object")
        self._collect_pods(applied)
        applied.status = status = self._status(applied)
        self._show(applied, status)
        if status.phase == ObjectPhase.FAILED:
            timed_out = any(r in status.message for r in DEADLINE_REASONS)
            return Observation(Phase.TIMED_OUT if timed_out else Phase.FAILED, status.message)
        if status.phase == ObjectPhase.DONE:
            return Observation(Phase.SUCCEEDED)
        exited = self._exited_service(applied) if applied.workload.is_service else ""
        if exited:
            return Observation(Phase.FAILED, exited)
        stuck = self._stuck(applied, now)
        if stuck is not None:
            applied.explained = True
            return Observation(Phase.FAILED, f"{stuck} for more than {self.fail_fast_s:g}s")
        return Observation(Phase.RUNNING)

    def probe(self, applied: Applied) -> bool:
        return applied.status.phase == ObjectPhase.READY

    def primary_log(self, applied: Applied) -> Path | None:
        if self.logs_ is None:
            return None
        for pod in self._sorted_pods(applied):
            path = self.logs_.files.get(pod["metadata"]["name"])
            if path is not None:
                return path
        return None

    def stop(self, applied: Applied) -> None:
        """Nothing to do now: every object of the run is deleted by label when it ends."""

    def _collect_pods(self, applied: Applied) -> None:
        """The workload's pods (by its label) as last seen, and a log follower for every started container."""
        label = dns_name(applied.name)
        current = set()
        for pod in self.caches[POD.resource].items():
            if ((pod.get("metadata") or {}).get("labels") or {}).get(f"{LABEL_PREFIX}/workload") == label:
                current.add(pod["metadata"]["name"])
                applied.pods[pod["metadata"]["name"]] = pod
                self.logs_.update(pod, self.context.log_dir(applied.name))
        applied.current = current

    def _status(self, applied: Applied) -> Status:
        statuses = []
        for obj in applied.objects:
            current = self.caches[obj.kind.resource].get(obj.name, self.namespace)
            if current is not None:
                applied.seen.add(obj.ref)
            elif obj.ref in applied.seen:
                return Status(ObjectPhase.FAILED, f"{obj.ref} was deleted while the run needed it")
            statuses.append(disaggregated_status(current, self._live_pods(applied)) if obj.kind is DSET
                            else object_status(obj.kind, current))
        return combined(statuses)

    def _exited_service(self, applied: Applied) -> str:
        """A service's container that ended (and so was restarted) while the run needed it, in words; "" if none."""
        for pod in self._live_pods(applied):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                ended = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
                if ended:
                    return (f"container {status.get('name')} of pod {pod['metadata']['name']} exited with code "
                            f"{ended.get('exitCode')} ({ended.get('reason') or 'no reason given'}) while the run needed it")
        return ""

    def _stuck(self, applied: Applied, now: float) -> diagnose.Problem | None:
        """A pod problem that has lasted longer than the grace period (fail fast instead of waiting for the timeout)."""
        current = set()
        worst = None
        for pod in self._live_pods(applied):
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            for problem in diagnose.pod_problems(pod):
                if problem.reason not in diagnose.FAIL_FAST:
                    continue
                key = (problem.pod, diagnose.SAME_PROBLEM.get(problem.reason, problem.reason))
                current.add(key)
                since = applied.stuck_since.setdefault(key, now)
                if now - since >= self.fail_fast_s:
                    worst = problem
        for key in list(applied.stuck_since):
            if key not in current:
                del applied.stuck_since[key]
        return worst

    def diagnose(self, applied: Applied, state: WorkloadState, message: str) -> Diagnosis:
        if self.client is None:
            return Diagnosis()
        objects = [self.caches[o.kind.resource].get(o.name, self.namespace) for o in applied.objects if o.kind.resource in self.caches]
        try:
            # A fresh list: the pod watch may lag behind the workload's own (they are separate streams).
            selector = f"{self.selector},{LABEL_PREFIX}/workload={dns_name(applied.name)}"
            for pod in self.client.list(POD.path(self.namespace), label_selector=selector)["items"]:
                applied.pods[pod["metadata"]["name"]] = pod
            found = diagnose.diagnose(self.client, self.namespace, [o for o in objects if o], self._sorted_pods(applied),
                                      self.logs_.files if self.logs_ else {},
                                      mpi_timeout=state == WorkloadState.TIMEOUT and applied.workload.kind == "mpi",
                                      primary_log=self.primary_log(applied))
        except KubeApiError as error:
            return Diagnosis("", (f"diagnostics unavailable: {error.message}",))
        return Diagnosis("" if applied.explained else found.message, tuple(found.lines))

    def logs(self, applied: Applied) -> tuple[Path, ...]:
        if self.logs_ is None:
            return ()
        paths = []
        for pod in self._sorted_pods(applied):
            name = pod["metadata"]["name"]
            main = self.logs_.files.get(name)
            if main is not None and main.exists():
                paths.append(main)
            for (pod_name, _container), follower in self.logs_.followers.items():
                if pod_name == name and follower.path != main and follower.path.exists() and follower.path not in paths:
                    paths.append(follower.path)
        return tuple(paths)

    def exit_code(self, applied: Applied, state: WorkloadState | None) -> int | None:
        """The primary container's exit code; 0 for a completed job whose last pod update the watch had not brought yet."""
        for pod in self._sorted_pods(applied)[:1]:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (status.get("state") or {}).get("terminated") or ((status.get("lastState") or {}).get("terminated"))
                if terminated:
                    return terminated.get("exitCode")
        return 0 if state == WorkloadState.DONE and not applied.workload.is_service else None

    def ranks(self, applied: Applied) -> int:
        return applied.workload.ranks

    # --- between loop turns -----------------------------------------------------------------------

    def wait(self, seconds: float) -> None:
        self.changed.wait(seconds)
        self.changed.clear()
        for cache in self.caches.values():
            if cache.error is not None:
                raise ExecutionError(f"lost the watch on {cache.kind.resource}: {cache.error.message}", hint=cache.error.hint)

    def tick_text(self) -> str:
        parts = []
        for applied in self.applied.values():
            if applied.status.phase in (ObjectPhase.DONE, ObjectPhase.FAILED):
                continue
            pods = [p for p in self._sorted_pods(applied) if p["metadata"]["name"] in applied.current]
            shown = ", ".join(_pod_brief(p) for p in pods[:3]) + (f", +{len(pods) - 3}" if len(pods) > 3 else "")
            parts.append(f"{applied.name}: {shown or 'no pods yet'}")
        return " | ".join(parts)

    # --- the end --------------------------------------------------------------------------------

    def close(self, state: RunState, message: str) -> tuple[RunState, str]:
        """Clean up (or keep), drain logs, record facts. Runs whatever happened before."""
        if POD.resource in self.caches:
            for applied in self.applied.values():
                self._collect_pods(applied)
        self._snapshot_pods()
        if self.logs_ is not None:
            unopened = self.logs_.wait_opened()
            if unopened:
                note = "logs not collected: " + "; ".join(unopened)
                self.context.progress.workload("logs", "failed", note)
                message = f"{message}; {note}" if message else note
        if self.client is not None and self.touched:
            if self.keep:
                kept = [o.ref for o in self.prepared if o.kind is not NAMESPACE]
                note = (f"kept {len(kept)} objects in namespace {self.namespace} (--keep); "
                        f"delete them with `scenario cleanup --run {self.run_id}`")
                self.facts["cleanup"] = {"kept": kept}
                message = f"{message}; {note}" if message else note
            else:
                state, message = self._cleanup(state, message)
        for cache in self.caches.values():
            cache.stop()
        if self.logs_ is not None:
            # kept pods keep running: do not wait on their streams; deleted ones have ended (verified by the cleanup)
            self.logs_.finish(timeout_s=2.0 if self.keep else 10.0, pods_gone=self._pods_gone)
            if self.logs_.errors():
                self.facts["log_errors"] = self.logs_.errors()
        if self.client is not None:
            pods = [p for a in self.applied.values() for p in a.pods.values()]
            resolved = facts_.resolved_images(pods)
            if resolved:
                self.facts["images_resolved"] = resolved
            self.facts["api_requests"] = dict(self.client.counts)
            self.facts["watch"] = {r: {"events": c.events, "lists": c.relists} for r, c in self.caches.items()}
            self.client.close()
        return state, message

    def _cleanup(self, state: RunState, message: str) -> tuple[RunState, str]:
        self.context.progress.workload("cleanup", "deleting", f"objects labelled {self.selector}")
        kinds = {o.kind for o in self.prepared if o.kind is not NAMESPACE}
        started = time.monotonic()
        try:
            remaining = cleanup_.delete_by_label(self.client, self.selector, self.namespace, kinds,
                                                 self.scenario.cleanup_timeout_s)
        except KubeApiError as error:
            remaining = [f"cleanup failed: {error.message}"]
        took = time.monotonic() - started
        self.facts["cleanup"] = {"seconds": round(took, 3), "remaining": remaining}
        self._pods_gone = not any(f"{POD.kind}/" in item or POD.resource in item for item in remaining)
        if not remaining:
            self.context.progress.workload("cleanup", "done", f"nothing left ({took:.1f}s)")
            return state, message
        loud = (f"CLEANUP INCOMPLETE: {len(remaining)} object(s) of run {self.run_id} are still in the cluster after "
                f"{self.scenario.cleanup_timeout_s:.0f}s: " + "; ".join(remaining)
                + f" -- delete them with `scenario cleanup --run {self.run_id}`")
        self.context.progress.workload("cleanup", "failed", loud)
        return RunState.ERROR, f"{message}; {loud}" if message else loud

    def _snapshot_pods(self) -> None:
        """A pods.txt per workload: the last state of every pod (phase, node, restarts, age)."""
        for applied in self.applied.values():
            if not applied.pods:
                continue
            lines = [f"{'POD':<48} {'PHASE':<10} {'NODE':<24} {'RESTARTS':>8}  AGE"]
            for pod in self._sorted_pods(applied):
                lines.append(_pod_row(pod))
            (self.context.log_dir(applied.name) / "pods.txt").write_text(self.context.redact("\n".join(lines) + "\n"))

    # --- pods of a workload -----------------------------------------------------------------------

    def _sorted_pods(self, applied: Applied) -> list[dict]:
        """Primary pod first (launcher, leader, the job's pod; the latest attempt of those), workers last."""
        def key(pod):
            meta = pod.get("metadata") or {}
            created = meta.get("creationTimestamp") or ""
            return ROLE_RANK[_role(pod)], _negate(created), meta.get("name", "")
        return sorted(applied.pods.values(), key=key)

    @staticmethod
    def _live_pods(applied: Applied) -> list[dict]:
        return [pod for name, pod in applied.pods.items() if name in applied.current]

    def _show(self, applied: Applied, status: Status) -> None:
        """A progress line whenever the workload's pods change: how many in which phase, and what is wrong."""
        pods = self._live_pods(applied)
        phases: dict[str, int] = {}
        for pod in pods:
            phase = "Terminating" if (pod.get("metadata") or {}).get("deletionTimestamp") else (pod.get("status") or {}).get("phase", "Pending")
            phases[phase] = phases.get(phase, 0) + 1
        if pods:
            view = f"{len(pods)} pod{'s' if len(pods) != 1 else ''}: " + ", ".join(f"{n} {p}" for p, n in sorted(phases.items()))
        else:
            view = "no pods yet"
        problems = [str(p) for pod in pods for p in diagnose.pod_problems(pod)][:2]
        if problems:
            view += " - " + "; ".join(problems)
        if view == applied.view:
            return
        applied.view = view
        if status.phase == ObjectPhase.READY:
            label = "starting"
        elif status.phase == ObjectPhase.RUNNING or phases.get("Running"):
            label = "running"
        else:
            label = "pending"
        self.context.progress.workload(applied.name, label, view)


def _role(pod: Mapping[str, Any]) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    role = labels.get("training.kubeflow.org/job-role")
    if role == "launcher":
        return "launcher"
    if role == "worker":
        return "worker"
    index = labels.get("leaderworkerset.sigs.k8s.io/worker-index")
    if index is not None:
        return "leader" if index == "0" else "worker"
    if labels.get("batch.kubernetes.io/job-name") or labels.get("job-name"):
        return "job"
    return "pod"


def _negate(text: str) -> tuple:
    """Sort key putting later timestamps first."""
    return tuple(-ord(c) for c in text)


def _age(pod: Mapping[str, Any]) -> str:
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "-"
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "-"
    seconds = max(0, int((datetime.now(timezone.utc) - then).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _restarts(pod: Mapping[str, Any]) -> int:
    return sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or [])


def _pod_brief(pod: Mapping[str, Any]) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName") or "-"
    return f"{meta.get('name')} {status.get('phase', 'Pending')}@{node} r{_restarts(pod)} {_age(pod)}"


def _pod_row(pod: Mapping[str, Any]) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    return (f"{meta.get('name', ''):<48} {status.get('phase', 'Pending'):<10} {spec.get('nodeName') or '-':<24} "
            f"{_restarts(pod):>8}  {_age(pod)}")

"""One Kubernetes run: preflight -> apply in dependency order -> watch -> collect -> always clean up.

The session mirrors the local executor's contract: workloads start in `after` order (a
dependency must be ready if it is a service, done if it is a job), every workload ends in one
state (done, failed, timeout, skipped, interrupted), logs land in context.log_dir(workload)
while pods run, and whatever happens the run's objects are deleted by label and the deletion
is verified (unless `keep`).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ExecutionError, RunnerError
from ..execute import DONE, FAILED, INTERRUPTED, SKIPPED, TIMEOUT, RunContext, RunOutput, WorkloadOutcome
from ..model import Scenario, Workload
from ..render import LABEL_PREFIX, dns_name, render_kubernetes
from . import apply as apply_
from . import cleanup as cleanup_
from . import diagnose, facts as facts_, preflight as preflight_
from .client import KubeApiError, KubeClient, connect
from .kinds import NAMESPACE, POD, Kind
from .logs import LogCollector
from .wait import DONE as PHASE_DONE, FAILED as PHASE_FAILED, READY as PHASE_READY, RUNNING as PHASE_RUNNING
from .wait import Cache, Status, combined, object_status

DEFAULT_READY_S = 1800.0    # a service must be ready within this unless ready.timeout / timeouts.ready say otherwise
DEFAULT_FAIL_FAST_S = 180.0  # a pod stuck in ImagePullBackOff / Unschedulable / CrashLoopBackOff this long fails its workload
TICK_S = 0.25               # how often the loop wakes without a watch event (deadlines, SIGINT); no API call per tick
DEADLINE_REASONS = ("DeadlineExceeded",)
ROLE_RANK = {"launcher": 0, "leader": 1, "job": 2, "pod": 3, "worker": 4}


def namespace_for(scenario: Scenario, options: Mapping[str, Any]) -> str:
    return options.get("namespace") or scenario.platform.namespace


def with_namespace(scenario: Scenario, namespace: str) -> Scenario:
    if namespace == scenario.platform.namespace:
        return scenario
    return replace(scenario, platform=replace(scenario.platform, namespace=namespace))


@dataclass
class Tracked:
    workload: Workload
    objects: list[apply_.Prepared]
    started: float | None = None            # wall clock, for WorkloadOutcome
    deadline: float | None = None            # monotonic: job must finish / service must be ready by then
    limit_text: str = ""
    ready: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    pods: dict[str, dict] = field(default_factory=dict)    # last seen version of every pod of the workload
    current: set[str] = field(default_factory=set)          # the pods that exist now
    seen: set[str] = field(default_factory=set)             # workload objects seen at least once
    stuck_since: dict[tuple[str, str], float] = field(default_factory=dict)
    state: str = ""
    message: str = ""
    diagnostics: tuple[str, ...] = ()
    ended: float | None = None
    view: str = ""
    log_offset: int = 0

    @property
    def name(self) -> str:
        return self.workload.name


class Session:
    def __init__(self, context: RunContext):
        self.context = context
        self.options = dict(context.options)
        self.namespace = namespace_for(context.scenario, self.options)
        self.scenario = with_namespace(context.scenario, self.namespace)
        self.run_id = context.run_id
        self.selector = cleanup_.run_selector(self.run_id)
        self.client: KubeClient | None = None
        self.caches: dict[str, Cache] = {}
        self.logs: LogCollector | None = None
        self.tracked: dict[str, Tracked] = {}
        self.order: list[Workload] = []
        self.prepared: list[apply_.Prepared] = []
        self.touched = False
        self.namespace_exists = True
        self.facts: dict[str, Any] = {"namespace": self.namespace}
        self.changed = threading.Event()
        self.started = time.monotonic()
        self.deadline = self.started + context.timeout_s if context.timeout_s else None
        self.fail_fast_s = float(self.options.get("fail_fast_s") or DEFAULT_FAIL_FAST_S)
        self.keep = bool(self.options.get("keep"))

    # --- entry ----------------------------------------------------------------------------------

    def execute(self) -> RunOutput:
        from ..execute import start_order  # the same dependency order as the local executor

        self.order = start_order(self.scenario)
        self.prepared = apply_.prepare(render_kubernetes(self.scenario, self.run_id), self.scenario, self.run_id, self.namespace)
        self.facts["images"] = facts_.images(o.body for o in self.prepared)
        self.facts["objects"] = [o.ref for o in self.prepared]
        manifests = self._write_manifests()
        dry_run = self.options.get("dry_run")
        if dry_run == "client":
            return self._finish_dry_run("completed", f"dry run (client): {len(self.prepared)} objects rendered and validated "
                                                     f"into the record's {manifests.name}/; nothing was sent to a cluster")
        state, message = "completed", ""
        try:
            self.client = connect(self.options)
            self.facts["context"] = self.client.source.describe()
            self.facts["cluster"] = facts_.cluster_version(self.client.version())
            if dry_run == "server":
                return self._server_dry_run()
            self._preflight()
            self._apply_support()
            self._start_caches()
            state, message = self._loop()
        except RunnerError as error:
            state, message = "error", str(error)
            self._abort_all(FAILED if self.touched else SKIPPED, error.message.splitlines()[0])
        finally:
            state, message = self._end(state, message)
        return RunOutput("kubernetes", self._outcomes(), state, message, self.facts)

    # --- dry runs -------------------------------------------------------------------------------

    def _write_manifests(self) -> Path:
        out = self.context.run_dir / "manifests"
        out.mkdir(parents=True, exist_ok=True)
        for obj in self.prepared:
            (out / obj.source.filename).write_text(yaml.safe_dump(obj.body, sort_keys=False, width=120))
        return out

    def _finish_dry_run(self, state: str, message: str) -> RunOutput:
        """Every workload skipped; the client (server dry run) is closed by _end like in any run."""
        for workload in self.order:
            self._decide(workload.name, SKIPPED, "dry run: not submitted", progress=False)
        return RunOutput("kubernetes", self._outcomes(), state, message, self.facts)

    def _server_dry_run(self) -> RunOutput:
        exists = preflight_.namespace_exists(self.client, self.namespace, preflight_.Preflight())
        results = apply_.dry_run_server(self.client, self.prepared, exists)
        self.facts["dry_run"] = [{"object": r.ref, "accepted": r.accepted, "message": r.message} for r in results]
        lines = [f"{'ok  ' if r.accepted else 'FAIL'} {r.ref}: {r.message}" for r in results]
        (self.context.run_dir / "dry-run-server.txt").write_text("\n".join(lines) + "\n")
        rejected = [r for r in results if not r.accepted]
        summary = f"dry run (server, dryRun=All): {len(results) - len(rejected)}/{len(results)} objects accepted; nothing was created"
        if rejected:
            return self._finish_dry_run("error", summary + "\n" + "\n".join(f"  rejected {r.ref}: {r.message}" for r in rejected))
        return self._finish_dry_run("completed", summary)

    # --- before the loop ------------------------------------------------------------------------

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
        for workload in self.order:
            objects = [o for o in self.prepared if o.workload == workload.name and not o.is_support]
            self.tracked[workload.name] = Tracked(workload, objects)
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
            raise ExecutionError(f"the cluster refused {obj.ref}: {error.message}", hint=error.hint) from None

    def _start_caches(self) -> None:
        kinds: dict[str, Kind] = {POD.resource: POD}
        for obj in self.prepared:
            if not obj.is_support:
                kinds[obj.kind.resource] = obj.kind
        self.logs = LogCollector(self.client, self.namespace)
        for resource, kind in kinds.items():
            self.caches[resource] = Cache(self.client, kind, self.namespace, self.selector, self.changed.set).start()
        for cache in self.caches.values():
            cache.synced.wait(timeout=30)

    # --- the loop -------------------------------------------------------------------------------

    def _loop(self) -> tuple[str, str]:
        while True:
            if self.context.should_stop():
                self._abort_all(INTERRUPTED, "interrupted")
                return "interrupted", "interrupted by signal"
            now = time.monotonic()
            if self.deadline and now > self.deadline:
                limit = f"the run hit its {self.context.timeout_s:.0f}s limit"
                self._abort_all(TIMEOUT, limit, diagnose_running=True)
                return "timeout", limit
            for cache in self.caches.values():
                if cache.error is not None:
                    raise ExecutionError(f"lost the watch on {cache.kind.resource}: {cache.error.message}", hint=cache.error.hint)
            self._start_ready_workloads()
            for tracked in self.tracked.values():
                if tracked.started is not None:
                    self._collect_pods(tracked)
                    if not tracked.state:
                        self._observe(tracked, time.monotonic())
            if self._finished():
                return "completed", ""
            self.context.progress.tick(self._tick_text())
            self.changed.wait(TICK_S)
            self.changed.clear()

    def _finished(self) -> bool:
        jobs = [w for w in self.order if not w.is_service]
        services = [self.tracked[w.name] for w in self.order if w.is_service]
        if not jobs:
            return all(t.state or t.ready for t in services)
        if any(not self.tracked[w.name].state for w in jobs):
            return False
        return all(t.state or t.started is not None for t in services)

    def _start_ready_workloads(self) -> None:
        for workload in self.order:
            tracked = self.tracked[workload.name]
            if tracked.started is not None or tracked.state:
                continue
            blocked = [d for d in workload.after if self._dependency(d) == "failed"]
            if blocked:
                self._decide(workload.name, SKIPPED, f"not started: {', '.join(blocked)} did not succeed")
            elif all(self._dependency(d) == "ok" for d in workload.after):
                self._start(tracked)

    def _dependency(self, name: str) -> str:
        tracked = self.tracked[name]
        if tracked.state:
            return "ok" if tracked.state == DONE else "failed"
        if tracked.workload.is_service and tracked.ready:
            return "ok"
        return "waiting"

    def _start(self, tracked: Tracked) -> None:
        workload = tracked.workload
        tracked.started = time.time()
        now = time.monotonic()
        if workload.is_service:
            ready_s = ((workload.ready.timeout_s if workload.ready else None) or workload.timeout_s
                       or self.scenario.ready_timeout_s or DEFAULT_READY_S)
            tracked.deadline, tracked.limit_text = now + ready_s, f"not ready within {ready_s:.0f}s"
        elif workload.timeout_s:
            tracked.deadline, tracked.limit_text = now + workload.timeout_s, f"did not finish within its {workload.timeout_s:.0f}s limit"
        self.touched = True
        for obj in tracked.objects:
            try:
                self._apply(obj)
            except ExecutionError as error:
                if isinstance(error, KubeApiError):
                    raise
                self._decide(tracked.name, FAILED, error.message)
                return
        if not tracked.objects:  # e.g. a Service alone: nothing runs, nothing to wait for
            if workload.is_service:
                tracked.ready = True
            else:
                self._decide(tracked.name, DONE, "nothing to run: the template rendered no workload object")
            return
        self.context.progress.workload(tracked.name, "applied", ", ".join(o.ref.split(" in ")[0] for o in tracked.objects))

    # --- observing one workload -----------------------------------------------------------------

    def _collect_pods(self, tracked: Tracked) -> None:
        """The workload's pods (by its label) as last seen, and a log follower for every started container."""
        label = dns_name(tracked.name)
        current = set()
        for pod in self.caches[POD.resource].items():
            if ((pod.get("metadata") or {}).get("labels") or {}).get(f"{LABEL_PREFIX}/workload") == label:
                current.add(pod["metadata"]["name"])
                tracked.pods[pod["metadata"]["name"]] = pod
                self.logs.update(pod, self.context.log_dir(tracked.name))
        tracked.current = current

    def _observe(self, tracked: Tracked, now: float) -> None:
        status = self._status(tracked)
        self._show(tracked, status)
        if status.phase == PHASE_FAILED:
            state = TIMEOUT if any(r in status.message for r in DEADLINE_REASONS) else FAILED
            return self._fail(tracked, state, status.message)
        if status.phase == PHASE_DONE:
            return self._decide(tracked.name, DONE, "")
        if status.phase == PHASE_READY and tracked.workload.is_service and not tracked.ready and self._log_ready(tracked):
            tracked.ready = True
            detail = ", ".join(f"{k}={v}" for k, v in tracked.outputs.items())
            self.context.progress.workload(tracked.name, "ready", detail)
        stuck = self._stuck(tracked, now)
        if stuck is not None:
            return self._fail(tracked, FAILED, f"{stuck} for more than {self.fail_fast_s:g}s", add_problem=False)
        if tracked.deadline and now > tracked.deadline and not tracked.ready:
            return self._fail(tracked, TIMEOUT, tracked.limit_text)

    def _status(self, tracked: Tracked) -> Status:
        statuses = []
        for obj in tracked.objects:
            current = self.caches[obj.kind.resource].get(obj.name, self.namespace)
            if current is not None:
                tracked.seen.add(obj.ref)
            elif obj.ref in tracked.seen:
                return Status(PHASE_FAILED, f"{obj.ref} was deleted while the run needed it")
            statuses.append(object_status(obj.kind, current))
        return combined(statuses)

    def _stuck(self, tracked: Tracked, now: float) -> diagnose.Problem | None:
        """A pod problem that has lasted longer than the grace period (fail fast instead of waiting for the timeout)."""
        current = set()
        worst = None
        for pod in self._live_pods(tracked):
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            for problem in diagnose.pod_problems(pod):
                if problem.reason not in diagnose.FAIL_FAST:
                    continue
                key = (problem.pod, diagnose.SAME_PROBLEM.get(problem.reason, problem.reason))
                current.add(key)
                since = tracked.stuck_since.setdefault(key, now)
                if now - since >= self.fail_fast_s:
                    worst = problem
        for key in list(tracked.stuck_since):
            if key not in current:
                del tracked.stuck_since[key]
        return worst

    def _log_ready(self, tracked: Tracked) -> bool:
        """`ready: {log: REGEX}`: the primary pod's log must show the line (named groups become outputs)."""
        ready = tracked.workload.ready
        if not ready or not ready.log or ready.port or ready.http_port:
            return True
        primary = self._primary_log(tracked)
        if primary is None or not primary.exists():
            return False
        text = primary.read_bytes()[tracked.log_offset:].decode("utf-8", "replace")
        complete = text[: text.rfind("\n") + 1]
        tracked.log_offset += len(complete.encode("utf-8"))
        match = re.search(ready.log, complete, re.MULTILINE)
        if match:
            tracked.outputs = {k: v for k, v in match.groupdict().items() if v is not None}
        return match is not None

    # --- deciding -------------------------------------------------------------------------------

    def _fail(self, tracked: Tracked, state: str, message: str, add_problem: bool = True) -> None:
        found = self._diagnose(tracked, state)
        detail = message
        if add_problem and found.message and found.message not in message:
            detail = f"{message}; {found.message}" if message else found.message
        self._decide(tracked.name, state, detail, found.lines)

    def _diagnose(self, tracked: Tracked, state: str) -> diagnose.Diagnosis:
        objects = [self.caches[o.kind.resource].get(o.name, self.namespace) for o in tracked.objects]
        try:
            # A fresh list: the pod watch may lag behind the workload's own (they are separate streams).
            selector = f"{self.selector},{LABEL_PREFIX}/workload={dns_name(tracked.name)}"
            for pod in self.client.list(POD.path(self.namespace), label_selector=selector)["items"]:
                tracked.pods[pod["metadata"]["name"]] = pod
            return diagnose.diagnose(self.client, self.namespace, [o for o in objects if o], self._sorted_pods(tracked),
                                     self.logs.files if self.logs else {},
                                     mpi_timeout=state == TIMEOUT and tracked.workload.kind == "mpi",
                                     primary_log=self._primary_log(tracked))
        except KubeApiError as error:
            return diagnose.Diagnosis("", (f"diagnostics unavailable: {error.message}",))

    def _decide(self, name: str, state: str, message: str, diagnostics: tuple[str, ...] = (), progress: bool = True) -> None:
        tracked = self.tracked.get(name)
        if tracked is None:
            tracked = self.tracked[name] = Tracked(self.scenario.workload(name), [])
        if tracked.state:
            return
        tracked.state, tracked.message, tracked.diagnostics = state, message, tuple(diagnostics)
        tracked.ended = time.time() if tracked.started else None
        if progress:
            duration = f"{tracked.ended - tracked.started:.1f}s" if tracked.started and tracked.ended else ""
            detail = "; ".join(filter(None, [message.splitlines()[0] if message else "", duration if state != SKIPPED else ""]))
            self.context.progress.workload(name, state, detail)

    def _abort_all(self, state: str, message: str, diagnose_running: bool = False) -> None:
        for workload in self.order:
            tracked = self.tracked.get(workload.name)
            if tracked is None or not tracked.state:
                if tracked is not None and tracked.started is not None:
                    if diagnose_running and self.client is not None:
                        self._fail(tracked, state, message)
                    else:
                        self._decide(workload.name, state, message)
                else:
                    self._decide(workload.name, SKIPPED, f"not started: {message}")

    # --- the end --------------------------------------------------------------------------------

    def _end(self, state: str, message: str) -> tuple[str, str]:
        """Settle services, clean up (or keep), drain logs, record facts. Runs whatever happened before."""
        for tracked in self.tracked.values():
            if tracked.state:
                continue
            if tracked.started is None:
                self._decide(tracked.name, SKIPPED, "not started")
            elif tracked.ready:
                self._decide(tracked.name, DONE, "stopped at the end of the run")
            else:
                self._decide(tracked.name, FAILED, "stopped before it became ready")
        for tracked in self.tracked.values():
            if tracked.started is not None and POD.resource in self.caches:
                self._collect_pods(tracked)
        self._snapshot_pods()
        if self.logs is not None:
            self.logs.wait_opened()
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
        if self.logs is not None:
            self.logs.finish(timeout_s=2.0 if self.keep else 10.0)  # kept pods keep running: do not wait on their streams
            if self.logs.errors():
                self.facts["log_errors"] = self.logs.errors()
        if self.client is not None:
            pods = [p for t in self.tracked.values() for p in t.pods.values()]
            resolved = facts_.resolved_images(pods)
            if resolved:
                self.facts["images_resolved"] = resolved
            self.facts["api_requests"] = dict(self.client.counts)
            self.facts["watch"] = {r: {"events": c.events, "lists": c.relists} for r, c in self.caches.items()}
            self.client.close()
        return state, message

    def _cleanup(self, state: str, message: str) -> tuple[str, str]:
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
        if not remaining:
            self.context.progress.workload("cleanup", "done", f"nothing left ({took:.1f}s)")
            return state, message
        loud = (f"CLEANUP INCOMPLETE: {len(remaining)} object(s) of run {self.run_id} are still in the cluster after "
                f"{self.scenario.cleanup_timeout_s:.0f}s: " + "; ".join(remaining)
                + f" -- delete them with `scenario cleanup --run {self.run_id}`")
        self.context.progress.workload("cleanup", "failed", loud)
        return "error", f"{message}; {loud}" if message else loud

    def _snapshot_pods(self) -> None:
        """A pods.txt per workload: the last state of every pod (phase, node, restarts, age)."""
        for tracked in self.tracked.values():
            if not tracked.pods:
                continue
            lines = [f"{'POD':<48} {'PHASE':<10} {'NODE':<24} {'RESTARTS':>8}  AGE"]
            for pod in self._sorted_pods(tracked):
                lines.append(_pod_row(pod))
            (self.context.log_dir(tracked.name) / "pods.txt").write_text("\n".join(lines) + "\n")

    def _outcomes(self) -> dict[str, WorkloadOutcome]:
        outcomes = {}
        for workload in self.order:
            tracked = self.tracked.get(workload.name) or Tracked(workload, [], state=SKIPPED, message="not started")
            logs = self._logs_of(tracked)
            outcomes[workload.name] = WorkloadOutcome(
                name=workload.name, state=tracked.state or SKIPPED, logs=logs, exit_code=self._exit_code(tracked),
                ranks=workload.ranks, started=tracked.started, ended=tracked.ended, message=tracked.message,
                diagnostics=tracked.diagnostics, outputs=dict(tracked.outputs))
        return outcomes

    # --- pods and logs of a workload --------------------------------------------------------------

    def _sorted_pods(self, tracked: Tracked) -> list[dict]:
        """Primary pod first (launcher, leader, the job's pod; the latest attempt of those), workers last."""
        def key(pod):
            meta = pod.get("metadata") or {}
            created = meta.get("creationTimestamp") or ""
            return ROLE_RANK[_role(pod)], _negate(created), meta.get("name", "")
        return sorted(tracked.pods.values(), key=key)

    @staticmethod
    def _live_pods(tracked: Tracked) -> list[dict]:
        return [pod for name, pod in tracked.pods.items() if name in tracked.current]

    def _primary_log(self, tracked: Tracked) -> Path | None:
        if self.logs is None:
            return None
        for pod in self._sorted_pods(tracked):
            path = self.logs.files.get(pod["metadata"]["name"])
            if path is not None:
                return path
        return None

    def _logs_of(self, tracked: Tracked) -> tuple[Path, ...]:
        if self.logs is None:
            return ()
        paths = []
        for pod in self._sorted_pods(tracked):
            name = pod["metadata"]["name"]
            main = self.logs.files.get(name)
            if main is not None and main.exists():
                paths.append(main)
            for (pod_name, _container), follower in self.logs.followers.items():
                if pod_name == name and follower.path != main and follower.path.exists() and follower.path not in paths:
                    paths.append(follower.path)
        return tuple(paths)

    def _exit_code(self, tracked: Tracked) -> int | None:
        """The primary container's exit code; 0 for a completed job whose last pod update the watch had not brought yet."""
        for pod in self._sorted_pods(tracked)[:1]:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (status.get("state") or {}).get("terminated") or ((status.get("lastState") or {}).get("terminated"))
                if terminated:
                    return terminated.get("exitCode")
        return 0 if tracked.state == DONE and not tracked.workload.is_service else None

    # --- progress -------------------------------------------------------------------------------

    def _show(self, tracked: Tracked, status: Status) -> None:
        """A progress line whenever the workload's pods change: how many in which phase, and what is wrong."""
        pods = self._live_pods(tracked)
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
        if view == tracked.view:
            return
        tracked.view = view
        if status.phase == PHASE_READY:
            label = "ready" if tracked.ready else "starting"
        elif status.phase == PHASE_RUNNING or phases.get("Running"):
            label = "running"
        else:
            label = "pending"
        self.context.progress.workload(tracked.name, label, view)

    def _tick_text(self) -> str:
        parts = []
        for tracked in self.tracked.values():
            if tracked.started is None or tracked.state:
                continue
            pods = [p for p in self._sorted_pods(tracked) if p["metadata"]["name"] in tracked.current]
            shown = ", ".join(_pod_brief(p) for p in pods[:3]) + (f", +{len(pods) - 3}" if len(pods) > 3 else "")
            parts.append(f"{tracked.name}: {shown or 'no pods yet'}")
        return " | ".join(parts)


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

"""What scripted pods do: a Behavior per pod, chosen by the scripts a test registers.

Durations are simulated seconds; FakeKube(time_scale=...) turns them into real
ones (the default 0.01 makes one simulated second 10 ms). A pod's timeline:

    created -> scheduled (schedule_after) -> image pulled, containers started (pull_for)
            -> Ready (ready_after) -> terminated (run_for; None = runs until deleted)

and then the pod's restartPolicy decides: Never -> Succeeded/Failed; Always (or
OnFailure after a failure) -> restart with CrashLoopBackOff back-off (10 s,
doubling, max 300 s), restartCount increasing. `waiting_reason`,
`unschedulable`, `exec_format_error` and `hang` replace parts of that timeline.
"""
from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from .selection import parse_label_selector

AUTO = "auto"  # run_for: job-like pods (Job, MPIJob launcher, bare restartPolicy!=Always pods) exit after 3 s


@dataclass(frozen=True)
class Behavior:
    schedule_after: float = 0.5
    pull_for: float = 1.0
    ready_after: float = 0.5
    run_for: float | None | str = AUTO
    exit_code: int = 0
    reason: str | None = None  # terminated reason; default "Completed" (exit 0) / "Error"
    message: str | None = None  # terminated message (what terminationMessagePath would hold)
    log: str | Path | dict | None = None  # text, fixture path, {container: text|path}, or a callable of PodPlacement
    log_every: float | None = None  # seconds between log lines; default spreads them over run_for
    waiting_reason: str | None = None  # ImagePullBackOff | ErrImagePull | CrashLoopBackOff | ContainerCreating | ...
    waiting_message: str | None = None
    unschedulable: str | bool | None = None  # True: the fake scheduler's own message
    hang: bool = False  # Running and Ready until deleted, even for job pods
    never_ready: bool = False  # Running, readiness never passes
    exec_format_error: bool | str = False  # True or the binary path; lands on an arm64 node
    image_arch: str | None = None  # e.g. "amd64": exec format error when scheduled on another arch
    succeed_after_restarts: int | None = None  # crash this many times, then behave (exit 0)
    termination_delay: float = 0.5  # time a deleted pod spends Terminating

    # -- common behaviours --------------------------------------------------------------------

    @classmethod
    def succeeds(cls, log=None, after: float = 3.0, **kw) -> "Behavior":
        return cls(run_for=after, exit_code=0, log=log, **kw)

    @classmethod
    def fails(cls, exit_code: int = 1, reason: str = "Error", log=None, after: float = 1.0, **kw) -> "Behavior":
        return cls(run_for=after, exit_code=exit_code, reason=reason, log=log, **kw)

    @classmethod
    def oom_killed(cls, log=None, after: float = 1.0, **kw) -> "Behavior":
        return cls(run_for=after, exit_code=137, reason="OOMKilled", log=log, **kw)

    @classmethod
    def crash_loop(cls, exit_code: int = 1, log=None, after: float = 0.5, **kw) -> "Behavior":
        """Exits non-zero soon after every start; pods with restartPolicy Always/OnFailure crash-loop."""
        return cls(run_for=after, exit_code=exit_code, reason="Error", log=log, waiting_reason="CrashLoopBackOff",
                   **kw)

    @classmethod
    def image_pull_backoff(cls, message: str | None = None, **kw) -> "Behavior":
        return cls(waiting_reason="ImagePullBackOff", waiting_message=message, **kw)

    @classmethod
    def pending(cls, message: str | bool = True, **kw) -> "Behavior":
        """Unschedulable: stays Pending with PodScheduled=False and FailedScheduling events."""
        return cls(unschedulable=message, **kw)

    @classmethod
    def hangs(cls, log=None, **kw) -> "Behavior":
        return cls(hang=True, run_for=None, log=log, **kw)

    @classmethod
    def serves(cls, log=None, **kw) -> "Behavior":
        return cls(run_for=None, log=log, **kw)

    @classmethod
    def wrong_arch(cls, binary: str | bool = True, **kw) -> "Behavior":
        """The launcher-on-ARM failure: `exec /usr/bin/bash: exec format error`, exit 1."""
        return cls(exec_format_error=binary, **kw)

    def with_(self, **changes) -> "Behavior":
        return replace(self, **changes)

    # -- resolved values ------------------------------------------------------------------------

    def log_text(self, container: str, placement: "PodPlacement | None" = None) -> str:
        source = self.log
        if isinstance(source, dict):
            source = source.get(container, source.get("*"))
        if callable(source):
            source = source(placement or PodPlacement(None, frozenset()))
        if source is None:
            return ""
        if isinstance(source, Path):
            return source.read_text()
        if "\n" not in source and len(source) < 4096 and Path(source).is_file():  # a fixture path as str
            return Path(source).read_text()
        return source

    def termination_reason(self, exit_code: int) -> str:
        if self.reason:
            return self.reason
        return "Completed" if exit_code == 0 else "Error"


@dataclass(frozen=True)
class PodPlacement:
    """Where a pod runs when its containers start: its node, and the nodes of every bound pod of the same run
    (label scenario-runner.dev/run-id): what a log callable needs to print a degraded node's figures."""
    node: str | None
    run_nodes: frozenset[str]


@dataclass(frozen=True)
class PodOrigin:
    """Where a pod comes from: the owner chain (kind, name) from the pod up, and its roles."""
    chain: tuple[tuple[str, str], ...]
    roles: frozenset[str]
    namespace: str
    labels: dict = field(hash=False, compare=False, default_factory=dict)

    @property
    def pod_name(self) -> str:
        return self.chain[0][1]

    @property
    def job_like(self) -> bool:
        """Pods expected to finish: Job pods (incl. MPIJob launchers) and bare run-to-completion pods."""
        kinds = {k for k, _ in self.chain}
        return "Job" in kinds


@dataclass(frozen=True)
class Match:
    """Which pods a script applies to. Every given field must match.

    kind/name: a (kind, name-glob) anywhere in the pod's owner chain, e.g.
    Match(kind="MPIJob", name="nccl-*") or Match(kind="Job", name="bench").
    role: launcher|worker (MPIJob), leader|worker (LeaderWorkerSet),
    the role name or leader|worker (DisaggregatedSet).
    labels: a label selector on the pod. pod: a glob on the pod name.
    """
    kind: str | None = None
    name: str = "*"
    role: str | None = None
    labels: str | dict | None = None
    namespace: str | None = None
    pod: str | None = None

    def matches(self, origin: PodOrigin) -> bool:
        if self.namespace and self.namespace != origin.namespace:
            return False
        if self.pod and not fnmatch.fnmatchcase(origin.pod_name, self.pod):
            return False
        if self.role and self.role not in origin.roles:
            return False
        if self.kind or self.name != "*":
            if not any((self.kind in (None, kind)) and fnmatch.fnmatchcase(name, self.name)
                       for kind, name in origin.chain):
                return False
        if self.labels:
            selector = self.labels if isinstance(self.labels, str) else \
                ",".join(f"{k}={v}" for k, v in self.labels.items())
            if not parse_label_selector(selector).matches(origin.labels):
                return False
        return True


def as_match(match) -> Match:
    if match is None:
        return Match()
    if isinstance(match, Match):
        return match
    if isinstance(match, dict):
        return Match(labels=match)
    if isinstance(match, str):
        return Match(name=match)
    raise TypeError(f"cannot match pods with {match!r}: use a Match, a name glob or a label dict")


@dataclass
class Script:
    match: Match
    behavior: Behavior
    times: int | None = None  # how many pods it applies to (None: all)
    pods: list[str] = field(default_factory=list)  # the pods it was applied to

    @property
    def exhausted(self) -> bool:
        return self.times is not None and len(self.pods) >= self.times


class Scripts:
    """Scripts in registration order; the most recent matching one wins."""

    def __init__(self, default: Behavior | None = None):
        self.default = default or Behavior()
        self._scripts: list[Script] = []
        self._lock = threading.Lock()

    def add(self, match, behavior: Behavior, times: int | None = None) -> Script:
        script = Script(as_match(match), behavior, times)
        with self._lock:
            self._scripts.append(script)
        return script

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()

    def behavior_for(self, origin: PodOrigin) -> Behavior:
        with self._lock:
            for script in reversed(self._scripts):
                if not script.exhausted and script.match.matches(origin):
                    script.pods.append(origin.pod_name)
                    return script.behavior
        return self.default

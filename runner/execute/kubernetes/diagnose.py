"""Why a workload failed or hung: pod problems, events, container states, log tails and a hint per known cause.

`pod_problems` reads one pod's status (it is also what fail-fast watches: a pod stuck in
ImagePullBackOff or Unschedulable longer than the grace period fails its workload at once).
`diagnose` gathers the evidence when a workload ends badly. HINTS maps symptoms to fixes,
most of them from efa-validation's runbook (§7) and its pod-spec pattern (§2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from runner.execute.contract import log_tail
from runner.execute.evidence import fold_named_tails, fold_tagged_lines, folded_text
from runner.execute.kubernetes.client import KubeApiError, KubeClient
from runner.execute.kubernetes.kinds import EVENT, POD

LOG_TAIL_LINES = 20
MAX_PODS = 6
MAX_EVENTS = 12

# Pod problems that fail a workload after the grace period instead of waiting for its timeout.
FAIL_FAST = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "Unschedulable", "CrashLoopBackOff",
             "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "OOMKilled", "ExecFormatError")

# Reasons that alternate while one problem lasts (ErrImagePull <-> ImagePullBackOff on every retry) share a clock.
SAME_PROBLEM = {"ErrImagePull": "ImagePullBackOff"}

HINTS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(pattern, re.IGNORECASE), hint) for pattern, hint in (
    (r"exec format error",
     "the container ran on a node of another CPU architecture (efa-validation's MPI launcher landed on an ARM64 system "
     "node): pin it to the GPU node type with nodeSelector node.kubernetes.io/instance-type (and kubernetes.io/arch)"),
    (r"Insufficient vpc\.amazonaws\.com/efa",
     "no node has the EFA interfaces the pod asks for: check that the EFA device plugin (aws-efa-k8s-device-plugin "
     "DaemonSet) runs on the GPU nodes and advertises vpc.amazonaws.com/efa, and that platform.efaPerNode matches the "
     "instance type (p5.48xlarge 32, p5en.48xlarge 16, p6-b200.48xlarge 8)"),
    (r"Insufficient nvidia\.com/gpu",
     "no node advertises the GPUs the pod asks for: the NVIDIA device plugin is missing or broken; efa-validation fixed "
     "it with the GPU Operator (driver/toolkit disabled, cdi.enabled=true, cdi.default=true) after the EKS AMI's "
     "device plugin + containerd 2.2 CDI auto mode exposed no /dev/nvidia*"),
    (r"Insufficient hugepages-2Mi",
     "the nodes have no free 2 MiB huge pages: EFA nodes pre-allocate them (5128 x 2 MiB); lower platform.hugepages2Mi "
     "or check the node's hugepages setup"),
    (r"Insufficient memory",
     "no node has the memory the pod requests: lower resources.memory / platform.memory"),
    (r"untolerated taint",
     "the pod does not tolerate a node taint: GPU nodes carry nvidia.com/gpu=true:NoSchedule; add the toleration "
     "(platform.tolerations) or pick the right nodes"),
    (r"didn't match Pod's node affinity/selector",
     "no node carries the labels the pod selects: check platform.instanceType / platform.nodeSelector and that the GPU "
     "node group is scaled up (`kubectl get nodes -L node.kubernetes.io/instance-type`)"),
    (r"ImagePullBackOff|ErrImagePull|failed to pull|pull access denied|manifest unknown|InvalidImageName",
     "the image could not be pulled: check the registry and tag (`make images` pushes them; `--set registry=...`) and "
     "that the node role may read the repository (ECR: AmazonEC2ContainerRegistryReadOnly, same region)"),
    (r"OOMKilled|Memory cgroup out of memory",
     "a container ran out of memory: raise resources.memory (efa-validation's GPU pods had 256Gi; Mooncake with 16 MiB "
     "blocks was OOMKilled at 128Gi)"),
    (r"Permission denied \(publickey",
     "the MPI launcher could not ssh to the workers: OpenSSH's StrictModes rejects the key the MPI operator mounts "
     "(mode 1777): set `StrictModes no` and an explicit IdentityFile in the image's sshd/ssh config (efa-validation base:v2)"),
    (r"CUDA runtime insufficient|CUDA driver version is insufficient|no CUDA-capable device|/dev/nvidia\S* (?:not found|No such file)|"
     r"Failed to initialize NVML",
     "no GPU device inside the container: the device plugin/container toolkit did not inject /dev/nvidia*; install the "
     "GPU Operator with CDI (cdi.enabled=true, cdi.default=true) as efa-validation did (runbook #9)"),
    (r"discover_hosts\.sh.*(?:empty|0 of)|only \d+ of \d+ MPI workers ready",
     "the MPI workers never all became ready: look at the worker pods (scheduling, image pull, sshd)"),
    (r"cannot ssh to|ssh: connect to host .* (?:Connection refused|timed out)",
     "ssh from the launcher to a worker failed: sshd must run in the worker image and accept root login with the "
     "operator-mounted key (PermitRootLogin yes, StrictModes no)"),
    (r"forbidden: error looking up service account|serviceaccount \"[^\"]+\" not found",
     "the pod's ServiceAccount does not exist in the namespace: apply templates/rbac/ or drop serviceAccountName"),
    (r"MountVolume\.SetUp failed|configmap \"[^\"]+\" not found|secret \"[^\"]+\" not found",
     "a volume the pod mounts is missing (ConfigMap/Secret not created, or deleted early)"),
    (r"Readiness probe failed",
     "the readiness probe keeps failing: the server is up but does not answer its health endpoint yet (model still "
     "loading?) or listens on another port; raise ready.timeout or check the port/path"),
    (r"cannot publish segments|PUT /\?key=.*404",
     "the Mooncake metadata URL must end in /metadata (efa-validation runbook #15)"),
    (r"Cannot select device for dest_addr",
     "Mooncake bench sizing: block_size x batch_size x threads must not exceed buffer_size"),
    (r"KVTransferError|KVPoll\.WaitingForInput",
     "SGLang's KV transfer timed out: with a USE_EFA Mooncake build SGLang must use protocol \"efa\" (it hard-codes "
     "\"rdma\"; efa-validation patched mooncake_transfer_engine.py)"),
    (r"undefined symbol: __cudaRegisterLinkedBinary",
     "a CUDA extension was built against another CUDA runtime than the image's (efa-validation: DeepEP cu124 vs 12.6)"),
    (r"libc10\.so",
     "torch's libraries are not on LD_LIBRARY_PATH: prepend $(python -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib"),
    (r"ProgressDeadlineExceeded",
     "the Deployment made no progress within its progressDeadlineSeconds: see the pod problems above"),
    # Libfabric's provider choice only: `NET/Socket : Using eth0` and `Using network Socket` are printed by healthy
    # intranode runs too (tests/truth/nccl-tests/v2.19.6/nvlink-8rank), so they are not evidence of a missing EFA.
    (r"Selected provider is (?!efa)",
     "NCCL did not use EFA: check FI_PROVIDER=efa, NCCL_NET_PLUGIN and that the pod requests vpc.amazonaws.com/efa"),
))

MPI_HANG_HINT = ("mpirun printed no rank output: orted probably never started on the workers (efa-validation runbook #8: "
                 "FQDN reverse lookups); the launcher needs --mca orte_keep_fqdn_hostnames 1 --mca oob_tcp_if_include eth0 "
                 "--mca btl_tcp_if_include eth0 and a hostfile of `<host> slots=<GPUs>` lines instead of --host")
RANK_OUTPUT = re.compile(r"^\[\d+,\d+\]<std(?:out|err)>:|^#\s+(?:size|Avg bus bandwidth)", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    pod: str
    reason: str
    message: str
    container: str = ""

    def __str__(self) -> str:
        where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
        return f"{where}: {self.reason}" + (f": {self.message}" if self.message else "")


def pod_problems(pod: Mapping[str, Any]) -> list[Problem]:
    """What is wrong with a pod now, from its status alone."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    problems = []
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            problems.append(Problem(name, "Unschedulable", c.get("message", "")))
    for s in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        container = s.get("name", "")
        waiting = (s.get("state") or {}).get("waiting") or {}
        terminated = (s.get("state") or {}).get("terminated") or {}
        last = (s.get("lastState") or {}).get("terminated") or {}
        for ended in (terminated, last):
            message = ended.get("message") or ""
            if "exec format error" in message:
                problems.append(Problem(name, "ExecFormatError", message.strip(), container))
                break
            if ended.get("reason") == "OOMKilled":
                problems.append(Problem(name, "OOMKilled", f"exit code {ended.get('exitCode')}", container))
                break
        reason = waiting.get("reason", "")
        if reason and reason not in ("ContainerCreating", "PodInitializing"):
            problems.append(Problem(name, reason, waiting.get("message", ""), container))
        elif s.get("restartCount", 0) >= 2 and last.get("exitCode") not in (0, None) and not terminated:
            # running again between crashes: still a crash loop (the waiting reason comes and goes)
            problems.append(Problem(name, "CrashLoopBackOff", f"{s['restartCount']} restarts, last exit code {last.get('exitCode')}",
                                    container))
        if terminated and terminated.get("exitCode") not in (0, None) and not any(p.container == container for p in problems):
            problems.append(Problem(name, terminated.get("reason") or "Error", f"exit code {terminated.get('exitCode')}"
                                    + (f": {terminated['message'].strip()}" if terminated.get("message") else ""), container))
    return problems


def hints_for(text: str) -> list[str]:
    return [hint for pattern, hint in HINTS if pattern.search(text)]


def pod_line(pod: Mapping[str, Any]) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    restarts = sum(s.get("restartCount", 0) for s in status.get("containerStatuses") or [])
    return (f"pod {meta.get('name')}: {status.get('phase', 'Pending')}, node {spec.get('nodeName') or '-'}, "
            f"{restarts} restart{'s' if restarts != 1 else ''}")


def container_lines(pod: Mapping[str, Any]) -> list[str]:
    lines = []
    status = pod.get("status") or {}
    for s in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        for label, state in (("state", s.get("state") or {}), ("last state", s.get("lastState") or {})):
            for key in ("waiting", "terminated"):
                detail = state.get(key)
                if not detail or (key == "waiting" and detail.get("reason") in ("ContainerCreating", "PodInitializing")):
                    continue
                if key == "terminated" and detail.get("exitCode") == 0 and label == "state":
                    continue
                parts = [detail.get("reason", "")]
                if key == "terminated":
                    parts.append(f"exit code {detail.get('exitCode')}")
                if detail.get("message"):
                    parts.append(detail["message"].strip()[:300])
                lines.append(f"  container {s.get('name')} {label}: {key} " + ", ".join(p for p in parts if p))
    return lines


def events_for(client: KubeClient, namespace: str, name: str) -> list[str]:
    """Events about one object, warnings first, repeats folded."""
    try:
        listing = client.list(EVENT.path(namespace), field_selector=f"involvedObject.name={name}")
    except KubeApiError as error:
        return [f"  (events of {name} unavailable: {error.message})"]
    events = sorted(listing["items"], key=lambda e: (e.get("type") != "Warning", e.get("lastTimestamp") or ""))
    lines = []
    for event in events[:MAX_EVENTS]:
        count = event.get("count") or 1
        lines.append(f"  event {event.get('type', '')} {event.get('reason', '')}"
                     + (f" (x{count})" if count > 1 else "") + f": {event.get('message', '')}")
    return lines


def tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    return log_tail(path, lines)


def failed_container_tail(client: KubeClient, namespace: str, pod: Mapping[str, Any], log_file: Path | None) -> str:
    """The last lines of a container that ended badly: from the streamed file, else from the API (previous instance)."""
    text = tail(log_file)
    if text:
        return text
    name = (pod.get("metadata") or {}).get("name", "")
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        crashed = ((s.get("lastState") or {}).get("terminated") or {}).get("exitCode") not in (None, 0)
        try:
            return client.log_text(POD.path(namespace, name, "log"), s.get("name", ""), previous=crashed,
                                   tail_lines=LOG_TAIL_LINES).rstrip()
        except KubeApiError:
            continue
    return ""


@dataclass(frozen=True)
class Diagnosis:
    message: str
    lines: tuple[str, ...]


def diagnose(client: KubeClient, namespace: str, objects: Iterable[Mapping[str, Any]], pods: list[Mapping[str, Any]],
             log_files: Mapping[str, Path], *, mpi_timeout: bool = False, primary_log: Path | None = None) -> Diagnosis:
    """Evidence for a failed or timed-out workload: object conditions, pod states, events, log tails, hints."""
    lines: list[str] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        for c in (obj.get("status") or {}).get("conditions") or []:
            failed = c.get("type") == "Failed" and c.get("status") == "True"
            unavailable = c.get("type") in ("Progressing", "Available") and c.get("status") == "False"
            if failed or unavailable:
                lines.append(f"{obj.get('kind')}/{meta.get('name')} {c.get('type')}={c.get('status')}"
                             + (f" ({c.get('reason')})" if c.get("reason") else "") + (f": {c.get('message')}" if c.get("message") else ""))
        lines += events_for(client, namespace, meta.get("name", "")) if meta.get("name") else []
    problems: list[Problem] = []
    crashed_tails: list[tuple[str, str]] = []
    troubled = [p for p in pods if pod_problems(p) or (p.get("status") or {}).get("phase") != "Succeeded"]
    for pod in (troubled or pods)[:MAX_PODS]:
        name = (pod.get("metadata") or {}).get("name", "")
        found = pod_problems(pod)
        problems += found
        lines.append(pod_line(pod))
        lines += container_lines(pod)
        if found or (pod.get("status") or {}).get("phase") != "Running":
            lines += events_for(client, namespace, name)
        crashed = any(p.reason not in ("Unschedulable", "ImagePullBackOff", "ErrImagePull", "InvalidImageName") for p in found)
        if crashed:
            crashed_tails.append((name, failed_container_tail(client, namespace, pod, log_files.get(name))))
    # pods that crashed alike are one cause: "last lines of decode-0 (and 7 more pods alike: ...)"
    folded = fold_named_tails(crashed_tails)
    lines += [folded_text(fold_tagged_lines(text), names, noun="pod") for text, names in folded]
    shown = {name for _, names in folded for name in names}
    if len(pods) > MAX_PODS:
        lines.append(f"({len(pods) - MAX_PODS} more pods not shown)")
    if not pods:
        lines.append("no pods were created (see the events above: admission, quota or a missing controller?)")
    if primary_log is not None and not any(name.startswith(primary_log.stem) for name in shown):
        text = tail(primary_log)
        if text:
            lines.append(f"last lines of {primary_log.name}:\n{fold_tagged_lines(text)}")
    text = "\n".join(lines)
    hints = hints_for(text)
    if mpi_timeout and not (primary_log and RANK_OUTPUT.search(_read(primary_log))):
        hints.append(MPI_HANG_HINT)
    lines += [f"hint: {h}" for h in dict.fromkeys(hints)]
    message = str(_most_telling(problems)) if problems else ""
    return Diagnosis(message, tuple(lines))


def _most_telling(problems: list[Problem]) -> Problem:
    order = {reason: i for i, reason in enumerate(("ExecFormatError", "OOMKilled", "Unschedulable", "ImagePullBackOff",
                                                   "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                                                   "CrashLoopBackOff"))}
    return min(problems, key=lambda p: order.get(p.reason, len(order)))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""

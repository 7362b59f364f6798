"""A triage fleet on the real local control plane (tests/control_plane.py): extra kwok nodes shaped as
runner/cluster/control.py makes them, labelled for one test only, and launchers that print the real nccl-tests log.

    with KwokFleet(control_plane.kubeconfig) as fleet:
        fleet.add(fleet.names(16))                       # Ready p5.48xlarge nodes, selected by fleet.selector only
        run_fn = launchers_print(tmp_path, {fleet.name(11): 0.25})
        run_triage(..., cli={"selector": fleet.selector}, run_fn=run_fn)

What the launchers print: the tool-truth case tests/truth/nccl-tests/v2.19.6/efa-16rank/launcher.log (its README
has the provenance). A set with a node marked degraded with a factor (0.25: a quarter of the link's rate) prints
it with the figures scaled (`degrade`): in every result row the two `time` columns divided by the factor and the
four algbw/busbw columns multiplied by it, each number keeping the field's width and decimals, and the
`# Avg bus bandwidth` line scaled the same way; every other line is the fixture's own.
A ring all-reduce runs at the pace of its slowest link, so a set's figures are its slowest node's.

NotReady: kwok (--manage-all-nodes, stock node-initialize stage) reports Ready for every node, with or without the
kwok.x-k8s.io/node annotation, within a second of any other status. A node is held NotReady here the way a node
whose kubelet cannot report is: a ValidatingAdmissionPolicy of the real API server refuses every status update of
that node that would say Ready=True (kwok's included), so the Ready=False written once stays.
"""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

from runner.cluster.control import node_manifest
from runner.flows import rehearse
from runner.flows.run import run_scenario
from tests.control_plane import delete_namespace  # noqa: F401  (the tests and the bench import it from here)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "truth" / "nccl-tests" / "v2.19.6" / "efa-16rank" / "launcher.log"
LABEL = "triage-test.scenario-runner.dev/fleet"
HOLD = "triage-test.scenario-runner.dev/hold-not-ready"


# --- what a launcher prints -------------------------------------------------------------------------------

PREFIX = re.compile(r"^(\[\d+,\d+\]<std(?:out|err)>:)?")
ROW = re.compile(r"^\s+\d+\s+\d+\s+\S+\s+\S+\s+-?\d+(\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+|N/A)){2}\s*$")
AVG = re.compile(r"^(# Avg bus bandwidth\s*: )([\d.]+)(.*)$")
TIME_FIELDS, RATE_FIELDS = (5, 9), (6, 7, 10, 11)


def _scaled(token: str, factor: float) -> str:
    decimals = len(token.split(".", 1)[1]) if "." in token else 0
    return f"{float(token) * factor:.{decimals}f}"


def _replace_fields(line: str, changes: Mapping[int, float]) -> str:
    """Each changed number right-aligned in its field (the spaces before it plus itself), as printf's %7.1f is."""
    out, last = [], 0
    for index, match in enumerate(re.finditer(r"\S+", line)):
        width = match.end() - last
        token = _scaled(match.group(), changes[index]) if index in changes else None
        out.append(line[last:match.end()] if token is None else (token.rjust(width) if len(token) < width else " " + token))
        last = match.end()
    return "".join(out) + line[last:]


def degrade(text: str, factor: float) -> str:
    """The nccl-tests log with its bandwidth figures scaled by `factor` (and times by 1 / factor)."""
    changes = {**{i: 1 / factor for i in TIME_FIELDS}, **{i: factor for i in RATE_FIELDS}}
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        prefix = PREFIX.match(body).group(0)
        rest = body[len(prefix):]
        if ROW.match(rest):
            rest = _replace_fields(rest, changes)
        elif (avg := AVG.match(rest)):
            rest = avg.group(1) + _scaled(avg.group(2), factor) + avg.group(3)
        lines.append(prefix + rest + line[len(body):])
    return "".join(lines)


@dataclass(frozen=True)
class SetLog:
    """rehearse.Source for one set: its launcher prints `file`; nothing else prints (workers run sshd)."""
    file: Path

    def workload_file(self, workload) -> Path:
        return self.file

    def pod_file(self, workload, index: int) -> None:
        return None

    def role_file(self, role: str) -> None:
        return None

    def exit_code(self, file: Path) -> int:
        return 0


def launchers_print(folder: Path, degraded: Mapping[str, float]):
    """A run_fn for run_triage: run_scenario with the set's launcher printing the fixture, degraded by the slowest
    degraded node of the set (scenario.platform.nodes: the nodes triage pinned it to)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = FIXTURE.read_text()
    files = {1.0: folder / "healthy.log"}
    files[1.0].write_text(text)
    for factor in set(degraded.values()):
        files[factor] = folder / f"degraded-{factor}.log"
        files[factor].write_text(degrade(text, factor))

    def run(scenario, **kwargs):
        factor = min([degraded[n] for n in scenario.platform.nodes if n in degraded], default=1.0)
        hook = partial(rehearse.decorate, scenario=scenario, case=SetLog(files[factor]), feed=_no_feed)
        return run_scenario(scenario, plan_hook=hook, **kwargs)

    return run


def _no_feed(namespace: str, pod: str, container: str, file: Path) -> None:
    raise AssertionError(f"only LeaderWorkerSets feed pods by name; {namespace}/{pod} is not one")


# --- the nodes ----------------------------------------------------------------------------------------------

@dataclass
class KwokFleet:
    """Nodes added for one test, all labelled LABEL=<tag>; deleted (with the NotReady policy) on exit."""
    kubeconfig: Path
    tag: str = field(default_factory=lambda: "f" + uuid.uuid4().hex[:6])
    added: list[str] = field(default_factory=list)

    def __enter__(self) -> "KwokFleet":
        from kubernetes import client, config  # the kubernetes client loads only for the tests that ask for a cluster

        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.admission = client.AdmissionregistrationV1Api(self.api)
        self.policy = ""
        return self

    def __exit__(self, *exc) -> None:
        try:
            for name in self.added:
                self._ignore_missing(self.core.delete_node, name)
            if self.policy:
                self._ignore_missing(self.admission.delete_validating_admission_policy_binding, self.policy)
                self._ignore_missing(self.admission.delete_validating_admission_policy, self.policy)
        finally:
            self.api.close()

    @property
    def selector(self) -> str:
        return f"{LABEL}={self.tag}"

    def name(self, index: int, prefix: str = "gpu-") -> str:
        return f"{self.tag}-{prefix}{index}"

    def names(self, count: int, prefix: str = "gpu-") -> list[str]:
        return [self.name(i, prefix) for i in range(count)]

    def add(self, names: Sequence[str], instance_type: str = "p5.48xlarge", *, cordoned: bool = False,
            not_ready: bool = False, timeout_s: float = 60.0) -> list[str]:
        """Create the nodes and wait until the cluster sees them as asked (Ready, untainted, GPUs allocatable; or
        cordoned; or NotReady)."""
        if not_ready:
            self._hold_not_ready()
        for name in names:
            manifest = node_manifest(name, instance_type)
            manifest["metadata"]["labels"][LABEL] = self.tag
            if not_ready:
                manifest["metadata"]["labels"][HOLD] = self.tag
            if cordoned:
                manifest["spec"]["unschedulable"] = True
            self.core.create_node(manifest)
            self.added.append(name)
            status = dict(manifest["status"])
            if not_ready:
                status["conditions"] = [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                         "message": "held NotReady by tests/triage/kwok_fleet.py"}]
            self.core.patch_node_status(name, {"status": status})
        self._wait(names, "NotReady" if not_ready else "Ready", timeout_s)
        return list(names)

    def unschedulable(self) -> set[str]:
        return {n.metadata.name for n in self.core.list_node(label_selector=self.selector).items if n.spec.unschedulable}

    def _hold_not_ready(self) -> None:
        """The policy that keeps every node labelled HOLD=<tag> from reporting Ready (see the module docstring)."""
        if self.policy:
            return
        self.policy = f"triage-test-hold-{self.tag}"
        rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["nodes/status"]}
        self.admission.create_validating_admission_policy({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": self.policy},
            "spec": {"failurePolicy": "Fail",
                     "matchConstraints": {"resourceRules": [rule], "objectSelector": {"matchLabels": {HOLD: self.tag}}},
                     "validations": [{"expression": "!has(object.status.conditions) || !object.status.conditions.exists("
                                                    "c, c.type == 'Ready' && c.status == 'True')",
                                      "message": "held NotReady by tests/triage/kwok_fleet.py"}]}})
        self.admission.create_validating_admission_policy_binding({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": self.policy}, "spec": {"policyName": self.policy, "validationActions": ["Deny"]}})
        time.sleep(2.0)  # the API server loads policies by informer: give it time before the first node it holds

    def _wait(self, names: Sequence[str], want: str, timeout_s: float) -> None:
        deadline, seen = time.monotonic() + timeout_s, {}
        while True:
            seen = {n.metadata.name: _state(n) for n in self.core.list_node(label_selector=self.selector).items
                    if n.metadata.name in names}
            if len(seen) == len(names) and all(s == want for s in seen.values()):
                if want == "NotReady":  # still NotReady a moment later: kwok's Ready was refused, not just late
                    time.sleep(2.0)
                    if all(_state(self.core.read_node(n)) == want for n in names):
                        return
                else:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"nodes not {want} after {timeout_s:.0f}s: {seen}")
            time.sleep(0.2)

    @staticmethod
    def _ignore_missing(delete, name: str) -> None:
        from kubernetes.client import ApiException

        try:
            delete(name)
        except ApiException as error:
            if error.status != 404:
                raise


def _state(node) -> str:
    ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
    if ready is None or ready.status != "True":
        return "NotReady"
    tainted = any(t.key.startswith("node.kubernetes.io/") and t.key != "node.kubernetes.io/unschedulable"
                  for t in node.spec.taints or [])
    gpus = (node.status.allocatable or {}).get("nvidia.com/gpu")
    return "Ready" if gpus and not tainted else "starting"

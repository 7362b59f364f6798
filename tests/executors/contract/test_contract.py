"""One scheduler, two executors: each case runs as real processes and on the real local control plane, with the same result.

A case is written once, as workload specs. The local executor runs them as processes of tool.py; the Kubernetes
executor applies the rendered Job/Deployment objects to the local control plane (tests/control_plane.py: a real
kube-apiserver, controllers and scheduler; kwok plays the kubelet), and a plan hook annotates each workload's pod
template so that its pods print the same lines (through the real pods/log path), run as long and end as the process
does (runner.cluster: the sim.scenario-runner.io annotations). Both runs must end with the same workload states, the
same verdict, and (for cases whose timing is deterministic) the same order of ready/terminal events; each case also
states what that result must be, so two equal wrong answers fail.

What kwok cannot do: run a readiness probe. A port or http readiness is the pod's Ready condition on Kubernetes, which
kwok sets from the `ready` annotation (a listening tool is Ready, `never_ready` is not); that the probe asks the right
port and path is checked on the applied manifest instead.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml

from runner.execute.progress import QuietProgress
from runner.flows import rehearse
from runner.flows.check import validate_scenario
from runner.flows.run import StopFlag, run_scenario
from runner.scenario.model import thaw
from runner.scenario.resolve import Library
from tests.control_plane import delete_namespace

TOOL = Path(__file__).with_name("tool.py")
READY = rehearse.ANNOTATIONS + "ready"
RUN_FOR = rehearse.ANNOTATIONS + "run-for"
ENDINGS = ("ready", "done", "failed", "timeout", "skipped", "interrupted")


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str = "job"                 # job | service
    after: tuple[str, ...] = ()
    ready: str = ""                   # "", log, port or http
    ready_timeout: str = ""
    lines: tuple[str, ...] = ()
    run_for: float | None = 0.3       # seconds (processes and kwok's pods alike); None: until stopped
    exit: int = 0
    never_ready: bool = False         # readiness never holds (no line, no listener, probe never passes)
    repeat: int = 1                   # a job run this many times in a row (attempts <name>-r1 .. -rN)

    @property
    def names(self) -> tuple[str, ...]:
        """What it runs as: its attempts' names when repeated."""
        return tuple(f"{self.name}-r{k}" for k in range(1, self.repeat + 1)) if self.repeat > 1 else (self.name,)


@dataclass(frozen=True)
class Case:
    name: str
    specs: tuple[Spec, ...]
    states: dict[str, str]
    verdict: str
    ordered: bool = True              # the order of ready/terminal events is part of the contract
    stop_when_ready: str = ""         # interrupt the run once this workload is ready
    timeouts: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("ordering", (
        Spec("prepare", lines=("prepared",), run_for=0.3),
        Spec("server", kind="service", after=("prepare",), ready="log", lines=("listening on 7000",), run_for=None),
        Spec("client", after=("server",), lines=("client done",), run_for=0.2),
    ), {"prepare": "done", "server": "done", "client": "done"}, "PASS"),
    Case("ready-by-port", (
        Spec("server", kind="service", ready="port", run_for=None),
        Spec("client", after=("server",), lines=("connected",)),
    ), {"server": "done", "client": "done"}, "PASS"),
    Case("ready-by-http", (
        Spec("server", kind="service", ready="http", run_for=None),
        Spec("client", after=("server",), lines=("got 200",)),
    ), {"server": "done", "client": "done"}, "PASS"),
    Case("services-only", (
        Spec("store", kind="service", ready="log", lines=("store up",), run_for=None),
        Spec("router", kind="service", after=("store",), ready="log", lines=("router up",), run_for=None),
    ), {"store": "done", "router": "done"}, "PASS"),
    Case("ready-timeout", (
        Spec("server", kind="service", ready="log", ready_timeout="1s", lines=("still loading",), run_for=None,
             never_ready=True),
        Spec("client", after=("server",), lines=("never",)),
    ), {"server": "timeout", "client": "skipped"}, "TIMEOUT"),
    Case("failing-dependency", (
        Spec("first", lines=("broken input",), run_for=0.2, exit=3),
        Spec("second", after=("first",), lines=("never",)),
    ), {"first": "failed", "second": "skipped"}, "ERROR"),
    # On Kubernetes the server is ready once its Deployment is Available (a controller round trip after the pod runs),
    # so it must outlive that before it exits, and the client outlive the server.
    Case("service-exits-while-needed", (
        Spec("server", kind="service", lines=("serving",), run_for=2.5),
        Spec("client", after=("server",), lines=("client done",), run_for=5.0),
    ), {"server": "failed", "client": "done"}, "ERROR", ordered=False),
    Case("repeated-job", (
        Spec("server", kind="service", ready="log", lines=("listening on 7000",), run_for=None),
        Spec("client", after=("server",), lines=("client done",), run_for=0.2, repeat=3),
        Spec("report", after=("client",), lines=("reported",), run_for=0.1),
    ), {"server": "done", "client": "done", "report": "done"}, "PASS"),
    Case("interrupted", (
        Spec("server", kind="service", ready="log", lines=("up",), run_for=None),
        Spec("client", after=("server",), lines=("never",), run_for=None),
    ), {"server": "interrupted", "client": "skipped"}, "INTERRUPTED", stop_when_ready="server"),
]


# --- writing a case as a scenario ----------------------------------------------------------------------

def scenario_text(case: Case) -> str:
    workloads = [_workload(spec) for spec in case.specs]
    checks = [{"log": s.name, "contains": s.lines[0]} for s in case.specs if s.lines]  # every workload is judged
    document = {
        "apiVersion": "scenarios/v1", "kind": "Scenario",
        "metadata": {"name": f"contract-{case.name}", "layer": "fabric", "description": f"contract case {case.name}"},
        "executors": ["local", "kubernetes"],
        "platform": {"instanceType": "p5.48xlarge"},
        "images": {"tool": "registry.example/contract/tool:v1"},
        "workloads": workloads,
        "checks": checks,
        "timeouts": {"run": "60s", **case.timeouts},
    }
    return yaml.safe_dump(document, sort_keys=False)


def _workload(spec: Spec) -> dict:
    command = ["python", str(TOOL)]
    for line in spec.lines:
        if not (spec.never_ready and spec.ready == "log" and line == _ready_line(spec)):
            command += ["--line", line]
    workload: dict = {"name": spec.name, "kind": spec.kind, "image": "tool"}
    if spec.ready in ("port", "http"):
        workload["ports"] = {"svc": 8080}
        if not spec.never_ready:
            command += [f"--{spec.ready}", "{{ ports.svc }}"]
    command += ["--run-for", "forever" if spec.run_for is None else str(spec.run_for), "--exit", str(spec.exit)]
    workload["command"] = command
    if spec.after:
        workload["after"] = list(spec.after)
    if spec.repeat > 1:
        workload["repeat"] = spec.repeat
    ready = {"log": {"log": _ready_line(spec)}, "port": {"port": "svc"}, "http": {"http": {"port": "svc", "path": "/health"}}}
    if spec.ready:
        workload["ready"] = dict(ready[spec.ready])
        if spec.ready_timeout:
            workload["ready"]["timeout"] = spec.ready_timeout
    return workload


def _ready_line(spec: Spec) -> str:
    return "up$" if spec.lines == ("up",) else (spec.lines[-1] if spec.lines else "")


def printed(spec: Spec) -> str:
    """What the workload prints: its lines, less the ready line when readiness by log never holds."""
    skipped = _ready_line(spec) if spec.never_ready and spec.ready == "log" else None
    return "".join(f"{line}\n" for line in spec.lines if line != skipped)


# --- the same case on the control plane: pod annotations (runner.cluster) ----------------------------------

def annotations(spec: Spec, log_file: Path) -> dict[str, str]:
    """How kwok plays the workload's pods: what they print, how long they run and how they end."""
    out = {}
    if printed(spec):
        log_file.write_text(printed(spec))
        out[rehearse.LOG_FILE] = str(log_file)
    if spec.run_for is None:
        out[rehearse.OUTCOME] = "Running"
    elif spec.kind == "service":  # restartPolicy Always: an exited container is restarted, as a kubelet does
        out.update({rehearse.OUTCOME: "CrashLoopBackOff", rehearse.EXIT_CODE: str(spec.exit)})
    elif spec.exit:
        out.update({rehearse.OUTCOME: "Failed", rehearse.EXIT_CODE: str(spec.exit)})
    else:
        out[rehearse.OUTCOME] = "Succeeded"
    if spec.run_for is not None:
        out[RUN_FOR] = f"{round(spec.run_for * 1000)}ms"
    if spec.never_ready and spec.ready in ("port", "http"):
        out[READY] = "false"
    return out


def pods_as(case: Case, log_dir: Path):
    """The plan hook: every workload object's pod template annotated from its spec (a repeat's attempts alike)."""
    specs = {name: spec for spec in case.specs for name in spec.names}

    def hook(plan):
        objects = []
        for obj in plan.objects:
            body = thaw(obj.body)
            template = (body.get("spec") or {}).get("template")
            if obj.workload in specs and isinstance(template, dict):
                meta = template.setdefault("metadata", {})
                extra = annotations(specs[obj.workload], log_dir / f"{obj.workload}.log")
                meta["annotations"] = {**(meta.get("annotations") or {}), **extra}
            objects.append(replace(obj, body=body))
        return replace(plan, objects=tuple(objects))
    return hook


# --- running it ---------------------------------------------------------------------------------------

class Recorder(QuietProgress):
    def __init__(self, names: set[str], stop: StopFlag, stop_when_ready: str):
        self.names, self.stop, self.stop_when_ready = names, stop, stop_when_ready
        self.events: list[tuple[str, str]] = []

    def workload(self, name: str, state: str, detail: str = "") -> None:
        if name in self.names and state in ENDINGS:
            self.events.append((name, str(state)))
        if state == "ready" and name == self.stop_when_ready:
            self.stop.signal_name = "SIGINT"
            self.stop.event.set()

    def tick(self, detail: str = "") -> None:
        pass


@dataclass(frozen=True)
class Ran:
    states: dict[str, str]
    events: list[tuple[str, str]]
    verdict: str
    run_id: str
    record: Path
    messages: dict[str, str]


def run_case(case: Case, executor: str, library: Path, results: Path, options: dict, plan_hook=None) -> Ran:
    scenario = validate_scenario(f"contract-{case.name}", Library(library))
    stop = StopFlag()
    recorder = Recorder({n for s in case.specs for n in s.names}, stop, case.stop_when_ready)
    result = run_scenario(scenario, executor_name=executor, results_dir=results, progress=recorder, options=options,
                          stop=stop, plan_hook=plan_hook)
    states = {name: str(o.state) for name, o in result.output.outcomes.items()}
    messages = {name: o.message for name, o in result.output.outcomes.items()}
    return Ran(states, recorder.events, result.verdict.status, result.run_id, result.record, messages)


@pytest.fixture(scope="module")
def namespace(control_plane):
    """The cases' own namespace on the shared control plane, deleted at the end."""
    name = "t-" + uuid.uuid4().hex[:6]
    yield name
    delete_namespace(control_plane.kubeconfig, name)


def _probes(record: Path) -> list[dict]:
    """The readiness probes of the Deployments the run applied."""
    documents = [d for f in sorted((record / "manifests").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    return [c.get("readinessProbe") for d in documents if d.get("kind") == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_case_same_result_on_both_executors(case, control_plane, namespace, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    library = tmp_path / "scenarios"
    library.mkdir()
    (library / f"contract-{case.name}.yaml").write_text(scenario_text(case))
    (tmp_path / "printed").mkdir()

    local = run_case(case, "local", library, tmp_path / "local", {})
    remote = run_case(case, "kubernetes", library, tmp_path / "kube",
                      {"kubeconfig": str(control_plane.kubeconfig), "namespace": namespace, "fail_fast_s": 2.0,
                       "keep": False, "dry_run": None}, plan_hook=pods_as(case, tmp_path / "printed"))

    assert local.states == case.states, f"local: {local}"
    assert remote.states == case.states, f"kubernetes: {remote}"
    assert local.verdict == remote.verdict == case.verdict
    if case.ordered:
        assert local.events == remote.events, f"local {local.events}\nkubernetes {remote.events}"
    for spec in (s for s in case.specs if s.repeat > 1):  # attempts ran one after another, each to the end
        assert [n for n, state in local.events if n in spec.names] == list(spec.names)
        assert [n for n, state in remote.events if n in spec.names] == list(spec.names)
    for spec in (s for s in case.specs if s.ready in ("port", "http")):  # kwok runs no probe: the manifest asks it
        wanted = {"port": {"tcpSocket": {"port": 8080}}, "http": {"httpGet": {"path": "/health", "port": 8080}}}[spec.ready]
        assert [{k: v for k, v in p.items() if k in wanted} for p in _probes(remote.record)] == [wanted]
    for spec in (s for s in case.specs if s.kind == "service" and s.run_for is not None):  # restarted, not replaced
        assert f"exited with code {spec.exit}" in remote.messages[spec.name], remote.messages
    for spec in (s for s in case.specs if s.lines and not s.never_ready and case.states[s.name] != "skipped"):
        logs = "".join(f.read_text() for f in (remote.record / "logs" / spec.names[-1]).glob("*.log"))
        assert spec.lines[0] in logs, f"{spec.name}: {logs!r}"  # printed through pods/log into the record
    assert rehearse.labelled_leftovers(control_plane, remote.run_id) == []

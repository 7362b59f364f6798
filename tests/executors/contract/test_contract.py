"""One scheduler, two executors: each case runs as real processes and against the fake API server, with the same result.

A case is written once, as workload specs. The local executor runs them as processes of tool.py;
the Kubernetes executor applies the rendered Job/Deployment objects to tests/fakekube, whose pods
follow a Behavior with the same lines, durations and exit codes. Both runs must end with the same
workload states, the same verdict, and (for cases whose timing is deterministic) the same order of
ready/terminal events; each case also states what that result must be, so two equal wrong answers fail.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from runner.execute.progress import QuietProgress
from runner.flows.check import validate_scenario
from runner.flows.run import StopFlag, run_scenario
from runner.render.labels import LABEL_PREFIX, dns_name
from runner.scenario.resolve import Library
from tests.fakekube import Behavior, FakeKube, Match, node

TOOL = Path(__file__).with_name("tool.py")
TIME_SCALE = 0.01  # the fake's simulated second, in real seconds
ENDINGS = ("ready", "done", "failed", "timeout", "skipped", "interrupted")


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str = "job"                 # job | service
    after: tuple[str, ...] = ()
    ready: str = ""                   # "", log, port or http
    ready_timeout: str = ""
    lines: tuple[str, ...] = ()
    run_for: float | None = 0.3       # real seconds; None: until stopped
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
    Case("service-exits-while-needed", (
        Spec("server", kind="service", lines=("serving",), run_for=0.2),
        Spec("client", after=("server",), lines=("client done",), run_for=1.0),
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


def behavior(spec: Spec) -> Behavior:
    text = "".join(f"{line}\n" for line in spec.lines if not (spec.never_ready and spec.ready == "log"))
    if spec.never_ready and spec.ready == "log":
        text = "".join(f"{line}\n" for line in spec.lines if line != _ready_line(spec))
    run_for = None if spec.run_for is None else spec.run_for / TIME_SCALE
    return Behavior(run_for=run_for, exit_code=spec.exit, log=text, log_every=0.0,
                    never_ready=spec.never_ready and spec.ready in ("port", "http"))


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


def run_case(case: Case, executor: str, library: Path, results: Path, options: dict):
    scenario = validate_scenario(f"contract-{case.name}", Library(library))
    stop = StopFlag()
    recorder = Recorder({n for s in case.specs for n in s.names}, stop, case.stop_when_ready)
    result = run_scenario(scenario, executor_name=executor, results_dir=results, progress=recorder, options=options,
                          stop=stop)
    states = {name: str(o.state) for name, o in result.output.outcomes.items()}
    return states, recorder.events, result.verdict.status


@pytest.fixture(scope="module")
def fake_cluster(tmp_path_factory):
    kube = FakeKube(nodes=[node("cpu-0", "m7i.4xlarge"), node("cpu-1", "m7i.4xlarge")], time_scale=TIME_SCALE)
    with kube:
        yield kube, kube.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_case_same_result_on_both_executors(case, fake_cluster, tmp_path, monkeypatch):
    kube, kubeconfig = fake_cluster
    monkeypatch.delenv("KUBECONFIG", raising=False)
    library = tmp_path / "scenarios"
    library.mkdir()
    (library / f"contract-{case.name}.yaml").write_text(scenario_text(case))
    kube.scripts.clear()
    for spec in case.specs:
        for name in spec.names:
            kube.script(Match(labels={f"{LABEL_PREFIX}/workload": dns_name(name)}), behavior(spec))

    local = run_case(case, "local", library, tmp_path / "local", {})
    remote = run_case(case, "kubernetes", library, tmp_path / "kube",
                      {"kubeconfig": str(kubeconfig), "fail_fast_s": 2.0, "keep": False, "dry_run": None})

    assert local[0] == case.states, f"local: {local}"
    assert remote[0] == case.states, f"kubernetes: {remote}"
    assert local[2] == remote[2] == case.verdict
    if case.ordered:
        assert local[1] == remote[1], f"local {local[1]}\nkubernetes {remote[1]}"
    for spec in (s for s in case.specs if s.repeat > 1):  # attempts ran one after another, each to the end
        assert [n for n, state in local[1] if n in spec.names] == list(spec.names)
    assert kube.objects(f"{LABEL_PREFIX}/run-id") == []

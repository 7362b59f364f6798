"""Helpers of the Kubernetes executor tests: a FakeKube cluster, scenarios, runs through run_scenario and the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

from runner.execute.progress import QuietProgress
from runner.flows.check import validate_scenario
from runner.flows.run import StopFlag, run_scenario
from runner.scenario.resolve import Library
from tests.fakekube import GPU_TAINT, FakeKube, node

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "k8s"
TRUTH = REPO / "tests" / "truth"  # the tool-truth corpus: what the pinned tools print (tests/truth/README.md)
SCENARIO = [sys.executable, "-m", "runner"]  # the `scenario` command, runner imported as the tests import it
REGISTRY = "registry=registry.example/efa-validation"
RUN_LABEL = "scenario-runner.dev/run-id"


@dataclass
class Recorder(QuietProgress):
    """A progress sink that keeps (workload, state, detail) in order, and tick texts."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    ticks: list[str] = field(default_factory=list)

    def workload(self, name: str, state: str, detail: str = "") -> None:
        self.events.append((name, state, detail))

    def tick(self, detail: str = "") -> None:
        if detail:
            self.ticks.append(detail)

    def index(self, name: str, state: str) -> int:
        return next(i for i, e in enumerate(self.events) if e[0] == name and e[1] == state)


class Cluster:
    """A started FakeKube, its kubeconfig, and helpers to run scenarios against it."""

    def __init__(self, kube: FakeKube, root: Path):
        self.kube = kube
        self.root = root
        self.kubeconfig = kube.write_kubeconfig(root / "kubeconfig")
        self.results = root / "results"
        self.library_dir = root / "scenarios"
        self.library_dir.mkdir(exist_ok=True)

    def options(self, **extra) -> dict:
        return {"kubeconfig": str(self.kubeconfig), "context": None, "namespace": None, "keep": False, "dry_run": None,
                "fail_fast_s": 2.0, **extra}

    def write(self, name: str, text: str) -> Path:
        path = self.library_dir / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def scenario(self, name: str, *overrides: str):
        """A scenario of this test's own library, else of the repository's (with a registry set)."""
        own = Library(self.library_dir)
        if name in own.paths:
            return validate_scenario(name, own, list(overrides))
        return validate_scenario(name, Library(REPO / "scenarios"), [REGISTRY, *overrides])

    def run(self, name: str, *overrides: str, progress=None, stop: StopFlag | None = None, timeout_s: float | None = None,
            **options):
        scenario = self.scenario(name, *overrides)
        return run_scenario(scenario, executor_name="kubernetes", results_dir=self.results, progress=progress or Recorder(),
                            options=self.options(**options), stop=stop, timeout_s=timeout_s)

    def left(self, run_id: str) -> list[str]:
        """Objects of the run still in the fake's store (any kind)."""
        return [f"{o['kind']}/{o['metadata']['name']}" for o in self.kube.objects(f"{RUN_LABEL}={run_id}")]

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_cli(self.root, *args)

    def env(self) -> dict:
        return cli_env(self.root)

    @staticmethod
    def verdict(record: Path) -> dict:
        return json.loads((record / "verdict.json").read_text())

    @staticmethod
    def run_json(record: Path) -> dict:
        return json.loads((record / "run.json").read_text())


def cli_env(root: Path) -> dict:
    """The environment of a `scenario` subprocess: no cluster configured unless an option names one."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env.update({"HOME": str(root / "home"), "CI": "true", "SCENARIO_PATH": str(REPO / "scenarios")})
    return env


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SCENARIO, *args], capture_output=True, text=True, env=cli_env(root), timeout=120, cwd=str(REPO))


def log_of(name: str) -> dict:
    """Behavior arguments that print a fixture log all at once when the container starts.

    tests/fakekube's follow handler reads the emitted lines twice when a follow starts
    (handler.py `_logs`: `lines = run.emitted(...)` then `sent = len(run.emitted(...))`), so lines
    emitted between the two reads are never sent; logs whose every line matters are emitted at once.
    """
    return {"log": TRUTH / name if "/" in name else FIXTURES / name, "log_every": 0.0}


def gpu_nodes(count: int = 2, **kwargs) -> list[dict]:
    return [node(f"gpu-{i}", "p5.48xlarge", taints=[GPU_TAINT], **kwargs) for i in range(count)]


def standard_nodes(**kwargs) -> list[dict]:
    return gpu_nodes(2, **kwargs) + [node("system-0", "m7g.xlarge"), node("cpu-0", "m7i.4xlarge")]


def make_cluster(tmp_path: Path, **fake_kwargs) -> tuple[FakeKube, Cluster]:
    kube = FakeKube(**fake_kwargs)
    kube.start()
    return kube, Cluster(kube, tmp_path)


def in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run():
        try:
            box["result"] = target(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box

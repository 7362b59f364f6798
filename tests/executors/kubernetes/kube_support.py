"""Helpers of the Kubernetes executor tests: a progress recorder, the `scenario` command in a subprocess, a thread."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from runner.execute.progress import QuietProgress

REPO = Path(__file__).resolve().parents[3]
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


def cli_env(root: Path) -> dict:
    """The environment of a `scenario` subprocess: no cluster configured unless an option names one."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env.update({"HOME": str(root / "home"), "CI": "true", "SCENARIO_PATH": str(REPO / "scenarios")})
    return env


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SCENARIO, *args], capture_output=True, text=True, env=cli_env(root), timeout=120, cwd=str(REPO))


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

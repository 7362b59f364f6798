"""The Kubernetes executor: apply rendered objects with the official client, wait, stream logs, diagnose, clean up."""
from __future__ import annotations

from pathlib import Path

from ..errors import ExecutionError
from ..execute import RunContext, RunOutput
from ..model import Scenario
from ..render import render_kubernetes, write_objects
from . import executor


@executor("kubernetes")
class KubernetesExecutor:
    name = "kubernetes"

    def plan(self, scenario: Scenario, out_dir: Path | None = None):
        objects = render_kubernetes(scenario)
        if out_dir is None:
            return {"objects": [o.body for o in objects]}
        return {"files": write_objects(objects, out_dir)}

    def run(self, context: RunContext) -> RunOutput:
        raise ExecutionError("the kubernetes executor cannot run scenarios yet; use --dry-run=client")

"""What a local workload runs: its command's variables, and its program found on this machine's PATH (or the
package to install when it is not there). Shared by the plan (runner.execute.local.executor) and the run
(runner.execute.local.session)."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping

from runner.scenario.model import Scenario, Workload
from runner.scenario.templating import command_variables

SHELL = "/bin/bash"  # `shell: true` runs `bash -c COMMAND`, as the Kubernetes templates do (templates/kubernetes/_pod.yaml.j2)

# Where a missing program comes from, so the error can say what to install.
PROVIDERS = {
    "transfer_engine_bench": "the PyPI package mooncake-transfer-engine-non-cuda (`make setup` installs it)",
    "mooncake_http_metadata_server": "the PyPI package mooncake-transfer-engine-non-cuda (`make setup` installs it)",
    "mooncake_master": "the PyPI package mooncake-transfer-engine-non-cuda (`make setup` installs it)",
    "mpirun": "Debian's openmpi-bin (apt-get install openmpi-bin)",
    "all_reduce_perf": "nccl-tests (build github.com/NVIDIA/nccl-tests with `make MPI=1`, or use the nccl-tests image)",
    "alltoall_perf": "nccl-tests (build github.com/NVIDIA/nccl-tests with `make MPI=1`, or use the nccl-tests image)",
    "torchrun": "torch (`pip install '.[probes]'`, or torch==2.13.0 on CPU machines)",
}


def tool_path() -> str:
    """PATH with this interpreter's bin directory first, so tools installed in the venv are found without activating it."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def resolve_program(argv0: str, path: str) -> str | None:
    if argv0 in ("python", "python3"):
        return sys.executable
    if os.sep in argv0:
        return argv0 if os.access(argv0, os.X_OK) else None
    return shutil.which(argv0, path=path)


def missing_program_message(argv0: str, workload: str) -> str:
    provider = PROVIDERS.get(Path(argv0).name)
    where = f"; it comes from {provider}" if provider else "; install it or put it on PATH"
    return f"workload {workload}: program {argv0!r} not found on PATH{where}"


def argv0_of(command: Any) -> str:
    if isinstance(command, str):
        return shlex.split(command)[0] if command.strip() else ""
    return command[0] if command else ""


def command_variables_for(scenario: Scenario, workload: Workload, ports: dict, ready: dict, hosts: Mapping[str, str] | None = None) -> dict:
    """The variables of a workload's command on this machine (hosts default to loopback)."""
    hosts = hosts or {w.name: "127.0.0.1" for w in scenario.workloads}
    return command_variables(scenario, workload, ports=ports[workload.name], hosts=hosts, peer_ports=ports, ready=ready,
                             namespace="local", run_id="")

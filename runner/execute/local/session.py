"""A local run: the workloads of a plan as supervised processes on this machine (loaded only when a run starts).

Each process gets its own process group, the scenario and workload environment plus
rank variables, free ports handed over as template variables, and its output
captured to logs/<workload>/rank-<r>.log while it runs. The run loop (order, readiness,
deadlines) is runner.execute.schedule's; this module starts, observes, probes and stops processes.
Whatever happens (success, failure, timeout, SIGINT/SIGTERM) every process group the run
started is ended (TERM, then KILL after a grace period) and the ending is verified.
"""
from __future__ import annotations

import os
import re
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from runner.base.errors import ExecutionError
from runner.execute.contract import (
    Diagnosis,
    Observation,
    Phase,
    RunContext,
    RunState,
    StartFailed,
    WorkloadState,
    log_tail,
)
from runner.execute.evidence import fold_tagged_lines, fold_tails, folded_text
from runner.execute.local import processes
from runner.execute.local.commands import SHELL, argv0_of, command_variables_for, missing_program_message, resolve_program, tool_path
from runner.execute.local.emulated import Loopback, expand_kube_vars, layer_for
from runner.execute.local.placement import nodes_config
from runner.execute.local.processes import Process
from runner.execute.plan import start_order
from runner.scenario.model import Workload
from runner.scenario.templating import render_command, render_env

POLL_S = 0.05
NODES_TICK_S = 0.25  # how often the links of emulated nodes are looked at (and timed link faults applied)
MPI_OUTPUT_DIR = "ranks"
TOOL_PACKAGES = ("mooncake-transfer-engine-non-cuda", "mooncake-transfer-engine", "torch", "sglang", "scenario-runner")

KNOWN_LOG_HINTS = (
    (re.compile(r"libibverbs\.so|libnuma\.so"), "Mooncake needs Debian's libibverbs1 and libnuma1 even for TCP: apt-get install libibverbs1 libnuma1"),
    (re.compile(r"No module named 'torch'"), "the collectives probe needs torch: pip install '.[probes]' (torch==2.13.0 on CPU machines)"),
    (re.compile(r"Address already in use|EADDRINUSE"), "a port was taken by another program between allocation and start; run again"),
    (re.compile(r"Cannot select device for dest_addr"), "block_size x batch_size x threads exceeds buffer_size"),
    (re.compile(r"--backend nccl needs a CUDA device"),
     "torch sees no GPU here (a CPU build of torch, or no driver): run it on a GPU host with a CUDA torch; on CPU the "
     "probe runs with gloo (`scenario run collectives-loopback`)"),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of the Python packages that provide the tools, for the run record (absent ones are left out)."""
    from importlib import metadata  # ~9 ms: only when a run records tool versions

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def mpi_rank_logs(log_dir: Path) -> tuple[Path, ...]:
    """Open MPI's --output-filename layout: <dir>/<job>/rank.<r>/stdout, ordered by rank."""
    files = list((log_dir / MPI_OUTPUT_DIR).glob("*/rank.*/stdout"))
    return tuple(sorted(files, key=lambda p: int(p.parent.name.split(".")[-1])))


def hints_for(text: str) -> list[str]:
    return [hint for pattern, hint in KNOWN_LOG_HINTS if pattern.search(text)]


@dataclass
class Launch:
    """One started workload: its processes (rank order; one mpirun for `mpi` workloads) and where they write."""

    workload: Workload
    log_dir: Path            # in the record: what the mirror copied, redacted
    stage_dir: Path          # private: where the processes write and run
    processes: list[Process] = field(default_factory=list)

    @property
    def launcher_logs(self) -> tuple[Path, ...]:
        return tuple(p.log for p in self.processes)


class LocalBackend:
    """The scheduler's primitives for processes on this machine."""

    name = "local"

    def __init__(self, context: RunContext):
        self.context = context
        self.scenario = context.scenario
        self.path = tool_path()
        self.layer: Any = Loopback(self.scenario)
        self.ports = self.layer.ports
        self.launches: list[Launch] = []
        self.node_failures: dict[str, str] = {}
        self.next_nodes_tick = 0.0
        self.facts: dict[str, Any] = {"host": socket.gethostname(), "python": sys.version.split()[0], "programs": {},
                                      "packages": installed_versions(TOOL_PACKAGES)}

    def open(self) -> None:
        """Emulated nodes when the scenario asks for them (local.nodes): created here, before the first workload."""
        if nodes_config(self.scenario) is None:
            return
        self.layer = layer_for(self.scenario, self.context.run_id, start_order(self.scenario))
        self.ports = self.layer.ports
        self.facts["nodes"] = self.layer.describe()
        if self.layer.notice:
            print(f"notice: {self.layer.notice}", file=sys.stderr)
        if self.layer.mode != "nodes":
            return
        for name, node in self.facts["nodes"]["nodes"].items():
            detail = f"{node['address']}, {node['link_text']}: {', '.join(node['workloads']) or 'idle'}"
            self.context.progress.workload(name, "node", detail)

    # --- starting ---------------------------------------------------------------------------

    def start(self, workload: Workload, ready: Mapping[str, Mapping[str, str]]) -> Launch:
        index = self.scenario.workloads.index(workload)
        variables = command_variables_for(self.scenario, workload, self.ports, ready, self.layer.hosts())
        command = render_command(self.scenario, workload, index, variables)
        ranks = workload.ranks
        if not self._found(command, workload.shell) and workload.fallback:
            fallback = replace(workload, command=workload.fallback.command)
            command = render_command(self.scenario, fallback, index, variables, path=("fallback", "command"))
            ranks = workload.fallback.ranks or ranks
            self.context.progress.workload(workload.name, "fallback", f"{argv0_of(workload.command)} not found")
        launch = Launch(replace(workload, ranks=ranks), self.context.log_dir(workload.name), self.context.stage_dir(workload.name))
        self.launches.append(launch)
        self.context.progress.workload(workload.name, "starting", f"{ranks} rank{'s' if ranks > 1 else ''}")
        env = render_env(self.scenario, workload, index, variables)
        if workload.kind != "mpi":  # Kubernetes' downward-API POD_IP; MPI ranks sit on several nodes and are not given one
            env.setdefault("POD_IP", self.layer.pod_ip(workload.name))
        command = expand_kube_vars(command, env) if isinstance(command, str) else [expand_kube_vars(a, env) for a in command]
        try:
            self._spawn(launch, command, env)
        except ExecutionError as error:
            self.stop(launch)
            raise StartFailed(error.message, hint=error.hint) from error
        return launch

    def _found(self, command: Any, shell: bool) -> bool:
        if shell:
            return True
        argv0 = argv0_of(command)
        return bool(argv0) and resolve_program(argv0, self.path) is not None

    def _spawn(self, launch: Launch, command: Any, env: dict[str, str]) -> None:
        workload = launch.workload
        master_port = free_port()
        if workload.kind == "mpi" and not workload.shell and resolve_program("mpirun", self.path) is not None:
            argv = self._argv(command, workload)
            program = resolve_program(argv[0], self.path) or argv[0]
            rank_env = self._rank_env(workload, 0, master_port, self.layer.master_addr(workload.name))
            full_env = {**env, "MASTER_ADDR": rank_env["MASTER_ADDR"], "MASTER_PORT": rank_env["MASTER_PORT"]}
            mpirun = self._mpirun(workload, launch.stage_dir, env) + [program] + argv[1:]
            self._popen(launch, 0, getattr(self.layer, "wrap_launcher", lambda a: a)(mpirun), full_env, "mpirun.log")
            self.facts["programs"][workload.name] = {"launcher": "mpirun", "program": program}
            return
        for rank in range(workload.ranks):
            rank_env = {**env, **self._rank_env(workload, rank, master_port, self.layer.master_addr(workload.name))}
            if workload.kind != "mpi" and "POD_IP" not in workload.env and "POD_IP" not in self.scenario.env:
                rank_env["POD_IP"] = self.layer.pod_ip(workload.name, rank)
            if workload.shell:
                argv = [SHELL, "-c", command if isinstance(command, str) else shlex.join(command)]
            else:
                argv = self._argv(command, workload)
                program = resolve_program(argv[0], self.path)
                if program is None:
                    raise ExecutionError(missing_program_message(argv[0], workload.name))
                argv = [program] + argv[1:]
                self.facts["programs"][workload.name] = {"launcher": "processes", "program": program}
            self._popen(launch, rank, self.layer.wrap(workload.name, rank, argv), rank_env)

    def _mpirun(self, workload: Workload, log_dir: Path, env: Mapping[str, str]) -> list[str]:
        # Per-rank files (rank.<r>/stdout) keep ranks from interleaving inside lines; mpirun's own output goes to mpirun.log.
        argv = [resolve_program("mpirun", self.path), "--oversubscribe", "-np", str(workload.ranks), *self.layer.mpirun_placement(workload),
                "--bind-to", "none", "--output-filename", str(log_dir / MPI_OUTPUT_DIR), "--merge-stderr-to-stdout"]
        if os.geteuid() == 0:
            argv.append("--allow-run-as-root")
        inherited = {"PATH", "PYTHONPATH"} & set(os.environ)
        for name in sorted(set(env) | {"MASTER_ADDR", "MASTER_PORT"} | inherited):
            argv += ["-x", name]
        return argv

    @staticmethod
    def _argv(command: Any, workload: Workload) -> list[str]:
        if isinstance(command, str):
            raise ExecutionError(f"workload {workload.name}: a command given as one string needs `shell: true`; otherwise write it as a list")
        return list(command)

    @staticmethod
    def _rank_env(workload: Workload, rank: int, master_port: int, master_addr: str = "127.0.0.1") -> dict[str, str]:
        env = {
            "RANK": str(rank), "WORLD_SIZE": str(workload.ranks), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(workload.ranks),
            "MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port), "PYTHONUNBUFFERED": "1",
        }
        if workload.kind == "group":
            env.update({"LWS_LEADER_ADDRESS": master_addr, "LWS_GROUP_SIZE": str(workload.ranks), "LWS_WORKER_INDEX": str(rank)})
        return env

    def _popen(self, launch: Launch, rank: int, argv: list[str], env: dict[str, str], log_name: str = "") -> None:
        name = log_name or f"rank-{rank}.log"
        full_env = {**os.environ, **env, "PATH": env.get("PATH", self.path), processes.RUN_MARKER: self.context.run_id}
        try:
            launch.processes.append(processes.spawn(rank, argv, full_env, launch.stage_dir / name, launch.stage_dir,
                                                    launch.log_dir / name, self.context.redact_argv))
        except FileNotFoundError as error:
            raise ExecutionError(missing_program_message(argv[0], launch.workload.name)) from error
        except PermissionError as error:
            raise ExecutionError(f"workload {launch.workload.name}: {argv[0]} is not executable") from error

    # --- watching ---------------------------------------------------------------------------

    def observe(self, launch: Launch, now: float) -> Observation:
        lost = self.node_failures.get(launch.workload.name)
        if lost:
            return Observation(Phase.FAILED, lost)
        exited = [p for p in launch.processes if p.exited]
        failed = [p for p in exited if p.popen.returncode != 0]
        if failed:
            first = failed[0]
            code = first.popen.returncode
            return Observation(Phase.FAILED, f"rank {first.rank} exited with code {code}{processes.signal_text(code)}")
        if exited and len(exited) == len(launch.processes):
            return Observation(Phase.SUCCEEDED)
        return Observation(Phase.RUNNING)

    def probe(self, launch: Launch) -> bool:
        ready = launch.workload.ready
        if ready and ready.port:
            return self.layer.port_open(launch.workload.name, self.ports[launch.workload.name][ready.port])
        if ready and ready.http_port:
            return self.layer.http_ok(launch.workload.name, self.ports[launch.workload.name][ready.http_port], ready.http_path)
        return True

    def primary_log(self, launch: Launch) -> Path | None:
        logs = self.logs(launch)
        return logs[0] if logs else None

    def diagnose(self, launch: Launch, state: WorkloadState, message: str) -> Diagnosis:
        self._copy_output()
        logs = self.logs(launch)
        if not logs:
            return Diagnosis()
        groups = fold_tails(logs)  # ranks that ended alike are one cause, "and 7 more ranks alike"
        launcher = [path for path in launch.launcher_logs[:1] if path not in logs]
        texts = [folded_text(tail, names, len(logs)) for tail, names in groups]
        texts += [f"last lines of {path.name}:\n{fold_tagged_lines(tail)}" for path in launcher if (tail := log_tail(path))]
        if not texts:
            return Diagnosis()
        return Diagnosis(lines=(*texts, *(f"hint: {h}" for h in dict.fromkeys(hints_for("\n".join(texts))))))

    def stop(self, launch: Launch) -> None:
        processes.terminate([p.popen for p in launch.processes])

    def logs(self, launch: Launch) -> tuple[Path, ...]:
        launcher = launch.launcher_logs
        if launcher and launcher[0].name == "mpirun.log":
            return mpi_rank_logs(launch.log_dir) or launcher
        return launcher

    def exit_code(self, launch: Launch, state: WorkloadState | None) -> int | None:
        codes = [p.popen.returncode for p in launch.processes]
        return next((c for c in codes if c), codes[0] if codes else None)

    def ranks(self, launch: Launch) -> int:
        return launch.workload.ranks

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)
        now = time.monotonic()
        if self.layer.mode == "nodes" and now >= self.next_nodes_tick:
            self.next_nodes_tick = now + NODES_TICK_S
            self.node_failures.update(self.layer.tick())

    def tick_text(self) -> str:
        return ""

    def _copy_output(self, final: bool = False) -> None:
        """What the processes wrote so far, into the record now (the mirror does it every 50 ms anyway)."""
        if self.context.mirror is not None:
            self.context.mirror.sync(final=final)

    # --- the end ----------------------------------------------------------------------------

    def close(self, state: RunState, message: str) -> tuple[RunState, str]:
        """End every process group the run started; a group that survives turns the run into an error."""
        popens = [p.popen for launch in self.launches for p in launch.processes]
        processes.terminate(popens)
        escaped = processes.end_marked(self.context.run_id)  # descendants that left their process group
        for launch in self.launches:
            for process in launch.processes:
                process.handle.close()
        self._copy_output(final=True)  # the writers are gone: their unfinished last lines too
        survivors = [f"pid {p.pid}" for p in popens if processes.group_alive(p.pid)] + [f"pid {pid}" for pid in escaped]
        if self.layer.mode == "nodes":
            self.facts["nodes"] = self.layer.describe()
            survivors += self.layer.teardown()
        if survivors:
            return RunState.ERROR, f"{message}; processes left alive after cleanup: {survivors}".strip("; ")
        return state, message

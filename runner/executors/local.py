"""The local executor, the embedded default: workloads run as supervised processes on this machine.

Each process gets its own process group, the scenario and workload environment plus
rank variables, free ports handed over as template variables, and its output
captured to logs/<workload>/rank-<r>.log while it runs. Services must be ready
(a port, a log line or an HTTP answer) before their dependents start; jobs run
to completion. Whatever happens — success, failure, timeout, SIGINT/SIGTERM —
every process group the run started is ended (TERM, then KILL after a grace period).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ExecutionError
from ..execute import DONE, FAILED, INTERRUPTED, SKIPPED, TIMEOUT, RunContext, RunOutput, WorkloadOutcome, log_tail, start_order
from ..model import Scenario, Workload
from ..render import command_variables, placeholder_ready, render_command, render_env
from . import executor

POLL_S = 0.05
GRACE_S = 5.0
DEFAULT_READY_S = 120.0
LOG_TAIL_LINES = 20
MPI_OUTPUT_DIR = "ranks"
TOOL_PACKAGES = ("mooncake-transfer-engine-non-cuda", "mooncake-transfer-engine", "torch", "sglang", "scenario-runner")

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
KNOWN_LOG_HINTS = (
    (re.compile(r"libibverbs\.so|libnuma\.so"), "Mooncake needs Debian's libibverbs1 and libnuma1 even for TCP: apt-get install libibverbs1 libnuma1"),
    (re.compile(r"No module named 'torch'"), "the collectives probe needs torch: pip install '.[probes]' (torch==2.13.0 on CPU machines)"),
    (re.compile(r"Address already in use|EADDRINUSE"), "a port was taken by another program between allocation and start; run again"),
    (re.compile(r"Cannot select device for dest_addr"), "block_size x batch_size x threads exceeds buffer_size"),
)


@dataclass
class _Process:
    rank: int
    popen: subprocess.Popen
    log: Path
    handle: Any


@dataclass
class _Running:
    workload: Workload
    index: int
    processes: list[_Process] = field(default_factory=list)
    started: float = 0.0
    ended: float | None = None
    ready: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    state: str = ""
    message: str = ""
    deadline: float | None = None
    ready_deadline: float | None = None
    ready_s: float = 0.0
    log_offset: int = 0

    def alive(self) -> list[_Process]:
        return [p for p in self.processes if p.popen.poll() is None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tool_path() -> str:
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


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of the Python packages that provide the tools, for the run record (absent ones are left out)."""
    from importlib import metadata

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


@executor("local")
class LocalExecutor:
    """Supervised processes on this machine."""

    name = "local"

    # --- plan -------------------------------------------------------------------------------

    def plan(self, scenario: Scenario, out_dir: Path | None = None) -> dict:
        """The process plan a reviewer reads: commands, environment, ports, start order (placeholders for run-time values)."""
        ports = {w.name: {p: f"<free port {w.name}.{p}>" for p in w.ports} for w in scenario.workloads}
        ready = {name: {k: f"<from {name}'s log: {k}>" for k in groups} for name, groups in placeholder_ready(scenario).items()}
        steps = []
        for workload in start_order(scenario):
            index = scenario.workloads.index(workload)
            local = workload.for_executor("local")
            variables = self._variables(scenario, local, ports, ready)
            command = render_command(scenario, local, index, variables)
            steps.append({
                "workload": local.name,
                "kind": local.kind,
                "type": "service (runs until the run ends)" if local.is_service else "job (runs to completion)",
                "after": list(local.after),
                "ranks": local.ranks,
                "launcher": "mpirun on localhost when found, else one process per rank" if local.kind == "mpi" else "one process per rank",
                "command": command if isinstance(command, str) else list(command),
                "shell": local.shell,
                "fallback": None if not local.fallback else {
                    "when": f"{self._argv0(command)} is not on PATH",
                    "command": list(render_command(scenario, replace(local, command=local.fallback.command), index, variables,
                                                   path=("fallback", "command"))),
                    "ranks": local.fallback.ranks or local.ranks},
                "env": render_env(scenario, local, index, variables),
                "rank_env": self._rank_env_names(local),
                "ports": dict(ports[local.name]),
                "ready": self._ready_text(local),
                "timeout": local.timeout_s,
                "log": f"logs/{local.name}/rank-<r>.log",
                "parser": local.parser.name if local.parser else None,
            })
        plan = {"executor": "local", "scenario": scenario.name, "start_order": [s["workload"] for s in steps], "steps": steps}
        if out_dir is not None:
            import yaml

            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / "process-plan.yaml"
            path.write_text(yaml.safe_dump(plan, sort_keys=False, width=120))
            return {"files": [path], **plan}
        return plan

    @staticmethod
    def _argv0(command: Any) -> str:
        if isinstance(command, str):
            return shlex.split(command)[0] if command.strip() else ""
        return command[0] if command else ""

    @staticmethod
    def _rank_env_names(workload: Workload) -> list[str]:
        names = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]
        if workload.kind == "group":
            names += ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]
        return names

    @staticmethod
    def _ready_text(workload: Workload) -> str | None:
        ready = workload.ready
        if not ready:
            return None
        if ready.port:
            return f"port {ready.port} accepts connections"
        if ready.http_port:
            return f"GET http://127.0.0.1:<{ready.http_port}>{ready.http_path} answers 200"
        return f"a log line matches {ready.log!r}"

    @staticmethod
    def _variables(scenario: Scenario, workload: Workload, ports: dict, ready: dict) -> dict:
        hosts = {w.name: "127.0.0.1" for w in scenario.workloads}
        return command_variables(scenario, workload, ports=ports[workload.name], hosts=hosts, peer_ports=ports, ready=ready,
                                 namespace="local", run_id="")

    # --- run --------------------------------------------------------------------------------

    def run(self, context: RunContext) -> RunOutput:
        return _LocalRun(context).execute()


class _LocalRun:
    def __init__(self, context: RunContext):
        self.context = context
        self.scenario = context.scenario
        self.path = _tool_path()
        self.ports = {w.name: {p: free_port() for p in w.ports} for w in self.scenario.workloads}
        self.ready: dict[str, dict[str, str]] = {w.name: {} for w in self.scenario.workloads}
        self.running: dict[str, _Running] = {}
        self.outcomes: dict[str, WorkloadOutcome] = {}
        self.order = start_order(self.scenario)
        self.started = time.monotonic()
        self.deadline = self.started + context.timeout_s if context.timeout_s else None
        self.facts: dict[str, Any] = {"host": socket.gethostname(), "python": sys.version.split()[0], "programs": {},
                                      "packages": installed_versions(TOOL_PACKAGES)}

    def execute(self) -> RunOutput:
        state, message = "completed", ""
        try:
            state, message = self._loop()
        except ExecutionError as error:
            state, message = "error", error.message
        finally:
            leftovers = self._stop_all()
            if leftovers:
                state, message = "error", f"{message}; processes left alive after cleanup: {leftovers}".strip("; ")
        self._settle_outcomes(state)
        return RunOutput("local", dict(self.outcomes), state, message, self.facts)

    # main loop: start what can start, watch what runs, until every job is finished
    def _loop(self) -> tuple[str, str]:
        while True:
            if self.context.should_stop():
                self._mark_running(INTERRUPTED, "interrupted")
                return "interrupted", "interrupted by signal"
            if self.deadline and time.monotonic() > self.deadline:
                self._mark_running(TIMEOUT, f"the run hit its {self.context.timeout_s:.0f}s limit")
                return "timeout", f"the run hit its {self.context.timeout_s:.0f}s limit"
            self._start_ready_workloads()
            self._watch()
            if self._finished():
                return "completed", ""
            self.context.progress.tick()
            time.sleep(POLL_S)

    def _finished(self) -> bool:
        if not any(not w.is_service for w in self.order):
            # Services only: nothing runs to completion, so the run lasts until they all end by themselves.
            return len(self.outcomes) == len(self.order)
        jobs_pending = [w for w in self.order if not w.is_service and w.name not in self.outcomes]
        if jobs_pending:
            return False
        # Only services are left: the run is over once every one has been started or skipped.
        return all(w.name in self.outcomes or w.name in self.running for w in self.order)

    def _start_ready_workloads(self) -> None:
        for workload in self.order:
            name = workload.name
            if name in self.running or name in self.outcomes:
                continue
            blocked = [d for d in workload.after if self._dependency_state(d) == "failed"]
            if blocked:
                self._finish(name, SKIPPED, f"not started: {', '.join(blocked)} did not succeed", workload=workload)
                continue
            if all(self._dependency_state(d) == "ok" for d in workload.after):
                self._start(workload)

    def _dependency_state(self, name: str) -> str:
        if name in self.outcomes:
            return "ok" if self.outcomes[name].state == DONE else "failed"
        running = self.running.get(name)
        if running and running.workload.is_service and running.ready:
            return "ok"
        return "waiting"

    # --- starting ---------------------------------------------------------------------------

    def _start(self, raw: Workload) -> None:
        workload = raw.for_executor("local")
        index = self.scenario.workloads.index(raw)
        variables = LocalExecutor._variables(self.scenario, workload, self.ports, self.ready)
        command = render_command(self.scenario, workload, index, variables)
        ranks = workload.ranks
        if not self._found(command, workload.shell) and workload.fallback:
            fallback = replace(workload, command=workload.fallback.command)
            command = render_command(self.scenario, fallback, index, variables, path=("fallback", "command"))
            ranks = workload.fallback.ranks or ranks
            self.context.progress.workload(workload.name, "fallback", f"{LocalExecutor._argv0(workload.command)} not found")
        env = render_env(self.scenario, workload, index, variables)
        run = _Running(replace(workload, ranks=ranks), index, started=time.time())
        now = time.monotonic()
        run.deadline = now + workload.timeout_s if workload.timeout_s else None
        ready_s = (workload.ready.timeout_s if workload.ready and workload.ready.timeout_s else None) or self.scenario.ready_timeout_s or DEFAULT_READY_S
        run.ready_deadline = now + ready_s
        run.ready_s = ready_s
        self.running[workload.name] = run
        self.context.progress.workload(workload.name, "starting", f"{ranks} rank{'s' if ranks > 1 else ''}")
        try:
            self._spawn(run, command, env)
        except ExecutionError as error:
            self._finish(workload.name, FAILED, error.message)
            return
        run.ready = not workload.ready
        if run.ready:
            self.context.progress.workload(workload.name, "running")

    def _found(self, command: Any, shell: bool) -> bool:
        if shell:
            return True
        argv0 = LocalExecutor._argv0(command)
        return bool(argv0) and resolve_program(argv0, self.path) is not None

    def _spawn(self, run: _Running, command: Any, env: dict[str, str]) -> None:
        workload = run.workload
        log_dir = self.context.log_dir(workload.name)
        use_mpirun = workload.kind == "mpi" and resolve_program("mpirun", self.path) is not None and not workload.shell
        master_port = free_port()
        if use_mpirun:
            argv = self._argv(command, workload)
            program = resolve_program(argv[0], self.path) or argv[0]
            rank_env = self._rank_env(workload, 0, master_port)
            exported = sorted(set(env) | {"MASTER_ADDR", "MASTER_PORT", "PATH", "PYTHONPATH"})
            # Per-rank files (rank-<r>/stdout) keep ranks from interleaving inside lines; mpirun's own output goes to mpirun.log.
            mpi = [resolve_program("mpirun", self.path), "--oversubscribe", "-np", str(workload.ranks), "--host", f"localhost:{workload.ranks}",
                   "--bind-to", "none", "--output-filename", str(log_dir / MPI_OUTPUT_DIR), "--merge-stderr-to-stdout"]
            if os.geteuid() == 0:
                mpi.append("--allow-run-as-root")
            for name in exported:
                mpi += ["-x", name]
            full_env = {**env, "MASTER_ADDR": rank_env["MASTER_ADDR"], "MASTER_PORT": rank_env["MASTER_PORT"]}
            self._popen(run, 0, mpi + [program] + argv[1:], full_env, log_dir, log_name="mpirun.log")
            self.facts["programs"][workload.name] = {"launcher": "mpirun", "program": program}
            return
        for rank in range(workload.ranks):
            rank_env = {**env, **self._rank_env(workload, rank, master_port)}
            if workload.shell:
                argv = ["/bin/sh", "-c", command if isinstance(command, str) else shlex.join(command)]
            else:
                argv = self._argv(command, workload)
                program = resolve_program(argv[0], self.path)
                if program is None:
                    raise ExecutionError(missing_program_message(argv[0], workload.name))
                argv = [program] + argv[1:]
                self.facts["programs"][workload.name] = {"launcher": "processes", "program": program}
            self._popen(run, rank, argv, rank_env, log_dir)

    @staticmethod
    def _argv(command: Any, workload: Workload) -> list[str]:
        if isinstance(command, str):
            raise ExecutionError(f"workload {workload.name}: a command given as one string needs `shell: true`; otherwise write it as a list")
        return list(command)

    @staticmethod
    def _rank_env(workload: Workload, rank: int, master_port: int) -> dict[str, str]:
        env = {
            "RANK": str(rank), "WORLD_SIZE": str(workload.ranks), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(workload.ranks),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(master_port), "PYTHONUNBUFFERED": "1",
        }
        if workload.kind == "group":
            env.update({"LWS_LEADER_ADDRESS": "127.0.0.1", "LWS_GROUP_SIZE": str(workload.ranks), "LWS_WORKER_INDEX": str(rank)})
        return env

    def _popen(self, run: _Running, rank: int, argv: list[str], env: dict[str, str], log_dir: Path, log_name: str = "") -> None:
        log = log_dir / (log_name or f"rank-{rank}.log")
        handle = log.open("ab", buffering=0)
        full_env = {**os.environ, **env, "PATH": env.get("PATH", self.path)}
        repo_root = str(Path(__file__).resolve().parents[2])
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo_root, full_env.get("PYTHONPATH", "")]))
        try:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, env=full_env,
                                     cwd=str(log_dir), start_new_session=True)
        except FileNotFoundError:
            handle.close()
            raise ExecutionError(missing_program_message(argv[0], run.workload.name)) from None
        except PermissionError:
            handle.close()
            raise ExecutionError(f"workload {run.workload.name}: {argv[0]} is not executable") from None
        run.processes.append(_Process(rank, popen, log, handle))
        log.with_suffix(".cmd").write_text(shlex.join(argv) + "\n")

    # --- watching ---------------------------------------------------------------------------

    def _watch(self) -> None:
        now = time.monotonic()
        for name, run in list(self.running.items()):
            if name in self.outcomes:
                continue
            if not run.ready:
                self._check_ready(run, now)
                if name in self.outcomes:
                    continue
            exited = [p for p in run.processes if p.popen.poll() is not None]
            failed = [p for p in exited if p.popen.returncode != 0]
            if failed:
                first = failed[0]
                self._stop(run)
                self._finish(name, FAILED, f"rank {first.rank} exited with code {first.popen.returncode}" + self._signal_text(first.popen.returncode))
            elif len(exited) == len(run.processes) and run.processes:
                if run.ready or not run.workload.is_service:
                    self._finish(name, DONE, "")
                else:
                    self._finish(name, FAILED, "exited before it became ready")
            elif run.deadline and now > run.deadline:
                self._stop(run)
                self._finish(name, TIMEOUT, f"did not finish within its {run.workload.timeout_s:.0f}s limit and was stopped")

    @staticmethod
    def _signal_text(code: int | None) -> str:
        if code is not None and code < 0:
            try:
                return f" (killed by {signal.Signals(-code).name})"
            except ValueError:
                return ""
        return ""

    def _check_ready(self, run: _Running, now: float) -> None:
        ready = run.workload.ready
        ok = False
        if ready.port:
            ok = _port_open(self.ports[run.workload.name][ready.port])
        elif ready.http_port:
            ok = _http_ok(self.ports[run.workload.name][ready.http_port], ready.http_path)
        elif ready.log:
            ok = self._log_matches(run, ready.log)
        if ok:
            run.ready = True
            self.ready[run.workload.name] = run.outputs
            detail = ", ".join(f"{k}={v}" for k, v in run.outputs.items())
            self.context.progress.workload(run.workload.name, "ready", detail)
        elif run.ready_deadline and now > run.ready_deadline and all(p.popen.poll() is None for p in run.processes):
            self._stop(run)
            self._finish(run.workload.name, TIMEOUT, f"not ready within {run.ready_s:.0f}s: {LocalExecutor._ready_text(run.workload)}")

    def _log_matches(self, run: _Running, pattern: str) -> bool:
        log = run.processes[0].log if run.processes else None
        if log is None or not log.exists():
            return False
        with log.open("rb") as handle:
            handle.seek(run.log_offset)
            chunk = handle.read()
        text = chunk.decode("utf-8", "replace")
        last_newline = text.rfind("\n")
        if last_newline < 0:
            return False
        complete = text[: last_newline + 1]
        run.log_offset += len(complete.encode("utf-8", "replace"))
        match = re.search(pattern, complete, re.MULTILINE)
        if match:
            run.outputs = {k: v for k, v in match.groupdict().items() if v is not None}
            return True
        return False

    # --- finishing and cleanup --------------------------------------------------------------

    def _finish(self, name: str, state: str, message: str, workload: Workload | None = None) -> None:
        run = self.running.get(name)
        logs: tuple[Path, ...] = ()
        diagnostics: list[str] = []
        if run:
            run.ended = time.time()
            launcher_logs = tuple(p.log for p in sorted(run.processes, key=lambda p: p.rank))
            logs = mpi_rank_logs(launcher_logs[0].parent) if launcher_logs and launcher_logs[0].name == "mpirun.log" else ()
            logs = logs or launcher_logs
            for process in run.processes:
                process.handle.close()
            if state in (FAILED, TIMEOUT) and logs:
                tail = "\n".join(filter(None, (log_tail(path) for path in dict.fromkeys((logs[0], launcher_logs[0])))))
                if tail:
                    diagnostics.append(f"last lines of {logs[0].name}:\n{tail}")
                diagnostics += hints_for(tail)
        workload = workload or (run.workload if run else self.scenario.workload(name))
        exit_codes = [p.popen.returncode for p in run.processes] if run else []
        exit_code = next((c for c in exit_codes if c), exit_codes[0] if exit_codes else None)
        self.outcomes[name] = WorkloadOutcome(
            name=name, state=state, logs=logs, exit_code=exit_code, ranks=workload.ranks,
            started=run.started if run else None, ended=run.ended if run else None, message=message,
            diagnostics=tuple(diagnostics), outputs=dict(run.outputs) if run else {})
        duration = f"{run.ended - run.started:.1f}s" if run and run.ended else ""
        detail = "; ".join(filter(None, [message, duration])) if state != SKIPPED else message
        self.context.progress.workload(name, state, detail)

    def _mark_running(self, state: str, message: str) -> None:
        for name, run in self.running.items():
            if name not in self.outcomes:
                self._stop(run)
                self._finish(name, state, message)
        for workload in self.order:
            if workload.name not in self.outcomes:
                self._finish(workload.name, SKIPPED, f"not started: {message}", workload=workload)

    def _settle_outcomes(self, state: str) -> None:
        for workload in self.order:
            if workload.name not in self.outcomes:
                run = self.running.get(workload.name)
                if run and run.ready:
                    self._finish(workload.name, DONE, "stopped at the end of the run")
                elif run:
                    self._finish(workload.name, FAILED, "stopped before it became ready")
                else:
                    self._finish(workload.name, SKIPPED, "not started", workload=workload)

    def _stop(self, run: _Running) -> None:
        _terminate([p.popen for p in run.processes])

    def _stop_all(self) -> list[str]:
        """End every process group the run started; report any that survive."""
        popens = [p.popen for run in self.running.values() for p in run.processes]
        _terminate(popens)
        survivors = [f"pid {p.pid}" for p in popens if _group_alive(p.pid)]
        for run in self.running.values():
            for process in run.processes:
                process.handle.close()
        return survivors


def _terminate(popens: list[subprocess.Popen], grace_s: float = GRACE_S) -> None:
    groups = [p.pid for p in popens if _group_alive(p.pid)]
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_group_alive(g) for g in groups):
        for popen in popens:
            popen.poll()
        time.sleep(0.05)
    for pgid in groups:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
    for popen in popens:
        try:
            popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts as a group until it is reaped; treat reaped-or-zombie-only as gone.
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _http_ok(port: int, path: str) -> bool:
    import urllib.request  # only runs need it; keeps `scenario validate` fast

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=0.5) as response:
            return response.status == 200
    except Exception:
        return False

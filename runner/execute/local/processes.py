"""Supervised processes: start one in its own process group with its output in a log file, end groups for sure.

Each process leads a new session (and so a new process group). Ending a group sends TERM,
waits up to a grace period, then KILLs what is left; a group counts as gone when no live
(non-zombie) process is left in it.

Escapes: a descendant can leave the group (`setsid`, a double fork, a daemon). So every process a run starts
carries a run marker in its environment, RUN_MARKER=<run id>, which its descendants inherit; at the end of the run,
and when a later run or `scenario cleanup --local` recovers a run whose runner died, every process whose
/proc/PID/environ holds the marker is ended too. Chosen over a per-run cgroup (needs a delegated cgroup v2 tree,
often absent in containers and CI) and PR_SET_CHILD_SUBREAPER (orphans are lost when the runner itself dies). A
process that clears its environment (`env -i`) and leaves the group is not found.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GRACE_S = 5.0


@dataclass
class Process:
    rank: int
    popen: subprocess.Popen
    log: Path
    handle: IO[bytes]

    @property
    def exited(self) -> bool:
        return self.popen.poll() is not None


RUN_MARKER = "SCENARIO_RUNNER_RUN_ID"


def spawn(rank: int, argv: list[str], env: dict[str, str], output: Path, cwd: Path, log: Path, redact_argv=None) -> Process:
    """Start argv with its stdout and stderr appended to `output` (in the private staging folder, copied into the
    record's `log` redacted); the command line goes to log.cmd in the record, through `redact_argv` (arguments and
    `--secret-opt value` pairs), so the file stays valid shell without secrets. Raises OSError."""
    handle = output.open("ab", buffering=0)
    try:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                 cwd=str(cwd), start_new_session=True)
    except OSError:
        handle.close()
        raise
    log.with_suffix(".cmd").write_text(shlex.join(redact_argv(argv) if redact_argv else argv) + "\n")
    return Process(rank, popen, log, handle)


def terminate(popens: list[subprocess.Popen], grace_s: float = GRACE_S) -> None:
    groups = [p.pid for p in popens if group_alive(p.pid)]
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(group_alive(g) for g in groups):
        for popen in popens:
            popen.poll()
        time.sleep(0.05)
    for pgid in groups:
        if group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
    for popen in popens:
        try:
            popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass


def signal_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return ""
    return ""


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
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


def marked_processes(run_id: str) -> list[int]:
    """Live processes (not zombies, not this one) whose environment carries RUN_MARKER=run_id."""
    wanted = f"{RUN_MARKER}={run_id}".encode()
    found = []
    own = os.getpid()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            if wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone, or another user's
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def end_marked(run_id: str, grace_s: float = GRACE_S) -> list[int]:
    """End every process carrying the run's marker: TERM, up to grace_s, then KILL, repeated while new ones appear
    (a process forking as it dies). Returns the pids still alive afterwards (none, unless another user's)."""
    for _ in range(5):
        pids = marked_processes(run_id) or _after_a_moment(run_id)
        if not pids:
            return []
        for pid in pids:
            _signal_pid(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and marked_processes(run_id):
            time.sleep(0.05)
        for pid in marked_processes(run_id):
            _signal_pid(pid, signal.SIGKILL)
        time.sleep(0.05)
    return marked_processes(run_id)


QUIET_S = 0.1


def _after_a_moment(run_id: str) -> list[int]:
    """A second look before "none left": a process in the middle of exec shows an empty /proc/PID/environ for a
    moment (a double fork's last child, exec'ing as the scan passes, was missed one run in a few on a loaded host)."""
    time.sleep(QUIET_S)
    return marked_processes(run_id)


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

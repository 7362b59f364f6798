"""Faults: processes that escape their group, a killed runner, a catastrophic readiness regex, a full disk.
Each must leave no process behind and no record lost (finalized, or INCOMPLETE once recovered)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.execute.local.processes import RUN_MARKER, marked_processes

SCENARIO_BIN = Path(sys.executable).parent / "scenario"


def _alive_with(argument: str) -> list[int]:
    """Live processes whose command line holds `argument` (the unique sleep durations below)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argument.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _env(lab) -> dict[str, str]:
    """For the `scenario` command of this checkout (PYTHONPATH: a worktree's runner, not the one the venv installed)."""
    return {**os.environ, "SCENARIO_DIR": str(lab.scenarios), "CI": "true",
            "PYTHONPATH": os.pathsep.join(filter(None, (str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH"))))}


def _records(lab, name: str) -> list[Path]:
    """The run records (not a live run's private staging folder, `.<run-id>.staging`)."""
    folder = lab.results / name
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


@pytest.mark.parametrize("command, marker", [
    ("setsid sleep 1001 & echo started", "1001"),
    ("(setsid sh -c 'sleep 1002 &' &) ; echo started", "1002"),   # a double fork out of a new session
    ("sh -c 'sleep 1003 &' & echo started", "1003"),              # a plain double fork, reparented to init
])
def test_escaped_processes_are_ended(lab, command, marker):
    lab.write("escape", f"""\
        workloads:
          - name: job
            shell: true
            command: "{command}"
        checks:
          - {{log: job, contains: started}}
        """)
    result = lab.run("escape")
    assert result.verdict.status == "PASS", result.verdict.summary
    assert _alive_with(marker) == []
    assert marked_processes(result.run_id) == []


def test_sigkilled_runner_is_recovered_by_the_next_run(lab):
    lab.write("victim", """\
        workloads:
          - name: server
            kind: service
            shell: true
            command: "setsid sleep 1004 & echo up; sleep 1005"
            ready: {log: up}
          - name: job
            after: [server]
            shell: true
            command: "echo working; sleep 1006"
        checks:
          - {log: job, contains: working}
        """)
    lab.write("next", """\
        workloads:
          - name: job
            command: [echo, hi]
        checks:
          - {log: job, contains: hi}
        """)
    env = _env(lab)
    runner = subprocess.Popen([str(SCENARIO_BIN), "run", "victim", "--results", str(lab.results)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _alive_with("1006"):
        time.sleep(0.1)
    assert _alive_with("1006"), "the job never started"
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    assert _alive_with("1004") and _alive_with("1005") and _alive_with("1006")  # orphans, before recovery
    partial = _records(lab, "victim")[0]
    assert partial.name.endswith(".partial")
    done = subprocess.run([str(SCENARIO_BIN), "run", "next", "--results", str(lab.results)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p for m in ("1004", "1005", "1006") for p in _alive_with(m)] == []
    (record,) = _records(lab, "victim")
    assert record.name == partial.name[: -len(".partial")]
    assert '"INCOMPLETE"' in (record / "verdict.json").read_text()
    assert (record / "logs" / "job" / "rank-0.log").read_text() == "working\n"


def test_catastrophic_readiness_regex_does_not_hang_and_sigint_is_answered(lab):
    """`^(a+)+$` against 37 a's and a b backtracks for minutes in Python's re; RE2 answers at once. The runner then
    waits for readiness, and SIGINT must end the run (record finalized, exit 130) within a second."""
    lab.write("backtrack", """\
        workloads:
          - name: server
            kind: service
            shell: true
            command: "printf 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\\\\n'; sleep 1007"
            ready: {log: '^(a+)+$', timeout: 60s}
        checks:
          - {log: server, regex: "Traceback", absent: true}
        """)
    env = _env(lab)
    runner = subprocess.Popen([str(SCENARIO_BIN), "run", "backtrack", "--results", str(lab.results)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(lab.results.glob("backtrack/*.partial/logs/server/rank-0.log")):
        time.sleep(0.1)
    time.sleep(1.0)  # the line is in the log and has been matched against
    assert runner.poll() is None
    sent = time.monotonic()
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, err
    assert "SIGINT: stopping the workloads and finalizing the record" in err
    assert time.monotonic() - sent < 4.0, f"{time.monotonic() - sent:.1f} s"  # the message at once; ending `sleep`, finalizing
    (record,) = _records(lab, "backtrack")
    assert not record.name.endswith(".partial")
    assert _alive_with("1007") == []


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM])
def test_hangup_and_quit_stop_the_run_as_sigterm_does(lab, sig):
    """A closed terminal or a dropped ssh session (SIGHUP), or SIGQUIT: every process ended, escaped ones too, the
    record finalized as INTERRUPTED, exit 130."""
    marker = {signal.SIGHUP: "1011", signal.SIGQUIT: "1012", signal.SIGTERM: "1013"}[sig]
    lab.write("hangup", f"""\
        workloads:
          - name: server
            kind: service
            shell: true
            command: "setsid sleep {marker}1 & echo up; sleep {marker}2"
            ready: {{log: up}}
          - name: job
            after: [server]
            shell: true
            command: "echo working; sleep {marker}3"
        checks:
          - {{log: job, contains: working}}
        """)
    env = _env(lab)
    runner = subprocess.Popen([str(SCENARIO_BIN), "run", "hangup", "--results", str(lab.results)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _alive_with(f"{marker}3"):
        time.sleep(0.1)
    assert _alive_with(f"{marker}3"), "the job never started"
    runner.send_signal(sig)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert f"{sig.name}: stopping the workloads and finalizing the record" in err
    assert [p for m in ("1", "2", "3") for p in _alive_with(f"{marker}{m}")] == []
    (record,) = _records(lab, "hangup")
    assert not record.name.endswith(".partial")
    assert '"INTERRUPTED"' in (record / "verdict.json").read_text()


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_full_disk_finalizes_with_a_clear_message(lab, small_disk):
    lab.write("filler", """\
        workloads:
          - name: job
            shell: true
            command: "head -c 400000 /dev/zero | tr '\\\\0' x; echo; sleep 1008 & echo done"
        checks:
          - {log: job, contains: done}
        """)
    env = _env(lab)
    result = subprocess.run([str(SCENARIO_BIN), "run", "filler", "--results", str(small_disk)], env=env, capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    assert "internal error" not in output and "Traceback" not in output, output
    assert result.returncode in (1, 3), output
    records = [p for p in (small_disk / "filler").iterdir()]
    assert len(records) == 1 and not records[0].name.endswith(".partial"), records
    assert _alive_with("1008") == []


def test_unwritable_results_directory_is_refused_before_anything_runs(lab, tmp_path):
    lab.write("nowhere", """\
        workloads:
          - name: job
            shell: true
            command: "sleep 1009"
        checks:
          - {log: job, regex: "Traceback", absent: true}
        """)
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    env = _env(lab)
    result = subprocess.run([str(SCENARIO_BIN), "run", "nowhere", "--results", str(target / "results")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and f"cannot write run records to {target / 'results'}" in result.stderr, result.stderr
    assert _alive_with("1009") == []


def test_marker_is_in_every_process_environment(lab):
    lab.write("marked", """\
        workloads:
          - name: job
            shell: true
            command: "echo marker=$SCENARIO_RUNNER_RUN_ID"
        checks:
          - {log: job, contains: "marker="}
        """)
    result = lab.run("marked")
    log = (result.record / "logs" / "job" / "rank-0.log").read_text()
    assert log == f"marker={result.run_id}\n" and RUN_MARKER == "SCENARIO_RUNNER_RUN_ID"

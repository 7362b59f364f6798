"""Secrets planted in every place a run can carry them never reach a file of the record or the terminal, also when
the runner is SIGKILLed and its record is recovered by `scenario cleanup --local`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCENARIO_BIN = Path(sys.executable).parent / "scenario"

SECRETS = {name: f"s3cr3t-{name}-{i:02d}-Zq9" for i, name in enumerate((
    "env_top", "env_workload", "env_local_block", "env_kube_block", "param_hf_token", "param_db_password",
    "param_named_extra", "bearer_arg", "url_password", "api_key_arg", "ready_capture", "failing_tail", "runner_env",
    "token_flag"))}

SCENARIO = f"""\
apiVersion: scenarios/v1
kind: Scenario
metadata:
  name: leaky
executors: [local]
secrets: [session_id]
parameters:
  hf_token: {SECRETS["param_hf_token"]}
  db_password: {SECRETS["param_db_password"]}
  session_id: {SECRETS["param_named_extra"]}
env:
  HF_TOKEN: {SECRETS["env_top"]}
workloads:
  - name: server
    kind: service
    shell: true
    command: "echo listening session=$SERVER_SECRET; sleep 30"
    env:
      SERVER_SECRET: {SECRETS["ready_capture"]}
    ready:
      log: 'listening session=(?P<session>\\S+)'
      timeout: 20s
  - name: client
    kind: job
    after: [server]
    command: [sh, -c, 'echo "$0 $1 $2 $3 $4 $5 $6 $7 $8 $DB_PASSWORD $LOCAL_TOKEN $HF_TOKEN $RUNNER_TOKEN"; echo "$@"',
              "--token={{{{ params.hf_token }}}}", "--password", "{{{{ params.db_password }}}}",
              "--session={{{{ params.session_id }}}}", "Authorization: Bearer {SECRETS["bearer_arg"]}",
              "https://user:{SECRETS["url_password"]}@example.invalid/x", "--api-key", "{SECRETS["api_key_arg"]}",
              "--auth-token", "{SECRETS["token_flag"]}", "peer={{{{ ready.server.session }}}}"]
    env:
      DB_PASSWORD: {SECRETS["env_workload"]}
    local:
      env:
        LOCAL_TOKEN: {SECRETS["env_local_block"]}
    kubernetes:
      env:
        KUBE_TOKEN: {SECRETS["env_kube_block"]}
  - name: failing
    kind: job
    after: [client]
    shell: true
    command: "echo the secret is $FAIL_PASSWORD; exit 1"
    env:
      FAIL_PASSWORD: {SECRETS["failing_tail"]}
checks:
  - {{log: client, contains: "Bearer"}}
  - {{log: failing, contains: "the secret is"}}
"""


REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    """The `scenario` command of this checkout (PYTHONPATH: a worktree's runner, not the one the venv installed)."""
    return {**os.environ, "SCENARIO_DIR": str(tmp_path / "scenarios"), "CI": "", "RUNNER_TOKEN": SECRETS["runner_env"],
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def _record_leaks(record: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in record.rglob("*") if p.is_file()):
        hits = _leaks(path.read_bytes().decode("utf-8", "replace"))
        if hits:
            found[str(path.relative_to(record))] = hits
    return found


@pytest.fixture
def library(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "leaky.yaml").write_text(SCENARIO)
    return tmp_path


def test_no_secret_in_the_record_or_on_the_terminal(library):
    result = subprocess.run([str(SCENARIO_BIN), "run", "leaky", "--results", str(library / "results")], capture_output=True,
                            text=True, env=_env(library), timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr  # `failing` fails: ERROR
    records = list((library / "results" / "leaky").iterdir())
    assert len(records) == 1 and not records[0].name.endswith(".partial")
    record = records[0]
    client_log = (record / "logs" / "client" / "rank-0.log").read_text()
    assert "<redacted>" in client_log and "Bearer" in client_log  # the tool did print them; the record holds none
    assert "the secret is <redacted>" in (record / "verdict.json").read_text()  # the failing log tail, redacted
    assert "session=<redacted>" in result.stderr  # the ready line on the terminal
    assert _leaks(result.stdout + result.stderr) == []
    assert _record_leaks(record) == {}
    command = (record / "logs" / "client" / "rank-0.cmd").read_text()
    import shlex
    assert shlex.split(command)[0].endswith("sh")  # still valid shell


def test_killed_run_is_recovered_redacted_and_incomplete(library):
    scenario = library / "scenarios" / "leaky.yaml"
    scenario.write_text(SCENARIO.replace("sleep 30", "sleep 300").replace("exit 1", "setsid sleep 301 & sleep 302"))
    runner = subprocess.Popen([str(SCENARIO_BIN), "run", "leaky", "--results", str(library / "results")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(library))
    folder = library / "results" / "leaky"
    deadline = time.monotonic() + 60
    log = None
    while time.monotonic() < deadline:
        logs = list(folder.glob("*.partial/logs/failing/rank-0.log"))
        if logs and logs[0].stat().st_size:
            log = logs[0]
            break
        time.sleep(0.1)
    assert log is not None, "the last job never ran"
    time.sleep(0.3)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    partial = log.parents[2]
    run_id = partial.name[: -len(".partial")]
    from runner.execute.local.processes import marked_processes

    assert marked_processes(run_id), "the killed runner's service should still be running before recovery"
    history = subprocess.run([str(SCENARIO_BIN), "history", "leaky", "--results", str(library / "results")],
                             capture_output=True, text=True, env=_env(library), timeout=60)
    assert "INCOMPLETE" in history.stdout, history.stdout + history.stderr
    cleanup = subprocess.run([str(SCENARIO_BIN), "cleanup", "--local", "--results", str(library / "results")],
                             capture_output=True, text=True, env=_env(library), timeout=60)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert marked_processes(run_id) == []
    record = folder / run_id
    assert record.is_dir() and not partial.exists()
    assert '"INCOMPLETE"' in (record / "verdict.json").read_text()
    assert _record_leaks(record) == {}
    assert _leaks(cleanup.stdout + cleanup.stderr) == []


WRITTEN = {name: f"s3cr3t-{name}-Zq9" for name in ("file_api_key", "file_env_token")}
LIVE = SCENARIO.replace("sleep 30", "sleep 300").replace(
    'command: "echo the secret is $FAIL_PASSWORD; exit 1"', """command: >-
      echo the secret is $FAIL_PASSWORD;
      printf '{"api_key": "%s", "env": ["HF_TOKEN=%s"]}\\n' "$FILE_API_KEY" "$FILE_TOKEN" > result.json;
      echo written; setsid sleep 303 & sleep 304""").replace(
    "      FAIL_PASSWORD: ", f"      FILE_API_KEY: {WRITTEN['file_api_key']}\n      FILE_TOKEN: {WRITTEN['file_env_token']}\n      FAIL_PASSWORD: ")


def _all_leaks(folder: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        hits = [name for name, value in {**SECRETS, **WRITTEN}.items() if value in text]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


def _start_live_run(library: Path):
    (library / "scenarios" / "leaky.yaml").write_text(LIVE)
    runner = subprocess.Popen([str(SCENARIO_BIN), "run", "leaky", "--results", str(library / "results")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(library))
    folder = library / "results" / "leaky"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copies = list(folder.glob("*.partial/logs/failing/result.json"))
        if copies and copies[0].stat().st_size and "written" in (copies[0].parent / "rank-0.log").read_text():
            return runner, copies[0].parents[2]
        time.sleep(0.05)
    runner.kill()
    raise AssertionError("the last job never wrote its file")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT, signal.SIGKILL])
def test_a_live_record_never_holds_a_secret_and_a_signal_leaves_none(library, sig):
    """Secrets in env, args, ready captures, the runner's environment and a file a workload writes: the `.partial`
    record holds none of them while the run is live (only the private staging folder has the raw bytes); SIGHUP,
    SIGTERM and SIGQUIT end every process and finalize the record (exit 130); after SIGKILL the record still holds
    none, and recovery ends the processes and finalizes it."""
    from runner.execute.local.processes import marked_processes

    runner, partial = _start_live_run(library)
    run_id = partial.name[: -len(".partial")]
    staging = partial.with_name(f".{run_id}.staging")
    try:
        for _ in range(5):  # several looks while the workloads run
            assert _all_leaks(partial) == {}
            time.sleep(0.1)
        assert (staging / "logs" / "failing" / "result.json").is_file()
        assert staging.stat().st_mode & 0o777 == 0o700
        copied = json.loads((partial / "logs" / "failing" / "result.json").read_text())  # still JSON, redacted
        assert copied == {"api_key": "<redacted>", "env": ["HF_TOKEN=<redacted>"]}
        assert "--api-key '<redacted>'" in (partial / "logs" / "client" / "rank-0.cmd").read_text() or \
            "--api-key <redacted>" in (partial / "logs" / "client" / "rank-0.cmd").read_text()
        assert marked_processes(run_id)
    finally:
        runner.send_signal(sig)
        out, err = runner.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert partial.is_dir() and _all_leaks(partial) == {}
        cleanup = subprocess.run([str(SCENARIO_BIN), "cleanup", "--local", "--results", str(library / "results")],
                                 capture_output=True, text=True, env=_env(library), timeout=60)
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    else:
        assert runner.returncode == 130, err
        assert f"{sig.name}: stopping the workloads and finalizing the record" in err
        assert _leaks(out + err) == []
    record = partial.with_name(run_id)
    assert record.is_dir() and not partial.exists() and not staging.exists()
    assert _all_leaks(record) == {}
    assert marked_processes(run_id) == []
    assert ("INCOMPLETE" if sig == signal.SIGKILL else "INTERRUPTED") in (record / "verdict.json").read_text()

"""The local executor under faults: crash, hang, interrupt, missing binary, busy port; and its plumbing."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid

from runner.execute.local.commands import missing_program_message
from runner.execute.local.session import hints_for
from runner.flows.check import validate_scenario
from runner.scenario.resolve import Library


def test_crashing_process_gives_error_with_log_tail(lab):
    lab.write("crash", """\
        workloads:
          - name: boom
            command: [python, -c, "import sys; print('loading weights'); print('segfault in kernel xyz'); sys.exit(3)"]
        checks:
          - {log: boom, contains: "never printed"}
        """)
    result = lab.run("crash")
    assert result.verdict.status == "ERROR"
    assert result.verdict.exit_code == 3
    row = next(r for r in result.verdict.results if r.kind == "infrastructure")
    assert "exited with code 3" in row.message
    assert "segfault in kernel xyz" in row.message  # the tail of its log is in the verdict
    stored = lab.verdict(result.record)
    assert any("segfault in kernel xyz" in r["message"] for r in stored["results"])


def test_hanging_process_times_out_at_its_limit_and_is_killed(lab):
    marker = f"hang-{uuid.uuid4().hex[:8]}"
    lab.write("hang", f"""\
        workloads:
          - name: stuck
            command: [python, -c, "import time; time.sleep(120)", {marker}]
            timeout: 1s
        checks:
          - log: stuck
            contains: Traceback
            absent: true
        """)
    started = time.monotonic()
    result = lab.run("hang")
    elapsed = time.monotonic() - started
    assert result.verdict.status == "TIMEOUT"
    assert result.verdict.exit_code == 3
    assert 1.0 <= elapsed < 10, elapsed
    assert "1s limit" in result.output.outcomes["stuck"].message
    assert lab.processes_with(marker) == []


def test_process_ignoring_sigterm_is_killed(lab):
    marker = f"stubborn-{uuid.uuid4().hex[:8]}"
    lab.write("stubborn", f"""\
        workloads:
          - name: stubborn
            command: [python, -c, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)", {marker}]
            timeout: 1s
        checks:
          - log: stubborn
            contains: Traceback
            absent: true
        """)
    result = lab.run("stubborn")
    assert result.verdict.status == "TIMEOUT"
    assert lab.processes_with(marker) == []


def test_whole_run_timeout_stops_services_and_jobs(lab):
    marker = f"run-timeout-{uuid.uuid4().hex[:8]}"
    lab.write("slow", f"""\
        workloads:
          - name: server
            kind: service
            command: [python, -c, "import time; time.sleep(120)", {marker}]
          - name: client
            command: [python, -c, "import time; time.sleep(120)", {marker}]
        timeouts: {{run: 2s}}
        checks:
          - log: server
            contains: Traceback
            absent: true
          - log: client
            contains: Traceback
            absent: true
        """)
    result = lab.run("slow")
    assert result.verdict.status == "TIMEOUT"
    assert result.output.state == "timeout"
    assert lab.processes_with(marker) == []


def test_sigint_mid_run_exits_130_kills_everything_and_writes_the_record(lab):
    marker = f"sigint-{uuid.uuid4().hex[:8]}"
    lab.write("interrupt", f"""\
        workloads:
          - name: server
            kind: service
            ranks: 2
            command: [python, -c, "import time; print('up', flush=True); time.sleep(120)", {marker}]
            ready: {{log: "up"}}
          - name: client
            after: [server]
            command: [python, -c, "import time; time.sleep(120)", {marker}]
        checks:
          - log: client
            contains: Traceback
            absent: true
        """)
    env = {**os.environ, "SCENARIO_PATH": str(lab.scenarios), "CI": "true"}
    process = subprocess.Popen([str(lab.scenario_bin), "run", "interrupt", "--results", str(lab.results)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while len(lab.processes_with(marker)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(lab.processes_with(marker)) == 3, "server (2 ranks) and client should be running"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert lab.processes_with(marker) == []
    records = list((lab.results / "interrupt").iterdir())
    assert len(records) == 1 and not records[0].name.endswith(".partial")
    verdict = json.loads((records[0] / "verdict.json").read_text())
    assert verdict["status"] == "INTERRUPTED"
    assert (records[0] / "logs" / "server" / "rank-1.log").exists()


def test_missing_binary_names_the_package_that_provides_it(lab):
    lab.write("missing", """\
        workloads:
          - name: nccl
            command: [all_reduce_perf, -b, 8K, -e, 1M]
        checks:
          - log: nccl
            contains: Traceback
            absent: true
        """)
    result = lab.run("missing")
    assert result.verdict.status == "ERROR"
    message = result.output.outcomes["nccl"].message
    assert "'all_reduce_perf' not found on PATH" in message
    assert "nccl-tests" in message
    assert "mooncake-transfer-engine-non-cuda" in missing_program_message("transfer_engine_bench", "target")


def test_fallback_command_runs_when_the_first_is_missing(lab):
    lab.write("fallback", """\
        workloads:
          - name: probe
            command: [all_reduce_perf, -g, "4"]
            fallback:
              command: [python, -c, "import os; print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])"]
              ranks: 3
        checks:
          - {log: probe, regex: "rank [0-2] of 3", count: every-rank}
        """)
    result = lab.run("fallback")
    assert result.verdict.status == "PASS", result.verdict.summary
    assert len(result.output.outcomes["probe"].logs) == 3


def test_busy_port_is_avoided_and_service_readiness_by_http(lab):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        lab.write("http", """\
            workloads:
              - name: web
                kind: service
                command: [python, -m, http.server, "{{ ports.http }}", --bind, 127.0.0.1]
                ports: {http: 8080}
                ready: {http: {port: http, path: /}}
              - name: client
                after: [web]
                command: [python, -c, "import urllib.request, sys; print(urllib.request.urlopen('http://127.0.0.1:' + sys.argv[1]).status)", "{{ workloads.web.ports.http }}"]
            checks:
              - {log: client, contains: "200"}
            """)
        result = lab.run("http")
    assert result.verdict.status == "PASS", result.verdict.summary
    command = (result.record / "logs" / "web" / "rank-0.cmd").read_text()
    port = int(command.split()[3])
    assert port != 8080  # the declared number is not used as-is locally: a free port is handed over instead
    assert port != taken


def test_address_in_use_in_a_log_gets_a_hint():
    assert any("port" in hint for hint in hints_for("OSError: [Errno 98] Address already in use"))


def test_rank_and_group_variables(lab):
    lab.write("ranks", """\
        workloads:
          - name: group
            kind: group
            ranks: 2
            command: [python, -c, "import os, time; print(*(f'{k}={os.environ[k]}' for k in ['RANK','WORLD_SIZE','LOCAL_RANK','LOCAL_WORLD_SIZE','MASTER_ADDR','MASTER_PORT','LWS_LEADER_ADDRESS','LWS_GROUP_SIZE','LWS_WORKER_INDEX']), flush=True); time.sleep(60)"]
            env: {FROM_WORKLOAD: "w"}
          - name: wait-for-rank-1
            after: [group]
            command: [python, -c, "import pathlib, time; log = pathlib.Path('../group/rank-1.log'); [time.sleep(0.05) for _ in range(400) if not log.exists() or not log.read_text()]"]
        env: {FROM_SCENARIO: "s"}
        checks:
          - log: group
            contains: Traceback
            absent: true
          - log: wait-for-rank-1
            contains: Traceback
            absent: true
        """)
    result = lab.run("ranks")
    assert result.output.outcomes["group"].state == "done"  # a group is a service: up until the run ended
    rank1 = (result.record / "logs" / "group" / "rank-1.log").read_text()
    assert "RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1" in rank1
    assert "LWS_LEADER_ADDRESS=127.0.0.1 LWS_GROUP_SIZE=2 LWS_WORKER_INDEX=1" in rank1


def test_environment_layers_scenario_then_workload(lab):
    lab.write("env", """\
        env: {LAYER: scenario, ONLY_SCENARIO: "1"}
        workloads:
          - name: show
            command: [python, -c, "import os; print(os.environ['LAYER'], os.environ['ONLY_SCENARIO'])"]
            env: {LAYER: workload}
        checks:
          - {log: show, contains: "workload 1"}
        """)
    assert lab.run("env").verdict.status == "PASS"


def test_ready_log_captures_are_handed_to_dependents(lab):
    lab.write("capture", """\
        workloads:
          - name: server
            kind: service
            command: [python, -c, "import time; print('listening on 127.0.0.1:4242', flush=True); time.sleep(60)"]
            ready: {log: 'listening on (?P<address>\\S+)'}
          - name: client
            after: [server]
            command: [python, -c, "import sys; print('connecting to', sys.argv[1])", "{{ ready.server.address }}"]
        checks:
          - {log: client, contains: "connecting to 127.0.0.1:4242"}
        """)
    result = lab.run("capture")
    assert result.verdict.status == "PASS", result.verdict.summary
    assert result.output.outcomes["server"].outputs == {"address": "127.0.0.1:4242"}


def test_service_that_never_becomes_ready_times_out(lab):
    lab.write("never", """\
        workloads:
          - name: server
            kind: service
            command: [python, -c, "import time; time.sleep(60)"]
            ready: {log: "ready", timeout: 1s}
          - name: client
            after: [server]
            command: [python, -c, "print('hi')"]
        checks:
          - log: client
            contains: Traceback
            absent: true
        """)
    result = lab.run("never")
    assert result.verdict.status == "TIMEOUT"
    assert result.output.outcomes["server"].state == "timeout"
    assert result.output.outcomes["client"].state == "skipped"


def test_dependents_of_a_failed_job_are_skipped(lab):
    lab.write("chain", """\
        workloads:
          - name: first
            command: [python, -c, "raise SystemExit(1)"]
          - name: second
            after: [first]
            command: [python, -c, "print('never')"]
        checks:
          - log: first
            contains: Traceback
            absent: true
          - log: second
            contains: Traceback
            absent: true
        """)
    result = lab.run("chain")
    assert result.output.outcomes["second"].state == "skipped"
    assert "first did not succeed" in result.output.outcomes["second"].message


def test_shell_only_when_asked(lab):
    lab.write("shell", """\
        workloads:
          - name: piped
            shell: true
            command: "echo one two | wc -w"
        checks:
          - {log: piped, regex: "^2$"}
        """)
    assert lab.run("shell").verdict.status == "PASS"


def test_shell_true_is_bash_on_both_executors(lab):
    """`shell: true` gives the command to `bash -c`, locally as in the Kubernetes pods: bash syntax works on both."""
    from runner.execute import get_executor

    path = lab.write("bashism", """\
        workloads:
          - name: job
            shell: true
            command: "[[ a == a ]] && echo bash-ok"
        checks:
          - {log: job, contains: bash-ok}
        """)
    path.write_text(path.read_text().replace("executors: [local]", "executors: [local, kubernetes]"))
    result = lab.run("bashism")
    assert result.verdict.status == "PASS", result.verdict.summary
    assert (result.record / "logs" / "job" / "rank-0.cmd").read_text().startswith("/bin/bash -c ")
    scenario = validate_scenario("bashism", Library(lab.scenarios))
    rendered = json.dumps(get_executor("kubernetes").plan(scenario).documents)
    assert '["/bin/bash", "-c", "[[ a == a ]] && echo bash-ok"]' in rendered


def test_mpi_workload_uses_mpirun_on_localhost(lab):
    import shutil

    import pytest

    if not shutil.which("mpirun"):
        pytest.skip("mpirun not installed (Debian openmpi-bin)")
    lab.write("mpi", """\
        workloads:
          - name: hello
            kind: mpi
            ranks: 2
            command: [python, -c, "import os; print('rank', os.environ.get('OMPI_COMM_WORLD_RANK'), 'master', os.environ['MASTER_PORT'])"]
        checks:
          - {log: hello, regex: "rank [01] master [0-9]+", count: 2}
        """)
    result = lab.run("mpi")
    assert result.verdict.status == "PASS", result.verdict.summary
    assert result.output.facts["programs"]["hello"]["launcher"] == "mpirun"


def test_render_writes_the_process_plan(lab, tmp_path):
    lab.write("plan", """\
        workloads:
          - name: server
            kind: service
            command: [python, -m, http.server, "{{ ports.http }}"]
            ports: {http: 8000}
            ready: {port: http}
          - name: client
            after: [server]
            ranks: 2
            command: [python, -c, "print(1)", "{{ workloads.server.ports.http }}"]
        checks:
          - log: client
            contains: Traceback
            absent: true
        """)
    out = tmp_path / "plan-out"
    completed = lab.cli("render", "plan", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    import yaml

    plan = yaml.safe_load((out / "process-plan.yaml").read_text())
    assert plan["start_order"] == ["server", "client"]
    client = plan["steps"][1]
    assert client["ranks"] == 2 and "RANK" in client["rank_env"]
    assert client["command"][-1] == "<free port server.http>"


def test_secret_values_echoed_into_logs_are_redacted_in_the_record(lab, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_users_shell_123")
    lab.write("leaky", """\
        env: {MY_API_KEY: "sk-scenario-secret-456", PLAIN: "visible-value"}
        workloads:
          - name: chatty
            command: [python, -c, "import os; print('token', os.environ['HF_TOKEN'], 'key', os.environ['MY_API_KEY'], os.environ['PLAIN'])"]
        checks:
          - {log: chatty, contains: "visible-value"}
        """)
    result = lab.run("leaky")
    assert result.verdict.status == "PASS"
    log = (result.record / "logs" / "chatty" / "rank-0.log").read_text()
    assert "hf_from_the_users_shell_123" not in log and "sk-scenario-secret-456" not in log
    assert log.count("<redacted>") == 2 and "visible-value" in log
    assert "sk-scenario-secret-456" not in (result.record / "scenario.yaml").read_text()

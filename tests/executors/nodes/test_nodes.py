"""Emulated nodes for real: namespaces, links, names, rate limits, link faults, teardown and crash cleanup (root only)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from runner.execute.local import nodes
from runner.execute.local.nodes import Fabric, LinkSettings

pytestmark = pytest.mark.skipif(nodes.unavailable_reason() != "", reason=f"emulated nodes unavailable: {nodes.unavailable_reason()}")


def ip_netns() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@pytest.fixture
def fabric():
    made = Fabric.create(f"test-{uuid.uuid4().hex[:8]}", {"node-0": LinkSettings(), "node-1": LinkSettings(rate_mbit=50),
                                                          "node-2": LinkSettings()},
                         hosts={"target.ns.svc": "node-1", "target-0": "node-1"})
    yield made
    assert made.teardown() == []


def on(fabric, node, script, hostname=""):
    return subprocess.run(fabric.launcher(node, hostname) + ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)


def test_each_node_has_its_address_names_and_hostname_and_no_way_out(fabric):
    out = on(fabric, "node-0", "hostname; getent hosts target.ns.svc; ip -4 -o addr show dev eth0; ip route", hostname="initiator-0")
    lines = out.stdout.splitlines()
    assert lines[0] == "initiator-0"
    assert lines[1].split()[0] == "198.18.0.11"
    assert "198.18.0.10/24" in lines[2]
    assert "default" not in out.stdout  # no route outside the run's /24
    unreachable = on(fabric, "node-0", "ip route get 192.0.2.1 2>&1")
    assert "unreachable" in unreachable.stdout.lower()
    assert fabric.hub in ip_netns() and all(n.netns in ip_netns() for n in fabric.nodes.values())


def test_nodes_talk_across_the_bridge_and_the_hub_probes_them(fabric):
    server = subprocess.Popen(fabric.launcher("node-1", "target-0") + [sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "18080"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not fabric.port_open("node-1", 18080) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fabric.http_ok("node-1", 18080, "/")
        assert not fabric.port_open("node-2", 18080)
        fetched = on(fabric, "node-2", f"{sys.executable} -c \"import urllib.request; print(urllib.request.urlopen('http://target.ns.svc:18080/').status)\"")
        assert fetched.stdout.strip() == "200", fetched.stderr
    finally:
        server.kill()
        server.wait()


def test_rate_limit_is_a_tbf_on_both_ends_and_can_be_changed(fabric):
    node = fabric.nodes["node-1"]
    inside = subprocess.run(["tc", "-n", node.netns, "qdisc", "show", "dev", "eth0"], capture_output=True, text=True).stdout
    hub = subprocess.run(["tc", "-n", fabric.hub, "qdisc", "show", "dev", node.hub_if], capture_output=True, text=True).stdout
    assert "tbf" in inside and "50Mbit" in inside and "tbf" in hub
    fabric.set_rate("node-1", None)
    assert "tbf" not in subprocess.run(["tc", "-n", node.netns, "qdisc", "show", "dev", "eth0"], capture_output=True, text=True).stdout
    assert fabric.events[-1]["change"] == "rate unlimited"


def test_a_link_taken_down_by_hand_or_by_the_settings_is_seen(fabric):
    assert fabric.links_down() == {}
    subprocess.run(["ip", "-n", fabric.nodes["node-2"].netns, "link", "set", "eth0", "down"], check=True)  # from outside the runner
    assert fabric.links_down() == {"node-2": "no carrier (the node's end is down)"}
    fabric.set_down("node-0")
    assert fabric.links_down()["node-0"] == "link down"


def test_timed_link_fault_fires_once():
    fabric = Fabric.create(f"test-{uuid.uuid4().hex[:8]}", {"node-0": LinkSettings(down_after_s=0.2), "node-1": LinkSettings()})
    try:
        assert fabric.apply_timed_faults() == []
        time.sleep(0.25)
        assert fabric.apply_timed_faults() == ["node-0"]
        assert fabric.apply_timed_faults() == []
        assert list(fabric.links_down()) == ["node-0"]
        assert "down after 0.2s" in fabric.describe()["events"][0]["change"]
    finally:
        assert fabric.teardown() == []


def test_teardown_ends_processes_inside_and_leaves_nothing():
    fabric = Fabric.create(f"test-{uuid.uuid4().hex[:8]}", {"node-0": LinkSettings(), "node-1": LinkSettings()})
    sleeper = subprocess.Popen(fabric.launcher("node-0", "x") + ["sleep", "300"], start_new_session=True)
    time.sleep(0.2)
    namespaces = [fabric.hub] + [n.netns for n in fabric.nodes.values()]
    assert nodes.pids_in(namespaces) == [sleeper.pid]
    assert fabric.teardown() == []
    assert sleeper.wait(timeout=5) != 0
    assert not any(ns in ip_netns() for ns in namespaces)
    assert not any((nodes.HOSTS_ROOT / ns).exists() for ns in namespaces)
    assert not (nodes.MARKER_DIR / f"{fabric.tag}.json").exists()


def test_the_rsh_agent_runs_mpi_daemon_command_lines_on_the_named_node(fabric):
    agent = fabric.rsh_agent({"target-0": "node-1", "w-2": "node-2"})
    out = subprocess.run([str(agent), "w-2", "echo", "$(hostname)", "\"a;b\""], capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == ["w-2", "a;b"]  # joined and run by a shell, as ssh does
    ip = subprocess.run([str(agent), "target-0", "ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True, text=True)
    assert "198.18.0.11/24" in ip.stdout
    refused = subprocess.run([str(agent), "nowhere", "true"], capture_output=True, text=True)
    assert refused.returncode == 255 and "no emulated node" in refused.stderr


def test_what_a_killed_runner_left_is_found_and_removed():
    run_id = f"crash-{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(f"""
        import subprocess, time
        from runner.execute.local.nodes import Fabric, LinkSettings
        fabric = Fabric.create({run_id!r}, {{"node-0": LinkSettings(), "node-1": LinkSettings()}})
        subprocess.Popen(fabric.launcher("node-1") + ["sleep", "300"], start_new_session=True)
        print(fabric.tag, flush=True)
        time.sleep(300)
        """)
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    tag = runner.stdout.readline().strip()
    runner.kill()
    runner.wait()
    marker = json.loads((nodes.MARKER_DIR / f"{tag}.json").read_text())
    assert all(ns in ip_netns() for ns in marker["namespaces"])  # the crash left them
    report = nodes.cleanup_stale()
    assert any(marker["hub"] in line for line in report)
    assert not any(ns in ip_netns() for ns in marker["namespaces"])
    assert nodes.pids_in(marker["namespaces"]) == []
    assert not (nodes.MARKER_DIR / f"{tag}.json").exists()


def test_runs_starting_side_by_side_never_remove_each_others_nodes():
    """Every run looks for stale runs (cleanup_stale) before it makes its nodes; a triage round starts its sets at once.
    A sweep that read the markers just before a new run wrote its own, then saw that run's fresh namespaces, used to
    delete them as orphans (the set then fell back to loopback or lost its processes)."""
    import threading

    tag = uuid.uuid4().hex[:6]
    stop, problems = threading.Event(), []

    def sweep():
        while not stop.is_set():
            nodes.cleanup_stale()

    def make(worker):
        for attempt in range(12):
            try:
                made = Fabric.create(f"test-race-{tag}-{worker}-{attempt}", {"node-0": LinkSettings(rate_mbit=100)})
            except nodes.NodesError as error:
                problems.append(str(error))
                continue
            gone = [ns for ns in [made.hub, made.nodes["node-0"].netns] if not (nodes.NETNS_DIR / ns).exists()]
            problems.extend(f"{ns} removed under its run" for ns in gone)
            problems.extend(made.teardown())

    threads = [threading.Thread(target=sweep)] + [threading.Thread(target=make, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join()
    stop.set()
    threads[0].join()
    assert problems == []
    assert not [name for name in ip_netns().split() if tag in name]


def test_a_user_who_cannot_write_the_marker_folder_still_gets_a_cleanup_report(monkeypatch):
    """`scenario cleanup --local` without root: no lock file can be made (and no node either), the sweep still runs."""
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(nodes.LOCK_NAME):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(nodes.os, "open", refuse)
    assert isinstance(nodes.cleanup_stale(), list)

"""Emulated nodes for the local executor: one Linux network namespace per node, wired to a run-owned hub.

A placement layer, not an executor: it decides which network namespace a process starts in. Each
node is a namespace with one interface (`eth0`, a veth pair whose other end sits on a bridge in the
run's hub namespace) and one address in 198.18.0.0/24 (the benchmarking range, RFC 2544). There is
no default route anywhere and nothing in the host's namespace, so no traffic can leave the machine.
Names resolve through a hosts file per namespace (/etc/netns/<ns>/hosts, which `ip netns exec`
mounts over /etc/hosts); each process gets its pod's hostname in a UTS namespace of its own.

Per-node link settings: a rate limit (tbf, both directions) and link down (now, or after a delay).
A run marker under /run/scenario-runner/nodes/ names everything a run created, written before the
first namespace exists, so that `scenario cleanup --local` or the next run removes what a crash left.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from runner.execute.local.placement import MAX_NODES, LinkSettings
from runner.execute.local.processes import marked_processes

NETNS_DIR = Path("/run/netns")
HOSTS_ROOT = Path("/etc/netns")
MARKER_DIR = Path("/run/scenario-runner/nodes")
LOCK_NAME = ".lock"             # held while a run writes its marker and while stale runs are looked for and removed
PREFIX = "sr-"                  # every namespace a run creates: sr-<tag>-hub, sr-<tag>-<i>
SUBNET = "198.18.0"             # /24 of the benchmarking range; the hub's bridge is .1, node i is .(10 + i)
PREFIX_LEN = 24
FIRST_HOST = 10
BRIDGE = "br0"
NODE_IF = "eth0"
TBF_LATENCY = "200ms"
CLONE_NEWNET = 0x40000000


class NodesUnavailable(Exception):
    """This machine cannot create emulated nodes (not root, no `ip`, no namespace support)."""


class NodesError(Exception):
    """Creating or changing the emulated nodes failed."""


@dataclass(frozen=True)
class Node:
    name: str
    index: int
    address: str
    netns: str
    hub_if: str            # the hub end of the node's veth pair
    link: LinkSettings = LinkSettings()


def unavailable_reason() -> str:
    """Why emulated nodes cannot be made here, or "" when they can."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` command (Debian's iproute2)"
    if not Path("/proc/self/ns/net").exists():
        return "no network namespace support"
    return ""


def run_tag(run_id: str) -> str:
    """Six characters that keep interface names within Linux's 15 (the run id's random tail plus time)."""

    return hashlib.sha1(run_id.encode()).hexdigest()[:6]


def _run(argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NodesError(f"{' '.join(argv[:4])}: {(result.stderr or result.stdout).strip()}")
    return result


def _batch(lines: list[str], netns: str = "", tool: str = "ip") -> None:
    if lines:
        _run([tool] + (["-n", netns] if netns else []) + ["-batch", "-"], "\n".join(lines) + "\n")


def tbf_args(rate_mbit: float) -> str:
    rate_bytes = rate_mbit * 1e6 / 8
    # The bucket holds at least a 64 KiB GSO segment from the veth and ~10 ms of traffic; smaller ones starve.
    burst = int(max(128 * 1024, rate_bytes / 100))
    return f"tbf rate {rate_mbit:g}mbit burst {burst} latency {TBF_LATENCY}"


class Fabric:
    """The emulated nodes of one run: create, place processes, change links, tear down."""

    def __init__(self, run_id: str, nodes: tuple[Node, ...], tag: str):
        self.run_id = run_id
        self.tag = tag
        self.hub = f"{PREFIX}{tag}-hub"
        self.nodes = {node.name: node for node in nodes}
        self.hosts: dict[str, str] = {}
        self.started = time.monotonic()
        self.events: list[dict] = []     # link changes, for the record
        self._downs_done: set[str] = set()
        self.state_dir = MARKER_DIR / tag

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def create(cls, run_id: str, links: Mapping[str, LinkSettings], *, hosts: Mapping[str, str] | None = None) -> "Fabric":
        """Nodes named by `links` (in order), each with its settings; `hosts`: extra name -> node name entries."""
        reason = unavailable_reason()
        if reason:
            raise NodesUnavailable(reason)
        if not links:
            raise NodesError("no nodes to create")
        if len(links) > MAX_NODES:
            raise NodesError(f"{len(links)} nodes asked for; at most {MAX_NODES}")
        tag = run_tag(run_id)
        nodes = tuple(Node(name, i, f"{SUBNET}.{FIRST_HOST + i}", f"{PREFIX}{tag}-{i}", f"v{tag}-{i}", settings)
                      for i, (name, settings) in enumerate(links.items()))
        fabric = cls(run_id, nodes, tag)
        with registry_lock():  # a concurrent cleanup_stale sees the marker before any namespace it names exists
            fabric._write_marker()
        try:
            fabric._build()
            fabric.set_hosts(hosts or {})
            for node in nodes:
                if node.link.rate_mbit:
                    fabric.set_rate(node.name, node.link.rate_mbit, record=False)
                if node.link.down:
                    fabric.set_down(node.name, True, reason="link settings: down", record=False)
        except BaseException:
            fabric.teardown()
            raise
        return fabric

    def _build(self) -> None:
        namespaces = [self.hub] + [n.netns for n in self.nodes.values()]
        root = [f"netns add {ns}" for ns in namespaces]
        root += [f"link add {n.hub_if} netns {self.hub} type veth peer name {NODE_IF} netns {n.netns}" for n in self.nodes.values()]
        _batch(root)
        hub = ["link set lo up", f"link add {BRIDGE} type bridge forward_delay 0", f"addr add {SUBNET}.1/{PREFIX_LEN} dev {BRIDGE}",
               f"link set {BRIDGE} up"]
        for node in self.nodes.values():
            hub += [f"link set {node.hub_if} master {BRIDGE}", f"link set {node.hub_if} up"]
        _batch(hub, self.hub)
        for node in self.nodes.values():
            _batch(["link set lo up", f"addr add {node.address}/{PREFIX_LEN} dev {NODE_IF}", f"link set {NODE_IF} up"], node.netns)

    def _write_marker(self) -> None:
        MARKER_DIR.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        marker = {"run_id": self.run_id, "tag": self.tag, "pid": os.getpid(), "pid_start": _start_time(os.getpid()),
                  "created": time.time(), "hub": self.hub, "namespaces": [self.hub] + [n.netns for n in self.nodes.values()],
                  "nodes": {n.name: n.netns for n in self.nodes.values()}}
        path = MARKER_DIR / f"{self.tag}.json"
        partial = MARKER_DIR / f".{self.tag}.json.partial"   # not matched by *.json: readers see the whole marker or none
        partial.write_text(json.dumps(marker, indent=1) + "\n")
        partial.replace(path)

    # --- names ------------------------------------------------------------------------------

    def set_hosts(self, entries: Mapping[str, str]) -> None:
        """Hosts entries (name -> node name) in every namespace of the run, node names included."""
        self.hosts = {**{name: node.address for name, node in self.nodes.items()},
                      **{host: self.nodes[node].address for host, node in entries.items()}}
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        by_address: dict[str, list[str]] = {}
        for host, address in self.hosts.items():
            by_address.setdefault(address, []).append(host)
        lines += [f"{address} {' '.join(names)}" for address, names in by_address.items()]
        text = "\n".join(lines) + "\n"
        for netns in [self.hub] + [n.netns for n in self.nodes.values()]:
            directory = HOSTS_ROOT / netns
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "hosts").write_text(text)

    def address(self, node: str) -> str:
        return self.nodes[node].address

    # --- processes --------------------------------------------------------------------------

    def launcher(self, node: str | None, hostname: str = "") -> list[str]:
        """The argv prefix that starts a program on `node` (the hub when None) under `hostname`."""
        netns = self.nodes[node].netns if node else self.hub
        prefix = ["ip", "netns", "exec", netns]
        if hostname:
            prefix += ["unshare", "--uts", "--", "/bin/sh", "-c", 'hostname "$0" && exec "$@"', hostname]
        return prefix

    def rsh_agent(self, hosts: Mapping[str, str]) -> Path:
        """A program for Open MPI's `--mca plm_rsh_agent`: `agent HOST COMMAND...` runs COMMAND on HOST's node, as ssh
        would (the words joined and given to a shell), so mpirun launches its daemons with no ssh."""
        cases = "\n".join(f'  {host}) ns={self.nodes[node].netns} ;;' for host, node in hosts.items())
        script = f"""#!/bin/sh
# scenario-runner: Open MPI rsh agent for the emulated nodes of run {self.run_id}
host="$1"; shift
case "$host" in
{cases}
  *) echo "scenario-runner: no emulated node for host $host" >&2; exit 255 ;;
esac
exec ip netns exec "$ns" unshare --uts -- /bin/sh -c 'hostname "$1" && eval "$0"' "$*" "$host"
"""
        path = self.state_dir / "rsh-agent"
        path.write_text(script)
        path.chmod(0o755)
        return path

    @contextmanager
    def in_hub(self) -> Iterator[None]:
        """This thread in the hub's network namespace (sockets made inside stay there): readiness probes reach the nodes."""
        with in_netns(NETNS_DIR / self.hub):
            yield

    def port_open(self, node: str, port: int, timeout: float = 0.2) -> bool:
        with self.in_hub():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((self.address(node), port))
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def http_ok(self, node: str, port: int, path: str, timeout: float = 0.5) -> bool:
        return http_get_ok(self.address(node), port, path, timeout, connect_in=self.in_hub)

    # --- links ------------------------------------------------------------------------------

    def set_rate(self, node: str, rate_mbit: float | None, record: bool = True) -> None:
        """A tbf rate limit on both directions of the node's link (None removes it)."""
        target = self.nodes[node]
        for netns, device in ((target.netns, NODE_IF), (self.hub, target.hub_if)):
            if rate_mbit:
                _run(["tc", "-n", netns, "qdisc", "replace", "dev", device, "root"] + tbf_args(rate_mbit).split())
            else:
                _run(["tc", "-n", netns, "qdisc", "del", "dev", device, "root"], check=False)
        if record:
            self._event(node, f"rate {rate_mbit:g} Mbit/s" if rate_mbit else "rate unlimited")

    def set_down(self, node: str, down: bool = True, reason: str = "", record: bool = True) -> None:
        target = self.nodes[node]
        _run(["ip", "-n", self.hub, "link", "set", target.hub_if, "down" if down else "up"])
        if record or reason:
            self._event(node, ("link down" if down else "link up") + (f" ({reason})" if reason else ""))

    def apply_timed_faults(self) -> list[str]:
        """Take down the links whose `down_after` has come; returns the nodes changed now."""
        elapsed = time.monotonic() - self.started
        changed = []
        for node in self.nodes.values():
            after = node.link.down_after_s
            if after is not None and elapsed >= after and node.name not in self._downs_done:
                self._downs_done.add(node.name)
                self.set_down(node.name, True, reason=f"link settings: down after {after:g}s")
                changed.append(node.name)
        return changed

    def links_down(self) -> dict[str, str]:
        """Nodes whose link does not carry traffic now (either end down), with what `ip` says."""
        result = _run(["ip", "-n", self.hub, "-o", "link", "show"], check=False)
        down = {}
        by_if = {node.hub_if: node.name for node in self.nodes.values()}
        for line in result.stdout.splitlines():
            parts = line.split(":", 2)
            if len(parts) < 3:
                continue
            device = parts[1].strip().split("@")[0]
            if device not in by_if:
                continue
            flags = line[line.find("<") + 1: line.find(">")].split(",")
            if "UP" not in flags:
                down[by_if[device]] = "link down"
            elif "LOWER_UP" not in flags:
                down[by_if[device]] = "no carrier (the node's end is down)"
        return down

    def _event(self, node: str, what: str) -> None:
        self.events.append({"at_s": round(time.monotonic() - self.started, 3), "node": node, "change": what})

    # --- record -----------------------------------------------------------------------------

    def describe(self) -> dict:
        return {"mode": "nodes", "subnet": f"{SUBNET}.0/{PREFIX_LEN}", "hub": self.hub,
                "nodes": {n.name: {"address": n.address, "netns": n.netns, "link": n.link.to_dict(),
                                   "link_text": n.link.describe()} for n in self.nodes.values()},
                "events": list(self.events)}

    # --- teardown ---------------------------------------------------------------------------

    def teardown(self) -> list[str]:
        """End every process in the run's namespaces, delete the namespaces (their links go with them), the hosts files,
        the agent and the marker. Returns what is still there afterwards."""
        return remove_run(self.tag, [self.hub] + [n.netns for n in self.nodes.values()])


# --- namespaces of this thread --------------------------------------------------------------------

_libc = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextmanager
def in_netns(path: Path) -> Iterator[None]:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(str(path), os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


# --- cleanup ----------------------------------------------------------------------------------------


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _ns_id(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def pids_in(namespaces: list[str]) -> list[int]:
    """Processes whose network namespace is one of these (by the namespace file's inode)."""
    wanted = {ns_id for ns_id in (_ns_id(NETNS_DIR / ns) for ns in namespaces) if ns_id}
    if not wanted:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _ns_id(entry / "ns" / "net") in wanted:
            found.append(int(entry.name))
    return found


def _kill(pids: list[int], grace_s: float = 2.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 1.0)
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.02)
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def remove_run(tag: str, namespaces: list[str]) -> list[str]:
    namespaces = [ns for ns in namespaces if (NETNS_DIR / ns).exists()]
    _kill(pids_in(namespaces))
    if namespaces:
        _run(["ip", "-force", "-batch", "-"], "".join(f"netns del {ns}\n" for ns in namespaces), check=False)
    for ns in namespaces:
        shutil.rmtree(HOSTS_ROOT / ns, ignore_errors=True)
    shutil.rmtree(MARKER_DIR / tag, ignore_errors=True)
    left = [f"namespace {ns}" for ns in namespaces if (NETNS_DIR / ns).exists()]
    left += [f"process {pid}" for pid in pids_in(namespaces)]
    if not left:
        (MARKER_DIR / f"{tag}.json").unlink(missing_ok=True)
    return left


def _marker_live(marker: dict) -> bool:
    pid = marker.get("pid")
    return isinstance(pid, int) and _alive(pid) and _start_time(pid) == marker.get("pid_start")


@contextmanager
def registry_lock() -> Iterator[None]:
    """One writer of the run markers at a time, across threads and processes (flock on a file of the marker folder).

    Without it a run starting beside another (a triage round's sets, or two runs on one machine) could read the
    markers, then see a namespace the other run made just after writing its marker, and delete it as an orphan."""
    try:
        MARKER_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(MARKER_DIR / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:  # not root (`scenario cleanup --local` as a user): this user can create no nodes to race
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def cleanup_stale(include_live: bool = False) -> list[str]:
    """Remove what runs that are gone left behind: every marker whose runner is dead, and `sr-` namespaces no live
    marker names. Returns a line per thing removed (and per thing that could not be)."""
    with registry_lock():
        return _cleanup_stale(include_live)


def _cleanup_stale(include_live: bool) -> list[str]:
    report: list[str] = []
    live: set[str] = set()
    for path in sorted(MARKER_DIR.glob("*.json")) if MARKER_DIR.is_dir() else []:
        try:
            marker = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if _marker_live(marker) and not include_live:
            live.update(marker.get("namespaces", []))
            continue
        namespaces = [ns for ns in marker.get("namespaces", []) if (NETNS_DIR / ns).exists()]
        left = remove_run(str(marker.get("tag", path.stem)), namespaces)
        report += [f"removed namespace {ns} of run {marker.get('run_id', '?')}" for ns in namespaces if f"namespace {ns}" not in left]
        report += [f"could not remove {item}" for item in left]
    orphans = sorted(p.name for p in NETNS_DIR.glob(f"{PREFIX}*")) if NETNS_DIR.is_dir() else []
    orphans = [ns for ns in orphans if ns not in live]
    if orphans:
        left = remove_run("-orphans-", orphans)
        report += [f"removed namespace {ns} (no run marker)" for ns in orphans if f"namespace {ns}" not in left]
        report += [f"could not remove {item}" for item in left]
    return report


# --- what a finished run left -----------------------------------------------------------------------


def left_behind(options: Mapping | None, namespace: str, run_ids) -> list[str]:
    """What the teardown of these finished runs should have removed and did not, a line each: their network
    namespaces (with any process still inside), veths, hosts files, markers, and live processes carrying a run's
    marker (processes.RUN_MARKER). A triage checks this after every round, as it checks the cluster on Kubernetes.
    `options` and `namespace` are the Kubernetes check's arguments, unused here."""

    namespaces = sorted(p.name for p in NETNS_DIR.glob(f"{PREFIX}*")) if NETNS_DIR.is_dir() else []
    links = _link_names()
    left: list[str] = []
    for run_id in run_ids:
        tag = run_tag(run_id)
        mine = [ns for ns in namespaces if ns.startswith(f"{PREFIX}{tag}-")]
        left += [f"namespace {ns} (run {run_id})" for ns in mine]
        left += [f"process {pid} in namespace of run {run_id}" for pid in pids_in(mine)]
        left += [f"veth {name} (run {run_id})" for name in links if name.startswith(f"v{tag}-")]
        left += [f"hosts file {path} (run {run_id})" for path in sorted(HOSTS_ROOT.glob(f"{PREFIX}{tag}-*"))]
        left += [f"marker {path} (run {run_id})" for path in (MARKER_DIR / f"{tag}.json", MARKER_DIR / tag) if path.exists()]
        left += [f"process {pid} of run {run_id}" for pid in marked_processes(run_id)]
    return list(dict.fromkeys(left))


def _link_names() -> list[str]:
    """Interface names in this machine's own namespace (a veth of a run ends up here only by mistake)."""
    if shutil.which("ip") is None:
        return []
    lines = _run(["ip", "-o", "link", "show"], check=False).stdout.splitlines()
    return [line.split(":", 2)[1].strip().split("@")[0] for line in lines if line.count(":") >= 2]


def http_get_ok(host: str, port: int, path: str, timeout: float = 0.5, connect_in=contextlib.nullcontext) -> bool:
    """A readiness probe: GET `path` answers 200. The connection is opened inside `connect_in()` (the hub's namespace
    for an emulated node's address); the request then goes over that socket."""
    import http.client  # with ssl and email: only when a readiness probe is HTTP

    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        with connect_in():
            connection.connect()
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()

"""Start, stop and inspect the local control plane (see the package docstring)."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from . import pki

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]
# start order; `down` stops them in reverse
ORDER = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "lws", "mpi-operator",
         "log-binder"]
MPI_HEALTH_PORT = 8080  # hard-coded in mpi-operator (cmd/mpi-operator/app/server.go healthCheckPort, ":8080")

# instance type -> (GPUs, EFA devices); all are 192 vCPU / 2 TiB hosts with 5128 pre-allocated 2 MiB huge pages
SHAPES = {
    "p5.48xlarge": (8, 32),
    "p5en.48xlarge": (8, 16),
    "p6-b200.48xlarge": (8, 8),
}
DEFAULT_NODES = {"p5.48xlarge": 4, "p5en.48xlarge": 2, "p6-b200.48xlarge": 2}
HUGEPAGES_2MI = "10256Mi"


class ClusterError(RuntimeError):
    pass


def _say(msg: str, t0: float | None = None) -> None:
    stamp = f"[cluster {time.monotonic() - t0:5.1f}s] " if t0 is not None else "[cluster] "
    print(stamp + msg, flush=True)


# ------------------------------------------------------------------------------------------------ state

def _state_path(d: Path) -> Path:
    return d / "state.json"


def load_state(d: Path) -> dict | None:
    try:
        return json.loads(_state_path(d).read_text())
    except (OSError, ValueError):
        return None


def is_up(d: Path) -> bool:
    """The control plane of `d` became ready and every one of its processes is alive."""
    state = load_state(Path(d).resolve())
    return bool(state and state.get("ready") and all(_alive(p) for p in state.get("procs", {}).values()))


def _save_state(d: Path, state: dict) -> None:
    tmp = _state_path(d).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, _state_path(d))


def _alive(proc: dict) -> bool:
    """The recorded process runs and is still the program we started (not a recycled pid)."""
    pid = proc["pid"]
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return False
    return bool(cmd) and cmd[0].decode(errors="replace") == proc["argv0"] and proc.get("mark", "") in \
        " ".join(c.decode(errors="replace") for c in cmd)


def _stop(name: str, proc: dict, grace: float = 10.0) -> None:
    if not _alive(proc):
        return
    try:
        os.kill(proc["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if not _alive(proc):
            return
        time.sleep(0.1)
    try:
        os.kill(proc["pid"], signal.SIGKILL)
    except ProcessLookupError:
        return
    end = time.monotonic() + 5
    while time.monotonic() < end and _alive(proc):
        time.sleep(0.1)


def _stop_all(d: Path, state: dict, quiet: bool = False) -> None:
    procs = state.get("procs", {})
    for name in reversed(ORDER):
        if name in procs:
            if not quiet:
                _say(f"stopping {name} (pid {procs[name]['pid']})")
            _stop(name, procs[name])
    for p in (_state_path(d), d / "kubeconfig"):
        p.unlink(missing_ok=True)
    shutil.rmtree(d / "run", ignore_errors=True)
    shutil.rmtree(d / "podlogs", ignore_errors=True)


# ------------------------------------------------------------------------------------------------ helpers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def find_bin(explicit: str | None = None) -> Path:
    """The bin dir of cluster/build.sh: --bin, $SCENARIO_CLUSTER_BIN, or what `cluster/build.sh --print` says."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get("SCENARIO_CLUSTER_BIN"):
        return Path(os.environ["SCENARIO_CLUSTER_BIN"]).resolve()
    script = REPO / "cluster" / "build.sh"
    if not script.is_file():
        raise ClusterError("no --bin given and cluster/build.sh not found")
    return Path(subprocess.run(["bash", str(script), "--print"], check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1])


def missing_binaries(bin_dir: Path) -> list[str]:
    need = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "lws-manager",
            "mpi-operator"]
    missing = [b for b in need if not os.access(bin_dir / b, os.X_OK)]
    if not (bin_dir.parent / "share" / ".done").is_file():
        missing.append("../share (CRDs, kwok node stages)")
    return missing


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx)).open(url, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def _tls_ok(port: int) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s, ctx.wrap_socket(s):
            return True
    except Exception:
        return False


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def kubeconfig_text(pkid: Path, port: int) -> str:
    b64 = lambda f: base64.b64encode((pkid / f).read_bytes()).decode()  # noqa: E731
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "scenario-runner-local",
        "clusters": [{"name": "scenario-runner-local", "cluster": {
            "server": f"https://127.0.0.1:{port}", "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"),
                                            "client-key-data": b64("admin.key")}}],
        "contexts": [{"name": "scenario-runner-local", "context": {"cluster": "scenario-runner-local",
                                                                   "user": "admin"}}],
    }, sort_keys=False)


def node_manifest(name: str, instance_type: str) -> dict:
    gpus, efa = SHAPES[instance_type]
    res = {"cpu": "192", "memory": "2048Gi", "pods": "110", "ephemeral-storage": "1Ti",
           "hugepages-2Mi": HUGEPAGES_2MI, "nvidia.com/gpu": str(gpus), "vpc.amazonaws.com/efa": str(efa)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                       "node.kubernetes.io/instance-type": instance_type, "type": "kwok"},
        },
        "spec": {},
        "status": {"capacity": dict(res), "allocatable": dict(res),
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake",
                                "kubeProxyVersion": "fake", "containerRuntimeVersion": "kwok",
                                "osImage": "simulated", "kernelVersion": "simulated", "machineID": "",
                                "systemUUID": "", "bootID": ""}},
    }


def node_names(nodes: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"{t.replace('.', '-')}-{i}", t) for t, n in nodes.items() for i in range(n)]


def parse_nodes(spec: str | None) -> dict[str, int]:
    if not spec:
        return dict(DEFAULT_NODES)
    out: dict[str, int] = {}
    for part in spec.split(","):
        t, _, n = part.partition("=")
        if t.strip() not in SHAPES:
            raise ClusterError(f"unknown instance type {t!r} (known: {', '.join(SHAPES)})")
        out[t.strip()] = int(n or 1)
    return out


# ------------------------------------------------------------------------------------------------ up

def up(d: Path, bin_dir: Path, nodes: dict[str, int], timeout: float = 120.0) -> int:
    t0 = time.monotonic()
    d = d.resolve()
    state = load_state(d)
    if state is not None:
        dead = [n for n, p in state.get("procs", {}).items() if not _alive(p)]
        if not dead and state.get("ready"):
            _say(f"already up ({len(state['procs'])} components, kubeconfig {d / 'kubeconfig'}); nothing to do")
            return 0
        _say(f"stale state in {d} ({', '.join(dead) or 'never became ready'}): cleaning it")
        _stop_all(d, state, quiet=True)
    missing = missing_binaries(bin_dir)
    if missing:
        raise ClusterError(f"not built in {bin_dir}: {', '.join(missing)}; run cluster/build.sh (or `make cluster`)")
    if _port_in_use(MPI_HEALTH_PORT):
        raise ClusterError(f"port {MPI_HEALTH_PORT} is taken: the MPI Operator's health server needs it "
                           "(hard-coded ':8080', no flag to change it)")
    share = bin_dir.parent / "share"
    for sub in ("logs", "run"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(d / "run", ignore_errors=True)
    shutil.rmtree(d / "podlogs", ignore_errors=True)
    (d / "run").mkdir()
    run, logs = d / "run", d / "logs"
    P = pki.ensure(d / "pki")
    ports = {k: _free_port() for k in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler", "kwok", "lws-webhook",
                                       "lws-health")}
    kubeconfig = d / "kubeconfig"
    kc_tmp = run / "admin.kubeconfig"
    kc_tmp.write_text(kubeconfig_text(P, ports["apiserver"]))
    kc_tmp.chmod(0o600)
    state = {"dir": str(d), "bin": str(bin_dir), "ports": ports, "procs": {}, "ready": False,
             "nodes": nodes, "started": time.time()}
    _save_state(d, state)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(KUBECONFIG=str(kc_tmp), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, argv: list[str], mark: str = "") -> None:
        with open(logs / f"{name}.log", "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 cwd=run, start_new_session=True)
        procs[name] = p
        state["procs"][name] = {"pid": p.pid, "argv0": argv[0], "mark": mark}
        _save_state(d, state)

    def wait(name: str, check, what: str) -> None:
        end = time.monotonic() + timeout
        while True:
            if check():
                _say(f"{name}: {what}", t0)
                return
            if procs[name].poll() is not None:
                raise ClusterError(f"{name} exited with {procs[name].returncode} before it was ready; "
                                   f"{logs / (name + '.log')}:\n{_tail(logs / (name + '.log'))}")
            if time.monotonic() > end:
                raise ClusterError(f"{name} not ready after {timeout:.0f}s ({what}); "
                                   f"{logs / (name + '.log')}:\n{_tail(logs / (name + '.log'))}")
            time.sleep(0.1)

    try:
        b = lambda n: str(bin_dir / n)  # noqa: E731
        start("etcd", [b("etcd"), "--name=node0", f"--data-dir={run / 'etcd'}",
                       f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
                       f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
                       f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
                       f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
                       f"--initial-cluster=node0=http://127.0.0.1:{ports['etcd-peer']}",
                       "--listen-metrics-urls=", "--auto-compaction-retention=1", "--unsafe-no-fsync",
                       "--log-level=warn"])
        wait("etcd", lambda: _http_ok(f"http://127.0.0.1:{ports['etcd']}/health"), "healthy")

        start("kube-apiserver", [
            b("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={P / 'serving.crt'}", f"--tls-private-key-file={P / 'serving.key'}",
            f"--client-ca-file={P / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={P / 'sa.pub'}", f"--service-account-signing-key-file={P / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none", "--allow-privileged=true",
            "--kubelet-preferred-address-types=InternalIP,Hostname", "--profiling=false", "--v=1"])
        ca_ctx = ssl.create_default_context(cafile=str(P / "ca.crt"))
        ca_ctx.load_cert_chain(str(P / "admin.crt"), str(P / "admin.key"))
        wait("kube-apiserver", lambda: _http_ok(f"https://127.0.0.1:{ports['apiserver']}/readyz", ca_ctx), "ready")

        from kubernetes import client, config  # lazy: the kubernetes client takes a second to import; status and down never need it
        api = config.new_client_from_config(config_file=str(kc_tmp))
        try:
            _apply_crds(api, share / "crds", t0)
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "mpi-operator"}})
            core = client.CoreV1Api(api)
            for name, itype in node_names(nodes):
                _create_node(core, node_manifest(name, itype))
            _say(f"nodes created: {', '.join(f'{n} x {t}' for t, n in nodes.items())}", t0)

            kcm_args = [f"--kubeconfig={kc_tmp}", f"--authentication-kubeconfig={kc_tmp}",
                        f"--authorization-kubeconfig={kc_tmp}",
                        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                        "--bind-address=127.0.0.1", "--leader-elect=false",
                        f"--tls-cert-file={P / 'serving.crt'}", f"--tls-private-key-file={P / 'serving.key'}"]
            start("kube-controller-manager", [b("kube-controller-manager"), *kcm_args,
                                              f"--secure-port={ports['kcm']}", "--controllers=*",
                                              f"--service-account-private-key-file={P / 'sa.key'}",
                                              f"--root-ca-file={P / 'ca.crt'}",
                                              f"--cluster-signing-cert-file={P / 'ca.crt'}",
                                              f"--cluster-signing-key-file={P / 'ca.key'}",
                                              "--node-monitor-grace-period=40s", "--v=1"])
            sched_cfg = run / "scheduler.yaml"
            sched_cfg.write_text(yaml.safe_dump({
                "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(kc_tmp)}, "leaderElection": {"leaderElect": False}}))
            start("kube-scheduler", [b("kube-scheduler"), f"--config={sched_cfg}", *kcm_args[1:3],
                                     kcm_args[3], "--bind-address=127.0.0.1", f"--secure-port={ports['scheduler']}",
                                     kcm_args[6], kcm_args[7], "--v=1"])
            start("kwok", [b("kwok"), f"--kubeconfig={kc_tmp}",
                           "--config=" + ",".join([str(DATA / "pod-stages.yaml"),
                                                   str(share / "kwok-stages" / "node-initialize.yaml"),
                                                   str(share / "kwok-stages" / "node-heartbeat-with-lease.yaml")]),
                           "--manage-all-nodes=true", "--node-ip=127.0.0.1", "--node-name=localhost",
                           f"--node-port={ports['kwok']}", f"--server-address=127.0.0.1:{ports['kwok']}",
                           f"--tls-cert-file={P / 'serving.crt'}", f"--tls-private-key-file={P / 'serving.key'}",
                           "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16",
                           "--enable-crds=Logs,ClusterLogs"])
            certs = run / "lws-certs"
            certs.mkdir()
            shutil.copy(P / "serving.crt", certs / "tls.crt")
            shutil.copy(P / "serving.key", certs / "tls.key")
            lws_cfg = run / "lws-config.yaml"
            lws_cfg.write_text(yaml.safe_dump({
                "apiVersion": "config.lws.x-k8s.io/v1alpha1", "kind": "Configuration",
                "leaderElection": {"leaderElect": False}, "internalCertManagement": {"enable": False},
                "webhook": {"host": "127.0.0.1", "port": ports["lws-webhook"], "certDir": str(certs)},
                "metrics": {"bindAddress": "0"},
                "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['lws-health']}"}}))
            start("lws", [b("lws-manager"), f"--kubeconfig={kc_tmp}", f"--config={lws_cfg}"])
            start("mpi-operator", [b("mpi-operator"), f"--kubeConfig={kc_tmp}", "--lock-namespace=mpi-operator",
                                   "--monitoring-port=0", "--threadiness=2", "--kube-api-qps=50",
                                   "--kube-api-burst=100"])
            start("log-binder", [sys.executable, "-m", "runner.cluster", "binder", f"--dir={d}"],
                  mark="runner.cluster binder")

            noverify = ssl.create_default_context()
            noverify.check_hostname = False
            noverify.verify_mode = ssl.CERT_NONE
            wait("kube-controller-manager",
                 lambda: _http_ok(f"https://127.0.0.1:{ports['kcm']}/healthz", noverify), "healthy")
            wait("kube-scheduler",
                 lambda: _http_ok(f"https://127.0.0.1:{ports['scheduler']}/healthz", noverify), "healthy")
            wait("kwok", lambda: _http_ok(f"http://127.0.0.1:{ports['kwok']}/healthz"), "healthy")
            wait("lws", lambda: _http_ok(f"http://127.0.0.1:{ports['lws-health']}/readyz")
                 and _tls_ok(ports["lws-webhook"]), "ready, webhooks serving")
            _apply_webhooks(api, P, ports["lws-webhook"])
            _say("lws: webhook configurations registered (URL-based, https://127.0.0.1)", t0)
            wait("mpi-operator", lambda: _http_ok(f"http://127.0.0.1:{MPI_HEALTH_PORT}/healthz"), "healthy")
            wait("log-binder", lambda: (run / "log-binder.ready").exists(), "watching pods")
            wait("kube-controller-manager", lambda: _nodes_ready(core, nodes), "all nodes Ready, untainted")
            wait("kube-controller-manager", lambda: _default_sa(core), "default ServiceAccount exists")
        finally:
            api.close()
        shutil.copy(kc_tmp, kubeconfig)  # the components keep run/admin.kubeconfig; users get <dir>/kubeconfig
        kubeconfig.chmod(0o600)
        state["ready"] = True
        state["ready_seconds"] = round(time.monotonic() - t0, 1)
        _save_state(d, state)
        _say(f"up in {state['ready_seconds']}s; export KUBECONFIG={kubeconfig}", t0)
        return 0
    except BaseException:
        _say("start failed: stopping what was started", t0)
        _stop_all(d, state, quiet=True)
        raise


def _create_node(core, manifest: dict) -> None:
    node = core.create_node(manifest)
    cap = (node.status.capacity or {}) if node.status else {}
    if "nvidia.com/gpu" not in cap:  # status dropped on create: set it through the status subresource
        core.patch_node_status(manifest["metadata"]["name"], {"status": manifest["status"]})


def _apply_crds(api, crd_dir: Path, t0: float) -> None:
    from kubernetes import client  # lazy: the kubernetes client takes a second to import; status and down never need it
    ext = client.ApiextensionsV1Api(api)
    names = []
    for f in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                ext.create_custom_resource_definition(doc)
                names.append(doc["metadata"]["name"])
    end = time.monotonic() + 30
    for n in names:
        while True:
            crd = ext.read_custom_resource_definition(n)
            if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                break
            if time.monotonic() > end:
                raise ClusterError(f"CRD {n} not Established after 30s")
            time.sleep(0.1)
    _say(f"CRDs established: {', '.join(names)}", t0)


def _apply_webhooks(api, P: Path, port: int) -> None:
    from kubernetes import client  # lazy: the kubernetes client takes a second to import; status and down never need it
    ca = base64.b64encode((P / "ca.crt").read_bytes()).decode()
    sel = {"matchExpressions": [{"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}]}

    def hook(name, path, groups, resources, ops, selector=None):
        h = {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
             "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca},
             "rules": [{"apiGroups": groups, "apiVersions": ["v1"], "operations": ops, "resources": resources}]}
        if selector:
            h["objectSelector"] = selector
        return h

    # mirrors lws config/webhook/manifests.yaml with mutating-patch.yaml / validating-patch.yaml applied
    adm = client.AdmissionregistrationV1Api(api)
    adm.create_mutating_webhook_configuration({"metadata": {"name": "lws-mutating-webhook-configuration"}, "webhooks": [
        hook("mleaderworkerset.kb.io", "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
             ["leaderworkerset.x-k8s.io"], ["leaderworkersets"], ["CREATE", "UPDATE"]),
        hook("mpod.kb.io", "/mutate--v1-pod", [""], ["pods"], ["CREATE"], sel)]})
    adm.create_validating_webhook_configuration({"metadata": {"name": "lws-validating-webhook-configuration"},
                                                 "webhooks": [
        hook("vleaderworkerset.kb.io", "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset",
             ["leaderworkerset.x-k8s.io"], ["leaderworkersets"], ["CREATE", "UPDATE"]),
        hook("vpod.kb.io", "/validate--v1-pod", [""], ["pods"], ["CREATE", "UPDATE"], sel),
        hook("vdisaggregatedset.kb.io", "/validate-disaggregatedset-x-k8s-io-v1-disaggregatedset",
             ["disaggregatedset.x-k8s.io"], ["disaggregatedsets"], ["CREATE", "UPDATE"])]})


def _nodes_ready(core, nodes: dict[str, int]) -> bool:
    want = {n for n, _ in node_names(nodes)}
    ok = set()
    for n in core.list_node().items:
        ready = any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
        tainted = any(t.key.startswith("node.kubernetes.io/") for t in (n.spec.taints or []))
        gpus = (n.status.allocatable or {}).get("nvidia.com/gpu")
        if ready and not tainted and gpus:
            ok.add(n.metadata.name)
    return want <= ok


def _default_sa(core) -> bool:
    from kubernetes import client  # lazy: the kubernetes client takes a second to import; status and down never need it
    try:
        core.read_namespaced_service_account("default", "default")
        return True
    except client.ApiException:
        return False


# ------------------------------------------------------------------------------------------------ down / status

def down(d: Path) -> int:
    d = d.resolve()
    state = load_state(d)
    if state is None:
        _say(f"not up (no {_state_path(d)})")
        return 0
    _stop_all(d, state)
    _say("down")
    return 0


def status(d: Path) -> int:
    d = d.resolve()
    state = load_state(d)
    if state is None:
        _say(f"not up (no {_state_path(d)})")
        return 1
    bad = 0
    for name in ORDER:
        p = state["procs"].get(name)
        if p is None:
            print(f"  {name:24} not started")
            bad += 1
            continue
        alive = _alive(p)
        bad += not alive
        print(f"  {name:24} pid {p['pid']:<8} {'running' if alive else 'DEAD'}")
    print(f"  ready: {state.get('ready')} ({state.get('ready_seconds', '?')}s)  kubeconfig: {d / 'kubeconfig'}")
    print(f"  ports: {json.dumps(state['ports'])}  mpi-operator health: {MPI_HEALTH_PORT}")
    return 1 if bad or not state.get("ready") else 0

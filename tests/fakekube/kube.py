"""FakeKube: the fake API server, its scripted controllers, and what tests use to drive and inspect it."""
from __future__ import annotations

import fnmatch
import threading
import time
import traceback
from pathlib import Path

import yaml

from .api import Api, Clock, Ctx
from .behaviors import Behavior, Match, Script, Scripts
from .controllers import ALL_CONTROLLERS, GarbageCollector, NamespaceController
from .errors import ApiError
from .handler import Request, Server
from .kubelet import Kubelet
from .seeds import STANDARD_CRDS, crd, crd_from_file, node
from .selection import parse_label_selector
from .store import Store, clone


class FakeKube:
    """A Kubernetes API server on 127.0.0.1 with scripted controllers, for tests.

    kube = FakeKube(nodes=[node("gpu-0")])          # CRDs for MPIJob, LWS, DisaggregatedSet by default
    with kube:
        kube.write_kubeconfig(tmp / "kubeconfig")
        kube.script(Match(kind="MPIJob", role="launcher"), Behavior.succeeds(log="..."))
        ... run the code under test with the official client ...
        assert kube.count("get", "pods") < 50
    """

    def __init__(self, *, time_scale: float = 0.01, crds=tuple(STANDARD_CRDS), nodes=(),
                 namespaces=("default",), default_behavior: Behavior | None = None, gc_delay: float = 1.0,
                 check_own_writes: bool = True):
        self.clock = Clock(time_scale)
        self.store = Store()
        self.api = Api(self.store, self.clock, check_own_writes)
        self.scripts = Scripts(default_behavior)
        self.server_errors: list[str] = []  # tracebacks of fake-side bugs (500s, controller crashes)
        self.kubelet = Kubelet(self.api, self.scripts, on_error=self.server_errors.append)
        self.controllers = [cls(self.api, self.server_errors.append) for cls in ALL_CONTROLLERS]
        self.gc = GarbageCollector(self.api, gc_delay)
        self.namespace_controller = NamespaceController(self.api)
        self.requests: list[Request] = []
        self._requests_lock = threading.Lock()
        self._injected: list[list] = []  # [verb, resource, ApiError, times left]
        self._stop = threading.Event()
        self._server: Server | None = None
        self._threads: list[threading.Thread] = []
        for ns in ("kube-system", "kube-public", "kube-node-lease", *namespaces):
            self.add_namespace(ns)
        for definition in crds:
            self.add_crd(definition)
        for n in nodes:
            self.add_node(n)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "FakeKube":
        if self._server is not None:
            return self
        self._stop.clear()
        self._server = Server(self)
        serve = lambda: self._server.serve_forever(poll_interval=0.05)
        for target, name in ((serve, "fakekube-http"), (self._run_controllers, "fakekube-ctl")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop.set()
        self.store.poke()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._server = None

    def __enter__(self) -> "FakeKube":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeKube is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run_controllers(self) -> None:
        while not self._stop.is_set():
            revision = self.store.revision
            now = time.monotonic()
            next_due = None
            try:
                next_due = self.kubelet.step(now)
                for controller in self.controllers:
                    controller.reconcile_all(now)
                self.gc.step(now)
                self.namespace_controller.step(now)
            except Exception:
                self.server_errors.append(traceback.format_exc())
                time.sleep(0.01)
            if self.store.revision != revision:
                time.sleep(0.0005)
                continue
            timeout = 0.02 if next_due is None else min(0.02, max(0.0005, next_due - time.monotonic()))
            self.store.wait_for_change(revision, timeout)

    # -- client configuration -------------------------------------------------------------------------

    def kubeconfig(self, context: str = "fake", namespace: str = "default") -> dict:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": context, "cluster": {"server": self.url}}],
                "users": [{"name": f"{context}-user", "user": {"token": "fake-token"}}],
                "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-user",
                                                           "namespace": namespace}}],
                "current-context": context}

    def write_kubeconfig(self, path, context: str = "fake", namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(context, namespace)))
        return path

    def api_client(self):
        """A kubernetes.client.ApiClient for this server (no global configuration touched)."""
        from kubernetes import config
        return config.new_client_from_config_dict(self.kubeconfig())

    # -- seeding ------------------------------------------------------------------------------------------

    def add_namespace(self, name: str, labels: dict | None = None) -> dict:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}
        return self._seed("namespaces", "", body)

    def add_node(self, spec: dict | str = "node-0", **kwargs) -> dict:
        """add_node(node(...)) or add_node("gpu-0", instance_type="p5.48xlarge", taints=[GPU_TAINT])."""
        body = spec if isinstance(spec, dict) else node(spec, **kwargs)
        return self._seed("nodes", "", body)

    def add_crd(self, definition) -> list[str]:
        """A STANDARD_CRDS name ("mpijobs.kubeflow.org"), a CRD dict, or a YAML file path."""
        if isinstance(definition, dict):
            crds = [definition]
        elif isinstance(definition, str) and definition in STANDARD_CRDS:
            crds = [crd(definition)]
        else:
            crds = crd_from_file(definition)
        key = "customresourcedefinitions.apiextensions.k8s.io"
        fresh = not isinstance(definition, dict)  # built here: no need to copy it
        return [self._seed(key, "", c, copy=not fresh)["metadata"]["name"] for c in crds]

    def remove_crd(self, name: str) -> None:
        rt = self.api.rt("customresourcedefinitions.apiextensions.k8s.io")
        self.api.remove_now(rt, "", name)

    def apply(self, obj: dict, namespace: str | None = None) -> dict:
        """Store any object directly (as a cluster admin would), e.g. a pre-existing ConfigMap."""
        rt = self.api.registry.by_kind(obj["apiVersion"], obj["kind"])
        if rt is None:
            raise ApiError.resource_not_found()
        ns = namespace or obj.get("metadata", {}).get("namespace") or ("default" if rt.namespaced else "")
        return self._seed(rt.key, ns, obj)

    def _seed(self, key: str, namespace: str, body: dict, copy: bool = True) -> dict:
        rt = self.api.rt(key)
        try:
            return self.api.create(rt, namespace, body, Ctx(manager="fakekube", trusted=True), take=not copy)
        except ApiError as e:
            if e.code != 409:
                raise
            return self.api.get(rt, namespace, body["metadata"]["name"])

    # -- scripting ----------------------------------------------------------------------------------------

    def script(self, match=None, behavior: Behavior | None = None, *, times: int | None = None,
               **match_fields) -> Script:
        """What matching pods do. match: a Match, a name glob, or a pod label dict; or Match fields as keywords:

        kube.script(Match(kind="MPIJob", name="nccl*", role="launcher"), Behavior.succeeds(log=path))
        kube.script("bench-*", Behavior.oom_killed(), times=1)
        kube.script(kind="LeaderWorkerSet", role="worker", behavior=Behavior.image_pull_backoff())
        The most recently added matching script wins; `times` limits how many pods it applies to.
        """
        if match_fields:
            match = Match(**match_fields)
        return self.scripts.add(match, behavior or Behavior(), times)

    def deny(self, verb: str = "*", resource: str = "*", *, group: str = "*", namespace: str | None = None,
             subresource: str | None = None, name: str | None = None, enforce: bool = True) -> None:
        """SelfSubjectAccessReviews for this verb/resource answer allowed=false (and the requests get 403
        unless enforce=False)."""
        self.api.deny(verb, resource, group, namespace, subresource, name, enforce)

    def inject_error(self, verb: str = "*", resource: str = "*", code: int = 500, times: int = 1,
                     reason: str | None = None, message: str | None = None) -> None:
        """The next `times` matching requests fail with this status (429, 500, 503, ...)."""
        reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
                   409: "Conflict", 403: "Forbidden"}
        error = ApiError(code, reason or reasons.get(code, "InternalError"),
                         message or f"injected error for {verb} {resource}", {})
        with self._requests_lock:
            self._injected.append([verb, resource, error, times])

    def _take_injected_error(self, verb: str, resource: str, subresource: str) -> ApiError | None:
        full = f"{resource}/{subresource}" if subresource else resource
        with self._requests_lock:
            for entry in self._injected:
                if entry[3] > 0 and entry[0] in ("*", verb) and entry[1] in ("*", resource, full):
                    entry[3] -= 1
                    return entry[2]
        return None

    def compact(self) -> None:
        """Drop the watch history: watches resuming from an older resourceVersion get 410 Expired."""
        self.store.compact()

    def end_watches(self) -> None:
        """Close every open watch stream (as an API server restart or watch timeout would)."""
        with self.store.lock:
            self.store.watch_epoch += 1

    # -- inspection ---------------------------------------------------------------------------------------

    def objects(self, label_selector: str | dict | None = None, resource: str | None = None,
                namespace: str | None = None) -> list[dict]:
        """Copies of stored objects (any resource unless given) matching a label selector."""
        if isinstance(label_selector, dict):
            label_selector = ",".join(f"{k}={v}" for k, v in label_selector.items())
        selector = parse_label_selector(label_selector)
        key = self.api.registry.resolve(resource).key if resource else None
        out = []
        for item_key, obj in self.store.all_items():
            if key and item_key != key:
                continue
            if namespace is not None and obj["metadata"].get("namespace", "") != namespace:
                continue
            if label_selector is None or selector.matches(obj["metadata"].get("labels")):
                out.append(clone(obj))
        return out

    def get(self, resource: str, name: str, namespace: str = "default") -> dict | None:
        rt = self.api.registry.resolve(resource)
        return self.store.get(rt.key, namespace if rt.namespaced else "", name)

    def pods(self, label_selector: str | dict | None = None, namespace: str | None = None) -> list[dict]:
        return self.objects(label_selector, "pods", namespace)

    def events(self, involved: str | None = None, namespace: str | None = None, reason: str | None = None) -> list:
        """Events, optionally about objects whose name matches the glob `involved`."""
        return [e for e in self.objects(None, "events", namespace)
                if (involved is None or fnmatch.fnmatchcase(e["involvedObject"].get("name", ""), involved))
                and (reason is None or e.get("reason") == reason)]

    def wait_for(self, predicate, timeout: float = 5.0, interval: float = 0.005):
        """Poll predicate() until it returns something truthy; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)

    # -- request log ----------------------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._requests_lock:
            self.requests.append(request)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    def _matching(self, verb, resource, subresource, namespace, name, since) -> list[Request]:
        if resource and "/" in resource and subresource is None:
            resource, subresource = resource.split("/", 1)
        with self._requests_lock:
            requests = list(self.requests)
        out = []
        for r in requests:
            if verb is not None and r.verb != verb:
                continue
            if resource is not None and r.resource != resource:
                continue
            if subresource is not None and r.subresource != subresource:
                continue
            if namespace is not None and r.namespace != namespace:
                continue
            if name is not None and r.name != name:
                continue
            if since is not None and r.time < since:
                continue
            out.append(r)
        return out

    def count(self, verb: str | None = None, resource: str | None = None, *, subresource: str | None = None,
              namespace: str | None = None, name: str | None = None, since: float | None = None) -> int:
        """How many API requests matched: verb is a Kubernetes verb (get, list, watch, create, update, patch,
        delete, deletecollection); resource a plural, optionally with "/subresource" ("pods/log")."""
        return len(self._matching(verb, resource, subresource, namespace, name, since))

    def max_rate(self, verb: str | None = None, resource: str | None = None, window: float = 1.0, **filters) -> int:
        """The most matching requests seen within any `window` seconds (real time): hot-polling detector."""
        times = sorted(r.time for r in self._matching(verb, resource, filters.get("subresource"),
                                                       filters.get("namespace"), filters.get("name"),
                                                       filters.get("since")))
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] > window:
                start += 1
            best = max(best, end - start + 1)
        return best

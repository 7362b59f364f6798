"""Config loading and the client boundary: every API call goes through KubeClient, and every
ApiException or connection error becomes a KubeApiError (an ExecutionError) here and nowhere else.

The official `kubernetes` client does the transport (kubeconfig and exec/token auth, TLS,
serialization); requests are built from runner/execute/kubernetes/kinds.py paths, so built-in kinds and
custom resources (MPIJob, LeaderWorkerSet, DisaggregatedSet) take the same path.
"""
from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from runner.base.errors import ExecutionError

FIELD_MANAGER = "scenario-runner"
APPLY_PATCH = "application/apply-patch+yaml"
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
REQUEST_TIMEOUT_S = 30.0
POOL_SIZE = 128  # watches and one follow per container hold connections open
SHARED_POOL_SIZE = 1024  # a triage's concurrent sets share one pool: each holds its watches and log follows
SHARED = "kube_shared"   # options key: a SharedCluster, one connection for the many runs of a triage

LOCAL_ALTERNATIVES = ("render and validate without a cluster: `scenario run NAME --dry-run=client`; "
                      "or run a scenario that needs no cluster: `make scenario S=mooncake-tcp-loopback`")


class KubeApiError(ExecutionError):
    """An API call failed: the HTTP status (0 when the server could not be reached), reason and the server's message."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", causes: tuple = (), hint: str = ""):
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason
        self.causes = causes

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def gone(self) -> bool:
        return self.status == 410


@dataclass(frozen=True)
class ConfigSource:
    """Where the cluster configuration comes from."""

    kind: str  # kubeconfig | in-cluster
    path: str = ""
    context: str = ""

    def describe(self) -> str:
        if self.kind == "in-cluster":
            return "in-cluster service account"
        return f"kubeconfig {self.path}" + (f" (context {self.context})" if self.context else "")


def find_config(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ConfigSource:
    """The kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) or in-cluster config; a clear error naming where it looked."""
    environ = os.environ if environ is None else environ
    context = options.get("context") or ""
    looked: list[str] = []
    given = options.get("kubeconfig")
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise ExecutionError(f"kubeconfig {path} (from --kubeconfig) does not exist", hint=LOCAL_ALTERNATIVES)
        return _with_context(ConfigSource("kubeconfig", str(path), context))
    looked.append("--kubeconfig (not given)")
    env_value = environ.get("KUBECONFIG", "")
    if env_value:
        paths = [p for p in env_value.split(os.pathsep) if p]
        present = [p for p in paths if Path(p).expanduser().is_file()]
        if present:
            return _with_context(ConfigSource("kubeconfig", os.pathsep.join(str(Path(p).expanduser()) for p in present), context))
        looked.append(f"$KUBECONFIG={env_value} (no such file)")
    else:
        looked.append("$KUBECONFIG (not set)")
    home = Path(environ.get("HOME") or Path.home()) / ".kube" / "config"
    if home.is_file():
        return _with_context(ConfigSource("kubeconfig", str(home), context))
    looked.append(f"{home} (no such file)")
    if environ.get("KUBERNETES_SERVICE_HOST") and IN_CLUSTER_TOKEN.is_file():
        if context:
            raise ExecutionError(f"--context {context} needs a kubeconfig, but only the in-cluster service account is available")
        return ConfigSource("in-cluster")
    looked.append("in-cluster service account (KUBERNETES_SERVICE_HOST not set)" if not environ.get("KUBERNETES_SERVICE_HOST")
                  else f"in-cluster service account ({IN_CLUSTER_TOKEN} missing)")
    raise ExecutionError("no Kubernetes cluster configured; looked at: " + "; ".join(looked),
                         hint=f"give --kubeconfig FILE [--context NAME] or set KUBECONFIG; or {LOCAL_ALTERNATIVES}")


def _with_context(source: ConfigSource) -> ConfigSource:
    """Check that --context names a context of the kubeconfig (the client's own error is a KeyError-like riddle)."""
    from kubernetes import (
        config,  # the client costs ~0.5 s to import: only when a cluster is used
    )

    try:
        contexts, current = config.list_kube_config_contexts(config_file=source.path)
    except Exception as error:  # ConfigException, yaml errors: all mean "unreadable kubeconfig"
        raise ExecutionError(f"cannot read kubeconfig {source.path}: {error}") from error
    names = [c.get("name", "") for c in contexts or []]
    if source.context and source.context not in names:
        raise ExecutionError(f"kubeconfig {source.path} has no context {source.context!r}",
                             hint=f"contexts: {', '.join(names) or 'none'}")
    chosen = source.context or (current or {}).get("name", "")
    return ConfigSource(source.kind, source.path, chosen)


def connect(options: Mapping[str, Any]) -> "KubeClient":
    """A client for the configured cluster (nothing is requested yet). Within a triage (options[SHARED]) a view of the
    triage's one client: its own request counts, the shared connection pool, and close() leaves the pool open."""
    shared = options.get(SHARED)
    if shared is not None:
        return shared.client()
    return _connect(options)


def _connect(options: Mapping[str, Any], pool_size: int = POOL_SIZE) -> "KubeClient":
    from kubernetes import (  # the client costs ~0.5 s to import: only when a cluster is used
        client,
        config,
    )

    if not hasattr(client.ApiClient, "param_serialize"):
        import kubernetes  # the client costs ~0.5 s to import: only when a cluster is used

        raise ExecutionError(f"the kubernetes executor needs the kubernetes Python client 37 or newer (found {kubernetes.__version__})",
                             hint="pip install -U 'kubernetes>=37'")
    source = find_config(options)
    configuration = client.Configuration()
    try:
        if source.kind == "in-cluster":
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=source.path, context=source.context or None,
                                    client_configuration=configuration, persist_config=False)
    except Exception as error:  # ConfigException and friends: a broken kubeconfig
        raise ExecutionError(f"cannot load the cluster configuration from {source.describe()}: {error}") from error
    configuration.connection_pool_maxsize = pool_size
    return KubeClient(client.ApiClient(configuration), source)


class SharedCluster:
    """The cluster connection of a triage, whose sets are many runs one after the other and side by side.

    Per triage instead of per set: the kubeconfig is read (and exec credentials fetched) once, one connection pool
    serves every set, and the answers that cannot differ between sets are asked once (`remember`): the cluster
    version, whether each custom kind is served, and the access reviews for the same verbs in the same namespace.
    Everything about a set itself (its namespace, the capacity of its nodes, its objects, their cleanup and its
    verification) is still asked by that set."""

    def __init__(self, options: Mapping[str, Any]):
        self.options = {k: v for k, v in options.items() if k != SHARED}
        self._client: KubeClient | None = None
        self._lock = threading.Lock()
        self._memo: dict[Any, Any] = {}
        self._memo_lock = threading.Lock()

    def client(self) -> "KubeClient":
        with self._lock:
            if self._client is None:
                self._client = _connect(self.options, SHARED_POOL_SIZE)
            return KubeClient(self._client.api, self._client.source, shared=self)

    def remember(self, key: Any, compute):
        """compute() once per key for the whole triage (the first set to ask computes; the others wait for it).
        Failures are not remembered."""
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class KubeClient:
    """Requests against one cluster; counts them by verb (the benchmark reads `counts`)."""

    def __init__(self, api_client, source: ConfigSource = ConfigSource("kubeconfig"), shared: SharedCluster | None = None):
        self.api = api_client
        self.source = source
        self.host = api_client.configuration.host
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.shared = shared

    def remember(self, key: Any, compute):
        """compute(), or within a triage its answer from the first set that asked (SharedCluster.remember)."""
        return self.shared.remember(key, compute) if self.shared is not None else compute()

    # --- the one place where errors are converted -----------------------------------------------

    def _send(self, verb: str, method: str, path: str, query: list | None = None, body: Any = None,
              content_type: str | None = None, timeout: Any = REQUEST_TIMEOUT_S):
        """The raw urllib3 response of a 2xx answer; any failure as KubeApiError."""
        import urllib3  # with the kubernetes client: loaded when a cluster is used
        from kubernetes.client.exceptions import (
            ApiException,  # the client costs ~0.5 s to import: only when a cluster is used
        )

        with self._lock:
            self.counts[verb] += 1
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        try:
            request = self.api.param_serialize(method, path, query_params=list(query or []), header_params=headers,
                                               body=body, auth_settings=["BearerToken"])
            response = self.api.call_api(*request, _request_timeout=timeout)
        except ApiException as error:
            raise self._error(error.status or 0, error.reason or "", error.body, method, path) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KubeApiError(f"cannot reach the Kubernetes API server at {self.host}: {_short(error)}",
                               hint=f"check the cluster and the configuration ({self.source.describe()})") from error
        raw = response.response
        if not 200 <= raw.status <= 299:
            try:
                text = raw.data.decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - a dead connection while reading the error body
                text = ""
            raise self._error(raw.status, raw.reason or "", text, method, path)
        return raw

    def _error(self, status: int, reason: str, body: str | None, method: str, path: str) -> KubeApiError:
        message, causes, api_reason = "", (), reason
        try:
            document = json.loads(body or "")
            message = document.get("message", "")
            api_reason = document.get("reason", reason)
            causes = tuple((document.get("details") or {}).get("causes") or ())
        except (ValueError, AttributeError):
            message = (body or "").strip()[:500]
        if status == 0:
            return KubeApiError(f"cannot reach the Kubernetes API server at {self.host}: {reason}", hint=self.source.describe())
        text = message or f"{status} {reason}"
        hint = ""
        if status == 401:
            hint = f"the credentials of {self.source.describe()} were refused (expired token? `aws eks update-kubeconfig`)"
        elif status == 403:
            hint = "the runner's identity lacks a permission: see docs/kubernetes.md (templates/rbac/)"
        return KubeApiError(f"{method} {path}: {text}", status=status, reason=api_reason, causes=causes, hint=hint)

    # --- verbs ------------------------------------------------------------------------------------

    def get_json(self, path: str, query: list | None = None, verb: str = "get") -> dict:
        return _json(self._send(verb, "GET", path, query))

    def list(self, path: str, *, label_selector: str = "", field_selector: str = "", limit: int = 500) -> dict:
        """A list, following `continue` pages; returns {'items': [...], 'resourceVersion': ...}."""
        items: list[dict] = []
        token = ""
        while True:
            query = [("limit", limit)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            page = _json(self._send("list", "GET", path, query))
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                return {"items": items, "resourceVersion": meta.get("resourceVersion", "")}

    def apply(self, path: str, body: Mapping[str, Any], *, dry_run: bool = False, force: bool = True) -> dict:
        # Strict: a field the schema does not know is refused with the server's message; the default (Warn) only
        # warns and prunes it, so a misspelled MPIJob field would run without it (seen on kube-apiserver v1.37).
        query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false"), ("fieldValidation", "Strict")]
        if dry_run:
            query.append(("dryRun", "All"))
        return _json(self._send("patch", "PATCH", path, query, body=dict(body), content_type=APPLY_PATCH))

    def create(self, path: str, body: Mapping[str, Any]) -> dict:
        return _json(self._send("create", "POST", path, None, body=dict(body)))

    def delete(self, path: str, *, propagation: str = "Background") -> dict:
        return _json(self._send("delete", "DELETE", path, None, body={"kind": "DeleteOptions", "apiVersion": "v1",
                                                                       "propagationPolicy": propagation}))

    def delete_collection(self, path: str, label_selector: str, *, propagation: str = "Background") -> dict:
        return _json(self._send("deletecollection", "DELETE", path, [("labelSelector", label_selector)],
                                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}))

    def watch(self, path: str, *, resource_version: str, label_selector: str = "", field_selector: str = "",
              timeout_s: int = 60) -> "Stream":
        """A watch from resource_version that the server ends after timeout_s (timeoutSeconds)."""
        query = [("watch", "true"), ("resourceVersion", resource_version), ("timeoutSeconds", int(timeout_s)),
                 ("allowWatchBookmarks", "true")]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        # The read timeout backs up the server's: a dead connection ends the watch instead of hanging it.
        return Stream(self._send("watch", "GET", path, query, timeout=(10.0, timeout_s + 15.0)), self.host)

    def log_stream(self, path: str, container: str, *, follow: bool = True) -> "Stream":
        query = [("container", container), ("follow", "true" if follow else "false")]
        return Stream(self._send("log", "GET", path, query, timeout=(10.0, None)), self.host)

    def log_text(self, path: str, container: str, *, previous: bool = False, tail_lines: int | None = None) -> str:
        query: list = [("container", container)]
        if previous:
            query.append(("previous", "true"))
        if tail_lines:
            query.append(("tailLines", tail_lines))
        return _read(self._send("log", "GET", path, query)).decode("utf-8", "replace")

    def ping(self, timeout_s: float) -> None:
        """One quick request: is the server there and does it accept our credentials?"""
        _read(self._send("version", "GET", "/version", timeout=(timeout_s, timeout_s)))

    def version(self) -> dict:
        return self.get_json("/version", verb="version")

    def api_resources(self, group_version: str) -> dict | None:
        """Discovery document of one group/version, or None when the server does not serve it."""
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        try:
            return self.get_json(path, verb="discovery")
        except KubeApiError as error:
            if error.not_found:
                return None
            raise

    def close(self) -> None:
        if self.shared is not None:
            return  # the triage's pool: SharedCluster.close() closes it
        try:
            self.api.close()
        except Exception:  # noqa: BLE001 - closing a pool must never mask the run's own outcome
            pass


class Stream:
    """Lines of a streaming response (watch events, followed logs); close() from any thread ends it."""

    def __init__(self, response, host: str):
        self.response = response
        self.host = host
        self.closed = False

    def lines(self) -> Iterator[bytes]:
        import urllib3  # with the kubernetes client: loaded when a cluster is used

        pending = b""
        try:
            for chunk in self.response.stream(65536, decode_content=True):
                if not chunk:
                    continue
                pending += chunk
                *complete, pending = pending.split(b"\n")
                yield from (line + b"\n" for line in complete)
        except (urllib3.exceptions.HTTPError, OSError, AttributeError, ValueError) as error:
            # AttributeError/ValueError: urllib3 after a close() from another thread
            if not self.closed:
                raise KubeApiError(f"stream from {self.host} broke: {_short(error)}") from error
        if pending:
            yield pending

    def events(self) -> Iterator[dict]:
        for line in self.lines():
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except ValueError as error:
                    raise KubeApiError(f"the API server sent a watch event that is not JSON: {line[:200]!r}") from error

    def close(self) -> None:
        self.closed = True
        try:
            self.response.shutdown()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.response.release_conn()
        except Exception:  # noqa: BLE001
            pass


def _json(response) -> dict:
    data = _read(response)
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError as error:
        raise KubeApiError(f"the API server answered with something that is not JSON: {data[:200]!r}") from error


def _read(response) -> bytes:
    """The whole body, and the connection back to the pool."""
    import urllib3  # with the kubernetes client: loaded when a cluster is used

    try:
        return response.data or b""
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise KubeApiError(f"the API server's answer broke off: {_short(error)}") from error
    finally:
        response.release_conn()


def _short(error: Exception) -> str:
    text = str(getattr(error, "reason", None) or error)
    return text.splitlines()[0][:300] if text else type(error).__name__
